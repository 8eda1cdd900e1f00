// harden — rpm repository metadata as pure functions: the XML reader, repomd.xml, primary.xml and .repo files.
import HardenCore
import HardenPackages
import HardenRpm
import Testing

struct RpmRepositoryTests {
    @Test func theXMLReaderGivesTagsAttributesTextAndRefusesWhatItMust() throws {
        var events: [XMLEvent] = []
        let doc = """
            <?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><!-- c --><a k="1 &amp; 2" j='q'>t&lt;&#65;<b/>\
            <![CDATA[<raw>]]></a>
            """
        try XMLReader.read(Array(doc.utf8), source: "t") { events.append($0) }
        #expect(
            events
                == [
                    .start(name: "a", attributes: ["k": "1 & 2", "j": "q"], selfClosing: false), .text("t<A"),
                    .start(name: "b", attributes: [:], selfClosing: true), .text("<raw>"), .end(name: "a"), .text("\n"),
                ].filter { $0 != .text("\n") })
        for bad in ["<a>", "<a></b>", "<a k=1/>", "<a>&e;</a>", "<!-- x", "<a"] {
            #expect(throws: HardenError.self, "\(bad)") { try XMLReader.read(Array(bad.utf8), source: "t") { _ in } }
        }
    }

    static let repomd = """
        <?xml version="1.0" encoding="UTF-8"?>
        <repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
          <revision>1700000000</revision>
          <data type="primary">
            <checksum type="sha256">ABC123</checksum>
            <open-checksum type="sha256">def456</open-checksum>
            <location href="repodata/abc123-primary.xml.gz"/>
            <timestamp>1700000000</timestamp>
            <size>1234</size>
            <open-size>5678</open-size>
          </data>
          <data type="filelists">
            <checksum type="sha256">f1</checksum>
            <location href="repodata/f1-filelists.xml.gz"/>
            <size>99</size>
          </data>
        </repomd>
        """

    @Test func repomdListsEachMetadataFileWithItsChecksumAndSize() throws {
        let md = try RepoMD.parse(Array(Self.repomd.utf8), source: "repomd.xml")
        #expect(md.revision == "1700000000")
        let primary = try #require(md.entries["primary"])
        #expect(primary.location == "repodata/abc123-primary.xml.gz" && primary.checksumType == "sha256")
        #expect(primary.checksum == "abc123" && primary.size == 1234 && primary.openChecksum == "def456")
        #expect(md.entries["filelists"]?.size == 99)
        #expect(throws: HardenError.self) { try RepoMD.parse(Array("<repomd></repomd>".utf8), source: "r") }
    }

    @Test func primaryGivesEachPackagesEVRLocationAndDependencies() throws {
        let xml = """
            <metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">
            <package type="rpm">
              <name>hello</name><arch>x86_64</arch><version epoch="1" ver="2.0" rel="3.el9"/>
              <checksum type="sha256" pkgid="YES">AA11</checksum>
              <summary>hi</summary><size package="4096" installed="9000" archive="9100"/>
              <location href="Packages/h/hello-2.0-3.el9.x86_64.rpm"/>
              <format>
                <rpm:license>MIT</rpm:license><rpm:sourcerpm>hello-2.0-3.el9.src.rpm</rpm:sourcerpm>
                <rpm:provides><rpm:entry name="hello" flags="EQ" epoch="1" ver="2.0" rel="3.el9"/>
                  <rpm:entry name="libhello.so.1()(64bit)"/></rpm:provides>
                <rpm:requires><rpm:entry name="/bin/sh" pre="1"/><rpm:entry name="libc.so.6(GLIBC_2.34)(64bit)"/>
                  <rpm:entry name="hello-common" flags="GE" epoch="0" ver="2.0"/></rpm:requires>
                <rpm:obsoletes><rpm:entry name="hello-old" flags="LT" epoch="0" ver="2"/></rpm:obsoletes>
                <file>/usr/bin/hello</file><file type="dir">/etc/hello</file>
              </format>
            </package>
            </metadata>
            """
        let packages = try RpmRepoPackage.primary(Array(xml.utf8), source: "primary.xml")
        let p = try #require(packages.first)
        #expect(packages.count == 1 && p.name == "hello" && p.arch == "x86_64" && p.evr == "1:2.0-3.el9")
        #expect(p.nevra == "hello-1:2.0-3.el9.x86_64" && p.checksum == "aa11" && p.size == 4096)
        #expect(p.location == "Packages/h/hello-2.0-3.el9.x86_64.rpm" && p.sourceRPM == "hello-2.0-3.el9.src.rpm")
        #expect(p.provides.map(\.name) == ["hello", "libhello.so.1()(64bit)"] && p.provides[0].evr == "1:2.0-3.el9")
        #expect(
            p.requires.map(\.pre) == [true, false, false] && p.requires[2].flag == .ge && p.requires[2].evr == "2.0")
        #expect(p.obsoletes == [RpmRelation(name: "hello-old", flag: .lt, epoch: "0", version: "2")])
        #expect(p.files == ["/usr/bin/hello", "/etc/hello"])
    }

    @Test func repoFilesGiveEnabledRepositoriesWithVariablesAndKeys() {
        let text = """
            [baseos]
            name=Rocky Linux $releasever - BaseOS
            mirrorlist=https://mirrors.rockylinux.org/mirrorlist?arch=$basearch&repo=BaseOS-$releasever
            #baseurl=http://dl.rockylinux.org/$contentdir/$releasever/BaseOS/$basearch/os/
            gpgcheck=1
            enabled=1
            gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-Rocky-9

            [extras]
            baseurl=https://a.example/${releasever}/extras/$basearch/
                    https://b.example/$releasever/extras/$basearch/
            enabled=0
            repo_gpgcheck=yes
            """
        let vars = YumRepositories.variables(
            osID: "rocky", versionID: "9.3", architecture: "amd64", files: [("contentdir", Array("pub/rocky\n".utf8))])
        #expect(vars["releasever"] == "9" && vars["basearch"] == "x86_64" && vars["contentdir"] == "pub/rocky")
        let repos = YumRepositories.parse(Array(text.utf8), file: "/etc/yum.repos.d/rocky.repo", variables: vars)
        #expect(repos.map(\.id) == ["baseos", "extras"])
        #expect(repos[0].name == "Rocky Linux 9 - BaseOS" && repos[0].baseURLs.isEmpty && repos[0].enabled)
        #expect(repos[0].mirrorlist == "https://mirrors.rockylinux.org/mirrorlist?arch=x86_64&repo=BaseOS-9")
        #expect(repos[0].gpgCheck && !repos[0].repoGPGCheck)
        #expect(repos[0].gpgKeys == ["file:///etc/pki/rpm-gpg/RPM-GPG-KEY-Rocky-9"])
        #expect(repos[1].baseURLs == ["https://a.example/9/extras/x86_64/", "https://b.example/9/extras/x86_64/"])
        #expect(!repos[1].enabled && repos[1].repoGPGCheck)
        #expect(YumRepositories.substitute("$unknown/${releasever}", vars) == "$unknown/9")
        #expect(
            YumRepositories.variables(osID: "fedora", versionID: "40", architecture: "arm64", files: [])["releasever"]
                == "40")
    }
}

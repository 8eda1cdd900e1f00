// harden — rpm patching's pure pieces: metalink and mirrorlist reading, file capabilities as the kernel stores them,
// the report's scriptlet names.
import HardenCore
import HardenPatch
import HardenRpm
import Testing

struct RpmUnitTests {
    static let metalink = """
        <?xml version="1.0" encoding="utf-8"?>
        <metalink version="3.0" xmlns="http://www.metalinker.org/" xmlns:mm0="http://fedorahosted.org/mirrormanager">
         <files>
          <file name="repomd.xml">
           <mm0:alternates>
            <mm0:alternate>
             <verification><hash type="sha256">AAAA1111</hash></verification>
            </mm0:alternate>
           </mm0:alternates>
           <verification>
            <hash type="md5">ffff</hash>
            <hash type="sha256">bbbb2222</hash>
           </verification>
           <resources maxconnections="1">
            <url protocol="https" type="https" location="DE" preference="100">https://mirror.one/fedora/40/x86_64/os/repodata/repomd.xml</url>
            <url protocol="rsync" type="rsync" location="DE" preference="99">rsync://mirror.one/fedora/40/x86_64/os/repodata/repomd.xml</url>
            <url protocol="http" type="http" location="US" preference="98">http://mirror.two/f40/os/repodata/repomd.xml</url>
           </resources>
          </file>
         </files>
        </metalink>
        """

    @Test func aMetalinkGivesItsHTTPMirrorsInOrderAndEverySHA256OfRepomd() throws {
        #expect(
            try RpmPatcher.mirrors(Self.metalink, source: "m")
                == ["https://mirror.one/fedora/40/x86_64/os", "http://mirror.two/f40/os"])
        #expect(RpmPatcher.metalinkHashes(Self.metalink) == ["aaaa1111", "bbbb2222"])
        #expect(
            try RpmPatcher.mirrors("# comment\nhttp://a/x/\n\nhttps://b/y\n", source: "l") == [
                "http://a/x/", "https://b/y",
            ])
        #expect(throws: HardenError.self) { try RpmPatcher.mirrors("nothing here\n", source: "l") }
    }

    @Test func fileCapabilitiesBecomeTheKernelsVersion2Attribute() throws {
        // cap_net_raw (13) permitted and effective: magic 0x02000001, permitted bit 13.
        #expect(
            try FileCapabilities.vfsData("cap_net_raw=ep", source: "t")
                == [0x01, 0, 0, 0x02, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        // Two names, inheritable only, no effective bit; cap_bpf (39) lands in the high word.
        #expect(
            try FileCapabilities.vfsData("cap_chown,cap_bpf+i", source: "t")
                == [0, 0, 0, 0x02, 0, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0])
        #expect(throws: HardenError.self) { try FileCapabilities.vfsData("cap_nonsense=ep", source: "t") }
        #expect(throws: HardenError.self) { try FileCapabilities.vfsData("cap_net_raw", source: "t") }
    }

    @Test func replacingAHostKeepsThePath() {
        #expect(
            MirrorURL.replacingHost("https://dl.rockylinux.org/pub/rocky/9/BaseOS/x86_64/os/", with: "http://m.local/")
                == "http://m.local/pub/rocky/9/BaseOS/x86_64/os/")
    }
}

struct RpmModuleTests {
    static let yaml = """
        ---
        document: modulemd
        version: 2
        data:
          name: nodejs
          stream: "18"
          version: 9010020221009
          artifacts:
            rpms:
            - nodejs-1:18.14.2-2.module+el9.1.0+123.x86_64
        ---
        document: modulemd
        version: 2
        data:
          name: nodejs
          stream: "20"
          artifacts:
            rpms:
            - nodejs-1:20.9.0-1.module+el9.3.0+456.x86_64
        ---
        document: modulemd-defaults
        version: 1
        data:
          module: nodejs
          stream: "18"
        ...
        """

    static func pkg(_ name: String, _ epoch: String, _ version: String, _ release: String) -> RpmRepoPackage {
        RpmRepoPackage(
            name: name, arch: "x86_64", epoch: epoch, version: version, release: release, checksumType: "sha256",
            checksum: "", location: "", size: 0)
    }

    @Test func modularPackagesAreOfferedOnlyFromActiveStreamsAndHideTheirNonModularNamesakes() throws {
        let m = try RpmModuleMetadata.parse(Array(Self.yaml.utf8), source: "modules.yaml")
        #expect(m.streams.map { "\($0.name):\($0.stream)" } == ["nodejs:18", "nodejs:20"])
        #expect(m.defaults == ["nodejs": "18"])
        let packages = [
            Self.pkg("nodejs", "1", "18.14.2", "2.module+el9.1.0+123"),
            Self.pkg("nodejs", "1", "20.9.0", "1.module+el9.3.0+456"),
            Self.pkg("nodejs", "1", "16.0.0", "1.el9"),  // non-modular namesake
            Self.pkg("bash", "0", "5.1.8", "9.el9"),
        ]
        func offered(_ states: [String: (stream: String?, state: String)]) -> [String] {
            m.filter(packages, active: m.activeStreams(states: states)).map { "\($0.name)-\($0.version)" }
        }
        // No state: the default stream is active.
        #expect(offered([:]) == ["nodejs-18.14.2", "bash-5.1.8"])
        let enabled20 = RpmModuleMetadata.states([Array("[nodejs]\nname=nodejs\nstream=20\nstate=enabled\n".utf8)])
        #expect(offered(enabled20) == ["nodejs-20.9.0", "bash-5.1.8"])
        let disabled = RpmModuleMetadata.states([Array("[nodejs]\nname=nodejs\nstream=\nstate=disabled\n".utf8)])
        #expect(offered(disabled) == ["nodejs-16.0.0", "bash-5.1.8"])
        #expect(throws: HardenError.self) { try RpmModuleMetadata.parse(Array("{ [ broken".utf8), source: "m") }
    }
}

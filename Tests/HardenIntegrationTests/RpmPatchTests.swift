// harden — `harden patch` of a Rocky-style RPM image against a loopback repository built here with the real tools:
// packages by rpmbuild, signed by rpmsign, indexed by createrepo_c, repomd.xml signed by gpg; the image's database
// made by rpm itself. The result is checked by rpm (-qa, -V) and its index tables against those rpm writes when it
// installs the same packages; every trust check refuses a tampered repository.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenSystem
import HardenTestSupport
import Testing

enum RpmScenario {
    /// hello and libhello (one source rpm): 1.0 installed; 1.1 fixes RLSA-2099:0001 (CVE-2099-0101), drops a file,
    /// changes both config files, has a %post, a file capability, and libhello 1.1 needs libnew's soname.
    static let hello = """
        Name: hello
        Version: %{ver}
        Release: 1
        Summary: hello
        License: MIT
        %global debug_package %{nil}
        %global __os_install_post %{nil}
        Requires: libhello = %{version}-%{release}
        AutoReqProv: no
        %description
        hello
        %package -n libhello
        Summary: lib
        AutoReqProv: no
        %if "%{ver}" == "1.1"
        Requires: libnew.so.2()(64bit)
        %endif
        %description -n libhello
        lib
        %install
        mkdir -p %{buildroot}/usr/bin %{buildroot}/etc %{buildroot}/usr/share/hello %{buildroot}/usr/lib64
        echo "hello v%{ver}" > %{buildroot}/usr/bin/hello
        echo "ping v%{ver}" > %{buildroot}/usr/bin/ping-hello
        echo "setting=1" > %{buildroot}/etc/hello.conf
        echo "plain=%{ver}" > %{buildroot}/etc/hello-plain.conf
        %if "%{ver}" == "1.0"
        echo old > %{buildroot}/usr/share/hello/old.txt
        %else
        echo new > %{buildroot}/usr/share/hello/new.txt
        echo "more=2" >> %{buildroot}/etc/hello.conf
        %endif
        echo 'const char *v(void) { return "lib v%{ver}"; }' > v.c
        gcc -shared -fPIC -Wl,-soname,libhello.so.1 -o %{buildroot}/usr/lib64/libhello.so.1 v.c
        %if "%{ver}" == "1.1"
        %post
        echo installed
        %endif
        %files
        %attr(0755,root,root) /usr/bin/hello
        %caps(cap_net_raw=ep) /usr/bin/ping-hello
        %config(noreplace) /etc/hello.conf
        %config /etc/hello-plain.conf
        %dir /usr/share/hello
        /usr/share/hello/*
        %files -n libhello
        /usr/lib64/libhello.so.1
        """
    static let libnew = """
        Name: libnew
        Version: 2.0
        Release: 1
        Summary: libnew
        License: MIT
        %global debug_package %{nil}
        %global __os_install_post %{nil}
        Provides: libnew.so.2()(64bit)
        AutoReqProv: no
        %description
        libnew
        %install
        mkdir -p %{buildroot}/usr/lib64
        echo 'int n(void) { return 2; }' > n.c
        gcc -shared -fPIC -Wl,-soname,libnew.so.2 -o %{buildroot}/usr/lib64/libnew.so.2 n.c
        ln -s libnew.so.2 %{buildroot}/usr/lib64/libnew.so
        %files
        /usr/lib64/libnew.so.2
        /usr/lib64/libnew.so
        """
    /// The image's shell: what %post scriptlets require (`/bin/sh`), installed, not in the repository.
    static let shell = """
        Name: shell
        Version: 1.0
        Release: 1
        Summary: shell
        License: MIT
        %global debug_package %{nil}
        %global __os_install_post %{nil}
        %description
        shell
        %install
        mkdir -p %{buildroot}/bin
        echo "#!shell" > %{buildroot}/bin/sh
        %files
        %attr(0755,root,root) /bin/sh
        """
    /// A plain package to build from NAME, VERSION and extra preamble lines, with one file /usr/bin/NAME.
    static func tool(_ name: String, _ version: String, _ preamble: String = "") -> String {
        """
        Name: \(name)
        Version: \(version)
        Release: 1
        Summary: \(name)
        License: MIT
        %global debug_package %{nil}
        %global __os_install_post %{nil}
        \(preamble)
        %description
        \(name)
        %install
        mkdir -p %{buildroot}/usr/bin
        echo "\(name) v\(version)" > %{buildroot}/usr/bin/\(name)
        %files
        /usr/bin/\(name)
        """
    }
    static let osv = """
        {"id": "RLSA-2099:0001", "aliases": ["CVE-2099-0101"], "modified": "2099-01-01T00:00:00Z",
         "affected": [{"package": {"ecosystem": "Rocky Linux:9", "name": "hello"},
                       "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1-1"}]}]}]}
        """

    static func run(_ args: [String], _ what: String) throws {
        let (s, o) = try runProcess(args)
        try #require(s == 0, "\(what): \(o)")
    }

    static func rpmbuild(_ dir: String, spec: String, name: String, defines: [String: String]) throws {
        let path = "\(dir)/\(name).spec"
        try HostFS.writeFileAtomically(path, Array(spec.utf8))
        var args = [
            "rpmbuild", "-bb", "--target", "x86_64", "--define", "_topdir \(dir)/top", "--define",
            "_build_id_links none",
        ]
        for (k, v) in defines.sorted(by: { $0.key < $1.key }) { args += ["--define", "\(k) \(v)"] }
        try run(args + [path], "rpmbuild \(name)")
    }

    /// The packages, signed; a repository of the new ones; an image with the old ones installed by rpm.
    static func make(_ dir: String) throws -> (repo: LoopbackRepository, image: String, db: String) {
        let gpg = dir + "/gpg"
        try HostFS.makeDirectories(gpg)
        chmod(gpg, 0o700)
        try run(
            [
                "gpg", "--homedir", gpg, "--batch", "--passphrase", "", "--quick-gen-key", "harden rpm test <t@harden>",
                "rsa2048", "sign", "never",
            ], "gpg")
        let (_, key) = try runProcess(["gpg", "--homedir", gpg, "--armor", "--export"])
        try HostFS.writeFileAtomically(dir + "/key.asc", Array(key.utf8))
        try rpmbuild(dir, spec: hello, name: "hello10", defines: ["ver": "1.0", "_binary_payload": "w19.zstdio"])
        try rpmbuild(dir, spec: hello, name: "hello11", defines: ["ver": "1.1", "_binary_payload": "w6.xzdio"])
        try rpmbuild(dir, spec: libnew, name: "libnew", defines: ["_binary_payload": "w9.gzdio"])
        try rpmbuild(dir, spec: shell, name: "shell", defines: [:])
        // Installed: oldtool 1.0 (newtool 2.0 obsoletes it), other 2.0 (2.1 published: only --all takes it).
        try rpmbuild(dir, spec: tool("oldtool", "1.0"), name: "oldtool", defines: [:])
        try rpmbuild(
            dir, spec: tool("newtool", "2.0", "Obsoletes: oldtool < 2.0\nProvides: oldtool = 2.0"), name: "newtool",
            defines: [:])
        try rpmbuild(dir, spec: tool("other", "2.0"), name: "other20", defines: [:])
        try rpmbuild(dir, spec: tool("other", "2.1"), name: "other21", defines: [:])
        let rpms = dir + "/top/RPMS/x86_64"
        let all = try HostFS.listDirectory(rpms).sorted().map { rpms + "/" + $0 }
        try run(
            [
                "rpmsign", "--addsign", "--define", "_gpg_path \(gpg)", "--define", "_gpg_name harden rpm test",
                "--define", "__gpg /usr/bin/gpg",
            ] + all, "rpmsign")
        let repoDir = dir + "/www/rocky/9/BaseOS/x86_64/os"
        try HostFS.makeDirectories(repoDir + "/Packages")
        for f in all where ["-1.1-", "libnew-", "newtool-", "other-2.1-"].contains(where: { f.contains($0) }) {
            try HostFS.writeFileAtomically(
                repoDir + "/Packages/" + (f.split(separator: "/").last.map(String.init) ?? ""), try HostFS.readFile(f))
        }
        try run(["createrepo_c", "-q", repoDir], "createrepo_c")
        try run(
            [
                "gpg", "--homedir", gpg, "--batch", "--yes", "--detach-sign", "--armor",
                repoDir + "/repodata/repomd.xml",
            ],
            "sign repomd.xml")
        let repo = try LoopbackRepository(root: dir + "/www")

        let root = dir + "/root"
        let rpmRoot = ["rpm", "--root", root, "--dbpath", "/var/lib/rpm"]
        try run(rpmRoot + ["--initdb"], "rpm --initdb")
        try run(rpmRoot + ["--import", dir + "/key.asc"], "rpm --import")
        try run(
            rpmRoot + ["-i", "--nodeps", "--noscripts"]
                + all.filter { $0.contains("-1.0-") || $0.contains("other-2.0-") }, "rpm -i")
        try HostFS.makeDirectories(root + "/etc/yum.repos.d")
        try HostFS.makeDirectories(root + "/etc/pki/rpm-gpg")
        let files = [
            "etc/os-release": "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n",
            "etc/yum.repos.d/rocky.repo": """
            [baseos]
            name=Rocky Linux $releasever - BaseOS
            baseurl=http://127.0.0.1:\(repo.port)/rocky/$releasever/BaseOS/$basearch/os/
            gpgcheck=1
            repo_gpgcheck=1
            enabled=1
            gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-Rocky-9

            [disabled]
            baseurl=http://127.0.0.1:1/nowhere
            enabled=0

            """,
            "etc/pki/rpm-gpg/RPM-GPG-KEY-Rocky-9": key,
            "etc/passwd": "root:x:0:0:root:/root:/bin/bash\n",
            "etc/group": "root:x:0:\n",
            "etc/ld.so.conf": "/usr/lib64\n",
            // The image changed both config files.
            "etc/hello.conf": "setting=42\n",
            "etc/hello-plain.conf": "plain=mine\n",
        ]
        for (p, text) in files { try HostFS.writeFileAtomically(root + "/" + p, Array(text.utf8)) }
        try run(["ldconfig", "-r", root], "ldconfig")  // the image's cache lists libhello.so.1
        let (s, tar) = try runProcess(
            ["sh", "-c", "tar --numeric-owner --xattrs --xattrs-include='security.*' -C \(root) -cf - . | base64 -w0"])
        try #require(s == 0)
        let plain = [UInt8](Data(base64Encoded: tar.trimmingCharacters(in: .whitespacesAndNewlines))!)
        let layer = Fixtures.Layer(
            blob: try Fixtures.compress(plain, .gzip), diffID: Digest.sha256(of: plain), compression: .gzip)
        try Fixtures.ociLayout(at: dir + "/img", images: [(tag: "t", layers: [layer], config: nil)])
        try HostFS.makeDirectories(dir + "/osv")
        try HostFS.writeFileAtomically(dir + "/osv/RLSA-2099-0001.json", Array(osv.utf8))
        try run([hardenBinary, "db", "import", dir + "/osv", "--db", dir + "/db.sqlite"], "db import")
        return (repo, "oci:\(dir)/img:t", dir + "/db.sqlite")
    }

    /// What `dnf upgrade` would do on the image's root (the fixture's tree, its database at rpm's path for Debian's
    /// librpm): `name version` of each package it would upgrade or install.
    static func dnfUpgrade(_ dir: String, _ names: [String]) throws -> [String] {
        let (_, o) = try dnf(dir + "/root", dir, ["--assumeno", "upgrade"] + names)  // --assumeno exits 1
        var out: [String] = []
        for line in o.split(separator: "\n") where line.hasPrefix(" ") {
            let f = line.split(separator: " ")
            if f.count >= 4, ["x86_64", "noarch"].contains(f[1]) { out.append("\(f[0]) \(f[2])") }
        }
        return out.sorted()
    }

    /// dnf on a root (its database where Debian's librpm looks for it, the root's own .repo files).
    static func dnf(_ root: String, _ dir: String, _ args: [String]) throws -> (status: Int32, output: String) {
        if !HostFS.exists(root + "/root/.rpmdb") {
            try HostFS.makeDirectories(root + "/root")
            try #require(Foundation.symlink("../var/lib/rpm", root + "/root/.rpmdb") == 0)
        }
        return try runProcess(
            [
                "dnf", "--installroot", root, "--releasever", "9", "--setopt=reposdir=\(root)/etc/yum.repos.d",
                "--setopt=cachedir=\(dir)/dnf-cache", "--nogpgcheck",
            ] + args)
    }

    /// `ldconfig -p` of a root's cache, without the line naming the program that generated it.
    static func ldconfigListing(_ root: String) throws -> [String] {
        let (s, o) = try runProcess(["ldconfig", "-p", "-C", root + "/etc/ld.so.cache"])
        try #require(s == 0, "ldconfig -p: \(o)")
        return o.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("Cache generated by") }
    }

    /// Every index row of an rpm database as `package table key idx` (Installtid, the install time, left out).
    static func indexRows(_ db: String) throws -> [String] {
        var out: [String] = []
        let tables = [
            "Name", "Basenames", "Group", "Requirename", "Providename", "Conflictname", "Obsoletename", "Triggername",
            "Dirnames", "Sigmd5", "Sha1header", "Filetriggername", "Transfiletriggername", "Recommendname",
            "Suggestname", "Supplementname", "Enhancename",
        ]
        for t in tables {
            let (s, o) = try runProcess([
                "sqlite3", "-readonly", db,
                "SELECT n.key || ' \(t) ' || hex(t.key) || ' ' || t.idx FROM '\(t)' t JOIN Name n ON n.hnum = t.hnum",
            ])
            try #require(s == 0, "sqlite3 \(t): \(o)")
            out += o.split(separator: "\n").map(String.init)
        }
        return out.sorted()
    }
}

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct RpmPatchTests {
    @Test func aVulnerableRpmIsUpgradedWithItsSiblingAndANewDependencyAsRpmWouldInstallThem() throws {
        try withTemporaryDirectory { dir in
            let (repo, image, db) = try RpmScenario.make(dir)
            _ = repo
            // The unpatched image has the finding (OSV Rocky Linux:9, matched by binary package and EVR).
            let (s0, o0) = try runProcess([hardenBinary, "scan", image, "--db", db, "--format", "json"])
            #expect(s0 == 0 && o0.contains("CVE-2099-0101"), "\(o0.suffix(600))")
            let (s, o) = try PatchScenario.patch(dir, image: image, db: db)
            try #require(s == 0, "\(o)")
            let report =
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/report.json")))
                as! [String: Any]
            #expect(report["ecosystem"] as? String == "rpm")
            let packages = (report["packages"] as! [[String: Any]]).map {
                "\($0["name"]!) \($0["from"] as? String ?? "-")→\($0["to"]!)"
            }
            #expect(packages == ["hello 1.0-1→1.1-1", "libhello 1.0-1→1.1-1", "libnew -→2.0-1"])
            // dnf, given the same image root and repository, chooses the same transaction.
            #expect(try RpmScenario.dnfUpgrade(dir, ["hello"]) == ["hello 1.1-1", "libhello 1.1-1", "libnew 2.0-1"])
            let hello = (report["packages"] as! [[String: Any]]).first { $0["name"] as? String == "hello" }
            #expect(hello?["fixes"] as? [String] == ["CVE-2099-0101"])
            #expect((hello?["scriptsNotRun"] as? [String])?.contains("%post") == true)
            #expect(report["removedFiles"] as? [String] == ["/usr/share/hello/old.txt"])
            #expect(report["conffilesKept"] as? [String] == ["/etc/hello.conf"])
            let vex = String(decoding: try HostFS.readFile(dir + "/vex.json"), as: UTF8.self)
            #expect(vex.contains("pkg:rpm/rocky/hello@1.1-1?arch=x86_64"))

            // The file capability rpm set from %caps is in the layer, byte for byte.
            let (cs, caps) = try runProcess([
                "python3", "-c",
                """
                import json, os, sys, tarfile
                d = sys.argv[1]
                def blob(x): return d + "/out/blobs/sha256/" + x.split(":")[1]
                m = json.load(open(blob(json.load(open(d + "/out/index.json"))["manifests"][0]["digest"])))
                t = tarfile.open(blob(m["layers"][-1]["digest"]))
                got = t.getmember("usr/bin/ping-hello").pax_headers.get("SCHILY.xattr.security.capability", "")
                want = os.getxattr(d + "/root/usr/bin/ping-hello", "security.capability")
                print(got.encode("latin-1") == want and len(want) == 20)
                """, dir,
            ])
            #expect(cs == 0 && caps.hasPrefix("True"), "\(caps)")

            let out = try PatchScenario.rootfs(dir, "oci:\(dir)/out:t", "rootfs")
            #expect(PatchScenario.text(out + "/usr/bin/hello") == "hello v1.1\n")
            #expect(HostFS.exists(out + "/usr/lib64/libnew.so.2"))
            #expect(!HostFS.exists(out + "/usr/share/hello/old.txt"))
            #expect(PatchScenario.text(out + "/etc/hello.conf") == "setting=42\n")
            #expect(PatchScenario.text(out + "/etc/hello.conf.rpmnew") == "setting=1\nmore=2\n")
            #expect(PatchScenario.text(out + "/etc/hello-plain.conf") == "plain=1.1\n")
            #expect(PatchScenario.text(out + "/etc/hello-plain.conf.rpmsave") == "plain=mine\n")

            // rpm reads the database harden wrote: the new versions, the imported key, files as installed.
            let (qs, qa) = try runProcess([
                "rpm", "--root", out, "--dbpath", "/var/lib/rpm", "-qa", "--qf", "%{NEVRA}\n",
            ])
            #expect(qs == 0)
            #expect(
                Set(qa.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("gpg-pubkey") })
                    == [
                        "hello-1.1-1.x86_64", "libhello-1.1-1.x86_64", "libnew-2.0-1.x86_64", "shell-1.0-1.x86_64",
                        "oldtool-1.0-1.x86_64", "other-2.0-1.x86_64",
                    ])
            #expect(qa.contains("gpg-pubkey"))
            let (_, verify) = try runProcess(
                ["rpm", "--root", out, "--dbpath", "/var/lib/rpm", "-V", "--nocaps", "hello", "libhello", "libnew"])
            let problems = verify.split(separator: "\n").map(String.init)
            #expect(problems.allSatisfy { $0.hasSuffix("/etc/hello.conf") }, "rpm -V: \(verify)")

            // The index tables are those rpm writes when it installs the same packages itself.
            let oracle = dir + "/oracle"
            let rpmRoot = ["rpm", "--root", oracle, "--dbpath", "/var/lib/rpm"]
            try RpmScenario.run(rpmRoot + ["--initdb"], "oracle initdb")
            let rpms = dir + "/www/rocky/9/BaseOS/x86_64/os/Packages"
            let upgraded = ["hello-1.1-1", "libhello-1.1-1", "libnew-2.0-1"]
            try RpmScenario.run(
                rpmRoot + ["-i", "--nodeps", "--noscripts", "--justdb", "--nosignature"]
                    + upgraded.map { "\(rpms)/\($0).x86_64.rpm" }, "oracle install")
            let ours = try RpmScenario.indexRows(out + "/var/lib/rpm/rpmdb.sqlite").filter { row in
                ["hello ", "libhello ", "libnew "].contains { row.hasPrefix($0) }
            }
            let theirs = try RpmScenario.indexRows(oracle + "/var/lib/rpm/rpmdb.sqlite")
            #expect(theirs.count > 30 && theirs.contains { $0.hasPrefix("libhello Requirename ") })
            #expect(ours == theirs, "\(Set(ours).symmetricDifference(theirs).sorted())")

            // ldconfig's work done natively: libnew.so.2 is in the cache as ldconfig itself would list it.
            #expect(
                report["ldconfig"] as? String
                    == "rewritten: 2 sonames added (libnew.so, libnew.so.2), 0 entries of removed files dropped")
            let cacheListing = try RpmScenario.ldconfigListing(out)
            try RpmScenario.run(["ldconfig", "-r", out], "ldconfig")
            #expect(cacheListing.contains { $0.contains("libnew.so.2 (libc6,x86-64) => /usr/lib64/libnew.so.2") })
            let rebuilt = try RpmScenario.ldconfigListing(out)
            #expect(cacheListing == rebuilt, "ours: \(cacheListing) ldconfig: \(rebuilt)")

            // dnf finds nothing left to update for them; scan no longer finds the fixed CVE; sbom and syft see 1.1-1.
            let (us, uo) = try RpmScenario.dnf(out, dir, ["check-update", "hello", "libhello", "libnew"])
            #expect(us == 0, "dnf check-update: \(uo)")
            let (ss, so) = try runProcess([hardenBinary, "scan", "oci:\(dir)/out:t", "--db", db, "--format", "json"])
            #expect(ss == 0 && !so.contains("CVE-2099-0101"), "\(so.suffix(600))")
            let (bs, bo) = try runProcess([hardenBinary, "sbom", "oci:\(dir)/out:t", "--format", "cyclonedx-json"])
            #expect(bs == 0 && bo.contains("pkg:rpm/rocky/hello@1.1-1") && bo.contains("pkg:rpm/rocky/libnew@2.0-1"))
            let (ys, yo) = try runProcess(["syft", "-q", "oci-dir:\(dir)/out", "-o", "json"])
            #expect(ys == 0 && yo.contains("pkg:rpm/rocky/hello@1.1-1") && !yo.contains("pkg:rpm/rocky/hello@1.0-1"))
        }
    }

    @Test func allUpgradesWhatDnfUpgradesIncludingAnObsoletingPackage() throws {
        try withTemporaryDirectory { dir in
            let (repo, image, db) = try RpmScenario.make(dir)
            _ = repo
            let expected = try RpmScenario.dnfUpgrade(dir, [])
            #expect(expected == ["hello 1.1-1", "libhello 1.1-1", "libnew 2.0-1", "newtool 2.0-1", "other 2.1-1"])
            let (s, o) = try PatchScenario.patch(dir, image: image, db: db, extra: ["--all"])
            try #require(s == 0, "\(o)")
            let report =
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/report.json")))
                as! [String: Any]
            let chosen = (report["packages"] as! [[String: Any]]).map { "\($0["name"]!) \($0["to"]!)" }.sorted()
            #expect(chosen == expected)
            let out = try PatchScenario.rootfs(dir, "oci:\(dir)/out:t", "rootfs")
            #expect(!HostFS.exists(out + "/usr/bin/oldtool"))
            #expect(PatchScenario.text(out + "/usr/bin/newtool") == "newtool v2.0\n")
            let (_, qa) = try runProcess(["rpm", "--root", out, "--dbpath", "/var/lib/rpm", "-qa"])
            #expect(qa.contains("newtool-2.0-1") && qa.contains("other-2.1-1") && !qa.contains("oldtool"))
            let (vs, verify) = try runProcess(["rpm", "--root", out, "--dbpath", "/var/lib/rpm", "-Va", "--nocaps"])
            #expect(
                verify.split(separator: "\n").allSatisfy { $0.hasSuffix("/etc/hello.conf") } && vs <= 1,
                "rpm -Va: \(verify)")
            let (us, uo) = try RpmScenario.dnf(out, dir, ["check-update"])
            #expect(us == 0, "dnf check-update: \(uo)")
        }
    }

    @Test func aTamperedRpmRepositoryIsRefused() throws {
        try withTemporaryDirectory { dir in
            let (repo, image, db) = try RpmScenario.make(dir)
            _ = repo
            let os = dir + "/www/rocky/9/BaseOS/x86_64/os"
            // repomd.xml changed after it was signed.
            let repomd = try HostFS.readFile(os + "/repodata/repomd.xml")
            try HostFS.writeFileAtomically(os + "/repodata/repomd.xml", repomd + Array("<!-- -->\n".utf8))
            var (s, o) = try PatchScenario.patch(dir, image: image, db: db)
            #expect(s != 0)
            #expect(o.contains("repomd.xml"), "\(o)")
            try HostFS.writeFileAtomically(os + "/repodata/repomd.xml", repomd)
            // A package whose payload changed (its checksum in primary.xml no longer matches).
            let pkg = os + "/Packages/libnew-2.0-1.x86_64.rpm"
            var bytes = try HostFS.readFile(pkg)
            bytes[bytes.count - 10] ^= 0xff
            try HostFS.writeFileAtomically(pkg, bytes)
            (s, o) = try PatchScenario.patch(dir, image: image, db: db)
            #expect(s != 0)
            #expect(o.contains("libnew-2.0-1.x86_64.rpm"), "\(o)")
            bytes[bytes.count - 10] ^= 0xff
            try HostFS.writeFileAtomically(pkg, bytes)
            // primary.xml changed after repomd.xml recorded its checksum.
            let primary = try #require(
                try HostFS.listDirectory(os + "/repodata").first { $0.hasSuffix("primary.xml.gz") })
            let original = try HostFS.readFile(os + "/repodata/" + primary)
            try HostFS.writeFileAtomically(
                os + "/repodata/" + primary, try Fixtures.compress(Array("<metadata/>".utf8), .gzip))
            (s, o) = try PatchScenario.patch(dir, image: image, db: db)
            #expect(s != 0)
            #expect(o.contains(primary) && o.contains("repository metadata says"), "\(o)")
            try HostFS.writeFileAtomically(os + "/repodata/" + primary, original)
            // A package signed by a key the repository does not trust (the index re-made and re-signed around it).
            let gpg2 = dir + "/gpg2"
            try HostFS.makeDirectories(gpg2)
            chmod(gpg2, 0o700)
            try RpmScenario.run(
                [
                    "gpg", "--homedir", gpg2, "--batch", "--passphrase", "", "--quick-gen-key", "stranger <s@x>",
                    "rsa2048", "sign", "never",
                ], "gpg")
            try RpmScenario.run(
                [
                    "rpmsign", "--addsign", "--define", "_gpg_path \(gpg2)", "--define", "_gpg_name stranger",
                    "--define", "__gpg /usr/bin/gpg", pkg,
                ], "rpmsign")
            try RpmScenario.run(["createrepo_c", "-q", os], "createrepo_c")
            try RpmScenario.run(
                [
                    "gpg", "--homedir", dir + "/gpg", "--batch", "--yes", "--detach-sign", "--armor",
                    os + "/repodata/repomd.xml",
                ], "sign repomd.xml")
            (s, o) = try PatchScenario.patch(dir, image: image, db: db)
            #expect(s != 0)
            #expect(o.contains("libnew-2.0-1.x86_64.rpm (header signature)"), "\(o)")
            #expect(!HostFS.exists(dir + "/out"))
        }
    }

    @Test func aBerkeleyDBRpmDatabaseIsRefusedByName() throws {
        try withTemporaryDirectory { dir in
            try Fixtures.ociLayout(
                at: dir + "/img",
                images: [
                    (
                        tag: "t",
                        layers: [
                            try Fixtures.layer([
                                .file("etc/os-release", "ID=centos\nVERSION_ID=7\n"),
                                .file("var/lib/rpm/Packages", "not really"),
                            ])
                        ], config: nil
                    )
                ])
            let (s, o) = try runProcess([
                hardenBinary, "patch", "oci:\(dir)/img:t", "-o", "oci:\(dir)/out:t", "--all",
            ])
            #expect(s != 0)
            #expect(o.contains("/var/lib/rpm/Packages is a BerkeleyDB rpm database"), "\(o)")
        }
    }
}

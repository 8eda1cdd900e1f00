// harden — `harden patch` against a loopback APT repository built here (packages, indexes, a throwaway gpg key):
// a clean patch, every trust check refusing a tampered repository, conffiles, whiteouts, new dependencies, distroless.
import Foundation
import HardenArchive
import HardenCore
import HardenELF
import HardenOCI
import HardenPackages
import HardenSystem
import HardenTestSupport
import HardenVulnDB
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A repository served by `python3 -m http.server` on 127.0.0.1.
final class LoopbackRepository {
    let port: Int
    let root: String
    private let pidFile: String

    init(root: String) throws {
        self.root = root
        pidFile = root + "/../http.pid"
        port = try BackgroundServer.python(directory: root, log: root + "/../http.log", pidFile: pidFile)
    }

    deinit { BackgroundServer.stop(pidFile: pidFile) }

    var uri: String { "http://127.0.0.1:\(port)/debian" }
}

/// hello 1.0-1 (+ libhello1 from the same source, + other) installed; hello 1.1-1 in bookworm-security fixes
/// CVE-2099-0001, drops a file, changes its conffile and needs a new package.
enum PatchScenario {
    static let hello = DebFixture.Package(
        name: "hello", version: "1.0-1",
        files: ["usr/bin/hello": "hello v1", "usr/share/hello/old.txt": "old", "etc/hello.conf": "setting=1\n"],
        conffiles: ["/etc/hello.conf"])
    static let libhello = DebFixture.Package(
        name: "libhello1", version: "1.0-1", source: "hello", files: ["usr/lib/libhello.so.1": "lib v1"])
    static let other = DebFixture.Package(name: "other", version: "2.0-1", files: ["usr/bin/other": "other v2.0"])
    static let installed = [hello, libhello, other]

    static let hello11 = DebFixture.Package(
        name: "hello", version: "1.1-1",
        files: [
            "usr/bin/hello": "hello v1.1", "usr/share/hello/new.txt": "new", "etc/hello.conf": "setting=1\nmore=2\n",
        ],
        conffiles: ["/etc/hello.conf"], postinst: "#!/bin/sh\necho configured\n")
    static let libhello11 = DebFixture.Package(
        name: "libhello1", version: "1.1-1", source: "hello", depends: "libnew (>= 1.0)",
        files: ["usr/lib/libhello.so.1": "lib v1.1"])
    static let libnew = DebFixture.Package(name: "libnew", version: "1.0-1", files: ["usr/lib/libnew.so.1": "libnew"])

    /// A real shared object with soname libharden-new.so.2, built by gcc, and the image's ld.so.cache (one entry).
    static func elfLibrary(_ dir: String) throws -> [UInt8] {
        try HostFS.writeFileAtomically(dir + "/x.c", Array("int harden_new(void) { return 2; }\n".utf8))
        let (s, o) = try runProcess([
            "gcc", "-shared", "-fPIC", "-Wl,-soname,libharden-new.so.2", "-o", dir + "/lib.so", dir + "/x.c",
        ])
        try #require(s == 0, "gcc: \(o)")
        return try HostFS.readFile(dir + "/lib.so")
    }
    static let cache = LdSoCache.write([
        .init(name: "libhello.so.1", path: "/usr/lib/x86_64-linux-gnu/libhello.so.1", flags: 0x0303)
    ])
    static let other21 = DebFixture.Package(name: "other", version: "2.1-1", files: ["usr/bin/other": "other v2.1"])
    static let security = [hello11, libhello11, libnew, other21]

    static let tracker = #"""
        {"hello": {"CVE-2099-0001": {"description": "a fixture vulnerability", "releases": {"bookworm": {"status": "resolved",
         "fixed_version": "1.1-1", "urgency": "high", "repositories": {"bookworm": "1.0-1"}}}}}}
        """#

    /// Repository + image + vulnerability database under `dir`.
    static func make(
        _ dir: String, tamper: DebFixture.Tamper = .none, confChanged: Bool = true, distroless: Bool = false
    ) throws -> (repo: LoopbackRepository, image: String, db: String) {
        let key = try DebFixture.makeKey(home: dir + "/gnupg")
        let root = dir + "/www/debian"
        var libnew = Self.libnew
        libnew.binaries["usr/lib/x86_64-linux-gnu/libharden-new.so.2.0.0"] = try elfLibrary(dir)
        try DebFixture.repository(root: root, suite: "bookworm", packages: installed, gpgHome: dir + "/gnupg")
        try DebFixture.repository(
            root: root, suite: "bookworm-security", packages: [hello11, libhello11, libnew, other21],
            gpgHome: dir + "/gnupg",
            tamper: tamper)
        try DebFixture.repository(root: root, suite: "bookworm-updates", packages: [], gpgHome: dir + "/gnupg")
        let repo = try LoopbackRepository(root: dir + "/www")

        var entries = rootEntries(
            repo: repo, key: key, packages: installed, confChanged: confChanged, distroless: distroless)
        if !distroless {
            entries.append(.file("var/lib/dpkg/status", installed.map(\.statusStanza).joined(separator: "\n")))
        }
        try Fixtures.ociLayout(
            at: dir + "/img", images: [(tag: "t", layers: [try Fixtures.layer(entries)], config: nil)])

        try HostFS.writeFileAtomically(dir + "/tracker.json", Array(tracker.utf8))
        let (s, o) = try runProcess([hardenBinary, "db", "import", dir + "/tracker.json", "--db", dir + "/db.sqlite"])
        try #require(s == 0, "db import: \(o)")
        return (repo, "oci:\(dir)/img:t", dir + "/db.sqlite")
    }

    /// The files of an image with `packages` installed, its APT sources pointing at `repo`, `key` trusted.
    static func rootEntries(
        repo: LoopbackRepository, key: [UInt8], packages: [DebFixture.Package], confChanged: Bool, distroless: Bool
    ) -> [FixtureEntry] {
        var entries: [FixtureEntry] = [
            .file(
                "etc/os-release",
                "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
            ),
            .file(
                "etc/apt/sources.list",
                ["bookworm", "bookworm-security", "bookworm-updates"].map { "deb \(repo.uri) \($0) main\n" }.joined()),
            .file("etc/apt/trusted.gpg.d/test.asc", String(decoding: key, as: UTF8.self)),
            .file(raw: Array("etc/ld.so.cache".utf8), cache),
        ]
        for p in packages {
            for path in p.paths {
                if let content = p.files[path] {
                    entries.append(.file(path, path == "etc/hello.conf" && confChanged ? "setting=42\n" : content))
                } else {
                    entries.append(.dir(path))
                }
            }
            if distroless {
                entries.append(.file("var/lib/dpkg/status.d/\(p.name)", p.statusStanza))
                entries.append(
                    .file(
                        "var/lib/dpkg/status.d/\(p.name).md5sums",
                        p.files.keys.sorted().map { "\(p.md5($0))  \($0)\n" }.joined()))
            } else {
                entries.append(.file("var/lib/dpkg/info/\(p.name).list", p.list))
                entries.append(
                    .file(
                        "var/lib/dpkg/info/\(p.name).md5sums",
                        p.files.keys.sorted().map { "\(p.md5($0))  \($0)\n" }.joined()))
                if !p.conffiles.isEmpty {
                    entries.append(
                        .file("var/lib/dpkg/info/\(p.name).conffiles", p.conffiles.joined(separator: "\n") + "\n"))
                }
            }
        }
        return entries
    }

    static func patch(
        _ dir: String, image: String, db: String, extra: [String] = []
    ) throws -> (status: Int32, output: String) {
        try runProcess(
            [
                hardenBinary, "patch", image, "-o", "oci:\(dir)/out:t", "--db", db, "--report", dir + "/report.json",
                "--vex",
                dir + "/vex.json",
            ]
                + extra, environment: ["HARDEN_CACHE_DIR": dir + "/cache"])
    }

    static func rootfs(_ dir: String, _ image: String, _ name: String) throws -> String {
        let (s, o) = try runProcess([hardenBinary, "convert", image, "dir:\(dir)/\(name)"])
        try #require(s == 0, "convert: \(o)")
        return dir + "/" + name
    }

    static func text(_ path: String) -> String? {
        (try? HostFS.readFile(path)).map { String(decoding: $0, as: UTF8.self) }
    }
}

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct PatchTests {
    @Test func aVulnerablePackageIsUpgradedWithItsSourceSiblingsAndANewDependency() throws {
        try withTemporaryDirectory { dir in
            let (repo, image, db) = try PatchScenario.make(dir)
            let (status, output) = try PatchScenario.patch(dir, image: image, db: db)
            try #require(status == 0, "\(output)")
            _ = repo
            let report = try #require(
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/report.json")))
                    as? [String: Any])
            let packages = try #require(report["packages"] as? [[String: Any]])
            // Not "other": nothing to fix there.
            #expect(packages.map { $0["name"] as? String } == ["hello", "libhello1", "libnew"])
            #expect(packages.first { $0["name"] as? String == "hello" }?["fixes"] as? [String] == ["CVE-2099-0001"])
            #expect(packages.first { $0["name"] as? String == "libnew" }?["from"] == nil)
            #expect(packages.first { $0["name"] as? String == "hello" }?["scriptsNotRun"] as? [String] == ["postinst"])
            #expect(report["conffilesKept"] as? [String] == ["/etc/hello.conf"])
            #expect(report["removedFiles"] as? [String] == ["/usr/share/hello/old.txt"])
            #expect(
                output.contains("hello") && output.contains("1.0-1") && output.contains("1.1-1")
                    && output.contains("CVE-2099-0001"))

            // The result, unpacked: new files, the dropped one gone, the changed conffile kept with the new one beside it.
            let before = try PatchScenario.rootfs(dir, image, "before")
            let after = try PatchScenario.rootfs(dir, "oci:\(dir)/out:t", "after")
            #expect(PatchScenario.text(after + "/usr/bin/hello") == "hello v1.1")
            #expect(PatchScenario.text(after + "/usr/lib/libnew.so.1") == "libnew")
            #expect(!HostFS.exists(after + "/usr/share/hello/old.txt"))
            #expect(PatchScenario.text(after + "/etc/hello.conf") == "setting=42\n")
            #expect(PatchScenario.text(after + "/etc/hello.conf.dpkg-dist") == "setting=1\nmore=2\n")
            #expect(PatchScenario.text(after + "/usr/bin/other") == "other v2.0")

            // The ldconfig trigger, natively: the new soname is in the cache (ldconfig reads it) with its link.
            #expect(
                (report["ldconfig"] as? String)?.contains("libharden-new.so.2") == true, "\(report["ldconfig"] ?? "")")
            let (ls, listing) = try runProcess(["ldconfig", "-p", "-C", after + "/etc/ld.so.cache"])
            #expect(
                ls == 0
                    && listing.contains(
                        "libharden-new.so.2 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libharden-new.so.2"),
                "\(listing)")
            #expect(listing.contains("libhello.so.1 (libc6,x86-64)"))
            #expect(
                (try? FileManager.default.destinationOfSymbolicLink(
                    atPath: after + "/usr/lib/x86_64-linux-gnu/libharden-new.so.2"))
                    == "libharden-new.so.2.0.0")

            // dpkg itself agrees: the database tells the truth, and verify/audit say nothing new.
            let (_, listed) = try runProcess([
                "dpkg-query", "--root=\(after)", "-W", "-f=${Package} ${Version} ${Status}\n",
            ])
            #expect(
                Set(listed.split(separator: "\n").map(String.init))
                    == [
                        "hello 1.1-1 install ok installed", "libhello1 1.1-1 install ok installed",
                        "libnew 1.0-1 install ok installed",
                        "other 2.0-1 install ok installed",
                    ])
            let (_, verifyBefore) = try runProcess(["dpkg", "--root=\(before)", "--verify"])
            let (_, verifyAfter) = try runProcess(["dpkg", "--root=\(after)", "--verify"])
            #expect(
                Set(verifyAfter.split(separator: "\n")).isSubset(of: Set(verifyBefore.split(separator: "\n"))),
                "\(verifyAfter)")
            #expect(verifyBefore.contains("/etc/hello.conf"))  // changed by the image, before and after
            let (_, audit) = try runProcess(["dpkg", "--root=\(after)", "--audit"])
            #expect(audit.isEmpty, "\(audit)")

            // OpenVEX: the vulnerability fixed, for the patched image.
            let vex = try #require(
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/vex.json"))) as? [String: Any])
            let statements = try #require(vex["statements"] as? [[String: Any]])
            #expect(statements.count == 1)
            #expect((statements[0]["vulnerability"] as? [String: Any])?["name"] as? String == "CVE-2099-0001")
            #expect(statements[0]["status"] as? String == "fixed")
            let subs =
                ((statements[0]["products"] as? [[String: Any]])?.first?["subcomponents"] as? [[String: Any]] ?? [])
                .compactMap {
                    $0["@id"] as? String
                }
            #expect(subs.sorted() == ["pkg:deb/debian/hello@1.1-1", "pkg:deb/debian/libhello1@1.1-1"], "\(subs)")
            let (vs, vo) = try runProcess([
                "python3", packageRoot + "/scripts/validate.py", "openvex", dir + "/vex.json",
            ])
            #expect(vs == 0, "OpenVEX schema: \(vo)")
            // A scan of the patched image with the document: the statement names packages of this image.
            let (ss, so) = try runProcess([
                hardenBinary, "scan", "oci:\(dir)/out:t", "--db", db, "--vex", dir + "/vex.json", "--format", "json",
            ])
            #expect(ss == 0, "\(so)")

            // One new layer on top of the original one; the same inputs give the same image.
            let img = try ImageLoader.open(.ociLayout(path: dir + "/out", tag: "t"))
            #expect(img.layers.count == 2)
            let first = img.manifestDigest
            try HostFS.removeTree(dir + "/out")
            let (again, o2) = try PatchScenario.patch(dir, image: image, db: db)
            try #require(again == 0, "\(o2)")
            #expect(try ImageLoader.open(.ociLayout(path: dir + "/out", tag: "t")).manifestDigest == first)
        }
    }

    @Test func allUpgradesEverythingAndAnUnchangedConffileIsReplaced() throws {
        try withTemporaryDirectory { dir in
            let (repo, image, db) = try PatchScenario.make(dir, confChanged: false)
            let (status, output) = try PatchScenario.patch(dir, image: image, db: db, extra: ["--all"])
            try #require(status == 0, "\(output)")
            _ = repo
            let after = try PatchScenario.rootfs(dir, "oci:\(dir)/out:t", "after")
            #expect(PatchScenario.text(after + "/usr/bin/other") == "other v2.1")
            #expect(PatchScenario.text(after + "/etc/hello.conf") == "setting=1\nmore=2\n")
            #expect(!HostFS.exists(after + "/etc/hello.conf.dpkg-dist"))
            let (_, verify) = try runProcess(["dpkg", "--root=\(after)", "--verify"])
            #expect(verify.isEmpty, "\(verify)")
        }
    }

    @Test(arguments: [
        (DebFixture.Tamper.contentAfterSigning, "signature check failed"), (.expired, "Valid-Until"),
        (.packagesHash, "the signed index says"),
        (.debHash, "the signed index says"),
    ])
    func aRepositoryThatFailsATrustCheckWritesNothing(tamper: DebFixture.Tamper, message: String) throws {
        try withTemporaryDirectory { dir in
            let (repo, image, db) = try PatchScenario.make(dir, tamper: tamper)
            let (status, output) = try PatchScenario.patch(dir, image: image, db: db)
            _ = repo
            #expect(status == 1, "\(output)")
            let line = output.split(separator: "\n").first { $0.hasPrefix("harden:") } ?? ""
            #expect(line.contains(message) && line.contains("http://127.0.0.1:"), "\(output)")
            #expect(!HostFS.exists(dir + "/out"))
            #expect(!HostFS.exists(dir + "/report.json"))
        }
    }

    @Test func aDistrolessImageGetsItsStatusDFilesRewritten() throws {
        try withTemporaryDirectory { dir in
            let (repo, image, db) = try PatchScenario.make(dir, distroless: true)
            let (status, output) = try PatchScenario.patch(dir, image: image, db: db)
            try #require(status == 0, "\(output)")
            _ = repo
            let after = try PatchScenario.rootfs(dir, "oci:\(dir)/out:t", "after")
            #expect(PatchScenario.text(after + "/var/lib/dpkg/status.d/hello")?.contains("Version: 1.1-1") == true)
            #expect(PatchScenario.text(after + "/var/lib/dpkg/status.d/libnew")?.contains("Version: 1.0-1") == true)
            #expect(!HostFS.exists(after + "/var/lib/dpkg/status"))
            #expect(PatchScenario.text(after + "/usr/bin/hello") == "hello v1.1")
            // harden's own SBOM of the result reads the new versions.
            let (s, table) = try runProcess([
                hardenBinary, "sbom", "oci:\(dir)/out:t", "--format", "table", "--no-cache",
            ])
            try #require(s == 0, "\(table)")
            let rows = Set(
                table.split(separator: "\n").map {
                    $0.split(separator: " ").dropFirst().prefix(2).joined(separator: " ")
                })
            #expect(rows.isSuperset(of: ["hello 1.1-1", "libhello1 1.1-1", "libnew 1.0-1", "other 2.0-1"]), "\(table)")
            #expect(!rows.contains("hello 1.0-1"))
        }
    }
}

/// The real Debian mirror set-up uses: the test images (debootstrap of the release suite, no security updates)
/// patched from bookworm-security and -updates, checked against apt's own choice, dpkg, syft and the probes.
@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct PatchMirrorTests {
    /// `apt-get -s --with-new-pkgs upgrade` in a chroot of the image with the same suites: name → (old, new).
    static func aptChoice(rootfs: String) throws -> [String: (String?, String)] {
        let sources = ["bookworm-security": "debian-security", "bookworm-updates": "debian"].map { suite, path in
            "deb \(TestImages.mirrorHost)/\(path) \(suite) main\n"
        }.sorted().joined()
        try HostFS.writeFileAtomically(rootfs + "/etc/apt/sources.list.d/harden-oracle.list", Array(sources.utf8))
        try HostFS.writeFileAtomically(rootfs + "/etc/resolv.conf", try HostFS.readFile("/etc/resolv.conf"))
        var (s, o) = try runProcess(["chroot", rootfs, "apt-get", "-q", "-o", "APT::Sandbox::User=root", "update"])
        try #require(s == 0, "apt-get update in the chroot: \(o)")
        (s, o) = try runProcess(["chroot", rootfs, "apt-get", "-s", "--with-new-pkgs", "upgrade"])
        try #require(s == 0, "apt-get -s upgrade: \(o)")
        var out: [String: (String?, String)] = [:]
        // "Inst libssl3 [3.0.11-1~deb12u2] (3.0.15-1~deb12u1 Debian-Security:12/... [amd64])", or without [old] when new.
        for line in o.split(separator: "\n") where line.hasPrefix("Inst ") {
            let f = line.split(separator: " ")
            let name = String(f[1].split(separator: ":")[0])
            if f[2].hasPrefix("[") {
                out[name] = (String(f[2].dropFirst().dropLast()), String(f[3].dropFirst()))
            } else {
                out[name] = (nil, String(f[2].dropFirst()))
            }
        }
        return out
    }

    /// `id package` of the findings of a scan (JSON) that have a fixed version.
    static func fixableFindings(_ json: String) throws -> [String] {
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let findings = report["findings"] as? [[String: Any]] ?? []
        return findings.filter { !(($0["fixedVersions"] as? [String]) ?? []).isEmpty }.map {
            "\($0["id"] ?? "") \(($0["package"] as? [String: Any])?["name"] ?? "")"
        }
    }

    /// A Debian-tracker-format database built from the changelogs of the upgraded packages in `rootfs`: each CVE an entry
    /// newer than the installed version names is fixed in the earliest such entry's version.
    static func changelogDatabase(_ dir: String, rootfs: String, changes: [String: String]) throws -> String {
        let dpkg = DpkgVersion()
        var tracker: [String: [String: Any]] = [:]
        for (name, change) in changes {
            let f = change.split(separator: " ")
            guard f[0] != "-" else { continue }
            let (old, new) = (String(f[0]), String(f[1]))
            let log = rootfs + "/usr/share/doc/\(name)/changelog.Debian.gz"
            guard HostFS.exists(log) else { continue }
            let (s, text) = try runProcess(["zcat", log])
            try #require(s == 0, "zcat \(log)")
            var source = ""
            var version = ""
            var fixed: [String: String] = [:]  // CVE → earliest version after the installed one
            for line in text.split(separator: "\n") {
                if !line.hasPrefix(" "), let open = line.firstIndex(of: "("), let close = line.firstIndex(of: ")"),
                    open < close
                {
                    source = String(line[..<open]).trimmingCharacters(in: .whitespaces)
                    version = String(line[line.index(after: open)..<close])
                    continue
                }
                guard dpkg.compare(version, old) > 0, dpkg.compare(version, new) <= 0 else { continue }
                var rest = Substring(line)
                while let r = rest.range(of: "CVE-") {
                    let id = "CVE-" + rest[r.upperBound...].prefix { $0.isNumber || $0 == "-" }
                    if id.count >= 13, fixed[id].map({ dpkg.compare(version, $0) < 0 }) ?? true { fixed[id] = version }
                    rest = rest[r.upperBound...]
                }
            }
            for (id, v) in fixed {
                tracker[source, default: [:]][id] = [
                    "description": "from the \(source) changelog",
                    "releases": [
                        "bookworm": ["status": "resolved", "fixed_version": v, "urgency": "not yet assigned"]
                    ],
                ]
            }
        }
        try #require(!tracker.isEmpty, "no CVE in the changelogs of the upgraded packages")
        try HostFS.writeFileAtomically(
            dir + "/changelog-tracker.json", Array(try JSONSerialization.data(withJSONObject: tracker)))
        let (s, o) = try runProcess([
            hardenBinary, "db", "import", dir + "/changelog-tracker.json", "--db", dir + "/changelog.sqlite",
        ])
        try #require(s == 0, "db import: \(o)")
        return dir + "/changelog.sqlite"
    }

    /// Name → link target or content digest of the entries of a directory.
    static func listing(_ path: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for name in try HostFS.listDirectory(path) {
            let p = path + "/" + name
            if let t = try? FileManager.default.destinationOfSymbolicLink(atPath: p) {
                out[name] = "-> " + t
            } else if HostFS.isRegularFile(p) {
                var h = StreamHasher()
                h.update(try HostFS.readFile(p))
                out[name] = h.finalizeHex()
            } else {
                out[name] = "other"
            }
        }
        return out
    }

    @Test func anUpgradeOfCACertificatesUpdatesTheCertificatesLikeItsPostinst() throws {
        try RuntimeTests.require()
        try TestImages.requireTools("chroot", "mount")
        try withTemporaryDirectory { dir in
            // A database naming ca-certificates alone (a fixture record), so the default mode upgrades just it.
            let tracker =
                #"{"ca-certificates": {"CVE-2099-1000": {"releases": {"bookworm": {"status": "resolved", "#
                + #""fixed_version": "20230311+deb12u1.1", "urgency": "low"}}}}}"#
            try HostFS.writeFileAtomically(dir + "/t.json", Array(tracker.utf8))
            var (s, o) = try runProcess([hardenBinary, "db", "import", dir + "/t.json", "--db", dir + "/db.sqlite"])
            try #require(s == 0, "\(o)")
            (s, o) = try RuntimeTests.harden(
                [
                    "patch", "oci:\(TestImages.layout):pyapp", "--db", dir + "/db.sqlite", "-o", "oci:\(dir)/out:p",
                    "--report",
                    dir + "/report.json",
                ], runDir: dir + "/run")
            try #require(s == 0, "\(o)")
            let report = try #require(
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/report.json")))
                    as? [String: Any])
            let names = (report["packages"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            try #require(names.contains("ca-certificates"), "the mirror has no newer ca-certificates? \(names)")
            #expect(
                (report["caCertificates"] as? String)?.hasPrefix("updated") == true,
                "\(report["caCertificates"] ?? "nil")")
            let after = try PatchScenario.rootfs(dir, "oci:\(dir)/out:p", "after")

            // The oracle: apt upgrades the same package in a chroot of the original, running its maintainer scripts.
            let before = try PatchScenario.rootfs(dir, "oci:\(TestImages.layout):pyapp", "before")
            try HostFS.writeFileAtomically(
                before + "/etc/apt/sources.list.d/harden-oracle.list",
                Array("deb \(TestImages.mirrorHost)/debian-security bookworm-security main\n".utf8))
            try HostFS.writeFileAtomically(before + "/etc/resolv.conf", try HostFS.readFile("/etc/resolv.conf"))
            try HostFS.makeDirectories(before + "/proc")
            try HostFS.makeDirectories(before + "/dev")
            _ = try runProcess(["mount", "-t", "proc", "proc", before + "/proc"])
            _ = try runProcess(["mount", "--bind", "/dev", before + "/dev"])
            defer {
                _ = try? runProcess(["umount", "-l", before + "/dev"])
                _ = try? runProcess(["umount", "-l", before + "/proc"])
            }
            (s, o) = try runProcess(
                [
                    "chroot", before, "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                    "DEBIAN_FRONTEND=noninteractive",
                    "sh", "-c",
                    "apt-get -q -o APT::Sandbox::User=root update && apt-get install -y -q --only-upgrade --no-install-recommends ca-certificates",
                ])
            try #require(s == 0, "apt-get in the chroot: \(o)")
            let (_, v1) = try runProcess(["dpkg-query", "--root=\(before)", "-W", "-f=${Version}", "ca-certificates"])
            let (_, v2) = try runProcess(["dpkg-query", "--root=\(after)", "-W", "-f=${Version}", "ca-certificates"])
            try #require(v1 == v2, "apt installed \(v1), harden \(v2)")

            #expect(
                try HostFS.readFile(after + "/etc/ca-certificates.conf")
                    == (try HostFS.readFile(before + "/etc/ca-certificates.conf")))
            #expect(
                HostFS.exists(after + "/etc/ca-certificates.conf.dpkg-old")
                    == HostFS.exists(before + "/etc/ca-certificates.conf.dpkg-old"))
            let ours = try Self.listing(after + "/etc/ssl/certs")
            let theirs = try Self.listing(before + "/etc/ssl/certs")
            #expect(ours.count > 100)
            #expect(
                ours == theirs,
                "harden only: \(ours.filter { theirs[$0.key] != $0.value }.keys.sorted().prefix(10)); apt only: \(theirs.filter { ours[$0.key] != $0.value }.keys.sorted().prefix(10))"
            )
        }
    }

    @Test(arguments: ["base", "nginx", "flask"])
    func theReleaseImageIsPatchedLikeAptWouldAndStillWorks(tag: String) throws {
        try RuntimeTests.require()
        try TestImages.requireTools("syft", "chroot", "dpkg")
        try withTemporaryDirectory { dir in
            let (s, o) = try RuntimeTests.harden(
                [
                    "patch", "--all", "oci:\(TestImages.layout):\(tag)", "-o", "oci:\(dir)/out:\(tag)", "--report",
                    dir + "/report.json",
                ],
                runDir: dir + "/run")
            try #require(s == 0, "\(o)")
            let report = try #require(
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/report.json")))
                    as? [String: Any])
            let packages = try #require(report["packages"] as? [[String: Any]])
            let ours = Dictionary(
                uniqueKeysWithValues: packages.map {
                    ($0["name"] as! String, "\($0["from"] as? String ?? "-") \($0["to"] as! String)")
                })

            // apt's own choice on a copy of the same root file system.
            let before = try PatchScenario.rootfs(dir, "oci:\(TestImages.layout):\(tag)", "before")
            let apt = try Self.aptChoice(rootfs: before).mapValues { "\($0.0 ?? "-") \($0.1)" }
            #expect(!apt.isEmpty, "the mirror has no updates for \(tag)?")
            #expect(
                ours == apt,
                "harden only: \(ours.filter { apt[$0.key] != $0.value }); apt only: \(apt.filter { ours[$0.key] != $0.value })"
            )

            // dpkg on the result: the new versions installed, verify and audit say nothing new.
            let after = try PatchScenario.rootfs(dir, "oci:\(dir)/out:\(tag)", "after")
            let (_, listed) = try runProcess(["dpkg-query", "--root=\(after)", "-W", "-f=${Package} ${Version}\n"])
            let installed = Dictionary(
                listed.split(separator: "\n").map { l in
                    let f = l.split(separator: " ")
                    return (String(f[0]), String(f[1]))
                },
                uniquingKeysWith: { a, _ in a })
            for (name, change) in apt { #expect(installed[name] == String(change.split(separator: " ")[1]), "\(name)") }
            let (_, verifyBefore) = try runProcess(["dpkg", "--root=\(before)", "--verify"])
            let (_, verifyAfter) = try runProcess(["dpkg", "--root=\(after)", "--verify"])
            let new = Set(verifyAfter.split(separator: "\n")).subtracting(verifyBefore.split(separator: "\n"))
            #expect(new.isEmpty, "dpkg --verify on the patched image: \(new.sorted().prefix(10))")
            let (_, audit) = try runProcess(["dpkg", "--root=\(after)", "--audit"])
            #expect(audit.isEmpty, "\(audit)")

            // syft reads the new versions.
            let (ss, so) = try runProcess(
                ["syft", "-q", "oci-dir:\(dir)/out", "-o", "json=\(dir)/syft.json"],
                environment: ["SYFT_CHECK_FOR_APP_UPDATE": "false"])
            try #require(ss == 0, "syft: \(so)")
            let syft =
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/syft.json", limit: 1 << 28)))
                as? [String: Any]
            let theirs = Dictionary(
                ((syft?["artifacts"] as? [[String: Any]]) ?? []).filter { $0["type"] as? String == "deb" }.map {
                    ($0["name"] as? String ?? "", $0["version"] as? String ?? "")
                }, uniquingKeysWith: { a, _ in a })
            for p in packages { #expect(theirs[p["name"] as! String] == p["to"] as? String, "syft: \(p["name"]!)") }

            // A vulnerability database of what Debian's own changelogs say the new versions fix (the security tracker is
            // not reachable here): the default mode patches exactly those, and a scan of its result has no finding
            // whose fix is published.
            let db = try Self.changelogDatabase(dir, rootfs: after, changes: apt)
            let (vs, vo) = try runProcess([
                hardenBinary, "scan", "oci:\(TestImages.layout):\(tag)", "--db", db, "--format", "json",
            ])
            try #require(vs == 0, "\(vo)")
            let fixable = try Self.fixableFindings(vo)
            try #require(!fixable.isEmpty, "the changelogs name no CVE the original image has?")
            let (ds, dout) = try RuntimeTests.harden(
                ["patch", "oci:\(TestImages.layout):\(tag)", "--db", db, "-o", "oci:\(dir)/vuln:\(tag)"],
                runDir: dir + "/run")
            try #require(ds == 0, "\(dout)")
            let (ss2, so2) = try runProcess([
                hardenBinary, "scan", "oci:\(dir)/vuln:\(tag)", "--db", db, "--format", "json",
            ])
            try #require(ss2 == 0, "\(so2)")
            let left = try Self.fixableFindings(so2)
            #expect(left.isEmpty, "findings with a published fix after the patch: \(left.prefix(10))")
            print("patch \(tag): \(fixable.count) findings with a published fix before, \(left.count) after")

            // The patched application still serves its probe under runc.
            if let probe = ["nginx": "80:GET:/", "flask": "5000:GET:/"][tag] {
                let (ps, po) = try RuntimeTests.harden(
                    ["profile", "oci:\(dir)/out:\(tag)", "--http-probe", probe, "-o", dir + "/p.json"],
                    runDir: dir + "/run")
                #expect(ps == 0, "\(po)")
            }
        }
    }

    @Test func runPatchesFirstThenProfilesAndMinifiesThePatchedImage() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            let (s, o) = try RuntimeTests.harden(
                [
                    "run", "oci:\(TestImages.layout):nginx", "--patch-all", "--http-probe", "80", "-o",
                    "oci:\(dir)/out:nginx",
                    "--report-dir",
                    dir + "/report", "--db", dir + "/none.sqlite",
                ], runDir: dir + "/run")
            try #require(s == 0, "\(o)")
            let record = try #require(
                try JSONSerialization.jsonObject(
                    with: Data(try HostFS.readFile(dir + "/report/report.json", limit: 1 << 26)))
                    as? [String: Any])
            let stages = (record["stages"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            #expect(stages.first == "patch" && stages.contains("minify"))
            let patch = try #require(record["patch"] as? [String: Any])
            let upgraded = try #require(patch["packages"] as? [String])
            #expect(upgraded.contains { $0.hasPrefix("nginx ") })
            #expect(record["original"] != nil && record["input"] != nil)
            #expect(HostFS.exists(dir + "/report/patch-report.json"))
            let fixed = patch["fixed"] as? [String] ?? []
            #expect(
                HostFS.exists(dir + "/report/patch.vex.json") == !fixed.isEmpty,
                "a VEX document exactly when something was fixed")
            let html = String(decoding: try HostFS.readFile(dir + "/report/report.html", limit: 1 << 26), as: UTF8.self)
            #expect(html.contains("data-testid=\"patch\""))
            // The hardened image carries the patched nginx.
            let (_, table) = try runProcess([hardenBinary, "sbom", "oci:\(dir)/out:nginx", "--no-cache"])
            let newNginx = upgraded.first { $0.hasPrefix("nginx ") }!.split(separator: " ").last!
            #expect(
                table.split(separator: "\n").contains { $0.contains(" nginx ") && $0.contains(String(newNginx)) },
                "\(table)")
        }
    }
}

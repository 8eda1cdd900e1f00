// harden — `harden patch` of an Alpine image against loopback apk repositories built here (packages and signed
// APKINDEX files made in code, signed by openssl): the upgrades chosen, files, `.apk-new`, whiteouts, apk's database
// (installed, scripts.tar, triggers), OpenVEX, scan and SBOM of the result, and every trust check refusing.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenSystem
import HardenTestSupport
import Testing

/// hello 1.0-r0 (+ libhello from the same origin, other, pinned) installed; hello 1.1-r0 fixes CVE-2099-0001, drops
/// a file, changes its protected config, adds a trigger; libhello 1.1-r0 needs a new library's soname; libnew-doc
/// is installed when libnew is (install_if); other 2.1-r0 comes only with --all; other 3.0-r0 sits in a tagged
/// repository the world does not ask for; pinned is pinned in the world.
enum ApkScenario {
    typealias P = ApkFixture.Package
    static let hello = P(
        name: "hello", version: "1.0-r0", depends: ["libhello"],
        files: ["usr/bin/hello": "hello v1", "usr/share/hello/old.txt": "old", "etc/hello.conf": "setting=1\n"],
        scripts: [".post-install": "#!/bin/sh\necho installed\n"])
    static let libhello = P(
        name: "libhello", version: "1.0-r0", origin: "hello", provides: ["so:libhello.so.1=1"],
        files: ["usr/lib/libhello.so.1": "lib v1"])
    static let other = P(name: "other", version: "2.0-r0", files: ["usr/bin/other": "other v2.0"])
    static let pinned = P(name: "pinned", version: "1.0-r0", files: ["usr/bin/pinned": "pinned v1"])
    /// Watches /usr/bin (like busybox's trigger): the upgrade of hello activates it.
    static let watcher = P(
        name: "watcher", version: "1.0-r0", files: ["usr/share/watcher/x": "x"],
        scripts: [".trigger": "#!/bin/sh\necho watched\n"], triggers: ["/usr/bin"])
    static let installed = [hello, libhello, other, pinned, watcher]

    static let hello11 = P(
        name: "hello", version: "1.1-r0", depends: ["libhello>=1.1"],
        files: [
            "usr/bin/hello": "hello v1.1", "usr/share/hello/new.txt": "new", "etc/hello.conf": "setting=1\nmore=2\n",
        ],
        scripts: [".post-upgrade": "#!/bin/sh\necho upgraded\n", ".trigger": "#!/bin/sh\necho triggered\n"],
        triggers: ["/usr/share/hello"])
    static let libhello11 = P(
        name: "libhello", version: "1.1-r0", origin: "hello", depends: ["so:libnew.so.2"],
        provides: ["so:libhello.so.1=1"], files: ["usr/lib/libhello.so.1": "lib v1.1"])
    static let libnew = P(
        name: "libnew", version: "2.0-r0", provides: ["so:libnew.so.2=2.0"], files: ["usr/lib/libnew.so.2": "libnew"],
        symlinks: ["usr/lib/libnew.so": "libnew.so.2"])
    static let libnewDoc = P(
        name: "libnew-doc", version: "2.0-r0", origin: "libnew", installIf: ["libnew=2.0-r0", "docs"],
        files: ["usr/share/doc/libnew/README": "docs"])
    static let docs = P(name: "docs", version: "1.0-r0", files: ["usr/share/doc/README": "docs"])
    static let other21 = P(name: "other", version: "2.1-r0", files: ["usr/bin/other": "other v2.1"])
    static let other30 = P(name: "other", version: "3.0-r0", files: ["usr/bin/other": "other v3.0"])
    static let pinned11 = P(name: "pinned", version: "1.1-r0", files: ["usr/bin/pinned": "pinned v1.1"])

    static let secdb = """
        {"distroversion": "v3.19", "reponame": "main", "urlprefix": "http://127.0.0.1/alpine", "packages": [
          {"pkg": {"name": "hello", "secfixes": {"1.1-r0": ["CVE-2099-0001"]}}},
          {"pkg": {"name": "other", "secfixes": {"9.0-r0": ["CVE-2099-0002"]}}}]}
        """

    /// The repositories, the image (docs installed, so libnew-doc's install_if holds once libnew is) and the database.
    static func make(
        _ dir: String, tamper: ApkFixture.Tamper = .none, tampered: String? = nil, confChanged: Bool = true
    ) throws -> (repo: LoopbackRepository, image: String, db: String) {
        let keyName = "harden-test.rsa.pub"
        let (key, pub) = try ApkFixture.makeKey(dir + "/keys")
        let main = installed + [docs, hello11, libhello11, libnew, libnewDoc, other21, pinned11]
        try ApkFixture.repository(
            root: dir + "/www/debian/v3.19/main", packages: main, key: key, keyName: keyName, tamper: tamper,
            tampered: tampered)
        try ApkFixture.repository(root: dir + "/www/debian/edge/main", packages: [other30], key: key, keyName: keyName)
        let repo = try LoopbackRepository(root: dir + "/www")

        var entries: [FixtureEntry] = [
            .file("etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\n"),
            .file("etc/apk/repositories", "\(repo.uri)/v3.19/main\n# a comment\n@edge \(repo.uri)/edge/main\n"),
            .file("etc/apk/keys/" + keyName, String(decoding: pub, as: UTF8.self)),
            .file("etc/apk/world", "docs hello other pinned=1.0-r0 watcher\n"),
            .file("etc/apk/arch", "x86_64\n"),
        ]
        var records: [String] = []
        var scripts: [FixtureEntry] = []
        var triggers = ""
        for p in installed + [docs] {
            let apk = try ApkFixture.apk(p, key: key, keyName: keyName)
            if !p.triggers.isEmpty {
                triggers += "\(try ApkFixture.checksum(ofApk: apk)) \(p.triggers.joined(separator: " "))\n"
            }
            records.append(try ApkFixture.installedRecord(p, apk: apk))
            for d in p.directories { entries.append(.dir(d)) }
            for (path, content) in p.files {
                entries.append(.file(path, path == "etc/hello.conf" && confChanged ? "setting=42\n" : content))
            }
            for (name, body) in p.scripts {
                let c = try ApkFixture.checksum(ofApk: apk)
                let hex = "X1" + Hex.encode(Data(base64Encoded: String(c.dropFirst(2)))!)
                scripts.append(.file("\(p.name)-\(p.version).\(hex).\(name.dropFirst())", body, mode: 0o755))
            }
        }
        entries.append(.file("lib/apk/db/installed", records.map { $0 + "\n\n" }.joined()))
        entries.append(.file(raw: Array("lib/apk/db/scripts.tar".utf8), try Fixtures.tar(scripts)))
        entries.append(.file("lib/apk/db/triggers", triggers))
        try Fixtures.ociLayout(
            at: dir + "/img", images: [(tag: "t", layers: [try Fixtures.layer(entries)], config: nil)])
        try HostFS.writeFileAtomically(dir + "/secdb.json", Array(secdb.utf8))
        let (s, o) = try runProcess([hardenBinary, "db", "import", dir + "/secdb.json", "--db", dir + "/db.sqlite"])
        try #require(s == 0, "db import: \(o)")
        return (repo, "oci:\(dir)/img:t", dir + "/db.sqlite")
    }

    /// apk's installed database of a directory tree: name → (version, the record's lines).
    static func installedDatabase(_ rootfs: String) throws -> [String: (version: String, lines: [String])] {
        let text = String(decoding: try HostFS.readFile(rootfs + "/lib/apk/db/installed"), as: UTF8.self)
        var out: [String: (String, [String])] = [:]
        for record in text.components(separatedBy: "\n\n") where !record.isEmpty {
            let lines = record.split(separator: "\n").map(String.init)
            guard let p = lines.first(where: { $0.hasPrefix("P:") }), let v = lines.first(where: { $0.hasPrefix("V:") })
            else { continue }
            out[String(p.dropFirst(2))] = (String(v.dropFirst(2)), lines)
        }
        return out
    }
}

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct ApkPatchTests {
    @Test func aVulnerablePackageIsUpgradedWithItsOriginSiblingsANewDependencyAndItsInstallIf() throws {
        try withTemporaryDirectory { dir in
            let (repo, image, db) = try ApkScenario.make(dir)
            _ = repo
            let (s, o) = try PatchScenario.patch(dir, image: image, db: db)
            try #require(s == 0, "\(o)")
            let report =
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/report.json")))
                as! [String: Any]
            #expect(report["ecosystem"] as? String == "apk")
            let packages = (report["packages"] as! [[String: Any]]).map {
                "\($0["name"]!) \($0["from"] as? String ?? "-")→\($0["to"]!)"
            }
            #expect(
                packages == [
                    "hello 1.0-r0→1.1-r0", "libhello 1.0-r0→1.1-r0", "libnew -→2.0-r0", "libnew-doc -→2.0-r0",
                ])
            let hello = (report["packages"] as! [[String: Any]]).first { $0["name"] as? String == "hello" }!
            #expect(hello["fixes"] as? [String] == ["CVE-2099-0001"])
            #expect(hello["scriptsNotRun"] as? [String] == [".post-upgrade", ".trigger"])
            #expect(report["conffilesKept"] as? [String] == ["/etc/hello.conf"])
            #expect(report["removedFiles"] as? [String] == ["/usr/share/hello/old.txt"])
            #expect(
                report["notes"] as? [String] == [
                    "trigger of watcher not run (it watches /usr/bin; /usr/bin changed)",
                    "trigger of hello not run (it watches /usr/share/hello; /usr/share/hello changed)",
                ])

            let root = try PatchScenario.rootfs(dir, "oci:\(dir)/out:t", "rootfs")
            #expect(PatchScenario.text(root + "/usr/bin/hello") == "hello v1.1")
            #expect(PatchScenario.text(root + "/usr/lib/libhello.so.1") == "lib v1.1")
            #expect(PatchScenario.text(root + "/usr/lib/libnew.so.2") == "libnew")
            #expect(PatchScenario.text(root + "/etc/hello.conf") == "setting=42\n")
            #expect(PatchScenario.text(root + "/etc/hello.conf.apk-new") == "setting=1\nmore=2\n")
            #expect(!HostFS.exists(root + "/usr/share/hello/old.txt"))
            #expect(PatchScenario.text(root + "/usr/share/hello/new.txt") == "new")
            #expect(PatchScenario.text(root + "/usr/bin/other") == "other v2.0")

            // apk's database: new records whose files and checksums are what the layer holds; the rest unchanged.
            let installed = try ApkScenario.installedDatabase(root)
            #expect(
                installed.mapValues(\.version) == [
                    "hello": "1.1-r0", "libhello": "1.1-r0", "libnew": "2.0-r0", "libnew-doc": "2.0-r0",
                    "other": "2.0-r0", "pinned": "1.0-r0", "docs": "1.0-r0", "watcher": "1.0-r0",
                ])
            let helloLines = installed["hello"]!.lines
            #expect(helloLines.contains("F:usr/share/hello") && helloLines.contains("R:new.txt"))
            #expect(!helloLines.contains("R:old.txt"))
            #expect(helloLines.contains("Z:" + ApkFixture.q1(Array("hello v1.1".utf8))))
            #expect(installed["libnew"]!.lines.contains("Z:" + ApkFixture.q1(Array("libnew.so.2".utf8))))
            let checksum = String(helloLines.first { $0.hasPrefix("C:") }!.dropFirst(2))
            let scripts = try Self.tarNames(root + "/lib/apk/db/scripts.tar")
            let hex = "X1" + Hex.encode(Data(base64Encoded: String(checksum.dropFirst(2)))!)
            // hello 1.0-r0's post-install gone, 1.1-r0's scripts in, watcher's kept.
            #expect(
                scripts.filter { !$0.hasPrefix("watcher-1.0-r0.X1") } == [
                    "hello-1.1-r0.\(hex).post-upgrade", "hello-1.1-r0.\(hex).trigger",
                ])
            #expect(scripts.count == 3)
            let triggers = PatchScenario.text(root + "/lib/apk/db/triggers") ?? ""
            #expect(triggers.hasSuffix("\n\(checksum) /usr/share/hello\n") && triggers.contains(" /usr/bin\n"))

            // OpenVEX names the upgraded package by its apk purl; scan and SBOM of the result see the new versions.
            let vex = PatchScenario.text(dir + "/vex.json") ?? ""
            #expect(vex.contains("pkg:apk/alpine/hello@1.1-r0") && vex.contains("CVE-2099-0001"))
            let (ss, so) = try runProcess([hardenBinary, "scan", "oci:\(dir)/out:t", "--db", db, "--format", "json"])
            #expect(ss == 0 && !so.contains("CVE-2099-0001"), "\(so.suffix(600))")
            let (bs, bo) = try runProcess([hardenBinary, "sbom", "oci:\(dir)/out:t", "--format", "cyclonedx-json"])
            #expect(
                bs == 0 && bo.contains("pkg:apk/alpine/hello@1.1-r0") && bo.contains("pkg:apk/alpine/libnew@2.0-r0"))
            let (ys, yo) = try runProcess(["syft", "-q", "oci-dir:\(dir)/out", "-o", "json"])
            #expect(
                ys == 0 && yo.contains("pkg:apk/alpine/hello@1.1-r0") && !yo.contains("pkg:apk/alpine/hello@1.0-r0"))
        }
    }

    static func tarNames(_ path: String) throws -> [String] {
        let tar = TarReader(MemoryReader(try HostFS.readFile(path)), name: path)
        var names: [String] = []
        while let e = try tar.next() { names.append(String(decoding: e.path.bytes, as: UTF8.self)) }
        return names.sorted()
    }

    @Test func allUpgradesEverythingTheWorldAllowsAndAnUnchangedConfigIsReplaced() throws {
        try withTemporaryDirectory { dir in
            let (repo, image, db) = try ApkScenario.make(dir, confChanged: false)
            _ = repo
            let (s, o) = try PatchScenario.patch(dir, image: image, db: db, extra: ["--all"])
            try #require(s == 0, "\(o)")
            let root = try PatchScenario.rootfs(dir, "oci:\(dir)/out:t", "rootfs")
            let installed = try ApkScenario.installedDatabase(root).mapValues(\.version)
            // other from the untagged repository (not @edge's 3.0), pinned kept at its pinned version.
            #expect(installed["other"] == "2.1-r0" && installed["pinned"] == "1.0-r0" && installed["hello"] == "1.1-r0")
            #expect(PatchScenario.text(root + "/usr/bin/other") == "other v2.1")
            #expect(PatchScenario.text(root + "/etc/hello.conf") == "setting=1\nmore=2\n")
            #expect(!HostFS.exists(root + "/etc/hello.conf.apk-new"))
        }
    }

    @Test(arguments: [
        (ApkFixture.Tamper.unknownKey, nil as String?, "APKINDEX.tar.gz: signed by other.rsa.pub"),
        (.unknownKey, "hello", "hello-1.1-r0.apk: signed by other.rsa.pub"),
        (.dataHash, "hello", "hello-1.1-r0.apk: data stream SHA-256"),
        (.escapingPath, "libhello", "leaves the root"),
    ])
    func aTamperedRepositoryOrPackageWritesNothing(
        tamper: ApkFixture.Tamper, tampered: String?, message: String
    )
        throws
    {
        try withTemporaryDirectory { dir in
            let (repo, image, db) = try ApkScenario.make(dir, tamper: tamper, tampered: tampered)
            _ = repo
            let (s, o) = try PatchScenario.patch(dir, image: image, db: db)
            #expect(s == 1, "\(o)")
            let line = o.split(separator: "\n").first { $0.hasPrefix("harden:") } ?? ""
            #expect(line.contains(message) && line.contains("http://127.0.0.1:"), "\(o)")
            #expect(!HostFS.exists(dir + "/out"))
            #expect(!HostFS.exists(dir + "/report.json"))
        }
    }
}

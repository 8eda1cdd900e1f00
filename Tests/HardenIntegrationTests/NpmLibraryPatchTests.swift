// harden — `harden patch --libraries npm` against a hermetic registry on loopback (Tests/Tools/make-npm-fixture.py):
// nested and hoisted copies upgraded within their dependents' ranges, refusals reported, the lockfile kept
// consistent; npm itself, node, syft and harden's own scan as oracles; hostile tarballs refused.
import Foundation
import HardenCore
import HardenSystem
import HardenTestSupport
import Testing

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct NpmLibraryPatchTests {
    static let script = packageRoot + "/Tests/Tools/make-npm-fixture.py"

    /// The registry served on loopback, the app image (the node test image + /app) and the database of the feed.
    static func withFixture(
        hostile: String = "", _ body: (_ dir: String, _ registry: String, _ env: [String: String]) throws -> Void
    ) throws {
        try TestImages.require()
        try withTemporaryDirectory { dir in
            try HostFS.makeDirectories(dir + "/registry")
            let port = try BackgroundServer.python(
                directory: dir + "/registry", log: dir + "/http.log", pidFile: dir + "/pid")
            defer { BackgroundServer.stop(pidFile: dir + "/pid") }
            let url = "http://127.0.0.1:\(port)"
            let (f, fo) = try runProcess(["python3", script, dir, url] + (hostile.isEmpty ? [] : [hostile]))
            try #require(f == 0, "\(fo)")
            let env = try LibraryFixture.prepare(
                dir, tag: "node", cmd: #"["node", "/app/server.js"]"#, feed: "osv-npm-all.zip")
            try body(dir, url, env)
        }
    }

    static func patch(_ dir: String, _ registry: String, _ env: [String: String], out: String) throws -> (Int32, String)
    {
        try runProcess(
            [
                hardenBinary, "patch", "oci:\(dir)/img:node", "--libraries", "npm", "--only-libraries",
                "--npm-registry",
                registry, "-o", "oci:\(out):p", "--report", dir + "/report.json", "--vex", dir + "/vex.json",
            ], environment: env)
    }

    @Test func nodeModulesAreUpgradedWithinTheirDependentsRanges() throws {
        try Self.withFixture { dir, registry, env in
            let (s, o) = try Self.patch(dir, registry, env, out: dir + "/out")
            try #require(s == 0, "\(o)")
            let report = try #require(
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/report.json")))
                    as? [String: Any])
            let libraries = try #require(report["libraries"] as? [String: Any])
            let rows = ((libraries["packages"] as? [[String: Any]]) ?? []).map {
                "\($0["location"] ?? "") \($0["from"] ?? "-") \($0["to"] ?? "")"
            }
            #expect(
                Set(rows) == [
                    "/app/node_modules/hx-escape 1.0.0 1.0.2",
                    "/app/node_modules/hx-legacy/node_modules/hx-escape 0.9.0 0.9.3",
                ], "\(rows)")
            let refused = ((libraries["refused"] as? [[String: Any]]) ?? []).map {
                "\($0["name"] ?? ""): \($0["reason"] ?? "")"
            }
            #expect(
                refused.contains { $0.hasPrefix("hx-pinned:") && $0.contains("requires hx-pinned@^1.0.0") },
                "\(refused)")
            #expect(refused.contains { $0.hasPrefix("hx-needy:") && $0.contains("hx-missing") }, "\(refused)")

            let (u, uo) = try runProcess(["umoci", "unpack", "--image", dir + "/out:p", dir + "/bundle"])
            try #require(u == 0, "\(uo)")
            let rootfs = dir + "/bundle/rootfs"
            // npm itself finds every range satisfied; the old release's own file is gone.
            let (l, lo) = try runProcess(["sh", "-c", "cd '\(rootfs)/app' && npm ls --all"])
            #expect(l == 0 && lo.contains("hx-escape@1.0.2") && lo.contains("hx-escape@0.9.3"), "\(lo)")
            #expect(!HostFS.exists(rootfs + "/app/node_modules/hx-escape/old.js"))
            #expect(HostFS.exists(rootfs + "/app/node_modules/hx-pinned/old.js"))
            // The lockfile names what is installed, with the registry's resolved URL and integrity.
            let lock = try #require(
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(rootfs + "/app/package-lock.json")))
                    as? [String: Any])
            let packages = try #require(lock["packages"] as? [String: [String: Any]])
            let packument = try #require(
                try JSONSerialization.jsonObject(
                    with: Data(try HostFS.readFile(dir + "/registry/hx-escape/index.html")))
                    as? [String: Any])
            let versions = try #require(packument["versions"] as? [String: [String: Any]])
            for (key, version) in [
                ("node_modules/hx-escape", "1.0.2"), ("node_modules/hx-legacy/node_modules/hx-escape", "0.9.3"),
            ] {
                let dist = try #require(versions[version]?["dist"] as? [String: Any])
                #expect(packages[key]?["version"] as? String == version)
                #expect(packages[key]?["integrity"] as? String == dist["integrity"] as? String)
                #expect(packages[key]?["resolved"] as? String == dist["tarball"] as? String)
            }
            // The app still runs and serves, with the new copies.
            let (n, no) = try runProcess(["chroot", rootfs, "node", "/app/check.js"])
            #expect(n == 0 && no.contains("&lt;b&gt; 1.0.2 0.9.3"), "\(no)")
            let ports = try BackgroundServer.startOnAnyPort(
                "chroot '\(rootfs)' node /app/server.js", log: dir + "/node.log", pidFile: dir + "/node.pid",
                pattern: "listening on port ([0-9]+)")
            defer { BackgroundServer.stop(pidFile: dir + "/node.pid") }
            let port = try #require(ports.first)
            let (h, ho) = try runProcess(["curl", "-sf", "http://127.0.0.1:\(port)/"])
            #expect(h == 0 && ho.contains("&lt;b&gt;"), "\(ho)")

            // harden and syft read the new versions; harden's scan has no fixable npm finding but the refused ones.
            let (sb, sbo) = try runProcess(
                [hardenBinary, "sbom", "oci:\(dir)/out:p", "--format", "json", "-o", dir + "/sbom.json"],
                environment: env)
            try #require(sb == 0, "\(sbo)")
            let sbom = String(decoding: try HostFS.readFile(dir + "/sbom.json", limit: 1 << 26), as: UTF8.self)
            #expect(sbom.contains("pkg:npm/hx-escape@1.0.2") && sbom.contains("pkg:npm/hx-escape@0.9.3"))
            #expect(!sbom.contains("pkg:npm/hx-escape@1.0.0"))
            let (sy, syo) = try runProcess(["syft", "scan", "oci-dir:\(dir)/out", "-o", "json", "-q"])
            #expect(sy == 0 && syo.contains("pkg:npm/hx-escape@1.0.2"), "\(syo.prefix(300))")
            let vex = String(decoding: try HostFS.readFile(dir + "/vex.json"), as: UTF8.self)
            #expect(vex.contains("pkg:npm/hx-escape@1.0.2") && vex.contains("HXSA-1"), "\(vex)")
            let (sc, sco) = try runProcess([hardenBinary, "scan", "oci:\(dir)/out:p"], environment: env)
            #expect(sc == 0, "\(sco)")
            #expect(!sco.contains("HXSA-1") && sco.contains("HXSA-2") && sco.contains("HXSA-3"), "\(sco)")
        }
    }

    @Test func hostileTarballsAreRefused() throws {
        for (hostile, message) in [("integrity", "does not match its integrity"), ("traversal", "unsafe path")] {
            try Self.withFixture(hostile: hostile) { dir, registry, env in
                let out = dir + "/out"
                let (s, o) = try Self.patch(dir, registry, env, out: out)
                #expect(s == 1, "\(hostile): \(o)")
                let lines = o.split(separator: "\n").filter { $0.hasPrefix("harden:") }
                #expect(lines.count == 1 && o.contains(message), "\(hostile): \(o)")
                #expect(!HostFS.exists(out), "\(hostile): output written")
                #expect(!HostFS.exists("/etc/cron.d/evil"))
            }
        }
    }
}

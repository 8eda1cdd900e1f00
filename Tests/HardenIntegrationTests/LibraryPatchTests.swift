// harden — `harden patch --libraries python` on the pyapp image against the real Python package index (PyPI), with
// pip, syft and harden's own scan as oracles; and a hostile local index whose wheels must be refused.
import Crypto
import Foundation
import HardenCore
import HardenOCI
import HardenPatch
import HardenSystem
import HardenTestSupport
import Testing

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct LibraryPatchTests {
    static func environment(_ dir: String) throws -> [String: String] {
        let env = ["HARDEN_DB": dir + "/v.sqlite", "HARDEN_CACHE_DIR": dir + "/cache"]
        let (s, o) = try runProcess(
            [hardenBinary, "db", "import", "-q", SharedFeeds.directory + "/osv-PyPI-all.zip"], environment: env)
        try #require(s == 0, "\(o)")
        return env
    }

    static func json(_ path: String) throws -> [String: Any] {
        try #require(
            try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(path, limit: 1 << 26))) as? [String: Any])
    }

    @Test func pipInstalledLibrariesAreUpgradedConsistently() throws {
        try TestImages.require()
        try SharedFeeds.require()
        try withTemporaryDirectory { dir in
            let env = try Self.environment(dir)
            let (s, o) = try runProcess(
                [
                    hardenBinary, "patch", "oci:\(TestImages.layout):pyapp", "--libraries", "python",
                    "--only-libraries",
                    "-o", "oci:\(dir)/out:patched", "--report", dir + "/report.json", "--vex", dir + "/vex.json",
                ], environment: env)
            try #require(s == 0, "\(o)")
            let libraries = try #require(try Self.json(dir + "/report.json")["libraries"] as? [String: Any])
            let packages = try #require(libraries["packages"] as? [[String: Any]])
            var upgraded: [String: String] = [:]
            for p in packages { upgraded[(p["name"] as? String ?? "").lowercased()] = p["to"] as? String }
            for name in ["requests", "urllib3", "idna", "certifi", "jinja2"] {
                #expect(upgraded[name] != nil, "\(name) not upgraded: \(o)")
            }
            // requests ≥ 2.26 needs charset-normalizer, which the image did not have: installed as a new dependency.
            #expect(
                packages.contains { ($0["name"] as? String)?.lowercased() == "charset-normalizer" && $0["from"] == nil }
            )

            // pip itself, in the patched image: every requirement holds; the new versions import.
            let (u, uo) = try runProcess(["umoci", "unpack", "--image", dir + "/out:patched", dir + "/bundle"])
            try #require(u == 0, "\(uo)")
            let rootfs = dir + "/bundle/rootfs"
            let (c, co) = try runProcess(["chroot", rootfs, "python3", "-m", "pip", "check"])
            #expect(c == 0 && co.contains("No broken requirements"), "\(co)")
            let (i, io) = try runProcess([
                "chroot", rootfs, "python3", "-c",
                "import requests, urllib3, idna, certifi; print(requests.__version__, urllib3.__version__, idna.__version__)",
            ])
            #expect(
                i == 0
                    && io.contains(
                        "\(upgraded["requests"] ?? "?") \(upgraded["urllib3"] ?? "?") \(upgraded["idna"] ?? "?")"),
                "\(io)")
            // Byte-compiled as the image had it: the image's own interpreter compiles the same bytes.
            let source = "/usr/local/lib/python3.11/dist-packages/requests/sessions.py"
            let (pc, pco) = try runProcess([
                "chroot", rootfs, "python3", "-c",
                "import py_compile; py_compile.compile('\(source)', cfile='/tmp/oracle.pyc', dfile='\(source)', "
                    + "invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)",
            ])
            try #require(pc == 0, "\(pco)")
            let ours = try HostFS.readFile(
                rootfs + "/usr/local/lib/python3.11/dist-packages/requests/__pycache__/sessions.cpython-311.pyc")
            #expect(ours == (try HostFS.readFile(rootfs + "/tmp/oracle.pyc")))
            // The old versions' files are gone (whited out), not merely shadowed.
            let site = rootfs + "/usr/local/lib/python3.11/dist-packages"
            #expect(!HostFS.exists(site + "/requests-2.19.0.dist-info"))
            #expect(!HostFS.exists(site + "/urllib3-1.23.dist-info"))
            #expect(HostFS.exists(site + "/requests-\(upgraded["requests"] ?? "?").dist-info/RECORD"))

            // harden and syft read the new versions; harden's scan finds no PyPI finding with a fix except those
            // the report says could not be fixed.
            let (sb, sbo) = try runProcess(
                [hardenBinary, "sbom", "oci:\(dir)/out:patched", "--format", "json", "-o", dir + "/sbom.json"],
                environment: env)
            try #require(sb == 0, "\(sbo)")
            let sbomText = String(decoding: try HostFS.readFile(dir + "/sbom.json", limit: 1 << 26), as: UTF8.self)
            #expect(sbomText.contains("pkg:pypi/requests@\(upgraded["requests"] ?? "?")"))
            #expect(!sbomText.contains("pkg:pypi/requests@2.19.0"))
            let (sy, syo) = try runProcess(["syft", "scan", "oci-dir:\(dir)/out", "-o", "json", "-q"])
            #expect(sy == 0 && syo.contains("\"version\":\"\(upgraded["urllib3"] ?? "?")\""), "\(syo.prefix(400))")
            let (sc, _) = try runProcess(
                [hardenBinary, "scan", "oci:\(dir)/out:patched", "--format", "json", "-o", dir + "/scan.json"],
                environment: env)
            #expect(sc == 0)
            let findings = (try Self.json(dir + "/scan.json")["findings"] as? [[String: Any]]) ?? []
            let unfixed = Set(
                ((libraries["unfixed"] as? [[String: Any]]) ?? []).compactMap { $0["vulnerability"] as? String })
            let left = findings.filter { f in
                let pkg = f["package"] as? [String: Any]
                return pkg?["type"] as? String == "python" && f["fixState"] as? String == "fixed"
                    && !unfixed.contains(f["id"] as? String ?? "")
            }
            #expect(left.isEmpty, "fixable PyPI findings left: \(left.map { $0["id"] ?? "" })")
            // OpenVEX: fixed statements naming the pypi purls.
            let vex = String(decoding: try HostFS.readFile(dir + "/vex.json"), as: UTF8.self)
            #expect(vex.contains("pkg:pypi/urllib3@\(upgraded["urllib3"] ?? "?")") && vex.contains("\"fixed\""))
        }
    }

    /// The app's probe checks behaviour that idna's next major release changes (its 2.x API): the upgrade to 3.x
    /// breaks it, bisection finds it among the upgrades, reverts it and keeps the others, each marked.
    @Test func breakingUpgradesAreRevertedByBisection() throws {
        try TestImages.require()
        try SharedFeeds.require()
        try withTemporaryDirectory { dir in
            let env = try Self.environment(dir)
            let probe =
                "python3 -c 'import sys, idna.package_data as d; print(\"idna\", d.__version__); "
                + "sys.exit(0 if d.__version__.startswith(\"2.\") else 3)'"
            let (s, o) = try runProcess(
                [
                    hardenBinary, "run", "oci:\(TestImages.layout):pyapp", "--patch-libraries", "python",
                    "--library-patch-level", "major", "--exec-probe",
                    "python3 -c 'import requests, urllib3; print(requests.__version__)'", "--exec-probe", probe,
                    "-o", "oci:\(dir)/out:run", "--report-dir", dir + "/report", "--", "sleep", "30",
                ], environment: env)
            try #require(s == 0, "\(o)")
            let libraries = try #require(
                try Self.json(dir + "/report/patch-report.json")["libraries"] as? [String: Any])
            let packages = try #require(libraries["packages"] as? [[String: Any]])
            func outcome(_ name: String) -> [String: Any]? {
                packages.first { ($0["name"] as? String)?.lowercased() == name }?["verification"] as? [String: Any]
            }
            let idna = try #require(outcome("idna"), "idna not reported: \(packages)")
            #expect(idna["outcome"] as? String == "reverted")
            #expect((idna["probe"] as? String ?? "").contains("idna.package_data"))
            #expect((idna["output"] as? String ?? "").contains("idna 3."), "the probe's output: \(idna)")
            for name in ["requests", "urllib3", "certifi", "jinja2"] {
                #expect(outcome(name)?["outcome"] as? String == "verified", "\(name): \(packages)")
            }
            // The image that went on through the run has idna 2.7 and the other upgrades.
            let vex = String(decoding: try HostFS.readFile(dir + "/report/patch.vex.json"), as: UTF8.self)
            #expect(!vex.contains("pkg:pypi/idna@3"))
            #expect(vex.contains("pkg:pypi/requests@"))
            let sbom = String(
                decoding: try HostFS.readFile(dir + "/report/sbom-before.cdx.json", limit: 1 << 26), as: UTF8.self)
            #expect(sbom.contains("pkg:pypi/idna@2.7") && !sbom.contains("pkg:pypi/requests@2.19.0"))
        }
    }

    /// A local index serving certifi 2023.7.22 (pyapp has 2018.4.16, with fixed advisories) as a hostile wheel.
    static func withHostileIndex(
        _ wheel: [UInt8], sha256: String, name: String = "certifi-2023.7.22-py3-none-any.whl",
        _ body: (String) throws -> Void
    ) throws {
        try withTemporaryDirectory { dir in
            try HostFS.makeDirectories(dir + "/simple/certifi")
            try HostFS.makeDirectories(dir + "/files")
            try HostFS.writeFileAtomically(dir + "/files/" + name, wheel)
            let page = """
                {"meta": {"api-version": "1.1"}, "name": "certifi", "versions": ["2023.7.22"],
                 "files": [{"filename": "\(name)", "url": "../../files/\(name)", "hashes": {"sha256": "\(sha256)"},
                            "requires-python": ">=3.6", "yanked": false, "size": \(wheel.count)}]}
                """
            try HostFS.writeFileAtomically(dir + "/simple/certifi/index.html", Array(page.utf8))
            let port = try BackgroundServer.python(directory: dir, log: dir + "/log", pidFile: dir + "/pid")
            defer { BackgroundServer.stop(pidFile: dir + "/pid") }
            try body("http://127.0.0.1:\(port)/simple")
        }
    }

    /// A fix published only as an sdist is reported (harden does not build sdists), and the run succeeds.
    @Test func sdistOnlyFixesAreReportedNotBuilt() throws {
        try TestImages.require()
        try SharedFeeds.require()
        let sdist = Array("not really a tarball".utf8)
        try withTemporaryDirectory { dir in
            let env = try Self.environment(dir)
            try Self.withHostileIndex(
                sdist, sha256: Digest.sha256(of: sdist).encoded, name: "certifi-2023.7.22.tar.gz"
            ) { url in
                let (s, o) = try runProcess(
                    [
                        hardenBinary, "patch", "oci:\(TestImages.layout):pyapp", "--libraries", "python",
                        "--only-libraries", "--python-index", url, "-o", "oci:\(dir)/out:x", "--report",
                        dir + "/report.json",
                    ], environment: env)
                try #require(s == 0, "\(o)")
                let libraries = try #require(try Self.json(dir + "/report.json")["libraries"] as? [String: Any])
                let unfixed = (libraries["unfixed"] as? [[String: Any]]) ?? []
                let certifi = unfixed.filter { ($0["package"] as? String) == "certifi" }
                #expect(
                    !certifi.isEmpty && certifi.allSatisfy { ($0["reason"] as? String ?? "").contains("only sdists") },
                    "\(certifi)")
                #expect((libraries["packages"] as? [Any])?.isEmpty ?? true)
            }
        }
    }

    @Test func hostileWheelsFromTheIndexAreRefused() throws {
        try TestImages.require()
        try SharedFeeds.require()
        let distInfo = "certifi-2023.7.22.dist-info"
        func wheel(_ extra: [(String, [UInt8])], record: String? = nil) throws -> [UInt8] {
            var files: [(String, [UInt8])] = [
                ("certifi/__init__.py", Array("def where(): return ''\n".utf8)),
                ("\(distInfo)/METADATA", Array("Metadata-Version: 2.1\nName: certifi\nVersion: 2023.7.22\n".utf8)),
                ("\(distInfo)/WHEEL", Array("Wheel-Version: 1.0\n".utf8)),
            ]
            files += extra
            let rows = files.map { n, d in
                "\(n),sha256=\(WheelInstaller.urlsafeBase64(Array(SHA256.hash(data: d)))),\(d.count)"
            }
            let rec = (record ?? rows.joined(separator: "\n")) + "\n\(distInfo)/RECORD,,\n"
            return try ZipFixture.build(
                files.map { ZipFixture.Entry($0.0, $0.1) } + [.init("\(distInfo)/RECORD", Array(rec.utf8))])
        }
        let good = try wheel([])
        let traversal = try wheel([("../../../../etc/cron.d/evil", Array("* * * * * root id\n".utf8))])
        let cases: [(String, [UInt8], String, String)] = [
            ("hash differs from the index", good, String(repeating: "0", count: 64), "SHA256"),
            ("../ in the wheel", traversal, Digest.sha256(of: traversal).encoded, "unsafe path"),
        ]
        try withTemporaryDirectory { dir in
            let env = try Self.environment(dir)
            for (what, bytes, sha, message) in cases {
                try Self.withHostileIndex(bytes, sha256: sha) { url in
                    let out = dir + "/out-\(message.count)"
                    let (s, o) = try runProcess(
                        [
                            hardenBinary, "patch", "oci:\(TestImages.layout):pyapp", "--libraries", "python",
                            "--only-libraries", "--python-index", url, "-o", "oci:\(out):x",
                        ], environment: env)
                    #expect(s == 1, "\(what): \(o)")
                    let lines = o.split(separator: "\n").filter { $0.hasPrefix("harden:") }
                    #expect(lines.count == 1 && o.contains(message), "\(what): \(o)")
                    #expect(!HostFS.exists(out), "\(what): output written")
                    #expect(!HostFS.exists("/etc/cron.d/evil"))
                }
            }
        }
    }
}

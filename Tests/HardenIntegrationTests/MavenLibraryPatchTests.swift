// harden — `harden patch --libraries maven` against a hermetic Maven repository on loopback
// (Tests/Tools/make-maven-fixture.py): a jar on a manifest Class-Path, the same artifact nested in a Spring Boot
// style jar and in a war, refusals reported; the JVM itself (`java -jar`, before and after), Python's zip checker,
// syft and harden's own scan as oracles; a wrong checksum and a jar that is not the release asked for refused.
import Foundation
import HardenCore
import HardenPatch
import HardenSystem
import HardenTestSupport
import Testing

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct MavenLibraryPatchTests {
    static let script = packageRoot + "/Tests/Tools/make-maven-fixture.py"

    /// The repository served on loopback, the app image (the jvm test image + /app) and the database of the feed.
    static func withFixture(
        hostile: String = "", _ body: (_ dir: String, _ repository: String, _ env: [String: String]) throws -> Void
    ) throws {
        try TestImages.require()
        try withTemporaryDirectory { dir in
            let (f, fo) = try runProcess(["python3", script, dir] + (hostile.isEmpty ? [] : [hostile]))
            try #require(f == 0, "\(fo)")
            let port = try BackgroundServer.python(
                directory: dir + "/repo", log: dir + "/http.log", pidFile: dir + "/pid")
            defer { BackgroundServer.stop(pidFile: dir + "/pid") }
            let env = try LibraryFixture.prepare(
                dir, tag: "jvm", cmd: #"["java", "-jar", "/app/app.jar"]"#, feed: "osv-maven-all.zip")
            try body(dir, "http://127.0.0.1:\(port)", env)
        }
    }

    static func patch(
        _ dir: String, _ repository: String, _ env: [String: String], out: String, extra: [String] = []
    ) throws -> (Int32, String) {
        try runProcess(
            [
                hardenBinary, "patch", "oci:\(dir)/img:jvm", "--libraries", "maven", "--only-libraries",
                "--maven-repository", repository, "-o", "oci:\(out):p", "--report", dir + "/report.json", "--vex",
                dir + "/vex.json",
            ] + extra, environment: env)
    }

    /// What `java -jar JAR` prints in the image's root file system (its own /proc mounted).
    static func java(_ rootfs: String, _ jar: String) throws -> (Int32, String) {
        try runProcess([
            "unshare", "--mount", "--pid", "--fork", "--mount-proc=\(rootfs)/proc", "chroot", rootfs, "java", "-jar",
            jar,
        ])
    }

    @Test func jarsNestedOrNotAreUpgradedAndTheAppRunsTheFix() throws {
        try Self.withFixture { dir, repository, env in
            let (s, o) = try Self.patch(dir, repository, env, out: dir + "/out")
            try #require(s == 0, "\(o)")
            let report = try #require(
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/report.json")))
                    as? [String: Any])
            let libraries = try #require(report["libraries"] as? [String: Any])
            let rows = ((libraries["packages"] as? [[String: Any]]) ?? []).map {
                "\($0["location"] ?? "") \($0["from"] ?? "-") \($0["to"] ?? "") \($0["fixes"] ?? "")"
            }
            // The smallest fixing release, not 1.1.0, 2.0.0 or the release candidate; every copy.
            #expect(
                Set(rows) == [
                    "/app/lib/hx-text-1.0.1.jar 1.0.0 1.0.1 [\"HXSA-J1\"]",
                    "/app/boot.jar!/BOOT-INF/lib/hx-text-1.0.1.jar 1.0.0 1.0.1 [\"HXSA-J1\"]",
                    "/app/site.war!/WEB-INF/lib/hx-text-1.0.1.jar 1.0.0 1.0.1 [\"HXSA-J1\"]",
                ], "\(rows)")
            let refused = ((libraries["refused"] as? [[String: Any]]) ?? []).map {
                "\($0["name"] ?? ""): \($0["reason"] ?? "")"
            }
            #expect(
                refused.contains { $0.hasPrefix("dev.harden.fixture:hx-needy:") && $0.contains("hx-missing") },
                "\(refused)")
            #expect(
                refused.contains { $0.hasPrefix("dev.harden.fixture:hx-shade:") && $0.contains("hx-bundle-1.0.0.jar") },
                "\(refused)")

            // The JVM runs the fixed release, through the manifest's Class-Path and through the nested jar.
            for (image, version) in [("img:jvm", "1.0.0"), ("out:p", "1.0.1")] {
                let bundle = dir + "/bundle-" + version
                let (u, uo) = try runProcess(["umoci", "unpack", "--image", dir + "/" + image, bundle])
                try #require(u == 0, "\(uo)")
                for jar in ["/app/app.jar", "/app/boot.jar"] {
                    let (j, jo) = try Self.java(bundle + "/rootfs", jar)
                    #expect(j == 0 && jo.contains("hx-text \(version)"), "\(image) \(jar): \(jo)")
                }
            }
            let rootfs = dir + "/bundle-1.0.1/rootfs"
            for archive in ["/app/boot.jar", "/app/site.war"] {
                let (z, zo) = try runProcess(["python3", "-m", "zipfile", "-t", rootfs + archive])
                #expect(z == 0, "\(archive): \(zo)")
            }
            // Nested jars stay stored (Spring Boot's loader maps them), renamed, and classpath.idx names the new
            // one (the launcher above refuses anything else); the old file name is a link to the new one, which the
            // manifest Class-Path above still names.
            let (l, lo) = try runProcess(["unzip", "-v", rootfs + "/app/boot.jar"])
            #expect(l == 0 && lo.contains("Stored") && lo.contains("BOOT-INF/lib/hx-text-1.0.1.jar"), "\(lo)")
            #expect(!lo.contains("hx-text-1.0.0"), "\(lo)")
            let (x, xo) = try runProcess(["unzip", "-p", rootfs + "/app/boot.jar", "BOOT-INF/classpath.idx"])
            #expect(x == 0 && xo == "- \"BOOT-INF/lib/hx-text-1.0.1.jar\"\n", "\(xo)")
            let (w, wo) = try runProcess(["unzip", "-l", rootfs + "/app/site.war"])
            #expect(w == 0 && wo.contains("WEB-INF/lib/hx-text-1.0.1.jar") && !wo.contains("1.0.0"), "\(wo)")
            #expect(
                (try? FileManager.default.destinationOfSymbolicLink(atPath: rootfs + "/app/lib/hx-text-1.0.0.jar"))
                    == "hx-text-1.0.1.jar")
            #expect(HostFS.isRegularFile(rootfs + "/app/lib/hx-text-1.0.1.jar"))

            // harden and syft read the new versions; harden's scan keeps only the refused findings.
            let (sy, syo) = try runProcess(["syft", "scan", "oci-dir:\(dir)/out", "-o", "json", "-q"])
            #expect(sy == 0 && syo.contains("pkg:maven/dev.harden.fixture/hx-text@1.0.1"), "\(syo.prefix(300))")
            #expect(!syo.contains("pkg:maven/dev.harden.fixture/hx-text@1.0.0"))
            let vex = String(decoding: try HostFS.readFile(dir + "/vex.json"), as: UTF8.self)
            #expect(vex.contains("pkg:maven/dev.harden.fixture/hx-text@1.0.1") && vex.contains("HXSA-J1"), "\(vex)")
            let (sc, sco) = try runProcess([hardenBinary, "scan", "oci:\(dir)/out:p"], environment: env)
            #expect(sc == 0, "\(sco)")
            #expect(!sco.contains("HXSA-J1") && sco.contains("HXSA-J2") && sco.contains("HXSA-J3"), "\(sco)")
        }
    }

    @Test func aWrongChecksumAnotherReleaseOrAnOverlappingJarIsRefused() throws {
        for (hostile, message) in [
            ("checksum", "does not match its published sha1"), ("identity", "pom.properties says"),
            ("overlap", "overlap"),
        ] {
            try Self.withFixture(hostile: hostile) { dir, repository, env in
                let out = dir + "/out"
                let (s, o) = try Self.patch(dir, repository, env, out: out)
                #expect(s == 1, "\(hostile): \(o)")
                let lines = o.split(separator: "\n").filter { $0.hasPrefix("harden:") }
                #expect(lines.count == 1 && o.contains(message) && o.contains("hx-text-1.0.1.jar"), "\(hostile): \(o)")
                #expect(!HostFS.exists(out), "\(hostile): output written")
            }
        }
    }

    /// `run --patch-libraries maven`: upgrades its probes accept are verified; one a probe rejects (it needs the old
    /// release) is reverted, and the image that goes on keeps the old jar.
    @Test func runVerifiesOrRevertsTheUpgrades() throws {
        try Self.withFixture { dir, repository, env in
            for (name, probe, outcome) in [
                ("ok", "sh -c 'java -jar /app/boot.jar | cut -d\" \" -f1'", "verified"),
                ("old", "sh -c 'java -jar /app/app.jar | grep \"hx-text 1.0.0\"'", "reverted"),
            ] {
                let (s, o) = try runProcess(
                    [
                        hardenBinary, "run", "oci:\(dir)/img:jvm", "--patch-libraries", "maven", "--maven-repository",
                        repository, "--exec-probe", probe, "-o", "oci:\(dir)/run-\(name):run", "--report-dir",
                        dir + "/report-" + name, "--", "sleep", "30",
                    ], environment: env)
                try #require(s == 0, "\(name): \(o)")
                let report = try #require(
                    try JSONSerialization.jsonObject(
                        with: Data(try HostFS.readFile(dir + "/report-\(name)/patch-report.json"))) as? [String: Any])
                let packages = try #require((report["libraries"] as? [String: Any])?["packages"] as? [[String: Any]])
                #expect(packages.count == 3, "\(name): \(packages)")
                for p in packages {
                    #expect((p["verification"] as? [String: Any])?["outcome"] as? String == outcome, "\(name): \(p)")
                }
                // report.html has a row per copy with its outcome.
                let html = String(
                    decoding: try HostFS.readFile(dir + "/report-\(name)/report.html", limit: 1 << 26), as: UTF8.self)
                #expect(
                    html.components(separatedBy: "data-testid=\"library-row\"").count == 4
                        && html.contains("maven dev.harden.fixture:hx-text</td><td>1.0.0</td><td>1.0.1</td>")
                        && html.contains("<td>\(outcome)"), "\(html.prefix(300))")
                // Nothing fixed, no statement: the VEX document is written only for the verified upgrade.
                let vexPath = dir + "/report-\(name)/patch.vex.json"
                let vex = HostFS.exists(vexPath) ? String(decoding: try HostFS.readFile(vexPath), as: UTF8.self) : ""
                #expect(vex.contains("pkg:maven/dev.harden.fixture/hx-text@1.0.1") == (outcome == "verified"), "\(vex)")
                let sbom = String(
                    decoding: try HostFS.readFile(dir + "/report-\(name)/sbom-before.cdx.json", limit: 1 << 26),
                    as: UTF8.self)
                #expect(sbom.contains("pkg:maven/dev.harden.fixture/hx-text@1.0.0") == (outcome == "reverted"))
            }
        }
    }

    /// A private repository (Basic credentials) that redirects its metadata to another origin: without the
    /// operator's credentials file the patch fails on HTTP 401; with it, the credentials reach the repository and
    /// never the other origin.
    @Test func privateRepositoriesGetTheOperatorsCredentialsAndNoOneElse() throws {
        try Self.withFixture { dir, _, env in
            let server = packageRoot + "/Tests/Tools/auth-http-server.py"
            let other = try BackgroundServer.startOnAnyPort(
                "python3 '\(server)' '\(dir)/repo' -", log: dir + "/other.log", pidFile: dir + "/other.pid",
                pattern: "listening on port ([0-9]+)")
            defer { BackgroundServer.stop(pidFile: dir + "/other.pid") }
            let meta = "/dev/harden/fixture/hx-text/maven-metadata.xml"
            let otherPort = try #require(other.first)
            let port = try #require(
                try BackgroundServer.startOnAnyPort(
                    "python3 '\(server)' '\(dir)/repo' 'ci:s3cret' '\(meta)' 'http://127.0.0.1:\(otherPort)'",
                    log: dir + "/private.log", pidFile: dir + "/private.pid", pattern: "listening on port ([0-9]+)"
                ).first)
            defer { BackgroundServer.stop(pidFile: dir + "/private.pid") }
            let repository = "http://127.0.0.1:\(port)"
            let (n, no) = try Self.patch(dir, repository, env, out: dir + "/none")
            #expect(n == 1 && no.contains("HTTP 401"), "\(no)")
            #expect(!HostFS.exists(dir + "/none"))
            try HostFS.writeFileAtomically(
                dir + "/creds", Array("# the private repository\n127.0.0.1:\(port) ci:s3cret\n".utf8))
            let (s, o) = try Self.patch(
                dir, repository, env, out: dir + "/out", extra: ["--library-creds-file", dir + "/creds"])
            try #require(s == 0, "\(o)")
            #expect(o.contains("3 libraries upgraded"), "\(o)")
            let privateLog = String(decoding: try HostFS.readFile(dir + "/private.log"), as: UTF8.self)
            let otherLog = String(decoding: try HostFS.readFile(dir + "/other.log"), as: UTF8.self)
            #expect(privateLog.contains("hx-text-1.0.1.jar authorization=Basic "), "\(privateLog)")
            #expect(otherLog.contains("GET \(meta) authorization=-") && !otherLog.contains("Basic"), "\(otherLog)")
        }
    }

    /// `patch --verify` with a probe that needs the old release: the upgrade is reverted in every copy and the image
    /// written keeps 1.0.0; without a probe, --verify is refused before anything is fetched.
    @Test func patchVerifyRevertsWhatTheProbesReject() throws {
        try Self.withFixture { dir, repository, env in
            let (n, no) = try Self.patch(dir, repository, env, out: dir + "/none", extra: ["--verify"])
            #expect(n == 1 && no.contains("--verify needs probes"), "\(no)")
            let probe = "sh -c 'java -jar /app/app.jar | grep \"hx-text 1.0.0\"'"
            let (s, o) = try Self.patch(
                dir, repository, env, out: dir + "/out",
                extra: ["--verify", "--exec-probe", probe, "--entrypoint", "sleep", "--", "30"])
            try #require(s == 0, "\(o)")
            let report = try #require(
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/report.json")))
                    as? [String: Any])
            let packages = try #require((report["libraries"] as? [String: Any])?["packages"] as? [[String: Any]])
            #expect(packages.count == 3, "\(packages)")
            for p in packages {
                let v = p["verification"] as? [String: Any]
                #expect(
                    v?["outcome"] as? String == "reverted" && (v?["probe"] as? String ?? "").contains("grep"), "\(p)")
            }
            let (u, uo) = try runProcess(["umoci", "unpack", "--image", dir + "/out:p", dir + "/bundle"])
            try #require(u == 0, "\(uo)")
            let (j, jo) = try Self.java(dir + "/bundle/rootfs", "/app/boot.jar")
            #expect(j == 0 && jo.contains("hx-text 1.0.0"), "\(jo)")
        }
    }
}

@Suite struct LibraryPatchCacheTests {
    /// A run keeps what it fetched (its bisection steps see one repository state); a new run sees the repository as
    /// it is now (a long-running fleet worker never patches from metadata hours old).
    @Test func aRunKeepsWhatItFetchedANewRunFetchesAgain() async throws {
        try await withTemporaryDirectory { dir in
            let meta = dir + "/repo/org/x/a/maven-metadata.xml"
            try HostFS.makeDirectories(dir + "/repo/org/x/a")
            func publish(_ versions: [String]) throws {
                let v = versions.map { "<version>\($0)</version>" }.joined()
                try HostFS.writeFileAtomically(
                    meta, Array("<metadata><versioning><versions>\(v)</versions></versioning></metadata>".utf8))
            }
            try publish(["1.0"])
            let port = try BackgroundServer.python(
                directory: dir + "/repo", log: dir + "/http.log", pidFile: dir + "/pid")
            defer { BackgroundServer.stop(pidFile: dir + "/pid") }
            let c = MavenCoordinates(group: "org.x", artifact: "a")
            try await AptClient.using(cacheDirectory: dir + "/cache") { client in
                let run = LibraryPatchCache()
                let url = "http://127.0.0.1:\(port)"
                #expect(try await MavenRepository(url: url, client: client, cache: run).versions(c) == ["1.0"])
                try publish(["1.0", "1.1"])
                #expect(try await MavenRepository(url: url, client: client, cache: run).versions(c) == ["1.0"])
                #expect(
                    try await MavenRepository(url: url, client: client, cache: LibraryPatchCache()).versions(c)
                        == ["1.0", "1.1"])
            }
        }
    }
}

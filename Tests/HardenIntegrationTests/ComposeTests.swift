// harden — real applications: a container started with run settings, and a PostgreSQL-backed web app hardened
// with its database from a Compose file, under real runc; secrets searched byte-wise in everything written;
// readiness failures, a database killed mid-run and an interrupted run leave nothing behind.
import ArgumentParser
import Foundation
import HardenCommands
import HardenCore
import HardenMinify
import HardenOCI
import HardenPackages
import HardenProfile
import HardenReport
import HardenRuntime
import HardenSystem
import HardenTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

enum ComposeFixture {
    /// A secret no file of the images or of harden contains.
    static func secret() -> String { "hs-\(UInt64.random(in: 1 << 40..<1 << 60))-pw" }

    /// compose.yml + secrets.env in `dir`: db (postgres, a named volume, a healthcheck) and app (pgapp, DB_HOST=db).
    static func write(_ dir: String, secret: String, dbHealthcheck: String? = nil) throws {
        try HostFS.writeFileAtomically(
            dir + "/secrets.env",
            Array("# the database password\nPOSTGRES_PASSWORD=\(secret)\nDB_PASSWORD=\(secret)\n".utf8))
        let health =
            dbHealthcheck
            ?? #"["CMD", "/usr/lib/postgresql/15/bin/pg_isready", "-h", "127.0.0.1", "-U", "postgres"]"#
        let text = """
            services:
              db:
                image: oci:\(TestImages.layout):postgres
                env_file: secrets.env
                volumes:
                  - pgdata:/var/lib/postgresql/15/main
                healthcheck:
                  test: \(health)
                  interval: 1s
                  timeout: 3s
                  retries: 3
                  start_period: ${DB_START_PERIOD:-20s}
                stop_signal: SIGINT
                stop_grace_period: 5s
                restart: always
              app:
                image: oci:\(TestImages.layout):pgapp
                env_file: [secrets.env]
                environment:
                  DB_HOST: db
                extra_hosts: ["metadata.internal:10.9.8.7"]
                init: true
                depends_on:
                  db:
                    condition: service_healthy
            volumes:
              pgdata: {}
            """
        try HostFS.writeFileAtomically(dir + "/compose.yml", Array(text.utf8))
    }

    /// Every file under `dir` (gzip-compressed blobs decompressed) that holds `secret`, by grep -F.
    static func filesHolding(_ secret: String, under dir: String) throws -> [String] {
        let script = """
            find "$1" -type f | while read -r f; do
              if gzip -t "$f" 2>/dev/null; then gzip -dc "$f" | grep -qaF -- "$2" && echo "$f"
              else grep -qaF -- "$2" "$f" && echo "$f"; fi
            done; true
            """
        let (status, out) = try runProcess(["sh", "-c", script, "sh", dir, secret])
        try #require(status == 0, "searching \(dir): \(out)")
        return out.split(separator: "\n").map(String.init)
    }
}

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct ComposeTests {
    @Test func runSettingsReachTheContainerAndItsVerification() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            let secret = ComposeFixture.secret()
            try HostFS.makeDirectories(dir + "/data")
            try HostFS.makeDirectories(dir + "/out")
            _ = try runProcess(["chmod", "777", dir + "/out"])
            try HostFS.writeFileAtomically(dir + "/data/in", Array("from-the-host\n".utf8))
            try HostFS.writeFileAtomically(dir + "/app.env", Array("# secret\nAPI_TOKEN=\(secret)\n".utf8))
            let script = """
                echo "$GREETING|$API_TOKEN|$(id -u):$(id -g)|$(pwd)|$(cat /data/in)" > /out/result
                touch /scratch/x && echo tmpfs-ok >> /out/result
                touch /data/in 2>/dev/null || echo read-only-ok >> /out/result
                echo "token is $API_TOKEN"
                """
            let settings = [
                "--env-file", dir + "/app.env", "--env", "GREETING=hello", "--mount", "\(dir)/data:/data:ro", "--mount",
                "\(dir)/out:/out",
                "--tmpfs", "/scratch", "--user", "65534:65534", "--workdir", "/data", "--entrypoint", "/bin/sh", "--",
                "-c", script,
            ]
            let (status, out) = try RuntimeTests.harden(
                ["profile", "oci:\(TestImages.layout):base", "-o", dir + "/p.json"] + settings, runDir: dir + "/run")
            try #require(status == 0, "\(out)")
            let result = String(decoding: try HostFS.readFile(dir + "/out/result"), as: UTF8.self)
            #expect(result == "hello|\(secret)|65534:65534|/data|from-the-host\ntmpfs-ok\nread-only-ok\n")
            let p = try RuntimeTests.profile(dir + "/p.json")
            let run = try #require(p.runs.last)
            #expect(run.settings?.environment == ["API_TOKEN", "GREETING"])
            #expect(
                run.settings?.mounts.map(\.destination) == ["/data", "/out"] && run.settings?.tmpfs == ["/scratch"])
            #expect(run.user == "65534:65534" && run.command.first == "/bin/sh")
            #expect(p.mountedFiles?.map(\.path).contains("/data/in") == true, "\(p.mountedFiles ?? [])")
            #expect(
                !p.files.contains {
                    $0.path.hasPrefix("/data/") || $0.path.hasPrefix("/out/") || $0.path.hasPrefix("/scratch/")
                })
            #expect(
                try ComposeFixture.filesHolding(secret, under: dir + "/p.json").isEmpty, "the secret is in the profile")

            // minify replays with the same settings; the hardened image holds nothing of the mounts or the secret.
            let (ms, mout) = try RuntimeTests.harden(
                [
                    "minify", "oci:\(TestImages.layout):base", "--profile", dir + "/p.json", "-o",
                    "oci:\(dir)/min:base", "--report",
                    dir + "/r.json",
                ]
                    + settings, runDir: dir + "/run")
            try #require(ms == 0, "\(mout)")
            let report: MinifyReport = try JSONCoding.decode(
                try HostFS.readFile(dir + "/r.json"), source: "r.json", what: "report")
            #expect(report.verification.ran && report.verification.passed)
            #expect(try ComposeFixture.filesHolding(secret, under: dir + "/min").isEmpty)
            #expect(
                try ComposeFixture.filesHolding("from-the-host", under: dir + "/min").isEmpty,
                "a mounted file was copied into the image")
            #expect(try RuntimeTests.leftovers(runDir: dir + "/run") == [])

            // Bad settings: one clear line each.
            for (args, message) in [
                (["--mount", "/nonexistent-harden:/x"], "/nonexistent-harden does not exist"),
                (["--env-file", dir + "/missing.env"], "missing.env: no such file"),
                (["--mount", "relative"], "expected SRC:DST"),
            ] {
                let (s, o) = try RuntimeTests.harden(
                    ["profile", "oci:\(TestImages.layout):base", "-o", dir + "/x.json"] + args, runDir: dir + "/run")
                #expect(s != 0 && o.contains(message), "\(args): \(o)")
            }
        }
    }

    @Test func aDatabaseBackedAppIsHardenedWithItsComposeFile() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            let secret = ComposeFixture.secret()
            try ComposeFixture.write(dir, secret: secret)
            let run = dir + "/run"
            // Alone, the app cannot answer: no database, no DB_HOST.
            let (alone, aloneOut) = try RuntimeTests.harden(
                [
                    "profile", "oci:\(TestImages.layout):pgapp", "--http-probe", "8080", "--probe-timeout", "15", "-o",
                    dir + "/alone.json",
                ],
                runDir: run)
            #expect(alone == 2, "\(aloneOut)")
            #expect(aloneOut.contains("probe http 8080 failed"), "\(aloneOut)")

            // With its Compose file: profiled with the database beside it, minified, verified with the database again.
            try HostFS.writeFileAtomically(
                dir + "/probe.sh",
                Array(
                    """
                    #!/bin/sh
                    set -e
                    test -n "$HARDEN_SERVICE_DB_HOST" && test -n "$HARDEN_SERVICE_APP_HOST"
                    python3 -c "import urllib.request, sys; b = urllib.request.urlopen('http://$HARDEN_TARGET_HOST:8080/', timeout=10).read(); sys.exit(0 if b.startswith(b'catalog tables: ') else 1)"

                    """.utf8), mode: 0o755)
            let (status, out) = try RuntimeTests.harden(
                [
                    "run", "--compose", dir + "/compose.yml", "--service", "app", "--http-probe", "8080",
                    "--probe-script",
                    dir + "/probe.sh",
                    "--exec-probe", "getent hosts metadata.internal db", "-o", "oci:\(dir)/out:app", "--report-dir",
                    dir + "/report",
                ], runDir: run)
            try #require(status == 0, "\(out)")
            let record: RunRecord = try JSONCoding.decode(
                try HostFS.readFile(dir + "/report/report.json"), source: "report.json", what: "report")
            let profile = try #require(record.profile)
            #expect(profile.probes.allSatisfy(\.ok) && profile.probes.count == 3)
            // extra_hosts and the service names are in the app's /etc/hosts.
            let hosts = profile.probes.first { $0.kind == .exec }?.output ?? ""
            #expect(
                hosts.contains("10.9.8.7") && hosts.contains("metadata.internal") && hosts.contains("127.0.0.1"),
                "\(hosts)")
            // init: true — tini is the app's PID 1 (from the host, on /dev: not in the image or its files).
            let p = try RuntimeTests.profile(dir + "/report/profile.json")
            #expect(p.runs.last?.settings?.initProcess == true)
            #expect(
                p.executables.contains { $0.argv.first == "/dev/init" }
                    || p.executables.contains { $0.path == "/dev/init" })
            #expect(!p.files.contains { $0.path.hasPrefix("/dev/") })
            #expect(profile.service == "app")
            let db = try #require(profile.services?.first)
            let dbImage = try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: "postgres"))
            #expect(db.name == "db" && db.healthy == true && db.manifestDigest == dbImage.manifestDigest.description)
            #expect(db.settings.environment == ["POSTGRES_PASSWORD", "DB_PASSWORD"])
            #expect(db.settings.mounts.first?.kind == .volume && db.settings.mounts.first?.source == "pgdata")
            #expect(profile.settings?.environment.sorted() == ["DB_HOST", "DB_PASSWORD", "POSTGRES_PASSWORD"])
            #expect(profile.ports == ["tcp/8080"], "the database's port is not the app's")
            #expect(record.minify?.verification.passed == true)
            #expect(
                record.warnings.contains { $0.contains("compose.yml:") && $0.contains("restart ignored") },
                "\(record.warnings)")
            // psycopg2's C library is kept (used through the Python module).
            #expect(record.minify?.packagesRemoved.contains("libpq5") == false)

            // The secret is nowhere in what harden wrote.
            #expect(try ComposeFixture.filesHolding(secret, under: dir + "/report").isEmpty)
            #expect(try ComposeFixture.filesHolding(secret, under: dir + "/out").isEmpty)
            #expect(try RuntimeTests.leftovers(runDir: run) == [])

            // The hardened image serves its probe under runc with the same database.
            let (again, againOut) = try RuntimeTests.harden(
                [
                    "profile", "--compose", dir + "/compose.yml", "--service", "app", "oci:\(dir)/out:app",
                    "--http-probe", "8080", "-o",
                    dir + "/after.json",
                ], runDir: run)
            #expect(again == 0, "\(againOut)")
            #expect(try RuntimeTests.leftovers(runDir: run) == [])
        }
    }

    @Test func aServiceThatNeverBecomesHealthyFailsTheRunWithItsOutput() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            try ComposeFixture.write(dir, secret: ComposeFixture.secret(), dbHealthcheck: #"["CMD", "/bin/false"]"#)
            var env = [
                "HARDEN_RUN_DIR": dir + "/run", "HARDEN_CACHE_DIR": RuntimeTests.cacheDirectory,
                "DB_START_PERIOD": "0s",
            ]
            env["PATH"] = ProcessInfo.processInfo.environment["PATH"]
            let started = MonotonicClock.now
            let (status, out) = try runProcess(
                [
                    hardenBinary, "profile", "--compose", dir + "/compose.yml", "--service", "app", "--http-probe",
                    "8080", "-o",
                    dir + "/p.json",
                ],
                environment: env)
            #expect(status == 1, "\(out)")
            let line = out.split(separator: "\n").first { $0.contains("service db did not become healthy") }
            #expect(
                line?.contains("healthcheck: exit status 1") == true && line?.contains("its last output:") == true,
                "\(out)")
            #expect(
                line?.contains("database system is ready to accept connections") == true,
                "the database's own log is quoted: \(out)")
            #expect(MonotonicClock.now - started < 60, "3 retries 1 s apart, not the 30 s defaults")
            #expect(!HostFS.exists(dir + "/p.json"))
            #expect(try RuntimeTests.leftovers(runDir: dir + "/run") == [])
        }
    }

    @Test func killingTheDatabaseMidRunFailsTheProbesAndLeavesNothing() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            try ComposeFixture.write(dir, secret: ComposeFixture.secret())
            let run = dir + "/run"
            // The probe script kills the database container (the target's name + "-s0"), then expects the app to fail.
            try HostFS.writeFileAtomically(
                dir + "/kill.sh",
                Array(
                    """
                    #!/bin/sh
                    runc --root "\(run)/runc" kill "${HARDEN_CONTAINER_ID}-s0" KILL
                    sleep 1
                    python3 -c "import urllib.request; urllib.request.urlopen('http://$HARDEN_TARGET_HOST:8080/', timeout=10)"

                    """.utf8), mode: 0o755)
            let (status, out) = try RuntimeTests.harden(
                [
                    "profile", "--compose", dir + "/compose.yml", "--service", "app", "--http-probe", "8080",
                    "--probe-script",
                    dir + "/kill.sh",
                    "-o", dir + "/p.json",
                ], runDir: run)
            #expect(status == 1, "\(out)")
            #expect(out.contains("service db exited during the run (killed by signal 9)"), "\(out)")
            #expect(try RuntimeTests.leftovers(runDir: run) == [])
        }
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func anInterruptedComposeRunRemovesEveryContainer(signal: Int32) async throws {
        try RuntimeTests.require()
        try await withTemporaryDirectory { dir in
            try ComposeFixture.write(dir, secret: ComposeFixture.secret())
            let run = dir + "/run"
            var env = ChildProcess.currentEnvironment()
            env["HARDEN_RUN_DIR"] = run
            env["HARDEN_CACHE_DIR"] = RuntimeTests.cacheDirectory
            let child = try ChildProcess.spawn(
                [
                    hardenBinary, "profile", "--compose", dir + "/compose.yml", "--service", "app", "--duration", "120",
                    "-o",
                    dir + "/p.json",
                ],
                environment: env, stdout: .file(dir + "/out"), stderr: .file(dir + "/err"))
            // Wait until both containers run.
            var running = false
            let deadline = MonotonicClock.now + 90
            while !running, MonotonicClock.now < deadline, child.poll() == nil {
                for d in ((try? HostFS.listDirectory(run)) ?? []) where d.hasPrefix("harden-") {
                    running =
                        HostFS.exists("\(run)/\(d)/target/init.pid") && HostFS.exists("\(run)/\(d)/services/0/init.pid")
                }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            try #require(
                running,
                "the containers never started: \(String(decoding: (try? HostFS.readFile(dir + "/err")) ?? [], as: UTF8.self))"
            )
            #expect(try RuntimeTests.leftovers(runDir: run).count >= 4)
            child.signal(signal)
            let status = await child.wait(timeout: 60)
            #expect(status == .signaled(signal))
            #expect(try RuntimeTests.leftovers(runDir: run) == [])
            #expect(!HostFS.exists(dir + "/p.json"))
        }
    }
}

/// Stacks beyond Python and nginx, hardened end to end by `harden run` and serving their probe afterwards.
@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct StackTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var tag: String
        var port: String
        var probes: [String]
        var minimumReduction: Double
        /// Paths the result must keep (what the runtime loads behind the app's back).
        var kept: [String]
        var testDescription: String { tag }
    }

    static let jdk = "/usr/lib/jvm/java-17-openjdk-amd64"
    static let cases = [
        // The JVM: its dlopen'ed libraries, lib/modules (jimage), jvm.cfg, the security and time-zone data, and the CDS
        // archive — still valid in the result: `java -Xshare:on` refuses to start with a broken or missing one.
        Case(
            tag: "jvm", port: "8080", probes: ["--exec-probe", "java -Xshare:on -version"], minimumReduction: 45,
            kept: [
                "\(jdk)/lib/modules", "\(jdk)/lib/jvm.cfg", "\(jdk)/lib/server/libjvm.so",
                "\(jdk)/lib/server/classes.jsa",
                "\(jdk)/lib/libzip.so", "\(jdk)/lib/libnio.so", "\(jdk)/lib/libnet.so", "\(jdk)/lib/tzdb.dat",
                "/etc/java-17-openjdk/security/java.security",
            ]),
        // Node: Debian's express resolves through /usr/share/nodejs.
        Case(
            tag: "node", port: "3000", probes: [], minimumReduction: 55,
            kept: [
                "/usr/share/nodejs/express/index.js", "/usr/share/nodejs/accepts/index.js",
                "/usr/lib/x86_64-linux-gnu/libnode.so.108",
            ]),
    ]

    @Test(arguments: cases)
    func isHardenedEndToEndAndServesItsProbe(_ c: Case) throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            let run = dir + "/run"
            let (status, out) = try RuntimeTests.harden(
                ["run", "oci:\(TestImages.layout):\(c.tag)", "--http-probe", c.port] + c.probes + [
                    "-o", "oci:\(dir)/out:\(c.tag)", "--report-dir", dir + "/report",
                ], runDir: run)
            try #require(status == 0, "\(out)")
            let record: RunRecord = try JSONCoding.decode(
                try HostFS.readFile(dir + "/report/report.json"), source: "report.json", what: "report")
            let minify = try #require(record.minify)
            #expect(minify.verification.ran && minify.verification.passed)
            #expect(minify.reductionPercent >= c.minimumReduction, "\(c.tag): \(minify.reductionPercent)% smaller")
            let kept = Set(minify.kept.map(\.path))
            for p in c.kept { #expect(kept.contains(p), "\(c.tag): \(p) was not kept") }
            // The hardened image, run again under runc, answers its probe.
            let (again, againOut) = try RuntimeTests.harden(
                ["profile", "oci:\(dir)/out:\(c.tag)", "--http-probe", c.port] + c.probes + [
                    "-o", dir + "/after.json",
                ], runDir: run)
            #expect(again == 0, "\(againOut)")
            #expect(try RuntimeTests.leftovers(runDir: run) == [])
        }
    }
}

/// A Compose file names images on other registries: the target's credentials and TLS exception never go there.
struct ServiceRegistryCredentialTests {
    @Test func credentialsGoOnlyToTheTargetsRegistry() throws {
        var given = try ImageOptions.parse(["--creds", "me:secret", "--tls-verify", "false"])
        given.credsFile = nil
        let target = ImageReference.registry("registry.internal:5000/team/app:1")
        let same = RunSettingsOptions.options(
            given, for: .registry("registry.internal:5000/team/db:15"), target: target)
        #expect(same.creds == "me:secret" && same.tlsVerify == false)
        let other = RunSettingsOptions.options(given, for: .registry("postgres:15"), target: target)
        #expect(other.creds == nil && other.credsFile == nil && other.tlsVerify == true)
        let local = RunSettingsOptions.options(
            given, for: .registry("registry.internal:5000/x:1"), target: .ociLayout(path: "/l", tag: nil))
        #expect(
            local.creds == nil && local.tlsVerify == true, "a local target has no registry to share credentials with")
    }
}

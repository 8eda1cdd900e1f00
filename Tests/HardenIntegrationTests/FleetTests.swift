// harden — the fleet on a real PostgreSQL (Debian's, started in a scratch directory on a loopback port): the queue
// under concurrency, leases and retries, a worker killed with SIGKILL, re-matching against a full rescan, webhooks,
// tokens and scopes, the dashboard in Chromium.
import AsyncHTTPClient
import Foundation
import HardenCore
import HardenFleet
import HardenOCI
import HardenPackages
import HardenSBOM
import HardenSystem
import HardenTestSupport
import HardenVulnDB
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import Synchronization
import Testing

/// A value shared with concurrent tasks.
final class Shared<T: Sendable>: Sendable {
    let mutex: Mutex<T>
    init(_ value: T) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout sending T) -> sending R) -> R { mutex.withLock(body) }
}

extension JSONDecoder {
    static var iso8601: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}

/// A scratch PostgreSQL for one test: its own cluster, stopped at the end.
struct ScratchPostgres {
    let dir: String
    let url: String

    static func with<T>(_ body: (ScratchPostgres) async throws -> T) async throws -> T {
        let dir = try HostFS.makeTemporaryDirectory(prefix: "harden-pg")
        // PostgreSQL cannot listen on port 0: a port free now, another when it was taken meanwhile.
        var (status, out) = (Int32(1), "")
        for _ in 0..<3 where status != 0 {
            _ = try? runProcess([packageRoot + "/scripts/pg-scratch.sh", "stop", dir])
            (status, out) = try runProcess(
                [packageRoot + "/scripts/pg-scratch.sh", "start", dir, String(freePort(host: "127.0.0.1"))],
                environment: ["PG_SCRATCH_OPTIONS": "-c fsync=off"])
        }
        try #require(status == 0, "pg-scratch: \(out)")
        let pg = ScratchPostgres(dir: dir, url: out.trimmingCharacters(in: .whitespacesAndNewlines))
        defer {
            _ = try? runProcess([packageRoot + "/scripts/pg-scratch.sh", "stop", dir])
            try? HostFS.removeTree(dir)
        }
        return try await body(pg)
    }
}

enum FleetFixture {
    /// The first query's limit in tests: other suites run beside these and may hold both cores for a while.
    static let patience: Duration = .seconds(300)

    static let logger: Logger = {
        var l = Logger(label: "fleet-test")
        l.logLevel = .warning
        return l
    }()

    /// Debian tracker data for the bookworm test images. `v2` adds a libcap2 advisory, drops bash's, keeps glibc's.
    static func tracker(v2: Bool) -> String {
        let libcap =
            v2
            ? #", "libcap2": {"CVE-2099-0020": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "1:2.66-4+deb12u9", "urgency": "high"}}}}"#
            : ""
        let bash =
            v2
            ? ""
            : #", "bash": {"CVE-2099-0040": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "5.2.15-2+b1", "urgency": "medium"}}}}"#
        return """
            {"glibc": {"CVE-2099-0001": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "2.36-9+deb12u99", "urgency": "high"}}},
                       "CVE-2099-0003": {"releases": {"bookworm": {"status": "open", "urgency": "unimportant"}}}},
             "openssl": {"CVE-2099-0050": {"releases": {"bookworm": {"status": "open", "urgency": "medium"}}}}\(libcap)\(bash)}
            """
    }

    static func importTracker(_ dir: String, v2: Bool) throws -> String {
        try HostFS.writeFileAtomically(dir + "/tracker.json", Array(tracker(v2: v2).utf8))
        let db = dir + "/v.sqlite"
        _ = try VulnerabilityDatabase.importFeeds(try FeedParser.load(dir + "/tracker.json"), into: db)
        return db
    }

    /// The worker's scan, in process: catalogue and match (what `harden worker` does for a scan job).
    static let scan: JobExecutor = { job, databasePath in
        let ref = try ImageReference.parse(job.image)
        let sbom = try SBOMBuilder(cache: nil).build(try ImageLoader.open(ref), reference: ref.description)
        let database = try VulnerabilityDatabase(readingAt: databasePath)
        let findings = try Matcher(database: database).match(sbom)
        var result = ImageResult(
            digest: sbom.source.manifestDigest, configDigest: sbom.source.configDigest, references: [ref.description],
            labels: [:],
            platform: sbom.source.platform, os: sbom.os, packages: sbom.packages, findings: findings)
        result.eol = try EOLData.evaluate(os: sbom.os, packages: sbom.packages, today: "2026-12-07") {
            try database.eolCycles(product: $0) ?? EOLData.hostDistroInfo($0)
        }
        return result
    }

    static let tokens: [(scope: TokenScope, token: String, name: String)] = [
        (.admin, "admin-token-0123456789", "admin"), (.submit, "submit-token-0123456789", "ci"),
        (.read, "read-token-0123456789", "viewer"),
    ]

    /// Runs a server in process on a free port while `body` runs.
    static func withServer<T: Sendable>(
        _ store: FleetStore, database: String, webhook: String? = nil, rule: WebhookRule? = nil,
        _ body: @Sendable (_ base: String) async throws -> T
    ) async throws -> T {
        try await store.seedTokens(tokens)
        var config = FleetServerConfiguration(databasePath: database)
        config.port = 0
        config.pollInterval = .seconds(3600)
        config.reapInterval = .milliseconds(200)
        config.webhook = webhook
        if let rule { config.webhookRule = rule }
        config.maxBody = 64 << 10
        let server = FleetServer(store: store, configuration: config, updater: nil, logger: logger)
        let port = Shared<Int?>(nil)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await server.run { p in port.withLock { $0 = p } }
                return nil
            }
            var bound: Int?
            for _ in 0..<200 {
                bound = port.withLock { $0 }
                if bound != nil { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let base = "http://127.0.0.1:\(try #require(bound))"
            let result = try await body(base)
            group.cancelAll()
            return result
        }
    }

    /// Stored active findings per image digest, as "id package version" keys.
    static func activeFindings(_ store: FleetStore) async throws -> [String: Set<String>] {
        var out: [String: Set<String>] = [:]
        let rows = try await store.client.query(
            """
            SELECT i.digest, f.vuln_id, f.package_name, f.package_version FROM findings f JOIN images i ON i.id = f.image_id
            WHERE f.resolved_at IS NULL
            """, logger: logger)
        for try await (d, v, n, ver) in rows.decode((String, String, String, String).self) {
            out[d, default: []].insert("\(v) \(n) \(ver)")
        }
        return out
    }

    static func request(
        _ method: HTTPMethod, _ url: String, token: String?, body: String? = nil
    ) async throws -> (Int, String) {
        var r = HTTPClientRequest(url: url)
        r.method = method
        if let token { r.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body { r.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(r, timeout: .seconds(30))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 64 << 20)))
    }
}

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct FleetTests {
    /// The CLI refuses what a worker must not do and says in one line what is wrong.
    @Test func theCLIRefusesBadRequestsInOneLine() async throws {
        let env = ["HARDEN_SERVER": "http://127.0.0.1:1", "HARDEN_TOKEN": "t"]
        let cases: [([String], String)] = [
            (
                ["fleet", "submit", "--action", "run", "--run-arg", "--mount", "--run-arg", "/:/host", "img"],
                "--mount is not allowed"
            ),
            (
                [
                    "fleet", "submit", "--action", "run", "--run-arg", "--probe-script", "--run-arg", "/etc/shadow",
                    "img",
                ],
                "--probe-script is not allowed"
            ),
            (
                ["fleet", "submit", "--action", "run", "--push-to", "oci:/tmp/x", "img"],
                "pushTo must be a registry reference"
            ),
            (["fleet", "submit", "--action", "fix", "img"], "--action"),
            (["fleet", "submit", "--action", "run", "--compose", "BIND", "img"], "bind mount /host refused"),
            (
                [
                    "fleet", "submit", "--action", "run", "--compose", "ENVFILE", "--run-arg", "--service", "--run-arg",
                    "web", "img",
                ],
                "env_file refused"
            ),
            (["fleet", "submit", "--action", "run", "--compose", "PLAIN", "img"], "name the service"),
            (["fleet", "images"], "cannot reach the fleet server"),
            (["serve", "--database", "mysql://x/y"], "not a postgres:// URL"),
            (["worker", "--database", "postgres://u@127.0.0.1:1/x", "--lease", "1s"], "--lease"),
        ]
        let dir = try HostFS.makeTemporaryDirectory(prefix: "harden-compose")
        defer { try? HostFS.removeTree(dir) }
        let files = [
            "BIND": "services:\n  web:\n    image: nginx\n    volumes: [\"/:/host\"]\n",
            "ENVFILE": "services:\n  web:\n    image: nginx\n    env_file: [/etc/worker.env]\n",
            "PLAIN": "services:\n  web:\n    image: nginx\n",
        ]
        for (name, text) in files { try HostFS.writeFileAtomically(dir + "/" + name, Array(text.utf8)) }
        for (template, message) in cases {
            let args = template.map { files[$0] != nil ? dir + "/" + $0 : $0 }
            let (status, out) = try runProcess([hardenBinary] + args, environment: env)
            #expect(status == 1 && out.contains(message), "\(args): \(status) \(out)")
            #expect(out.split(separator: "\n").count == 1, "\(args): one line, got \(out)")
        }
        let (s2, o2) = try runProcess([hardenBinary, "fleet", "images"], environment: ["HARDEN_SERVER": ""])
        #expect(s2 == 1 && o2.contains("HARDEN_SERVER"), "\(o2)")
    }

    @Test func migrationsApplyOnceAndAFutureSchemaIsRefused() async throws {
        try await ScratchPostgres.with { pg in
            try await FleetStore.with(url: pg.url, logger: FleetFixture.logger, firstAnswer: FleetFixture.patience) {
                store in
                try await store.migrate()
                try await store.migrate()
                #expect(try await store.schemaVersion() == FleetSchema.migrations.last?.version)
                try await store.client.query(
                    "INSERT INTO schema_migrations (version) VALUES (999)", logger: FleetFixture.logger)
            }
            await #expect(throws: HardenError.self) {
                try await FleetStore.with(url: pg.url, logger: FleetFixture.logger, firstAnswer: FleetFixture.patience)
                { _ in }
            }
            // A server that is not there: one line naming it.
            do {
                try await FleetStore.with(
                    url: "postgres://postgres@127.0.0.1:1/harden?sslmode=disable", logger: FleetFixture.logger
                ) { _ in
                }
                Issue.record("connected to nothing")
            } catch let e as HardenError {
                #expect(e.message.contains("127.0.0.1:1") && e.message.contains("cannot connect"), "\(e.message)")
            }
        }
    }

    /// 500 jobs, 8 claimers on their own connections: every job is claimed exactly once; ad-hoc jobs before
    /// scheduled ones; the cap per action holds.
    @Test func twoWorkersNeverTakeTheSameJob() async throws {
        try await ScratchPostgres.with { pg in
            try await FleetStore.with(
                url: pg.url, connections: 10, logger: FleetFixture.logger, firstAnswer: FleetFixture.patience
            ) {
                store in
                let scheduled = try await store.submit(
                    action: .scan, images: (0..<100).map { "sched-\($0)" }, options: JobOptions(noop: true),
                    scheduled: true)
                let adhoc = try await store.submit(
                    action: .scan, images: (0..<400).map { "adhoc-\($0)" }, options: JobOptions(noop: true))
                #expect(scheduled.count == 100 && adhoc.count == 400)
                let claims = Shared<[(Int64, String, Int)]>([])
                let order = Shared<[Int64]>([])
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for w in 0..<8 {
                        group.addTask {
                            while let job = try await store.claim(
                                worker: "w\(w)", policy: QueuePolicy(lease: .seconds(60)))
                            {
                                claims.withLock { $0.append((job.id, "w\(w)", job.attempt)) }
                                order.withLock { $0.append(job.id) }
                                #expect(try await store.complete(job: job.id, worker: "w\(w)"))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let all = claims.withLock { $0 }
                #expect(all.count == 500)
                #expect(Set(all.map(\.0)).count == 500, "a job was claimed twice")
                #expect(all.allSatisfy { $0.2 == 1 })
                #expect(Set(all.map(\.1)).count >= 2, "only one claimer got work")
                // Claims are ordered by priority, then id: ad-hoc jobs before scheduled ones. Eight concurrent claimers
                // may interleave around the switch in any order the scheduler likes, so the order is checked where it
                // is deterministic: one claimer, after the concurrent part, reading the claim order back from the
                // database (started_at, written by the claiming statement).
                _ = order.withLock { $0 }
                let laterScheduled = try await store.submit(
                    action: .scan, images: (0..<3).map { "sched-late-\($0)" }, options: JobOptions(noop: true),
                    scheduled: true)
                let laterAdhoc = try await store.submit(
                    action: .scan, images: (0..<3).map { "adhoc-late-\($0)" }, options: JobOptions(noop: true))
                while let job = try await store.claim(worker: "solo", policy: QueuePolicy(lease: .seconds(60))) {
                    #expect(try await store.complete(job: job.id, worker: "solo"))
                }
                let late = Set(laterAdhoc + laterScheduled)
                var sequence: [Int64] = []
                for try await id in try await store.client.query(
                    "SELECT id FROM jobs WHERE started_at IS NOT NULL ORDER BY started_at, id",
                    logger: FleetFixture.logger
                ).decode(Int64.self) where late.contains(id) {
                    sequence.append(id)
                }
                #expect(sequence == laterAdhoc + laterScheduled, "scheduled jobs overtook ad-hoc ones")
                let stats = try await store.queueStats()
                #expect(stats.counts["succeeded"]?["scan"] == 506)
                // The cap: with run=1, a second run job is not handed out while one runs.
                let runs = try await store.submit(action: .run, images: ["a", "b"], options: JobOptions(noop: true))
                let policy = QueuePolicy(lease: .seconds(60), caps: [.run: 1])
                let first = try await store.claim(worker: "x", policy: policy)
                #expect(first?.id == runs[0])
                #expect(try await store.claim(worker: "y", policy: policy) == nil)
                #expect(try await store.complete(job: runs[0], worker: "x"))
                #expect(try await store.claim(worker: "y", policy: policy)?.id == runs[1])
            }
        }
    }

    /// A lease that is not renewed expires: the job goes back to the queue and runs elsewhere; the first holder
    /// can no longer record it; after max_attempts it fails.
    @Test func expiredLeasesAreRetriedAndResultsRecordedOnce() async throws {
        try TestImages.require()
        try await ScratchPostgres.with { pg in
            try await withTemporaryDirectory { dir in
                let db = try FleetFixture.importTracker(dir, v2: false)
                try await FleetStore.with(url: pg.url, logger: FleetFixture.logger, firstAnswer: FleetFixture.patience)
                { store in
                    let ids = try await store.submit(
                        action: .scan, images: ["oci:\(TestImages.layout):base"], options: JobOptions(), maxAttempts: 2)
                    let short = QueuePolicy(lease: .seconds(1))
                    let a = try #require(try await store.claim(worker: "A", policy: short))
                    #expect(a.id == ids[0] && a.attempt == 1)
                    try await Task.sleep(for: .milliseconds(1500))
                    #expect(try await store.requeueExpired() == 1)
                    let b = try #require(try await store.claim(worker: "B", policy: short))
                    #expect(b.id == ids[0] && b.attempt == 2)
                    let result = try await FleetFixture.scan(b, db)
                    #expect(try await store.record(job: a.id, worker: "A", result: result) == nil, "A lost its lease")
                    #expect(try await store.renew(job: a.id, worker: "A", policy: short) == false)
                    #expect(try await store.record(job: b.id, worker: "B", result: result) != nil)
                    #expect(try await store.record(job: b.id, worker: "B", result: result) == nil, "recorded twice")
                    #expect(try await store.job(ids[0])?.state == .succeeded)
                    var results = 0
                    for try await n in try await store.client.query(
                        "SELECT count(*) FROM job_results", logger: FleetFixture.logger
                    ).decode(
                        Int.self)
                    {
                        results = n
                    }
                    #expect(results == 1)
                    // End of life: the Debian 12 image is in LTS until 2028; once past its date, ?eol=true lists it.
                    let supported = try await store.images(eol: false)
                    #expect(supported.count == 1 && supported.first?.eolDate == "2028-06-30", "\(supported)")
                    #expect(try await store.images(eol: true).isEmpty)
                    for try await _ in try await store.client.query(
                        "UPDATE images SET eol_date = '2020-01-01' RETURNING id", logger: FleetFixture.logger)
                    {}
                    #expect(try await store.images(eol: true).map(\.eolDate) == ["2020-01-01"])
                    #expect(try await store.images(eol: false).isEmpty)
                    // max_attempts: a job whose lease expires twice fails with the reason.
                    let lost = try await store.submit(
                        action: .scan, images: ["x"], options: JobOptions(), maxAttempts: 2)
                    for worker in ["C", "D"] {
                        #expect(try await store.claim(worker: worker, policy: short)?.id == lost[0])
                        try await Task.sleep(for: .milliseconds(1200))
                        try await store.requeueExpired()
                    }
                    let failed = try #require(try await store.job(lost[0]))
                    #expect(failed.state == .failed && failed.attempts == 2)
                    #expect(failed.error?.contains("expired") == true, "\(failed.error ?? "")")
                }
            }
        }
    }

    /// The real binaries: `harden serve`, a `harden worker` killed with SIGKILL in the middle of a job, a second
    /// worker that finishes everything; `harden fleet` submits, waits and answers "which images have CVE-X".
    @Test func aWorkerKilledMidJobLosesItAndEveryJobCompletesOnce() async throws {
        try TestImages.require()
        try await ScratchPostgres.with { pg in
            try await withTemporaryDirectory { dir in
                let db = try FleetFixture.importTracker(dir, v2: false)
                try HostFS.writeFileAtomically(dir + "/tokens", Array("admin admin-token-0123456789 ci\n".utf8))
                func background(_ name: String, _ argv: [String]) throws {
                    let quoted = argv.map { "'\($0)'" }.joined(separator: " ")
                    let (s, o) = try runProcess([
                        "sh", "-c",
                        "XDG_CACHE_HOME='\(dir)/cache-\(name)' \(quoted) >'\(dir)/\(name).log' 2>&1 & echo $! >'\(dir)/\(name).pid'",
                    ])
                    try #require(s == 0, "\(o)")
                }
                func pid(_ name: String) throws -> String {
                    String(decoding: try HostFS.readFile(dir + "/\(name).pid"), as: UTF8.self).trimmingCharacters(
                        in: .whitespacesAndNewlines)
                }
                defer { _ = try? runProcess(["sh", "-c", "kill -9 $(cat '\(dir)'/*.pid) 2>/dev/null"]) }
                try background(
                    "serve",
                    [
                        hardenBinary, "serve", "--database", pg.url, "--db", db, "--listen", "127.0.0.1:0",
                        "--port-file", dir + "/port",
                        "--token-file", dir + "/tokens", "--log-level", "info",
                    ])
                for _ in 0..<200 where !HostFS.exists(dir + "/port") { try await Task.sleep(for: .milliseconds(100)) }
                let port = String(decoding: try HostFS.readFile(dir + "/port"), as: UTF8.self).trimmingCharacters(
                    in: .whitespacesAndNewlines)
                let env = ["HARDEN_SERVER": "http://127.0.0.1:\(port)", "HARDEN_TOKEN": "admin-token-0123456789"]
                // The big image first, so that the first worker is surely in the middle of it when it is killed.
                let images =
                    ["docker-archive:\(TestImages.directory)/runtimes.docker.tar"]
                    + ["base", "nginx", "flask", "pyapp"].map { "oci:\(TestImages.layout):\($0)" }
                let (ss, so) = try runProcess(
                    [hardenBinary, "fleet", "submit", "--format", "json"] + images, environment: env)
                try #require(ss == 0, "submit: \(so)")
                let jobs = try JSONDecoder().decode(SubmissionAnswer.self, from: Data(so.utf8)).jobs
                #expect(jobs.count == 5)
                try background(
                    "w1",
                    [
                        hardenBinary, "worker", "--database", pg.url, "--server", env["HARDEN_SERVER"]!, "--token",
                        env["HARDEN_TOKEN"]!,
                        "--lease", "3s", "--allow-local-images", TestImages.directory,
                    ])
                // Kill it while it holds a job.
                let victim: Int64? = try await FleetStore.with(
                    url: pg.url, logger: FleetFixture.logger, firstAnswer: FleetFixture.patience
                ) { store -> Int64? in
                    for _ in 0..<600 {
                        if let j = try await store.jobs(state: .running, limit: 10).first { return j.id }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    return nil
                }
                let killed = try #require(
                    victim,
                    "the worker never started a job: \(String(decoding: (try? HostFS.readFile(dir + "/w1.log")) ?? [], as: UTF8.self))"
                )
                _ = try runProcess(["kill", "-9", try pid("w1")])
                try background(
                    "w2",
                    [
                        hardenBinary, "worker", "--database", pg.url, "--server", env["HARDEN_SERVER"]!, "--token",
                        env["HARDEN_TOKEN"]!,
                        "--lease", "3s", "--concurrency", "2", "--allow-local-images", TestImages.directory,
                    ])
                let (ws, wo) = try runProcess(
                    [hardenBinary, "fleet", "wait", "--timeout", "5m", "--format", "json"] + jobs.map(String.init),
                    environment: env)
                try #require(
                    ws == 0,
                    "wait: \(wo)\n\(String(decoding: (try? HostFS.readFile(dir + "/w2.log")) ?? [], as: UTF8.self))")
                let decoder = JSONDecoder()
                decoder.dateDecodingStrategy = .iso8601
                let done = try decoder.decode([FleetJob].self, from: Data(wo.utf8))
                #expect(done.allSatisfy { $0.state == .succeeded })
                #expect(done.first { $0.id == killed }?.attempts == 2, "the killed job ran again")
                let w2 = try pid("w2")
                try await FleetStore.with(url: pg.url, logger: FleetFixture.logger, firstAnswer: FleetFixture.patience)
                { store in
                    var rows: [(Int64, String)] = []
                    for try await r in try await store.client.query(
                        "SELECT job_id, worker FROM job_results ORDER BY job_id", logger: FleetFixture.logger
                    )
                    .decode((Int64, String).self) {
                        rows.append(r)
                    }
                    #expect(rows.map(\.0) == jobs, "every job recorded exactly once")
                    #expect(
                        rows.first { $0.0 == killed }?.1.contains(":\(w2)#") == true,
                        "the second worker recorded the killed job")
                    #expect(try await store.images().count == 5)
                }
                // Which images have CVE-2099-0001 (glibc): every image (all are bookworm-based).
                let (as_, ao) = try runProcess(
                    [hardenBinary, "fleet", "affected", "CVE-2099-0001", "--format", "json"], environment: env)
                try #require(as_ == 0, "affected: \(ao)")
                let affected = try decoder.decode(AffectedImages.self, from: Data(ao.utf8))
                #expect(Set(affected.images.map(\.digest)).count == 5, "\(affected.images.map(\.references))")
                #expect(
                    affected.images.allSatisfy {
                        $0.package.hasPrefix("libc") && $0.fixedVersions == ["2.36-9+deb12u99"]
                    })
            }
        }
    }

    /// A `run` job: the whole pipeline on a worker (real binaries, runc), its report stored with the image, and the
    /// policy check it failed listed by `fleet images --fails`.
    @Test func aRunJobHardensTheImageAndRecordsItsReport() async throws {
        try TestImages.require()
        try await ScratchPostgres.with { pg in
            try await withTemporaryDirectory { dir in
                let db = try FleetFixture.importTracker(dir, v2: false)
                try HostFS.writeFileAtomically(dir + "/tokens", Array("admin admin-token-0123456789 ci\n".utf8))
                try HostFS.writeFileAtomically(dir + "/policy.yaml", Array("packages:\n  banned: [libc6]\n".utf8))
                defer { _ = try? runProcess(["sh", "-c", "kill -9 $(cat '\(dir)'/*.pid) 2>/dev/null"]) }
                let (s0, o0) = try runProcess([
                    "sh", "-c",
                    "'\(hardenBinary)' serve --database '\(pg.url)' --db '\(db)' --listen 127.0.0.1:0 --port-file '\(dir)/port' --token-file '\(dir)/tokens' >'\(dir)/serve.log' 2>&1 & echo $! >'\(dir)/serve.pid'",
                ])
                try #require(s0 == 0, "\(o0)")
                for _ in 0..<200 where !HostFS.exists(dir + "/port") { try await Task.sleep(for: .milliseconds(100)) }
                let port = String(decoding: try HostFS.readFile(dir + "/port"), as: UTF8.self).trimmingCharacters(
                    in: .whitespacesAndNewlines)
                let env = ["HARDEN_SERVER": "http://127.0.0.1:\(port)", "HARDEN_TOKEN": "admin-token-0123456789"]
                // A worker without --allow-local-images refuses a job that names a path of its machine.
                let (sl, ol) = try runProcess(
                    [hardenBinary, "fleet", "submit", "--format", "json", "dir:/etc"], environment: env)
                try #require(sl == 0, "submit: \(ol)")
                let local = try JSONDecoder().decode(SubmissionAnswer.self, from: Data(ol.utf8)).jobs[0]
                let (sw, ow) = try runProcess(
                    [
                        hardenBinary, "worker", "--database", pg.url, "--server", env["HARDEN_SERVER"]!, "--max-jobs",
                        "1", "--cache",
                        dir + "/wc",
                    ],
                    environment: env)
                try #require(sw == 0, "worker: \(ow)")
                let (_, jl) = try runProcess([hardenBinary, "fleet", "jobs", "--format", "json"], environment: env)
                let refused = try JSONDecoder.iso8601.decode([FleetJob].self, from: Data(jl.utf8)).first {
                    $0.id == local
                }
                #expect(refused?.state == .failed && refused?.attempts == 1, "\(jl)")
                #expect(refused?.error?.contains("registry images only") == true, "\(refused?.error ?? "")")
                let (s1, o1) = try runProcess(
                    [
                        hardenBinary, "fleet", "submit", "--action", "run", "--policy", dir + "/policy.yaml",
                        "--run-arg", "--http-probe",
                        "--run-arg", "80:GET:/", "--label", "team=web", "oci:\(TestImages.layout):nginx",
                    ], environment: env)
                try #require(s1 == 0, "submit: \(o1)")
                let (s2, o2) = try runProcess(
                    [
                        hardenBinary, "worker", "--database", pg.url, "--server", env["HARDEN_SERVER"]!, "--max-jobs",
                        "1", "--cache",
                        dir + "/wc", "--allow-local-images", TestImages.directory,
                    ],
                    environment: env)
                try #require(s2 == 0, "worker: \(o2)")
                let (s3, o3) = try runProcess(
                    [hardenBinary, "fleet", "images", "--fails", "packages.banned", "--format", "json"],
                    environment: env)
                try #require(s3 == 0, "images: \(o3)")
                let decoder = JSONDecoder()
                decoder.dateDecodingStrategy = .iso8601
                let failing = try decoder.decode([ImageSummary].self, from: Data(o3.utf8))
                #expect(
                    failing.count == 1 && failing.first?.policyFailures.contains("packages.banned") == true, "\(o3)")
                #expect(failing.first?.labels["team"] == "web")
                let (_, none) = try runProcess(
                    [hardenBinary, "fleet", "images", "--fails", "image.max_size", "--format", "json"], environment: env
                )
                #expect(try decoder.decode([ImageSummary].self, from: Data(none.utf8)).isEmpty)
                let digest = try #require(failing.first?.digest)
                let (s4, o4) = try runProcess(
                    [hardenBinary, "fleet", "image", digest, "--format", "json"], environment: env)
                try #require(s4 == 0, "image: \(o4)")
                let detail = try decoder.decode(ImageDetail.self, from: Data(o4.utf8))
                // The stored report is harden run's report.json: the minified image verified by replaying the probe.
                guard case .object(let report)? = detail.report, case .string(let verdict)? = report["verdict"] else {
                    Issue.record("no report stored: \(o4.prefix(500))")
                    return
                }
                #expect(verdict == "failed", "the policy bans libc6")
                guard case .array(let stages)? = report["stages"] else {
                    Issue.record("no stages")
                    return
                }
                #expect(
                    stages.contains {
                        if case .object(let st) = $0, case .string("minify")? = st["name"] {
                            return true
                        } else {
                            return false
                        }
                    })
                #expect(detail.findings.contains { $0.id == "CVE-2099-0001" })
                // With a Compose file sent with the job: the service's settings apply and the report names the service.
                let compose =
                    "services:\n  web:\n    image: oci:\(TestImages.layout):nginx\n    environment:\n      WHO: \"nobody\"\n"
                try HostFS.writeFileAtomically(dir + "/compose.yaml", Array(compose.utf8))
                let (s5, o5) = try runProcess(
                    [
                        hardenBinary, "fleet", "submit", "--action", "run", "--compose", dir + "/compose.yaml",
                        "--run-arg", "--service",
                        "--run-arg", "web", "--run-arg", "--http-probe", "--run-arg", "80:GET:/", "--format", "json",
                        "oci:\(TestImages.layout):nginx",
                    ], environment: env)
                try #require(s5 == 0, "submit: \(o5)")
                let composeJob = try JSONDecoder().decode(SubmissionAnswer.self, from: Data(o5.utf8)).jobs[0]
                let (s6, o6) = try runProcess(
                    [
                        hardenBinary, "worker", "--database", pg.url, "--server", env["HARDEN_SERVER"]!, "--max-jobs",
                        "1", "--cache",
                        dir + "/wc", "--allow-local-images", TestImages.directory,
                    ], environment: env)
                try #require(s6 == 0, "worker: \(o6)")
                let (_, j6) = try runProcess(
                    [hardenBinary, "fleet", "wait", String(composeJob), "--format", "json"], environment: env)
                let done = try JSONDecoder.iso8601.decode([FleetJob].self, from: Data(j6.utf8))
                #expect(done.first?.state == .succeeded, "\(j6)")
                let (_, o7) = try runProcess(
                    [hardenBinary, "fleet", "image", digest, "--format", "json"], environment: env)
                let again = try decoder.decode(ImageDetail.self, from: Data(o7.utf8))
                guard case .object(let r2)? = again.report, case .object(let profile)? = r2["profile"] else {
                    Issue.record("no profile in the stored report")
                    return
                }
                #expect(profile["service"] == .string("web"), "\(profile["service"] ?? .null)")
            }
        }
    }

    /// A feed update touching two packages: the re-match changes exactly what a full rescan of every image with
    /// the new database gives, touches only the images holding those packages, and the webhook receives one event
    /// per new finding that matches the rule.
    @Test func rematchAfterAnImportEqualsAFullRescanAndFiresWebhooks() async throws {
        try TestImages.require()
        try await ScratchPostgres.with { pg in
            try await withTemporaryDirectory { dir in
                let db = try FleetFixture.importTracker(dir, v2: false)
                let received = Shared<[WebhookEvent]>([])
                let hook = try await HTTPServer.bind(host: "127.0.0.1", port: 0)
                let hookTask = Task {
                    try await hook.serve(maxBody: 1 << 20, logger: FleetFixture.logger) { request in
                        let decoder = JSONDecoder()
                        decoder.dateDecodingStrategy = .iso8601
                        if let e = try? decoder.decode(WebhookEvent.self, from: Data(request.body)) {
                            received.withLock { $0.append(e) }
                        }
                        return .text(.ok, "ok")
                    }
                }
                defer { hookTask.cancel() }
                try await FleetStore.with(url: pg.url, logger: FleetFixture.logger, firstAnswer: FleetFixture.patience)
                { store in
                    try await FleetFixture.withServer(
                        store, database: db, webhook: "http://127.0.0.1:\(hook.port)/hook",
                        rule: WebhookRule(minimumSeverity: .high, knownExploited: true)
                    ) { base in
                        let tags = ["base", "nginx", "flask", "pyapp", "node"]
                        _ = try await store.submit(
                            action: .scan, images: tags.map { "oci:\(TestImages.layout):\($0)" }, options: JobOptions())
                        var wc = FleetWorkerConfiguration(server: base, cacheDirectory: dir + "/wcache", name: "t")
                        wc.token = "read-token-0123456789"
                        wc.maxJobs = tags.count
                        wc.concurrency = 2
                        let worker = FleetWorker(
                            store: store, configuration: wc, executor: FleetFixture.scan, logger: FleetFixture.logger)
                        #expect(try await worker.run() == tags.count)
                        let before = try await FleetFixture.activeFindings(store)
                        #expect(before.count == tags.count)
                        // First scans announce nothing: the webhook is for findings an image gains.
                        try await Task.sleep(for: .seconds(1.5))
                        #expect(received.withLock { $0.isEmpty })
                        // The update, then the server's refresh (what its file watch does).
                        _ = try FleetFixture.importTracker(dir, v2: true)
                        let (status, body) = try await FleetFixture.request(
                            .POST, base + "/v1/db/refresh", token: "admin-token-0123456789")
                        #expect(status == 200, "\(body)")
                        let decoder = JSONDecoder()
                        let answer = try decoder.decode(RefreshAnswer.self, from: Data(body.utf8))
                        let rematch = try #require(answer.rematch)
                        #expect(rematch.changedKeys == 2, "libcap2 added, bash removed")
                        // The oracle: every image scanned again from scratch with the new database.
                        let newDB = try VulnerabilityDatabase(readingAt: db)
                        var expected: [String: Set<String>] = [:]
                        var holders = Set<String>()
                        for t in tags {
                            let sbom = try SBOMBuilder(cache: nil).build(
                                try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: t)), reference: t)
                            expected[sbom.source.manifestDigest] = Set(
                                try Matcher(database: newDB).match(sbom).map {
                                    "\($0.id) \($0.package.name) \($0.package.version)"
                                })
                            if sbom.packages.contains(where: {
                                ($0.sourceName ?? $0.name) == "libcap2" || ($0.sourceName ?? $0.name) == "bash"
                            }) {
                                holders.insert(sbom.source.manifestDigest)
                            }
                        }
                        let after = try await FleetFixture.activeFindings(store)
                        for (digest, keys) in expected {
                            #expect(
                                after[digest, default: []] == keys,
                                "\(digest): missing \(keys.subtracting(after[digest, default: []]).sorted()), extra \(after[digest, default: []].subtracting(keys).sorted())"
                            )
                        }
                        // Only images holding libcap2 or bash changed; the rest are untouched.
                        let changed = Set(expected.keys.filter { before[$0, default: []] != after[$0, default: []] })
                        #expect(changed == holders && !changed.isEmpty)
                        #expect(rematch.images == holders.count)
                        let gained = expected.values.reduce(0) {
                            $0 + $1.filter { $0.hasPrefix("CVE-2099-0020 ") }.count
                        }
                        #expect(rematch.newFindings == gained && gained > 0)
                        // Resolved findings keep their history.
                        var resolved = 0
                        for try await n in try await store.client.query(
                            "SELECT count(*) FROM findings WHERE resolved_at IS NOT NULL AND vuln_id = 'CVE-2099-0040'",
                            logger: FleetFixture.logger
                        ).decode(Int.self) {
                            resolved = n
                        }
                        #expect(resolved > 0 && resolved == rematch.resolvedFindings)
                        // One event per new high finding, delivered by the sender.
                        for _ in 0..<100 where received.withLock({ $0.count }) < gained {
                            try await Task.sleep(for: .milliseconds(100))
                        }
                        try await Task.sleep(for: .milliseconds(1500))
                        let events = received.withLock { $0 }
                        #expect(events.count == gained, "\(events.count) events for \(gained) new findings")
                        #expect(
                            events.allSatisfy {
                                $0.vulnerability == "CVE-2099-0020" && $0.severity == .high && !$0.image.isEmpty
                            })
                        #expect(
                            Set(events.map { "\($0.image) \($0.package)" }).count == events.count,
                            "an event was sent twice")
                        // A second refresh with nothing new changes nothing.
                        let (_, again) = try await FleetFixture.request(
                            .POST, base + "/v1/db/refresh?force=true", token: "admin-token-0123456789")
                        #expect(
                            try decoder.decode(RefreshAnswer.self, from: Data(again.utf8)).rematch?.changedKeys == 0)
                        #expect(try await FleetFixture.activeFindings(store) == after)
                    }
                }
            }
        }
    }

    @Test func tokensScopesAndLimitsAreEnforced() async throws {
        try await ScratchPostgres.with { pg in
            try await withTemporaryDirectory { dir in
                let db = try FleetFixture.importTracker(dir, v2: false)
                try await FleetStore.with(url: pg.url, logger: FleetFixture.logger, firstAnswer: FleetFixture.patience)
                { store in
                    // Stored hashed: the token itself is nowhere in the database.
                    try await FleetFixture.withServer(store, database: db) { base in
                        var stored: [String] = []
                        for try await h in try await store.client.query(
                            "SELECT hash FROM tokens", logger: FleetFixture.logger
                        ).decode(
                            String.self)
                        {
                            stored.append(h)
                        }
                        #expect(stored.count == 3 && !stored.contains { $0.contains("token") })
                        let submit = #"{"action":"scan","images":["oci:/x:y"]}"#
                        typealias Case = (HTTPMethod, String, String?, String?, Int)
                        let cases: [Case] = [
                            (.GET, "/healthz", nil, nil, 200),
                            (.GET, "/v1/images", nil, nil, 401),
                            (.GET, "/v1/images", "wrong-token-0123456789", nil, 401),
                            (.GET, "/metrics", nil, nil, 401),
                            (.GET, "/v1/db", nil, nil, 401),
                            (.GET, "/", nil, nil, 401),
                            (.GET, "/v1/images", "read-token-0123456789", nil, 200),
                            (.GET, "/v1/images?eol=true", "read-token-0123456789", nil, 200),
                            (.GET, "/v1/images?eol=maybe", "read-token-0123456789", nil, 400),
                            (.GET, "/metrics", "read-token-0123456789", nil, 200),
                            (.GET, "/v1/db", "read-token-0123456789", nil, 200),
                            (.POST, "/v1/jobs", "read-token-0123456789", submit, 403),
                            (.POST, "/v1/jobs", "submit-token-0123456789", submit, 202),
                            (
                                .POST, "/v1/jobs", "submit-token-0123456789",
                                #"{"action":"scan","images":["a"],"scheduled":true}"#, 403
                            ),
                            (
                                .POST, "/v1/jobs", "admin-token-0123456789",
                                #"{"action":"scan","images":["a"],"scheduled":true}"#, 202
                            ),
                            (.POST, "/v1/jobs", "submit-token-0123456789", "{not json", 400),
                            (.POST, "/v1/jobs", "submit-token-0123456789", #"{"action":"scan","images":[]}"#, 400),
                            (.POST, "/v1/jobs", "submit-token-0123456789", String(repeating: "x", count: 100_000), 413),
                            (.POST, "/v1/db/refresh", "submit-token-0123456789", nil, 403),
                            (.POST, "/v1/db/refresh", "admin-token-0123456789", nil, 200),
                            (.GET, "/v1/jobs/999999", "read-token-0123456789", nil, 404),
                            (.GET, "/v1/nothing", "read-token-0123456789", nil, 404),
                        ]
                        for (method, path, token, body, want) in cases {
                            let (got, text) = try await FleetFixture.request(
                                method, base + path, token: token, body: body)
                            #expect(
                                got == want, "\(method) \(path) with \(token ?? "no token"): \(got) \(text.prefix(200))"
                            )
                        }
                        // The dashboard's cookie opens pages, never the API (no cross-site job submission with it).
                        for (path, want) in [("/", 200), ("/v1/images", 401), ("/metrics", 401)] {
                            var c = HTTPClientRequest(url: base + path)
                            c.headers.add(name: "Cookie", value: "harden_token=read-token-0123456789")
                            let got = try await HTTPClient.shared.execute(c, timeout: .seconds(10))
                            #expect(Int(got.status.code) == want, "cookie on \(path): \(got.status.code)")
                        }
                        // The database's ETag: a second download is a 304.
                        var r = HTTPClientRequest(url: base + "/v1/db")
                        r.headers.add(name: "Authorization", value: "Bearer read-token-0123456789")
                        let first = try await HTTPClient.shared.execute(r, timeout: .seconds(10))
                        let etag = try #require(first.headers.first(name: "ETag"))
                        let bytes = try await first.body.collect(upTo: 64 << 20)
                        #expect(Array(bytes.readableBytesView) == (try HostFS.readFile(db)))
                        r.headers.add(name: "If-None-Match", value: etag)
                        #expect(try await HTTPClient.shared.execute(r, timeout: .seconds(10)).status == .notModified)
                    }
                }
            }
        }
    }

    /// The dashboard, rendered by headless Chromium, shows the numbers the API gives.
    @Test func theDashboardShowsWhatTheAPISays() async throws {
        try TestImages.require()
        try TestImages.requireTools("chromium")
        try await ScratchPostgres.with { pg in
            try await withTemporaryDirectory { dir in
                let db = try FleetFixture.importTracker(dir, v2: true)
                try await FleetStore.with(url: pg.url, logger: FleetFixture.logger, firstAnswer: FleetFixture.patience)
                { store in
                    try await FleetFixture.withServer(store, database: db) { base in
                        let tags = ["base", "nginx", "pyapp"]
                        _ = try await store.submit(
                            action: .scan, images: tags.map { "oci:\(TestImages.layout):\($0)" }, options: JobOptions())
                        var wc = FleetWorkerConfiguration(server: base, cacheDirectory: dir + "/wcache", name: "t")
                        wc.token = "read-token-0123456789"
                        wc.maxJobs = tags.count
                        #expect(
                            try await FleetWorker(
                                store: store, configuration: wc, executor: FleetFixture.scan,
                                logger: FleetFixture.logger
                            )
                            .run() == 3)
                        let (_, listJSON) = try await FleetFixture.request(
                            .GET, base + "/v1/images", token: "read-token-0123456789")
                        let decoder = JSONDecoder()
                        decoder.dateDecodingStrategy = .iso8601
                        let images = try decoder.decode([ImageSummary].self, from: Data(listJSON.utf8))
                        #expect(images.count == 3)
                        let (_, affectedJSON) = try await FleetFixture.request(
                            .GET, base + "/v1/vulnerabilities/CVE-2099-0020/images", token: "read-token-0123456789")
                        let affected = try decoder.decode(AffectedImages.self, from: Data(affectedJSON.utf8))
                        func dom(_ path: String) async throws -> String {
                            // The token goes in once, in the URL; the server answers with a cookie and a redirect.
                            // Chromium runs on a thread of its own: this process's server must answer it meanwhile.
                            let sep = path.contains("?") ? "&" : "?"
                            let command =
                                "chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir='\(dir)/chrome' --dump-dom '\(base)\(path)\(sep)token=read-token-0123456789' 2>/dev/null"
                            let (s, out) = try await offload { try runProcess(["sh", "-c", command]) }
                            try #require(s == 0, "chromium: \(out.prefix(500))")
                            return out
                        }
                        let index = try await dom("/")
                        #expect(index.contains("id=\"total-images\"><b>3</b>"), "\(index.prefix(2000))")
                        for i in images {
                            // Each image's row carries its counts.
                            let row = try #require(
                                index.range(of: "data-digest=\"\(i.digest)\"").map {
                                    String(index[$0.lowerBound...].prefix(1500))
                                })
                            #expect(row.contains("data-severity=\"high\">\(i.bySeverity["high"] ?? 0)</td>"), "\(row)")
                            #expect(
                                row.contains("data-severity=\"medium\">\(i.bySeverity["medium"] ?? 0)</td>"), "\(row)")
                        }
                        let search = try await dom("/vulnerabilities?id=CVE-2099-0020")
                        #expect(
                            search.contains("id=\"affected-count\">\(Set(affected.images.map(\.digest)).count)</span>"),
                            "\(search.prefix(2000))")
                        let one = try #require(images.first)
                        let page = try await dom("/images/\(one.digest)")
                        let (_, detailJSON) = try await FleetFixture.request(
                            .GET, base + "/v1/images/\(one.digest)", token: "read-token-0123456789")
                        let detail = try decoder.decode(ImageDetail.self, from: Data(detailJSON.utf8))
                        #expect(
                            page.contains("id=\"active-count\">\(detail.findings.count)</span>"), "\(page.prefix(2000))"
                        )
                    }
                }
            }
        }
    }
}

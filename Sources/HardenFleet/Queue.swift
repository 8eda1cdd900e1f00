// harden — the job queue on PostgreSQL: submit, claim (FOR UPDATE SKIP LOCKED), lease renewal, expiry and retries.
import Foundation
import HardenCore
import HardenOCI
import HardenPackages
import Logging
import PostgresNIO

/// A claimed job, as a worker holds it.
public struct ClaimedJob: Sendable {
    public var id: Int64
    public var action: JobAction
    public var image: String
    public var options: JobOptions
    public var attempt: Int
}

/// How the queue hands out work.
public struct QueuePolicy: Sendable {
    /// How long a claim lasts without renewal.
    public var lease: Duration
    /// At most this many jobs of an action run at once (fleet-wide); nil: no cap.
    public var caps: [JobAction: Int]
    /// The actions this worker takes (a scan-only pool needs no root).
    public var actions: Set<JobAction>

    public init(
        lease: Duration = .seconds(60), caps: [JobAction: Int] = [:], actions: Set<JobAction> = Set(JobAction.allCases)
    ) {
        self.lease = lease
        self.caps = caps
        self.actions = actions
    }

    var leaseSeconds: Double { Double(lease.components.seconds) + Double(lease.components.attoseconds) / 1e18 }
}

extension FleetStore {
    static let jobColumns = """
        id, action, image, options::text, priority, state, attempts, max_attempts, created_at, started_at, finished_at, error,
        image_digest, summary::text, lease_owner
        """

    /// Queues jobs; returns their ids in order. `scheduled` jobs (priority 1) run after every ad-hoc one.
    public func submit(
        action: JobAction, images: [String], options: JobOptions, scheduled: Bool = false, maxAttempts: Int = 3,
        submittedBy: String = ""
    ) async throws -> [Int64] {
        let json = String(decoding: try JSONCoding.encode(options), as: UTF8.self)
        let priority = scheduled ? 1 : 0
        var ids: [Int64] = []
        let rows = try await client.query(
            """
            INSERT INTO jobs (action, image, options, priority, max_attempts, submitted_by)
            SELECT \(action.rawValue), i, \(json)::jsonb, \(priority), \(maxAttempts), \(submittedBy) FROM unnest(\(images)::text[]) WITH ORDINALITY AS t(i, n)
            ORDER BY n RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { ids.append(id) }
        return ids.sorted()
    }

    /// Jobs a token has queued or running.
    public func pendingJobs(submittedBy hash: String) async throws -> Int {
        for try await n in try await client.query(
            "SELECT count(*)::int8 FROM jobs WHERE submitted_by = \(hash) AND state IN ('queued', 'running')",
            logger: logger
        ).decode(Int.self) {
            return n
        }
        return 0
    }

    public func job(_ id: Int64) async throws -> FleetJob? {
        try await jobs(where: "id = \(id)").first
    }

    public func jobs(state: JobState?, limit: Int) async throws -> [FleetJob] {
        let cond = state.map { "state = '\($0.rawValue)'" } ?? "true"
        return try await jobs(where: "\(cond) ORDER BY id DESC LIMIT \(max(1, min(limit, 10_000)))")
    }

    func jobs(where condition: String) async throws -> [FleetJob] {
        var out: [FleetJob] = []
        let rows = try await client.query(
            PostgresQuery(unsafeSQL: "SELECT \(Self.jobColumns) FROM jobs WHERE \(condition)"), logger: logger)
        for try await r in rows {
            out.append(try Self.decodeJob(r))
        }
        return out
    }

    static func decodeJob(_ r: PostgresRow) throws -> FleetJob {
        let c = try r.decode(
            (
                Int64, String, String, String, Int, String, Int, Int, Date, Date?, Date?, String?, String?, String?,
                String?
            ).self)
        let decoder = JSONDecoder()
        guard let action = JobAction(rawValue: c.1), let state = JobState(rawValue: c.5) else {
            throw HardenError(.corrupt, "fleet database: job \(c.0) has action \(c.1) and state \(c.5)")
        }
        return FleetJob(
            id: c.0, action: action, image: c.2,
            options: (try? decoder.decode(JobOptions.self, from: Data(c.3.utf8))) ?? JobOptions(),
            priority: c.4, state: state, attempts: c.6, maxAttempts: c.7, createdAt: c.8, startedAt: c.9,
            finishedAt: c.10, error: c.11,
            imageDigest: c.12, summary: c.13.flatMap { try? decoder.decode(JobSummary.self, from: Data($0.utf8)) },
            worker: c.14)
    }

    /// Claims the next job for `worker`: ad-hoc before scheduled, oldest first, skipping rows other workers hold and
    /// actions at their cap. The claim and the lease are one statement; `started_at` is the time the row was taken
    /// (`clock_timestamp()`, not the transaction's start, which a claimer may reach long before it gets its row), so
    /// the claim order can be read back from the database.
    public func claim(worker: String, policy: QueuePolicy) async throws -> ClaimedJob? {
        var capCondition =
            " AND j.action IN (\(policy.actions.map { "'\($0.rawValue)'" }.sorted().joined(separator: ", ")))"
        for (action, cap) in policy.caps.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            capCondition +=
                " AND (j.action <> '\(action.rawValue)' OR (SELECT count(*) FROM jobs r WHERE r.state = 'running' AND r.action = '\(action.rawValue)') < \(cap))"
        }
        let sql = """
            UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1, started_at = clock_timestamp(),
                lease_expires = now() + make_interval(secs => $2)
            WHERE id = (SELECT j.id FROM jobs j WHERE j.state = 'queued'\(capCondition) ORDER BY j.priority, j.id
                        FOR UPDATE SKIP LOCKED LIMIT 1)
            RETURNING id, action, image, options::text, attempts
            """
        var bindings = PostgresBindings()
        bindings.append(worker)
        bindings.append(policy.leaseSeconds)
        let rows = try await client.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        for try await (id, action, image, options, attempts) in rows.decode((Int64, String, String, String, Int).self) {
            return ClaimedJob(
                id: id, action: JobAction(rawValue: action) ?? .scan, image: image,
                options: (try? JSONDecoder().decode(JobOptions.self, from: Data(options.utf8))) ?? JobOptions(),
                attempt: attempts)
        }
        return nil
    }

    /// Extends a lease; false when the worker no longer holds it (expired and taken back, or the job was cancelled).
    public func renew(job: Int64, worker: String, policy: QueuePolicy) async throws -> Bool {
        let rows = try await client.query(
            """
            UPDATE jobs SET lease_expires = now() + make_interval(secs => \(policy.leaseSeconds))
            WHERE id = \(job) AND state = 'running' AND lease_owner = \(worker) RETURNING id
            """, logger: logger)
        for try await _ in rows.decode(Int64.self) { return true }
        return false
    }

    /// Jobs whose lease ran out go back to the queue, or fail when they have had `max_attempts`.
    @discardableResult
    public func requeueExpired() async throws -> Int {
        let rows = try await client.query(
            """
            UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
                finished_at = CASE WHEN attempts >= max_attempts THEN now() ELSE NULL END,
                error = 'lease of ' || coalesce(lease_owner, '?') || ' expired (worker lost) on attempt ' || attempts,
                lease_owner = NULL, lease_expires = NULL
            WHERE id IN (SELECT id FROM jobs WHERE state = 'running' AND lease_expires < now() FOR UPDATE SKIP LOCKED)
            RETURNING id
            """, logger: logger)
        var n = 0
        for try await _ in rows.decode(Int64.self) { n += 1 }
        if n > 0 { logger.warning("fleet: \(n) job(s) with an expired lease taken back") }
        return n
    }

    /// A job that failed: retried (back to the queue) while attempts remain and the error may pass, else failed.
    public func fail(job: Int64, worker: String, error: String, retry: Bool) async throws {
        try await client.query(
            """
            UPDATE jobs SET state = CASE WHEN \(retry) AND attempts < max_attempts THEN 'queued' ELSE 'failed' END,
                finished_at = CASE WHEN \(retry) AND attempts < max_attempts THEN NULL ELSE now() END,
                error = \(error), lease_owner = NULL, lease_expires = NULL
            WHERE id = \(job) AND state = 'running' AND lease_owner = \(worker)
            """, logger: logger)
    }

    /// Completes a job that records nothing (no-op jobs).
    public func complete(job: Int64, worker: String) async throws -> Bool {
        let rows = try await client.query(
            """
            UPDATE jobs SET state = 'succeeded', finished_at = now(), lease_owner = NULL, lease_expires = NULL
            WHERE id = \(job) AND state = 'running' AND lease_owner = \(worker) RETURNING id
            """, logger: logger)
        for try await _ in rows.decode(Int64.self) { return true }
        return false
    }

    /// Jobs by state and action, and the age of the oldest queued job, for /metrics.
    public func queueStats() async throws -> (counts: [String: [String: Int]], oldestQueuedSeconds: Double) {
        var counts: [String: [String: Int]] = [:]
        let rows = try await client.query("SELECT state, action, count(*) FROM jobs GROUP BY 1, 2", logger: logger)
        for try await (state, action, n) in rows.decode((String, String, Int).self) {
            counts[state, default: [:]][action] = n
        }
        var age = 0.0
        let ages = try await client.query(
            "SELECT coalesce(EXTRACT(EPOCH FROM now() - min(created_at))::float8, 0) FROM jobs WHERE state = 'queued'",
            logger: logger)
        for try await a in ages.decode(Double.self) { age = a }
        return (counts, age)
    }
}

extension Duration {
    /// `30s`, `5m`, `6h`, `1d` or plain seconds.
    public static func parse(_ text: String, option: String) throws -> Duration {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var t = text
        var unit: Int64 = 1
        if let last = t.last, let u = units[last] {
            unit = u
            t.removeLast()
        }
        guard let n = Double(t), n >= 0, n.isFinite else {
            throw HardenError(.invalidArgument, "\(option): \(text) is not a duration (e.g. 30s, 5m, 6h)")
        }
        return .milliseconds(Int64(n * Double(unit) * 1000))
    }
}

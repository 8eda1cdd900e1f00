// harden — recording scan results (once per job, keyed by image digest) and merging findings with their history.
import Foundation
import HardenCore
import HardenOCI
import HardenPackages
import HardenSBOM
import HardenVulnDB
import Logging
import PostgresNIO

/// What merging findings changed.
public struct FindingChanges: Sendable, Hashable {
    public var new = 0
    public var resolved = 0
    public var events = 0
}

extension FleetStore {
    /// Records a job's result in one transaction: the job must still be held by `worker` (else nothing is written and
    /// false is returned: the lease was lost and the job belongs to someone else), the image is upserted by digest,
    /// its packages replaced, its findings merged (new ones get `first_seen`, missing ones `resolved_at`), and the
    /// job–result row makes a second recording of the same job impossible.
    public func record(job: Int64, worker: String, result: ImageResult) async throws -> JobSummary? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let prepared = try PreparedImage(result)
        let logger = self.logger
        let summary = try await transaction { c -> JobSummary? in
            let held = try await c.query(
                "SELECT id FROM jobs WHERE id = \(job) AND state = 'running' AND lease_owner = \(worker) FOR UPDATE",
                logger: logger)
            var isHeld = false
            for try await _ in held.decode(Int64.self) { isHeld = true }
            guard isHeld else { return nil }
            let (imageID, changes) = try await self.store(c, prepared, announce: true)
            try await c.query(
                "INSERT INTO job_results (job_id, image_id, worker) VALUES (\(job), \(imageID), \(worker))",
                logger: logger)
            var bySeverity: [String: Int] = [:]
            for f in result.findings where f.suppressed == nil { bySeverity[f.severity.rawValue, default: 0] += 1 }
            let summary = JobSummary(
                packages: result.packages.count, findings: result.findings.count, bySeverity: bySeverity,
                newFindings: changes.new,
                resolvedFindings: changes.resolved, policyFailures: result.report == nil ? nil : result.policyFailures)
            let summaryJSON = String(decoding: try encoder.encode(summary), as: UTF8.self)
            try await c.query(
                """
                UPDATE jobs SET state = 'succeeded', finished_at = now(), lease_owner = NULL, lease_expires = NULL, error = NULL,
                    image_digest = \(result.digest), summary = \(summaryJSON)::jsonb
                WHERE id = \(job)
                """, logger: logger)
            return summary
        }
        if summary != nil { try await advanceGeneration() }
        return summary
    }

    /// Marks the findings as changed, after the change committed (so a reader that sees the new value sees the
    /// new rows).
    func advanceGeneration() async throws {
        try await client.query("SELECT nextval('findings_generation')", logger: logger)
    }

    /// The current findings generation: answers computed at an older one may be stale.
    public func generation() async throws -> Int64 {
        for try await g in try await client.query("SELECT last_value FROM findings_generation", logger: logger).decode(
            Int64.self)
        {
            return g
        }
        return 0
    }

    /// Stores images without a job (an inventory import: `harden fleet import`, the benchmark), each in its own
    /// transaction; no webhook events.
    public func importImages(_ results: [ImageResult]) async throws {
        for r in results {
            let prepared = try PreparedImage(r)
            _ = try await transaction { c in try await self.store(c, prepared, announce: false).0 }
        }
        try await advanceGeneration()
    }

    /// An image's rows, encoded before the transaction.
    struct PreparedImage: Sendable {
        var result: ImageResult
        var labels: String
        var os: String?
        var report: String?
        var packages: PackageRows
        var eol: String?
        /// The earliest end of life (`ended` without a date: today, as of this scan).
        var eolDate: String?

        init(_ result: ImageResult) throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            self.result = result
            labels = String(decoding: try encoder.encode(result.labels), as: UTF8.self)
            os = try result.os.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
            report = result.report.map { String(decoding: $0, as: UTF8.self) }
            packages = try FleetStore.packageRows(result.packages, os: result.os)
            if !result.eol.isEmpty {
                eol = String(decoding: try encoder.encode(result.eol), as: UTF8.self)
                let today = Suppressor.today()
                eolDate = result.eol.compactMap { $0.eol ?? ($0.state == .ended ? today : nil) }.min()
            }
        }
    }

    /// Upserts the image by digest, replaces its packages, merges its findings (in the caller's transaction).
    /// `announce`: new findings of an image seen before become webhook events.
    func store(_ c: PostgresConnection, _ p: PreparedImage, announce: Bool) async throws -> (Int64, FindingChanges) {
        let result = p.result
        var existed = false
        for try await _ in try await c.query("SELECT id FROM images WHERE digest = \(result.digest)", logger: logger)
            .decode(Int64.self)
        {
            existed = true
        }
        var imageID: Int64 = 0
        let upsert = try await c.query(
            """
            INSERT INTO images (digest, config_digest, refs, labels, platform, os, package_count, scanned_at, report, report_at,
                policy_failures, eol_date, eol)
            VALUES (\(result.digest), \(result.configDigest), \(result.references), \(p.labels)::jsonb, \(result.platform),
                \(p.os)::jsonb, \(result.packages.count), now(), \(p.report)::jsonb, CASE WHEN \(p.report)::text IS NULL THEN NULL ELSE now() END,
                \(result.policyFailures), \(p.eolDate)::date, \(p.eol)::jsonb)
            ON CONFLICT (digest) DO UPDATE SET
                refs = ARRAY(SELECT DISTINCT r FROM unnest(images.refs || EXCLUDED.refs) AS r ORDER BY r),
                labels = images.labels || EXCLUDED.labels, config_digest = EXCLUDED.config_digest, platform = EXCLUDED.platform,
                os = EXCLUDED.os, package_count = EXCLUDED.package_count, scanned_at = now(),
                eol_date = EXCLUDED.eol_date, eol = EXCLUDED.eol,
                report = coalesce(EXCLUDED.report, images.report), report_at = coalesce(EXCLUDED.report_at, images.report_at),
                policy_failures = CASE WHEN EXCLUDED.report IS NULL THEN images.policy_failures ELSE EXCLUDED.policy_failures END
            RETURNING id
            """, logger: logger)
        for try await id in upsert.decode(Int64.self) { imageID = id }
        try await c.query("DELETE FROM packages WHERE image_id = \(imageID)", logger: logger)
        try await Self.insertPackages(
            c, imageIDs: Array(repeating: imageID, count: p.packages.refs.count), rows: p.packages, logger: logger)
        let rule = existed && announce ? try await webhookRule(c) : nil
        let changes = try await Self.mergeFindings(
            c, scope: .images([imageID]), findings: result.findings.map { (imageID, $0) }, rule: rule,
            imageRefs: [imageID: (result.digest, result.references)], logger: logger)
        return (imageID, changes)
    }

    /// Columns of the packages table, one row per (package, lookup key); packages the matcher never looks up get one
    /// row with an empty key so that the inventory lists them.
    struct PackageRows: Sendable {
        var refs: [String] = []
        var ecos: [String] = []
        var lookups: [String] = []
        var types: [String] = []
        var names: [String] = []
        var versions: [String] = []
        var purls: [String] = []
        var details: [String] = []
    }

    static func packageRows(_ packages: [SoftwarePackage], os: OSInfo?) throws -> PackageRows {
        var rows = PackageRows()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for p in packages {
            var slim = p
            slim.files = []  // the file list stays in the SBOM; the store keeps what matching and reports need
            let detail = String(decoding: try encoder.encode(slim), as: UTF8.self)
            var keys = Matcher.lookupKeys(for: p, os: os)
            if keys.isEmpty { keys = [("", "")] }
            for k in Set(keys.map { "\($0.ecosystem)\u{1}\($0.name)" }).sorted() {
                let parts = k.split(separator: "\u{1}", omittingEmptySubsequences: false)
                rows.refs.append(p.id)
                rows.ecos.append(String(parts[0]))
                rows.lookups.append(String(parts[1]))
                rows.types.append(p.type.rawValue)
                rows.names.append(p.name)
                rows.versions.append(p.version)
                rows.purls.append(p.purl)
                rows.details.append(detail)
            }
        }
        return rows
    }

    static func insertPackages(
        _ c: PostgresConnection, imageIDs: [Int64], rows: PackageRows, logger: Logger
    ) async throws {
        guard !rows.refs.isEmpty else { return }
        try await c.query(
            """
            INSERT INTO packages (image_id, ref, eco, lookup, type, name, version, purl, detail)
            SELECT i, r, e, l, t, n, v, p, d::jsonb
            FROM unnest(\(imageIDs)::int8[], \(rows.refs)::text[], \(rows.ecos)::text[], \(rows.lookups)::text[], \(rows.types)::text[],
                        \(rows.names)::text[], \(rows.versions)::text[], \(rows.purls)::text[], \(rows.details)::text[])
                AS x(i, r, e, l, t, n, v, p, d)
            ON CONFLICT DO NOTHING
            """, logger: logger)
    }

    /// Which stored findings a merge replaces: all of some images', or those of some (image, package) pairs.
    enum MergeScope {
        case images([Int64])
        case packages(images: [Int64], refs: [String])
    }

    /// Merges `findings` into the stored ones within `scope`, in the caller's transaction: a finding not stored (or
    /// stored as resolved) becomes active with `first_seen` now; an active one not in `findings` is resolved; the rest
    /// get the current severity, KEV, EPSS and fixes. New findings that match `rule` are queued as webhook events.
    static func mergeFindings(
        _ c: PostgresConnection, scope: MergeScope, findings: [(Int64, Finding)], rule: WebhookRule?,
        imageRefs: [Int64: (digest: String, refs: [String])], logger: Logger
    ) async throws -> FindingChanges {
        // The active findings in scope.
        var active = Set<String>()
        let existing: PostgresRowSequence
        switch scope {
        case .images(let ids):
            existing = try await c.query(
                "SELECT image_id, vuln_id, package_ref FROM findings WHERE resolved_at IS NULL AND image_id = ANY(\(ids)::int8[])",
                logger: logger)
        case .packages(let ids, let refs):
            existing = try await c.query(
                """
                SELECT f.image_id, f.vuln_id, f.package_ref FROM findings f
                JOIN unnest(\(ids)::int8[], \(refs)::text[]) AS s(i, r) ON f.image_id = s.i AND f.package_ref = s.r
                WHERE f.resolved_at IS NULL
                """, logger: logger)
        }
        for try await (i, v, r) in existing.decode((Int64, String, String).self) {
            active.insert("\(i)\u{1}\(v)\u{1}\(r)")
        }
        var seen = Set<String>()
        var changes = FindingChanges()
        var cols = (
            images: [Int64](), vulns: [String](), refs: [String](), ids: [String](), names: [String](),
            versions: [String](),
            types: [String](), severities: [String](), kevs: [Bool](), epss: [Double](), fixStates: [String](),
            fixed: [String]()
        )
        var events: [(Int64, String)] = []
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        for (image, f) in findings where f.suppressed == nil {
            let key = "\(image)\u{1}\(f.id)\u{1}\(f.package.ref)"
            guard seen.insert(key).inserted else { continue }
            cols.images.append(image)
            cols.vulns.append(f.id)
            cols.refs.append(f.package.ref)
            cols.ids.append(String(decoding: try encoder.encode(f.ids), as: UTF8.self))
            cols.names.append(f.package.name)
            cols.versions.append(f.package.version)
            cols.types.append(f.package.type)
            cols.severities.append(f.severity.rawValue)
            cols.kevs.append(f.kev != nil)
            cols.epss.append(f.epss?.score ?? -1)
            cols.fixStates.append(f.fixState.rawValue)
            cols.fixed.append(String(decoding: try encoder.encode(f.fixedVersions), as: UTF8.self))
            if !active.contains(key) {
                changes.new += 1
                if let rule, rule.matches(severity: f.severity, kev: f.kev != nil) {
                    let ref = imageRefs[image]
                    let event = WebhookEvent(
                        event: "finding.new", rule: rule.description, image: ref?.digest ?? "",
                        references: ref?.refs ?? [],
                        vulnerability: f.id, aliases: f.ids.filter { $0 != f.id }, package: f.package.name,
                        version: f.package.version,
                        type: f.package.type, severity: f.severity, knownExploited: f.kev != nil,
                        epss: f.epss?.score,
                        fixState: f.fixState, fixedVersions: f.fixedVersions, detectedAt: Date())
                    events.append((image, String(decoding: try encoder.encode(event), as: UTF8.self)))
                }
            }
        }
        if !cols.images.isEmpty {
            try await c.query(
                """
                INSERT INTO findings (image_id, vuln_id, package_ref, ids, package_name, package_version, package_type, severity, kev,
                    epss, fix_state, fixed_versions)
                SELECT i, v, r, ARRAY(SELECT jsonb_array_elements_text(ids::jsonb)), n, ver, t, s, k, NULLIF(e, -1), fs,
                    ARRAY(SELECT jsonb_array_elements_text(fx::jsonb))
                FROM unnest(\(cols.images)::int8[], \(cols.vulns)::text[], \(cols.refs)::text[], \(cols.ids)::text[], \(cols.names)::text[],
                    \(cols.versions)::text[], \(cols.types)::text[], \(cols.severities)::text[], \(cols.kevs)::bool[], \(cols.epss)::float8[],
                    \(cols.fixStates)::text[], \(cols.fixed)::text[]) AS x(i, v, r, ids, n, ver, t, s, k, e, fs, fx)
                ON CONFLICT (image_id, vuln_id, package_ref) DO UPDATE SET
                    ids = EXCLUDED.ids, package_name = EXCLUDED.package_name, package_version = EXCLUDED.package_version,
                    severity = EXCLUDED.severity, kev = EXCLUDED.kev, epss = EXCLUDED.epss, fix_state = EXCLUDED.fix_state,
                    fixed_versions = EXCLUDED.fixed_versions,
                    first_seen = CASE WHEN findings.resolved_at IS NULL THEN findings.first_seen ELSE now() END, resolved_at = NULL
                """, logger: logger)
        }
        let gone = active.subtracting(seen).map {
            $0.split(separator: "\u{1}", omittingEmptySubsequences: false).map(String.init)
        }
        if !gone.isEmpty {
            try await c.query(
                """
                UPDATE findings f SET resolved_at = now()
                FROM unnest(\(gone.map { Int64($0[0]) ?? 0 })::int8[], \(gone.map { $0[1] })::text[], \(gone.map { $0[2] })::text[]) AS g(i, v, r)
                WHERE f.image_id = g.i AND f.vuln_id = g.v AND f.package_ref = g.r AND f.resolved_at IS NULL
                """, logger: logger)
        }
        changes.resolved = gone.count
        if !events.isEmpty {
            try await c.query(
                "INSERT INTO webhook_events (image_id, payload) SELECT i, p::jsonb FROM unnest(\(events.map(\.0))::int8[], \(events.map(\.1))::text[]) AS x(i, p)",
                logger: logger)
            changes.events = events.count
        }
        return changes
    }
}

/// The JSON a webhook receives: one event per new finding that matches the rule.
public struct WebhookEvent: Codable, Sendable, Hashable {
    public var event: String
    public var rule: String
    public var image: String
    public var references: [String]
    public var vulnerability: String
    public var aliases: [String]
    public var package: String
    public var version: String
    public var type: String
    public var severity: Severity
    public var knownExploited: Bool
    public var epss: Double?
    public var fixState: FixState
    public var fixedVersions: [String]
    public var detectedAt: Date
}

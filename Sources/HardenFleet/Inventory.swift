// harden — the fleet's questions: which images have CVE-X, what is in an image, which images fail a policy.
import Foundation
import HardenCore
import HardenPackages
import HardenVulnDB
import Logging
import PostgresNIO

extension FleetStore {
    /// The stored images with an active finding for `id` (the finding's own id or an alias), by digest: `limit`
    /// images after `after`, every affected package of each, and how many images there are in all.
    public func affected(
        vulnerability id: String, limit: Int = 100, after: String? = nil
    ) async throws -> AffectedImages {
        let limit = max(1, min(limit, 10_000))
        var total = 0
        for try await n in try await client.query(
            """
            SELECT count(DISTINCT image_id) FROM findings
            WHERE resolved_at IS NULL AND (vuln_id = \(id) OR ids @> ARRAY[\(id)]::text[])
            """, logger: logger
        ).decode(Int.self) {
            total = n
        }
        var out: [AffectedImage] = []
        let rows = try await client.query(
            """
            WITH page AS (
                SELECT DISTINCT i.id, i.digest, i.refs FROM findings f JOIN images i ON i.id = f.image_id
                WHERE f.resolved_at IS NULL AND (f.vuln_id = \(id) OR f.ids @> ARRAY[\(id)]::text[]) AND i.digest > \(after ?? "")
                ORDER BY i.digest LIMIT \(limit + 1))
            SELECT p.digest, p.refs, f.package_name, f.package_version, f.package_type, f.severity, f.fix_state, f.fixed_versions,
                f.first_seen
            FROM page p JOIN findings f ON f.image_id = p.id
            WHERE f.resolved_at IS NULL AND (f.vuln_id = \(id) OR f.ids @> ARRAY[\(id)]::text[])
            ORDER BY p.digest, f.package_name, f.package_ref
            """, logger: logger)
        for try await r in rows.decode((String, [String], String, String, String, String, String, [String], Date).self)
        {
            out.append(
                AffectedImage(
                    digest: r.0, references: r.1, package: r.2, version: r.3, type: r.4,
                    severity: try Severity(stored: r.5), fixState: try FixState(stored: r.6),
                    fixedVersions: r.7,
                    firstSeen: r.8))
        }
        // One image more than asked says whether there is a next page.
        var digests: [String] = []
        for d in out.map(\.digest) where digests.last != d { digests.append(d) }
        var next: String?
        if digests.count > limit {
            let cut = digests[limit]
            out.removeAll { $0.digest >= cut }
            next = digests[limit - 1]
        }
        return AffectedImages(vulnerability: id, totalImages: total, images: out, next: next)
    }

    static let summaryColumns = """
        i.digest, i.refs, i.labels::text, i.platform, i.os->>'prettyName', i.package_count, i.scanned_at, i.report_at, i.policy_failures,
        (SELECT coalesce(jsonb_object_agg(s, n), '{}')::text FROM (SELECT severity AS s, count(*) AS n FROM findings
            WHERE image_id = i.id AND resolved_at IS NULL GROUP BY severity) AS c),
        (SELECT count(*) FROM findings WHERE image_id = i.id AND resolved_at IS NULL AND kev),
        to_char(i.eol_date, 'YYYY-MM-DD')
        """

    static func decodeSummary(_ r: PostgresRow) throws -> ImageSummary {
        let c = try r.decode(
            (String, [String], String, String, String?, Int, Date?, Date?, [String], String, Int, String?).self)
        let decoder = JSONDecoder()
        return ImageSummary(
            digest: c.0, references: c.1,
            labels: (try? decoder.decode([String: String].self, from: Data(c.2.utf8))) ?? [:], platform: c.3,
            os: c.4, packages: c.5, bySeverity: (try? decoder.decode([String: Int].self, from: Data(c.9.utf8))) ?? [:],
            knownExploited: c.10, scannedAt: c.6, reportAt: c.7, policyFailures: c.8, eolDate: c.11)
    }

    /// Stored images, newest scan first. `fails`: only those whose last `run` report failed that policy check (or any,
    /// with "any"); `severity`: only those with an active finding at or above it; `search`: digest or reference substring.
    public func images(
        fails: String? = nil, minimumSeverity: String? = nil, search: String? = nil, eol: Bool? = nil,
        limit: Int = 1000
    ) async throws
        -> [ImageSummary]
    {
        var conditions: [String] = []
        var binds = PostgresBindings()
        // `eol`: past the earliest end of life of its OS or runtimes (or not).
        if let eol {
            conditions.append(
                eol
                    ? "(i.eol_date IS NOT NULL AND i.eol_date < current_date)"
                    : "(i.eol_date IS NULL OR i.eol_date >= current_date)")
        }
        if let fails {
            if fails == "any" {
                conditions.append("cardinality(i.policy_failures) > 0")
            } else {
                binds.append(fails)
                conditions.append("i.policy_failures @> ARRAY[$\(binds.count)]::text[]")
            }
        }
        if let minimumSeverity {
            let order = ["negligible", "low", "medium", "high", "critical"]
            guard let idx = order.firstIndex(of: minimumSeverity) else {
                throw HardenError(
                    .invalidArgument, "severity: \(minimumSeverity) is not one of \(order.joined(separator: ", "))")
            }
            binds.append(Array(order[idx...]))
            conditions.append(
                "EXISTS (SELECT 1 FROM findings f WHERE f.image_id = i.id AND f.resolved_at IS NULL AND f.severity = ANY($\(binds.count)::text[]))"
            )
        }
        if let search, !search.isEmpty {
            // Literal: LIKE's escape character first, then its wildcards.
            let literal = search.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_")
            binds.append("%\(literal)%")
            conditions.append("(i.digest LIKE $\(binds.count) OR array_to_string(i.refs, ' ') LIKE $\(binds.count))")
        }
        let sql = """
            SELECT \(Self.summaryColumns) FROM images i
            WHERE \(conditions.isEmpty ? "true" : conditions.joined(separator: " AND "))
            ORDER BY i.scanned_at DESC NULLS LAST, i.id DESC LIMIT \(max(1, min(limit, 100_000)))
            """
        var out: [ImageSummary] = []
        for try await r in try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger) {
            out.append(try Self.decodeSummary(r))
        }
        return out
    }

    /// One image: summary, packages by type, active and resolved findings, last hardening report.
    public func image(digest: String) async throws -> ImageDetail? {
        var found: (Int64, String, String?)?
        for try await r in try await client.query(
            "SELECT id, config_digest, report::text FROM images WHERE digest = \(digest) OR config_digest = \(digest) LIMIT 1",
            logger: logger
        ).decode((Int64, String, String?).self) {
            found = r
        }
        guard let (id, config, report) = found else { return nil }
        var summary: ImageSummary?
        for try await r in try await client.query(
            PostgresQuery(unsafeSQL: "SELECT \(Self.summaryColumns) FROM images i WHERE i.id = \(id)"), logger: logger)
        {
            summary = try Self.decodeSummary(r)
        }
        var byType: [String: Int] = [:]
        for try await (t, n) in try await client.query(
            "SELECT type, count(DISTINCT ref) FROM packages WHERE image_id = \(id) GROUP BY type", logger: logger
        ).decode((String, Int).self) {
            byType[t] = n
        }
        var active: [StoredFinding] = []
        var resolved: [StoredFinding] = []
        let rows = try await client.query(
            """
            SELECT vuln_id, ids, package_ref, package_name, package_version, package_type, severity, kev, epss, fix_state, fixed_versions,
                first_seen, resolved_at
            FROM findings WHERE image_id = \(id)
            ORDER BY array_position(ARRAY['critical','high','medium','low','negligible','unknown'], severity), kev DESC, vuln_id, package_ref
            """, logger: logger)
        for try await c in rows.decode(
            (String, [String], String, String, String, String, String, Bool, Double?, String, [String], Date, Date?)
                .self)
        {
            let f = StoredFinding(
                id: c.0, ids: c.1, packageRef: c.2, package: c.3, version: c.4, type: c.5,
                severity: try Severity(stored: c.6),
                knownExploited: c.7, epss: c.8,
                fixState: try FixState(stored: c.9), fixedVersions: c.10, firstSeen: c.11, resolvedAt: c.12)
            if f.resolvedAt == nil { active.append(f) } else { resolved.append(f) }
        }
        guard let summary else { return nil }
        return ImageDetail(
            image: summary, configDigest: config, packagesByType: byType, findings: active, resolved: resolved,
            report: report.flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) })
    }

    /// Fleet-wide numbers for the dashboard and /metrics.
    public func totals() async throws -> (images: Int, packages: Int, activeFindings: Int, bySeverity: [String: Int]) {
        let images = try await count("SELECT count(*) FROM images")
        let packages = try await count("SELECT count(*) FROM packages")
        var bySeverity: [String: Int] = [:]
        for try await (s, n) in try await client.query(
            "SELECT severity, count(*) FROM findings WHERE resolved_at IS NULL GROUP BY 1", logger: logger
        ).decode((String, Int).self) {
            bySeverity[s] = n
        }
        return (images, packages, bySeverity.values.reduce(0, +), bySeverity)
    }
}

// harden — continuous re-matching: when an import changes advisories, only the stored packages those advisories
// name are matched again (through the package index), and findings gain or lose entries with timestamps.
import Crypto
import Foundation
import HardenCore
import HardenPackages
import HardenSBOM
import HardenVulnDB
import Logging
import PostgresNIO

/// What one re-match did.
public struct RematchResult: Codable, Sendable, Hashable {
    public var databaseDigest: String
    /// Lookup keys (ecosystem, package) whose advisories changed since the last import.
    public var changedKeys: Int
    public var images: Int
    public var packages: Int
    public var newFindings: Int
    public var resolvedFindings: Int
    public var webhookEvents: Int
    public var seconds: Double
    /// The first import only records the fingerprints: the stored findings were matched against this database.
    public var baseline: Bool
}

public enum AdvisoryFingerprints {
    /// One SHA-256 per (ecosystem, package) over every affected row naming it, with the ids' ratings and KEV flags.
    public static func compute(_ database: VulnerabilityDatabase) throws -> [String: String] {
        var out: [String: String] = [:]
        var current: String?
        var hasher = SHA256()
        func flush() {
            if let current { out[current] = Hex.encode(hasher.finalize()) }
        }
        try database.forEachAdvisoryRow { eco, package, row in
            let key = "\(eco)\u{1}\(package)"
            if key != current {
                flush()
                current = key
                hasher = SHA256()
            }
            hasher.update(data: Data(row.utf8))
            hasher.update(data: Data([0]))
        }
        flush()
        return out
    }
}

extension FleetStore {
    /// Re-matches after an import: diffs the database's fingerprints against the stored ones, looks up the stored
    /// packages under the changed keys, matches just those packages (with their image's OS), and merges the
    /// findings — all in one transaction with the new fingerprints, so an interrupted re-match is simply redone.
    /// `everything`: match every stored package again (what a rescan of every image's inventory costs; the
    /// benchmark's baseline, and a repair after a matcher change).
    public func rematch(
        database: VulnerabilityDatabase, databaseDigest: String, rule: WebhookRule?, everything: Bool = false
    ) async throws
        -> RematchResult
    {
        let started = ContinuousClock.now
        let fingerprints = try AdvisoryFingerprints.compute(database)
        let logger = self.logger
        let result = try await transaction { c -> RematchResult in
            try await c.query("SELECT pg_advisory_xact_lock(7311002)", logger: logger)
            var stored: [String: String] = [:]
            let rows = try await c.query("SELECT eco, lookup, fingerprint FROM advisory_keys", logger: logger)
            for try await (e, l, f) in rows.decode((String, String, String).self) { stored["\(e)\u{1}\(l)"] = f }
            var imports = 0
            for try await n in try await c.query("SELECT count(*) FROM feed_imports", logger: logger).decode(Int.self) {
                imports = n
            }
            let baseline = imports == 0 && stored.isEmpty
            var changed: [String] = []
            for (k, f) in fingerprints where stored[k] != f { changed.append(k) }
            for k in stored.keys where fingerprints[k] == nil { changed.append(k) }
            changed.sort()
            let split = changed.map { $0.split(separator: "\u{1}", omittingEmptySubsequences: false).map(String.init) }
            let ecos = split.map { $0[0] }
            let lookups = split.map { $0.count > 1 ? $0[1] : "" }
            // The new fingerprints.
            let removed = split.filter { fingerprints["\($0[0])\u{1}\($0.count > 1 ? $0[1] : "")"] == nil }
            if !removed.isEmpty {
                try await c.query(
                    """
                    DELETE FROM advisory_keys a USING unnest(\(removed.map { $0[0] })::text[], \(removed.map { $0.count > 1 ? $0[1] : "" })::text[]) AS r(e, l)
                    WHERE a.eco = r.e AND a.lookup = r.l
                    """, logger: logger)
            }
            let upserts = changed.filter { fingerprints[$0] != nil }
            for chunk in stride(from: 0, to: upserts.count, by: 50_000).map({
                Array(upserts[$0..<min($0 + 50_000, upserts.count)])
            }) {
                let parts = chunk.map {
                    $0.split(separator: "\u{1}", omittingEmptySubsequences: false).map(String.init)
                }
                try await c.query(
                    """
                    INSERT INTO advisory_keys (eco, lookup, fingerprint)
                    SELECT * FROM unnest(\(parts.map { $0[0] })::text[], \(parts.map { $0.count > 1 ? $0[1] : "" })::text[], \(chunk.map { fingerprints[$0] ?? "" })::text[])
                    ON CONFLICT (eco, lookup) DO UPDATE SET fingerprint = EXCLUDED.fingerprint
                    """, logger: logger)
            }
            var result = RematchResult(
                databaseDigest: databaseDigest, changedKeys: changed.count, images: 0, packages: 0, newFindings: 0,
                resolvedFindings: 0,
                webhookEvents: 0, seconds: 0, baseline: baseline)
            if everything || (!baseline && !changed.isEmpty) {
                // The stored packages under the changed keys, with their image's OS.
                struct Affected {
                    var digest: String
                    var refs: [String]
                    var os: OSInfo?
                    var packages: [String: SoftwarePackage] = [:]
                }
                var byImage: [Int64: Affected] = [:]
                let decoder = JSONDecoder()
                let hits =
                    everything
                    ? try await c.query(
                        """
                        SELECT p.image_id, p.ref, p.detail::text, i.os::text, i.digest, i.refs
                        FROM packages p JOIN images i ON i.id = p.image_id WHERE p.eco <> ''
                        """, logger: logger)
                    : try await c.query(
                        """
                        SELECT p.image_id, p.ref, p.detail::text, i.os::text, i.digest, i.refs
                        FROM unnest(\(ecos)::text[], \(lookups)::text[]) AS k(e, l)
                        JOIN packages p ON p.eco = k.e AND p.lookup = k.l
                        JOIN images i ON i.id = p.image_id
                        """, logger: logger)
                for try await (image, ref, detail, os, digest, refs) in hits.decode(
                    (Int64, String, String, String?, String, [String]).self)
                {
                    if byImage[image] == nil {
                        byImage[image] = Affected(
                            digest: digest, refs: refs,
                            os: os.flatMap { try? decoder.decode(OSInfo.self, from: Data($0.utf8)) })
                    }
                    if byImage[image]?.packages[ref] == nil {
                        byImage[image]?.packages[ref] = try decoder.decode(
                            SoftwarePackage.self, from: Data(detail.utf8))
                    }
                }
                let matcher = SharedMatcher(database: database)
                var findings: [(Int64, Finding)] = []
                var scopeImages: [Int64] = []
                var scopeRefs: [String] = []
                var imageRefs: [Int64: (digest: String, refs: [String])] = [:]
                for (image, a) in byImage.sorted(by: { $0.key < $1.key }) {
                    let packages = a.packages.values.sorted()
                    for f in try matcher.match(os: a.os, packages: packages) { findings.append((image, f)) }
                    for p in packages {
                        scopeImages.append(image)
                        scopeRefs.append(p.id)
                    }
                    imageRefs[image] = (a.digest, a.refs)
                }
                let changes = try await Self.mergeFindings(
                    c, scope: .packages(images: scopeImages, refs: scopeRefs), findings: findings, rule: rule,
                    imageRefs: imageRefs,
                    logger: logger)
                result.images = byImage.count
                result.packages = scopeRefs.count
                result.newFindings = changes.new
                result.resolvedFindings = changes.resolved
                result.webhookEvents = changes.events
            }
            let d = ContinuousClock.now - started
            result.seconds = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            try await c.query(
                """
                INSERT INTO feed_imports (db_digest, changed_keys, images, new_findings, resolved_findings, seconds)
                VALUES (\(databaseDigest), \(result.changedKeys), \(result.images), \(result.newFindings), \(result.resolvedFindings),
                    \(result.seconds))
                """, logger: logger)
            return result
        }
        try await advanceGeneration()
        return result
    }

    /// The last re-match's duration and counts, for /metrics.
    public func lastImport() async throws -> (seconds: Double, changedKeys: Int, at: Date)? {
        let rows = try await client.query(
            "SELECT seconds, changed_keys, at FROM feed_imports ORDER BY id DESC LIMIT 1", logger: logger)
        for try await r in rows.decode((Double, Int, Date).self) { return r }
        return nil
    }
}

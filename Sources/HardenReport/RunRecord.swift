// harden — report.json of `harden run`: an auditable record of every stage, its inputs and its results.
import HardenCore
import HardenMinify
import HardenPackages
import HardenPolicy
import HardenProfile
import HardenSBOM
import HardenVulnDB

public struct RunRecord: Codable, Sendable {
    public struct ImageSide: Codable, Sendable {
        public var reference: String
        public var manifestDigest: String
        public var configDigest: String
        /// Bytes of regular files in the merged root file system.
        public var contentBytes: Int64
        public var files: Int
        public var packages: Int
        public var layers: Int
        public var user: String?

        public init(
            reference: String, manifestDigest: String, configDigest: String, contentBytes: Int64, files: Int,
            packages: Int, layers: Int,
            user: String?
        ) {
            self.reference = reference
            self.manifestDigest = manifestDigest
            self.configDigest = configDigest
            self.contentBytes = contentBytes
            self.files = files
            self.packages = packages
            self.layers = layers
            self.user = user
        }
    }
    public struct Stage: Codable, Sendable {
        public var name: StageName
        /// `ok`, `failed` or `skipped`.
        public var status: StageStatus
        public var startedAt: String
        public var seconds: Double
        public var detail: String?

        public init(name: StageName, status: StageStatus, startedAt: String, seconds: Double, detail: String?) {
            self.name = name
            self.status = status
            self.startedAt = startedAt
            self.seconds = seconds
            self.detail = detail
        }
    }
    public struct Database: Codable, Sendable {
        public var path: String
        public var sources: [VulnerabilityDatabase.SourceStatus]
        public var ageDays: Double?

        public init(path: String, sources: [VulnerabilityDatabase.SourceStatus], ageDays: Double?) {
            self.path = path
            self.sources = sources
            self.ageDays = ageDays
        }

        /// Each feed's data age by source, for feeds that date their data.
        public var feedAgeDays: [String: Double] {
            Dictionary(
                sources.compactMap { s in s.dataAgeDays().map { (s.name, $0) } }, uniquingKeysWith: { a, _ in a })
        }
    }
    public struct Vulnerability: Codable, Sendable, Hashable {
        public var id: String
        public var severity: String
        public var package: String
        public var version: String
        public var fixedIn: [String]
        /// Whether the runtime profile saw the package used.
        public var packageUsed: Bool?
        /// `ID/SOURCE-PACKAGE`: rows of one group are shown together.
        public var group: String?
        public var knownExploited: Bool?
        public var epss: Double?
        /// The risk score (docs/usage.md).
        public var risk: Double?

        public init(_ f: Finding) {
            id = f.id
            severity = f.severity.rawValue
            package = f.package.name
            version = f.package.version
            fixedIn = f.fixedVersions
            packageUsed = f.packageUsed
            group = f.group
            knownExploited = f.kev != nil ? true : nil
            epss = f.epss?.score
            risk = f.risk ?? f.riskScore
        }
    }
    public struct Vulnerabilities: Codable, Sendable {
        public var before: [String: Int]
        public var after: [String: Int]
        /// Findings of the input that the output no longer has.
        public var removed: [Vulnerability]
        /// Findings the output still has.
        public var remaining: [Vulnerability]
        /// How `removed` and `remaining` are ordered (`run --sort-by`).
        public var order: String?

        public init(before: [Finding], after: [Finding], order sortOrder: FindingOrder = .severity) {
            let activeBefore = before.filter { $0.suppressed == nil },
                activeAfter = after.filter { $0.suppressed == nil }
            self.before = before.activeCountsBySeverity
            self.after = after.activeCountsBySeverity
            let left = Set(activeAfter.map { "\($0.id)|\($0.package.name)|\($0.package.version)" })
            removed = activeBefore.filter { !left.contains("\($0.id)|\($0.package.name)|\($0.package.version)") }.map(
                Vulnerability.init
            )
            .sorted(by: Self.order)
            remaining = activeAfter.map(Vulnerability.init).sorted(by: Self.order)
            if sortOrder != .severity {
                // The findings' own order, a group's rows kept together at its first place.
                let rank = Dictionary(
                    (activeBefore + activeAfter).sorted(by: sortOrder.comparator).enumerated().map {
                        ("\($1.id)|\($1.package.name)|\($1.package.version)", $0)
                    }, uniquingKeysWith: min)
                func key(_ v: Vulnerability) -> Int { rank["\(v.id)|\(v.package)|\(v.version)"] ?? Int.max }
                removed.sort { key($0) < key($1) }
                remaining.sort { key($0) < key($1) }
                order = sortOrder.rawValue
            }
        }

        /// Risk order (known exploited, severity, EPSS), then by group so a group's rows are adjacent.
        static func order(_ a: Vulnerability, _ b: Vulnerability) -> Bool {
            let (ka, kb) = (a.knownExploited == true, b.knownExploited == true)
            if ka != kb { return ka }
            let (sa, sb) = (Severity(rawValue: a.severity) ?? .unknown, Severity(rawValue: b.severity) ?? .unknown)
            if sa != sb { return sa > sb }
            if (a.epss ?? -1) != (b.epss ?? -1) { return (a.epss ?? -1) > (b.epss ?? -1) }
            return (a.group ?? a.id, a.package) < (b.group ?? b.id, b.package)
        }
    }
    public struct ProfileSummary: Codable, Sendable {
        public var probes: [RuntimeProfile.ProbeResult]
        public var filesUsed: Int
        public var packagesUsed: Int
        public var packagesUnused: Int
        public var ports: [String]
        public var sensors: [String]
        /// The Compose service profiled, the settings it ran with (environment names only) and the services beside it.
        public var service: String?
        public var settings: ContainerSettings.Record?
        public var services: [RuntimeProfile.ServiceRecord]?
        /// Files the app used from its mounts (they stay mounts: not copied into the image).
        public var mountedFiles: [String]?
        /// What exercised the app: `start-up only (N s)` without a probe, else the probes' count.
        public var coverage: String
        /// Share of the image's packages the run touched (0…1).
        public var packagesTouched: Double

        public init(_ p: RuntimeProfile) {
            probes = p.runs.last?.probes ?? []
            filesUsed = p.summary.files
            packagesUsed = p.summary.packagesUsed
            packagesUnused = p.summary.packagesUnused
            var seen = Set<String>()
            ports = p.ports.map { "\($0.protocolName)/\($0.port)" }.filter { seen.insert($0).inserted }
            sensors = p.runs.last?.sensors ?? []
            service = p.runs.last?.service
            settings = p.runs.last?.settings
            services = p.runs.last?.services
            mountedFiles = p.mountedFiles?.map(\.path)
            let run = p.runs.last
            coverage =
                (run?.probes.isEmpty ?? true)
                ? "start-up only (\(Int((run?.durationSeconds ?? 0).rounded())) s)" : "\(run?.probes.count ?? 0) probes"
            let total = p.summary.packagesUsed + p.summary.packagesUnused
            packagesTouched = total > 0 ? (Double(p.summary.packagesUsed) / Double(total) * 1000).rounded() / 1000 : 0
        }
    }
    public struct Artifact: Codable, Sendable {
        public var file: String
        public var sha256: String
        public var bytes: Int

        public init(file: String, sha256: String, bytes: Int) {
            self.file = file
            self.sha256 = sha256
            self.bytes = bytes
        }
    }

    public var schemaVersion = 1
    public var tool = "harden \(hardenToolVersion)"
    public var startedAt: String
    public var finishedAt: String = ""
    public var durationSeconds: Double = 0
    /// `passed`, or `failed` with `failures` saying why.
    public var verdict: Verdict = .passed
    public var failures: [String] = []
    /// What passed but should be known (for example unknown-severity findings a policy threshold did not gate).
    public var warnings: [String] = []
    public var input: ImageSide
    /// With `run --patch`: the image as given, before the patch (`input` is then the patched image).
    public var original: ImageSide?
    /// With `run --patch`: what the patch stage upgraded.
    public var patch: PatchSummary?
    public var output: ImageSide?
    public var database: Database?
    public var stages: [Stage] = []
    public var vulnerabilities: Vulnerabilities?
    public var profile: ProfileSummary?
    public var minify: MinifyReport?
    /// Image checks of the output (of the input when the run stopped before minify).
    public var checks: [CheckResult] = []
    /// Failed checks of the input by level, for comparison.
    public var checksFailedBefore: [String: Int] = [:]
    public var policyFile: String?
    public var policy: PolicyVerdict?
    /// Every other file of the report directory, with its digest.
    public var artifacts: [Artifact] = []
    /// The output's signature and the evidence attached to it (`--sign-key`).
    public var signature: Signature?

    /// One attestation attached to the output.
    public struct Attestation: Codable, Sendable {
        /// The short type (`cyclonedx`, `openvex`, `vuln`, `slsaprovenance1`, `harden`).
        public var type: String
        public var predicateType: String
        public var predicateSHA256: String

        public init(type: String, predicateType: String, predicateSHA256: String) {
            self.type = type
            self.predicateType = predicateType
            self.predicateSHA256 = predicateSHA256
        }
    }

    public struct Signature: Codable, Sendable {
        public var keyID: String
        /// Where signature and attestations went: both, tags or referrers.
        public var scheme: String
        public var attestations: [Attestation]

        public init(keyID: String, scheme: String, attestations: [Attestation]) {
            self.keyID = keyID
            self.scheme = scheme
            self.attestations = attestations
        }
    }

    /// The patch stage in a run: packages upgraded and the vulnerabilities they fix.
    public struct PatchSummary: Codable, Sendable {
        public var packages: [String]
        public var fixed: [String]
        public var noFixAvailable: Int
        public var layerBytes: Int64
        public var findingsBefore: Int?
        /// The application's libraries the patch upgraded (or reverted), one row per installed copy.
        public var libraries: [LibraryRow]?
        public init(
            packages: [String], fixed: [String], noFixAvailable: Int, layerBytes: Int64, findingsBefore: Int?,
            libraries: [LibraryRow]? = nil
        ) {
            self.packages = packages
            self.fixed = fixed
            self.noFixAvailable = noFixAvailable
            self.layerBytes = layerBytes
            self.findingsBefore = findingsBefore
            self.libraries = libraries
        }
    }

    /// One library row of a patch: where, old → new, what it fixes, and how its verification ended.
    public struct LibraryRow: Codable, Sendable {
        public var ecosystem: String
        public var name: String
        public var from: String?
        public var to: String
        public var location: String
        public var fixes: [String]
        /// `verified` or `reverted` (nil: not verified: no probes).
        public var outcome: String?
        public var probe: String?
        public var output: String?
        public init(
            ecosystem: String, name: String, from: String?, to: String, location: String, fixes: [String],
            outcome: String?, probe: String?, output: String?
        ) {
            self.ecosystem = ecosystem
            self.name = name
            self.from = from
            self.to = to
            self.location = location
            self.fixes = fixes
            self.outcome = outcome
            self.probe = probe
            self.output = output
        }
    }

    public init(startedAt: String, input: ImageSide) {
        self.startedAt = startedAt
        self.input = input
    }
}

/// How one stage of a run ended.
public enum StageStatus: String, Codable, Sendable, CaseIterable { case ok, failed }

/// The outcome of a whole run.
public enum Verdict: String, Codable, Sendable, CaseIterable { case passed, failed }

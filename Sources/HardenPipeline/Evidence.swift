// harden — the evidence attached to a hardened image: its CycloneDX SBOM, the OpenVEX of the remediation, a
// vulnerability scan (cosign's vuln predicate), SLSA provenance v1 of the hardening, and harden's own hardening report
// (docs/attestations.md documents each predicate and its URI).
import Foundation
import HardenCore
import HardenMinify
import HardenOCI
import HardenPatch
import HardenPolicy
import HardenProfile
import HardenReport
import HardenSBOM
import HardenSign
import HardenVulnDB

public enum Evidence {
    /// harden's SLSA build type: a `harden run` (or patch/minify) of one image into another.
    public static let buildType = "https://harden.dev/buildtypes/harden/v1"
    /// The builder id written into provenance.
    public static let builderID = "https://harden.dev/harden"

    /// What the provenance records about how harden was invoked.
    public struct Invocation: Sendable {
        /// The command (`run`, `patch`, `minify`).
        public var command: String
        /// The meaningful options, as given (never credentials or key material).
        public var arguments: [String]
        /// The policy file and its bytes' SHA-256, when a policy was given.
        public var policy: (file: String, sha256: String)?
        /// The input's signature and attestations verified by the policy's `inputs:` rule.
        public var inputVerification: InputVerification?

        public init(command: String, arguments: [String], policy: (file: String, sha256: String)? = nil) {
            self.command = command
            self.arguments = arguments
            self.policy = policy
        }
    }

    /// What the policy's `inputs:` rule verified of the input image before harden worked on it.
    public struct InputVerification: Sendable {
        public var keyID: String
        public var attestations: [String]

        public init(keyID: String, attestations: [String]) {
            self.keyID = keyID
            self.attestations = attestations
        }
    }

    /// Every predicate to attach for `result`, whose output image has `outputDigest`.
    public static func predicates(
        _ result: PipelineResult, outputDigest: Digest, invocation: Invocation
    ) throws -> [(PredicateType, [UInt8])] {
        var out: [(PredicateType, [UInt8])] = []
        if let sbom = result.files["sbom-after.cdx.json"] { out.append((.cyclonedx, sbom)) }
        if let vex = result.files["vex.openvex.json"] { out.append((.openvex, vex)) }
        if result.record.vulnerabilities != nil { out.append((.vuln, try vulnerabilityScan(result.record))) }
        out.append((.slsaProvenance1, try provenance(result, invocation: invocation)))
        out.append((.hardenReport, try JSONCoding.encode(HardeningReport(result.record, output: outputDigest))))
        return out
    }

    // MARK: cosign's vuln predicate

    struct VulnScan: Encodable {
        struct Invocation: Encodable {
            var parameters: [String]?
            var uri = ""
            var event_id = ""
            var builderID = ""
            enum CodingKeys: String, CodingKey {
                case parameters, uri, event_id
                case builderID = "builder.id"
            }
        }
        struct Scanner: Encodable {
            struct DB: Encodable {
                var uri: String
                var version: String
            }
            var uri: String
            var version: String
            var db: DB
            var result: Result
        }
        struct Result: Encodable {
            var counts: [String: Int]
            var vulnerabilities: [RunRecord.Vulnerability]
        }
        struct Metadata: Encodable {
            var scanStartedOn: String
            var scanFinishedOn: String
        }
        var invocation: Invocation
        var scanner: Scanner
        var metadata: Metadata
    }

    static func vulnerabilityScan(_ record: RunRecord) throws -> [UInt8] {
        let v = record.vulnerabilities
        let sources = record.database?.sources.map { "\($0.name) \($0.dataDate ?? $0.importedAt)" } ?? []
        let scan = VulnScan(
            invocation: .init(builderID: builderID),
            scanner: .init(
                uri: builderID, version: hardenToolVersion,
                db: .init(uri: "harden vulnerability database", version: sources.joined(separator: ", ")),
                result: .init(counts: v?.after ?? [:], vulnerabilities: v?.remaining ?? [])),
            metadata: .init(scanStartedOn: record.startedAt, scanFinishedOn: record.finishedAt))
        return try JSONCoding.encode(scan)
    }

    // MARK: SLSA provenance v1

    struct ResourceDescriptor: Encodable {
        var name: String?
        var uri: String
        var digest: [String: String]
    }

    struct Provenance: Encodable {
        struct BuildDefinition: Encodable {
            var buildType: String
            var externalParameters: [String: JSONValue]
            var internalParameters: [String: JSONValue]
            var resolvedDependencies: [ResourceDescriptor]
        }
        struct RunDetails: Encodable {
            struct Builder: Encodable {
                var id: String
                var version: [String: String]
            }
            struct Metadata: Encodable {
                var invocationId: String
                var startedOn: String
                var finishedOn: String
            }
            var builder: Builder
            var metadata: Metadata
            var byproducts: [ResourceDescriptor]
        }
        var buildDefinition: BuildDefinition
        var runDetails: RunDetails
    }

    static func provenance(_ result: PipelineResult, invocation: Invocation) throws -> [UInt8] {
        let record = result.record
        var external: [String: JSONValue] = [
            "command": .string(invocation.command), "arguments": .array(invocation.arguments.map { .string($0) }),
            "image": .string(record.input.reference),
        ]
        if let p = invocation.policy {
            external["policy"] = .object(["file": .string(p.file), "sha256": .string(p.sha256)])
        }
        if let probes = record.profile?.probes {
            external["probes"] = .array(probes.map { .string("\($0.kind.rawValue) \($0.spec)") })
        }
        var internals: [String: JSONValue] = [:]
        if let v = invocation.inputVerification {
            internals["inputVerification"] = .object([
                "signedBy": .string(v.keyID), "attestations": .array(v.attestations.map { .string($0) }),
            ])
        }
        if let db = record.database {
            internals["vulnerabilityDatabase"] = .array(
                db.sources.map { .string("\($0.name) \($0.dataDate ?? $0.importedAt)") })
        }
        let byproducts = result.files.sorted { $0.key < $1.key }.filter { $0.key != "report.html" }.map {
            ResourceDescriptor(name: $0.key, uri: "harden-report/\($0.key)", digest: ["sha256": $0.value.sha256Hex])
        }
        let p = Provenance(
            buildDefinition: .init(
                buildType: buildType, externalParameters: external, internalParameters: internals,
                resolvedDependencies: try dependencies(result)),
            runDetails: .init(
                builder: .init(id: builderID, version: ["harden": hardenToolVersion]),
                metadata: .init(
                    invocationId: "urn:harden:run:\(record.input.manifestDigest):\(record.startedAt)",
                    startedOn: record.startedAt,
                    finishedOn: record.finishedAt.isEmpty
                        ? ISO8601DateFormatter().string(from: Date()) : record.finishedAt),
                byproducts: byproducts))
        return try JSONCoding.encode(p)
    }

    /// The input image, every package patch fetched (its URL and verified SHA-256) and the runtime profile.
    static func dependencies(_ result: PipelineResult) throws -> [ResourceDescriptor] {
        let input = result.record.original ?? result.record.input
        var deps = [
            ResourceDescriptor(
                name: "image", uri: input.reference,
                digest: ["sha256": String(input.manifestDigest.drop { $0 != ":" }.dropFirst())])
        ]
        if let bytes = result.files["patch-report.json"],
            let report = try? JSONDecoder().decode(PatchReport.self, from: Data(bytes))
        {
            for p in report.packages {
                guard let url = p.url, let sha = p.sha256 else { continue }
                deps.append(
                    ResourceDescriptor(name: "\(p.name)_\(p.to)_\(p.architecture)", uri: url, digest: ["sha256": sha]))
            }
        }
        if let profile = result.files["profile.json"] {
            deps.append(
                ResourceDescriptor(
                    name: "profile", uri: "harden-report/profile.json", digest: ["sha256": profile.sha256Hex]))
        }
        return deps
    }
}

/// harden's hardening report predicate (`https://harden.dev/attestation/hardening-report/v1`): what was removed and
/// kept, what was patched, what the checks and the verification found. Schema: docs/attestations.md.
public struct HardeningReport: Codable, Sendable {
    public struct Minify: Codable, Sendable {
        public var filesBefore: Int
        public var filesAfter: Int
        public var bytesBefore: Int64
        public var bytesAfter: Int64
        public var reductionPercent: Double
        public var packagesRemoved: [String]
        public var strippedSetuid: [String]
    }
    public struct Verification: Codable, Sendable {
        public var ran: Bool
        public var passed: Bool
        public var probes: Int
        public var probesSame: Int
    }
    public struct Check: Codable, Sendable {
        public var id: String
        public var status: String
    }
    public var tool: String
    public var verdict: String
    public var input: String
    public var inputDigest: String
    public var outputDigest: String
    public var patchedPackages: [String]?
    public var minify: Minify?
    public var verification: Verification?
    public var checks: [Check]
    public var vulnerabilitiesBefore: [String: Int]?
    public var vulnerabilitiesAfter: [String: Int]?
    public var policyPassed: Bool?

    public init(_ r: RunRecord, output: Digest) {
        tool = r.tool
        verdict = r.verdict.rawValue
        input = r.input.reference
        inputDigest = (r.original ?? r.input).manifestDigest
        outputDigest = output.description
        patchedPackages = r.patch?.packages
        if let m = r.minify {
            minify = Minify(
                filesBefore: m.before.files, filesAfter: m.after.files, bytesBefore: m.before.contentBytes,
                bytesAfter: m.after.contentBytes, reductionPercent: m.reductionPercent,
                packagesRemoved: m.packagesRemoved, strippedSetuid: m.strippedSetuid)
            verification = Verification(
                ran: m.verification.ran, passed: m.verification.passed, probes: m.verification.probes.count,
                probesSame: m.verification.probes.filter(\.same).count)
        }
        checks = r.checks.map { Check(id: $0.id, status: $0.status.rawValue) }
        vulnerabilitiesBefore = r.vulnerabilities?.before
        vulnerabilitiesAfter = r.vulnerabilities?.after
        policyPassed = r.policy?.passed
    }
}

/// A JSON value for the open-ended parts of predicates.
enum JSONValue: Encodable {
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

extension Array where Element == UInt8 {
    var sha256Hex: String { Digest.sha256(of: self).encoded }
}

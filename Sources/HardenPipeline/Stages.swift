// harden — the stages that a single command and `harden run` share, each in one place.
import HardenCore
import HardenOCI
import HardenPolicy
import HardenRuntime
import HardenSBOM
import HardenVulnDB
import Logging

/// The check stage: every image check, the ignores (`--ignore` ids and the policy's), then the policy's verdict.
/// `harden check` and `harden run` (on its output) both call it.
public enum CheckStage {
    public struct Input {
        public var image: Image
        public var reference: String
        public var tag: String?
        public var inspection: ImageInspection
        public var profile: RuntimeProfile?
        /// Packages and findings, when they were catalogued and matched.
        public var sbom: SBOM?
        public var findings: [Finding]?
        public var policy: Policy?
        /// Check ids to ignore besides the policy's (`harden check --ignore`).
        public var ignore: [String] = []
        public var databaseAgeDays: Double?

        public init(
            image: Image, reference: String, tag: String?, inspection: ImageInspection, profile: RuntimeProfile?, sbom: SBOM?,
            findings: [Finding]?, policy: Policy?, ignore: [String] = [], databaseAgeDays: Double?
        ) {
            self.image = image; self.reference = reference; self.tag = tag; self.inspection = inspection; self.profile = profile
            self.sbom = sbom; self.findings = findings; self.policy = policy; self.ignore = ignore; self.databaseAgeDays = databaseAgeDays
        }
    }

    public struct Result {
        public var checks: [CheckResult]
        public var verdict: PolicyVerdict?
    }

    public static func run(_ i: Input) -> Result {
        var checks = ImageChecks.run(
            CheckInput(
                image: i.image, reference: i.reference, tag: i.tag, inspection: i.inspection, profile: i.profile,
                findings: i.findings, packageIDs: i.sbom.map { Set($0.packages.map(\.id)) }))
        for k in checks.indices where i.ignore.contains(checks[k].id) && checks[k].status == .fail {
            checks[k].status = .ignored
            checks[k].note = "ignored by --ignore"
        }
        i.policy?.applyIgnores(&checks)
        let verdict = i.policy.map { p in
            p.evaluate(
                PolicyInput(
                    reference: i.reference, config: i.image.config.config, os: i.sbom?.os, packages: i.sbom?.packages ?? [],
                    findings: i.findings, databaseAgeDays: i.databaseAgeDays, checks: checks,
                    contentBytes: i.inspection.contentBytes))
        }
        return Result(checks: checks, verdict: verdict)
    }
}

/// The profile stage: the image run under runc with its sensors and probes, joined with its tree and packages.
/// `harden profile` and `harden run` both call it.
public enum ProfileStage {
    public static func run(
        _ image: Image, reference: String, sbom: SBOM, context: CatalogContext, options: RunOptions,
        logger: Logger
    ) async throws -> RuntimeProfile {
        let users = (context.content(RawPath("etc/passwd")), context.content(RawPath("etc/group")))
        let observation = try await ContainerRunner(logger: logger).run(image, users: users, reference: reference, options: options)
        return RuntimeProfile.build(
            image: image, reference: reference, tree: context.tree, observation: observation, packages: sbom.packages)
    }
}

// harden — the stages that a single command and `harden run` share, each in one place.
import HardenCore
import HardenMinify
import HardenOCI
import HardenPackages
import HardenPatch
import HardenPolicy
import HardenProfile
import HardenReport
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
        public var feedAgeDays: [String: Double] = [:]
        /// End of life of the OS and runtimes (nil: no data).
        public var eol: [EOLStatus]?

        public init(
            image: Image, reference: String, tag: String?, inspection: ImageInspection, profile: RuntimeProfile?,
            sbom: SBOM?,
            findings: [Finding]?, policy: Policy?, ignore: [String] = [], databaseAgeDays: Double?
        ) {
            self.image = image
            self.reference = reference
            self.tag = tag
            self.inspection = inspection
            self.profile = profile
            self.sbom = sbom
            self.findings = findings
            self.policy = policy
            self.ignore = ignore
            self.databaseAgeDays = databaseAgeDays
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
            var input = PolicyInput(
                reference: i.reference, config: i.image.config.config, os: i.sbom?.os, packages: i.sbom?.packages ?? [],
                findings: i.findings, databaseAgeDays: i.databaseAgeDays, checks: checks,
                contentBytes: i.inspection.contentBytes)
            input.feedAgeDays = i.feedAgeDays
            input.eol = i.eol
            return p.evaluate(input)
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
        let observation = try await ContainerRunner(logger: logger).run(
            image, users: users, reference: reference, options: options)
        return RuntimeProfile.build(
            image: image, reference: reference, tree: context.tree, observation: observation, packages: sbom.packages)
    }
}

/// The scan stage: an SBOM matched against the database, findings marked used or unused by a profile, VEX and
/// ignore rules applied, the `--fail-on` gate decided. `harden scan` and `harden run` (before and after) call it.
public enum ScanStage {
    public struct Input {
        public var sbom: SBOM
        /// Nil: no database, nothing is matched (the report says so).
        public var data: VulnerabilityData
        /// Marks each finding's package as used or not.
        public var profile: RuntimeProfile?
        /// Match profile packages by id (same image) or by name and version (a rebuilt image has new ids).
        public var matchProfileByID = true
        public var onlyFixed = false
        public var vex: [VEXDocument] = []
        public var ignores: [IgnoreRules] = []
        public var gate = VulnerabilityGate()

        public init(sbom: SBOM, data: VulnerabilityData) {
            self.sbom = sbom
            self.data = data
        }
    }

    /// Nil findings in the report's sense: the database is missing; the report carries a warning instead.
    public static func run(_ i: Input) throws -> (report: ScanReport, matched: Bool) {
        guard var findings = try i.data.findings(i.sbom) else {
            return (
                ScanReport(
                    source: i.sbom.source, os: i.sbom.os, database: [], findings: [], summary: [:],
                    warnings: ["no vulnerability database at \(i.data.path): nothing was matched"]), false
            )
        }
        if let profile = i.profile { markUse(&findings, profile: profile, byID: i.matchProfileByID) }
        if i.onlyFixed { findings = findings.filter { $0.fixState == .fixed } }
        let warnings = Suppressor.apply(
            &findings, vex: i.vex, ignores: i.ignores, imageDigest: i.sbom.source.manifestDigest)
        var report = ScanReport(
            source: i.sbom.source, os: i.sbom.os, database: try i.data.database?.sources() ?? [], findings: findings,
            summary: findings.activeCountsBySeverity, warnings: warnings)
        report.counts = ScanReport.Counts(findings)
        report.eol = try i.data.eol(i.sbom)
        if i.gate.isActive {
            let outcome = i.gate.evaluate(findings)
            report.gate = .init(
                failOn: i.gate.failOn, failed: !outcome.failures.isEmpty, reached: outcome.failures.count,
                unknown: i.gate.unknown,
                unknownNotGated: outcome.unknownNotGated, knownExploited: i.gate.knownExploited, maxEPSS: i.gate.maxEPSS
            )
        }
        return (report, true)
    }

    /// Sets `packageUsed` on each finding from the profile's package use.
    public static func markUse(_ findings: inout [Finding], profile: RuntimeProfile, byID: Bool) {
        func key(_ id: String, _ name: String, _ version: String) -> String { byID ? id : name + "|" + version }
        let used = Dictionary(
            profile.packages.map { (key($0.id, $0.name, $0.version), $0.used) }, uniquingKeysWith: { $0 || $1 })
        for k in findings.indices {
            let p = findings[k].package
            findings[k].packageUsed = used[key(p.ref, p.name, p.version)] ?? false
        }
    }
}

/// The minify stage: plan, build and verify (`VerifyStage`) with the vulnerability data deciding presets and counting
/// before/after, and the check stage's secret rules naming the variables that look like secrets. `harden minify` and
/// `harden run` call it; `run` holds the directories, timeouts, probes and settings verification runs with.
public enum MinifyStage {
    public static func run(
        _ image: Image, reference: String, sbom: SBOM, context: CatalogContext, profile: RuntimeProfile,
        findings: [Finding]?, data: VulnerabilityData, options: MinifyOptions, run: RunOptions, logger: Logger
    ) async throws -> MinifyResult {
        var options = options
        options.secretVariables = SecretRules.environment(image.config.config?.env ?? [])
        let rootfs = try ContainerRunner(logger: logger).pristineRootfs(image, options: run)
        let verifier = options.verify ? VerifyStage(options: run, logger: logger) : nil
        return try await Minifier(logger: logger, verifier: verifier).minify(
            image, reference: reference, rootfs: rootfs, sbom: sbom, context: context, profile: profile,
            options: options, vulnerabilityRank: findings.map(VulnerabilityData.ranks) ?? [:],
            countVulnerabilities: data.counter)
    }

    /// The remediation's evidence: the OpenVEX statements about every vulnerability of the input, the document, and the
    /// hardened image's findings with the document applied (what `harden scan --vex` of the result shows). The minify
    /// report's counts after are those.
    public struct Evidence {
        public var statements: [OpenVEXStatement]
        public var document: [UInt8]?
        public var after: [Finding]
    }

    public static func evidence(
        _ result: inout MinifyResult, name: String, before: [Finding], after: [Finding], tree: FileTree,
        patched: [String: [(name: String, version: String)]] = [:]
    ) throws -> Evidence {
        var input = RemediationVEX.Input(
            image: result.image, name: name, before: before, after: after, packagesAfter: result.sbomAfter.packages,
            treeAfter: tree)
        input.patched = patched
        input.osID = result.sbomAfter.os?.id ?? OSInfo.assumedDpkgID
        let statements = RemediationVEX.statements(input)
        var applied = after
        _ = Suppressor.apply(
            &applied, vex: [RemediationVEX.asDocument(statements, source: "vex.openvex.json")], ignores: [],
            imageDigest: result.image.manifestDigest.description)
        result.report.vulnerabilities?.after = applied.activeCountsBySeverity
        return Evidence(
            statements: statements, document: try RemediationVEX.document(input, statements: statements), after: applied
        )
    }

    /// Why verification failed, one line each (empty when it passed).
    public static func verificationFailures(_ v: MinifyReport.Verification) -> [String] {
        guard !v.passed else { return [] }
        var out = v.probes.filter { !$0.same }.map {
            "verification: probe \($0.probe) gave \($0.after), the original gave \($0.before)"
        }
        out += v.missingFiles.map {
            "verification: the app looked for \($0), which the minified image does not have (--include \($0))"
        }
        if let e = v.error { out.append("verification: \(e)") }
        return out
    }
}

/// The patch stage: the image catalogued and matched, then its vulnerable Debian packages upgraded to their
/// published fixes (or every package, `all`). `harden patch` and `harden run --patch` call it.
public enum PatchStage {
    public struct Output {
        public var result: PatchResult
        /// The input as catalogued and matched (the original side of a `run --patch` report).
        public var sbom: SBOM
        public var context: CatalogContext
        public var findings: [Finding]?
        /// The image before the library layer (the OS patch's output, or the input): what a verified-upgrade
        /// bisection patches again with some upgrades left out.
        public var beforeLibraries: Image
        /// The library upgrades asked for (normalized names), for the bisection.
        public var libraryRoots: [String] = []
    }

    public static func run(
        _ image: Image, reference: String, data: VulnerabilityData, options: PatchOptions, logger: Logger,
        progress: @escaping (String) -> Void = { _ in }
    ) async throws -> Output {
        let (sbom, context) = try SBOMBuilder(logger: logger).catalog(image, reference: reference)
        let findings = try data.findings(sbom)
        if findings == nil && !options.all {
            throw HardenError(
                .notFound,
                "\(data.path): no vulnerability database to say what is vulnerable (harden db update), or patch --all")
        }
        var result: PatchResult
        if options.osPackages {
            do {
                result = try await Patcher(logger: logger).patch(
                    image, reference: reference, context: context, findings: findings, options: options,
                    progress: progress)
            } catch let e as HardenError where e.code == .unsupported && !options.libraries.ecosystems.isEmpty {
                // Libraries asked for: an image without a patchable OS database still has them patched.
                result = PatchResult(
                    image: image, report: PatchReport(image: reference, mode: options.all ? .all : .vulnerable),
                    vex: nil, changed: false)
                result.report.notes.append("OS packages not patched: \(e.message)")
            }
        } else {
            result = PatchResult(
                image: image, report: PatchReport(image: reference, mode: options.all ? .all : .vulnerable), vex: nil,
                changed: false)
        }
        let beforeLibraries = result.image
        var libraryRoots: [String] = []
        if !options.libraries.ecosystems.isEmpty {
            progress("patch: the application's libraries")
            let libraries = try await LibraryPatcher(logger: logger).patch(
                result.image, context: context, packages: sbom.packages, findings: findings,
                options: options.libraries, database: data.database, cacheDirectory: options.cacheDirectory)
            result.report.libraries = libraries.report
            libraryRoots = libraries.roots
            if libraries.changed {
                result.image = libraries.image
                result.changed = true
            }
            result.vex = try AptPatcher.vex(
                result.report, image: result.image, osID: context.os?.id ?? OSInfo.assumedDpkgID)
        }
        return Output(
            result: result, sbom: sbom, context: context, findings: findings, beforeLibraries: beforeLibraries,
            libraryRoots: libraryRoots)
    }

    /// The library layer again over `output.beforeLibraries`, without the upgrades `exclude` names (and what they
    /// pulled in): one step of a verified-upgrade bisection.
    public static func librariesWithout(
        _ exclude: Set<String>, output: Output, data: VulnerabilityData, options: PatchOptions, logger: Logger
    ) async throws -> LibraryPatchResult {
        var libraries = options.libraries
        libraries.exclude = exclude
        return try await LibraryPatcher(logger: logger).patch(
            output.beforeLibraries, context: output.context, packages: output.sbom.packages, findings: output.findings,
            options: libraries, database: data.database, cacheDirectory: options.cacheDirectory)
    }
}

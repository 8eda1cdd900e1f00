// harden — the whole pipeline as a library: SBOM and scan of the input, profile under probes, minify and verify,
// SBOM and scan of the output, image checks and the policy gate; one auditable record of it all.
import Foundation
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
import HardenSystem
import HardenVulnDB
import Logging

/// The vulnerability database, when there is one: matching, minify's per-package ranks and counts, its age.
public struct VulnerabilityData {
    public let path: String
    public let database: VulnerabilityDatabase?

    /// Opens the database at `path` if it exists; nil `database` means scans are skipped. `required`: a missing
    /// database is an error (`harden scan`).
    public init(path: String, required: Bool = false) throws {
        self.path = path
        database = required || HostFS.exists(path) ? try VulnerabilityDatabase(readingAt: path) : nil
    }

    public func findings(_ sbom: SBOM) throws -> [Finding]? {
        guard let database else { return nil }
        return try Matcher(database: database).match(sbom)
    }

    /// End of life of the SBOM's OS and runtimes (imported data; Debian's and Ubuntu's also from the host's
    /// distro-info-data); nil without a database.
    public func eol(_ sbom: SBOM, today: String = Suppressor.today()) throws -> [EOLStatus]? {
        guard let database else { return nil }
        return try EOLData.evaluate(os: sbom.os, packages: sbom.packages, today: today) {
            try database.eolCycles(product: $0) ?? EOLData.hostDistroInfo($0)
        }
    }

    /// The highest severity rank (1…5) of each vulnerable package, for minify's presets.
    public static func ranks(_ findings: [Finding]) -> [String: Int] {
        var ranks: [String: Int] = [:]
        for f in findings where f.suppressed == nil {
            ranks[f.package.ref] = max(ranks[f.package.ref] ?? 0, rank(f.severity))
        }
        return ranks
    }

    public static func rank(_ s: Severity) -> Int {
        switch s {
        case .critical: 5
        case .high: 4
        case .medium: 3
        case .low: 2
        case .negligible, .unknown: 1
        }
    }

    /// Counts findings by severity, for minify's before/after report.
    public var counter: ((SBOM) throws -> [String: Int])? {
        guard let database else { return nil }
        let matcher = Matcher(database: database)
        return { sbom in try matcher.match(sbom).activeCountsBySeverity }
    }

    public func record() throws -> RunRecord.Database? {
        guard let database else { return nil }
        let sources = try database.sources()
        let formatter = ISO8601DateFormatter()
        let age = sources.compactMap {
            formatter.date(from: $0.importedAt).map { Date().timeIntervalSince($0) / 86400 }
        }.max()
        return RunRecord.Database(path: path, sources: sources, ageDays: age)
    }
}

public struct PipelineOptions: Sendable {
    /// Probes, sensors and timeouts of the profiling run.
    public var run = RunOptions()
    public var minify = MinifyOptions()
    public var policy: Policy?
    public var policyFile: String?
    /// Supplier VEX (`--vex` and the policy's `vulnerabilities.vex`) applied to the scans before and after.
    public var vex: [VEXDocument] = []
    /// How the report lists vulnerabilities (`--sort-by`).
    public var findingOrder: FindingOrder = .severity
    /// Where the result will be written (recorded in the report).
    public var destination = ""
    /// The tag the input was named by, for the `latest` check.
    public var tag: String?
    public var allowProbeFailure = false
    /// Patch the input first (`run --patch`): the rest of the run profiles and minifies the patched image.
    public var patch: PatchOptions?
    /// Warnings to record (the Compose reader's).
    public var warnings: [String] = []
    /// A profile of another platform of the same index (`--profile-platform`): mapped onto this image instead of
    /// running it, when the packages the application used are the same versions here.
    public var profileFrom: RuntimeProfile?

    public init() {}
}

public enum PipelineEvent: Sendable {
    case started(stage: StageName, detail: String)
    /// Progress inside a stage (layers read, …).
    case progress(stage: StageName, detail: String)
    case finished(stage: StageName, seconds: Double, status: StageStatus, detail: String?)
}

/// What a run produced. `image` is nil when the run stopped before minify finished.
public struct PipelineResult {
    public var record: RunRecord
    public var image: Image?
    /// Report files by name (report.json and report.html are rendered by `finish`).
    public var files: [String: [UInt8]]
    /// True when verification or the policy failed (the CLI exits 2 and writes no image).
    public var gateFailed: Bool { record.verdict != .passed }
}

public final class Pipeline {
    let logger: Logger
    let data: VulnerabilityData
    let onEvent: (PipelineEvent) -> Void

    public init(
        logger: Logger, vulnerabilities: VulnerabilityData, onEvent: @escaping (PipelineEvent) -> Void = { _ in }
    ) {
        self.logger = logger
        self.data = vulnerabilities
        self.onEvent = onEvent
    }

    static func now() -> String { ISO8601DateFormatter().string(from: Date()) }

    /// Runs one stage, timing it and recording it.
    func stage<T>(
        _ name: StageName, _ detail: String, into record: inout RunRecord, _ body: () async throws -> (T, String?)
    ) async throws -> T {
        onEvent(.started(stage: name, detail: detail))
        let started = Self.now()
        let clock = Date()
        do {
            let (value, summary) = try await body()
            let seconds = Date().timeIntervalSince(clock)
            record.stages.append(.init(name: name, status: .ok, startedAt: started, seconds: seconds, detail: summary))
            onEvent(.finished(stage: name, seconds: seconds, status: .ok, detail: summary))
            return value
        } catch {
            let seconds = Date().timeIntervalSince(clock)
            record.stages.append(
                .init(name: name, status: .failed, startedAt: started, seconds: seconds, detail: "\(error)"))
            onEvent(.finished(stage: name, seconds: seconds, status: .failed, detail: "\(error)"))
            throw error
        }
    }

    static func side(_ image: Image, reference: String, tree: FileTree, packages: Int) -> RunRecord.ImageSide {
        RunRecord.ImageSide(
            reference: reference, manifestDigest: image.manifestDigest.description,
            configDigest: image.configDigest.description, contentBytes: tree.contentSize,
            files: tree.regularFileCount, packages: packages, layers: image.layers.count,
            user: image.config.config?.user)
    }

    static func json<T: Encodable>(_ value: T) throws -> [UInt8] { try JSONCoding.encode(value, pretty: true) }

    /// The pipeline. Errors of the tool (unreadable image, runc failing) throw; gate failures (a probe failing on the
    /// input, verification diverging, the policy violated) come back in the record's verdict.
    public func run(_ given: Image, reference: String, options: PipelineOptions) async throws -> PipelineResult {
        let started = Date()
        var files: [String: [UInt8]] = [:]
        // Patch (optional): upgrade what has a published fix; everything after works on the patched image.
        var patch: PatchOutcome?
        if let patchOptions = options.patch {
            patch = try await runPatch(given, reference: reference, options: patchOptions, run: options.run)
        }
        files.merge(patch?.files ?? [:]) { a, _ in a }
        let patchRecord = patch?.record
        let patchedFixes = patch?.fixes ?? [:]
        let patched = patch?.image
        let image = patched ?? given
        onEvent(.started(stage: .sbomBefore, detail: "reading \(image.layers.count) layers"))
        let (sbom, context) = try SBOMBuilder(logger: logger).catalog(image, reference: reference) {
            [onEvent] index, cached in
            let size = formatBytes(image.layers[index].descriptor.size)
            onEvent(
                .progress(
                    stage: .sbomBefore,
                    detail: "layer \(index + 1)/\(image.layers.count), \(size)\(cached ? " (cached)" : "")"))
        }
        var record = RunRecord(
            startedAt: Self.now(),
            input: Self.side(image, reference: reference, tree: context.tree, packages: sbom.packages.count))
        record.policyFile = options.policyFile
        record.warnings += options.warnings
        record.database = try data.record()
        if let p = patchRecord {
            record.original = p.original
            record.patch = p.summary
            record.stages.append(
                .init(
                    name: .patch, status: .ok, startedAt: p.startedAt, seconds: p.seconds,
                    detail:
                        "\(p.summary.packages.count) packages upgraded, \(p.summary.fixed.count) vulnerabilities fixed")
            )
        }
        record.stages.append(
            .init(
                name: .sbomBefore, status: .ok, startedAt: record.startedAt, seconds: Date().timeIntervalSince(started),
                detail: "\(sbom.packages.count) packages"))
        files["sbom-before.cdx.json"] = Array(try SBOMEncoder.render(sbom, format: .cyclonedxJSON).utf8)
        // The input's own checks read every layer once more: on the other core, while the container runs.
        async let inputInspection = ImageInspection.inspect(image)

        // Scan of the input.
        let before: [Finding]? = try await stage(.scanBefore, "matching \(sbom.packages.count) packages", into: &record)
        {
            var input = ScanStage.Input(sbom: sbom, data: data)
            input.vex = options.vex
            let (report, matched) = try ScanStage.run(input)
            files["scan-before.sarif"] = Array(try ScanRendering.sarif(report).utf8)
            return (
                matched ? report.findings : nil,
                matched ? "\(report.findings.count) findings" : "skipped: no vulnerability database at \(data.path)"
            )
        }

        // Profile.
        let mapped = options.profileFrom.map {
            ProfileMapping.map($0, onto: image, reference: reference, tree: context.tree, packages: sbom.packages)
        }
        if let mapped, let source = options.profileFrom, mapped.profile == nil {
            record.warnings.append(
                "the profile of \(source.image.platform) does not apply (used packages differ: \(mapped.differences.prefix(5).joined(separator: ", "))); this platform was profiled itself"
            )
        }
        let profile: RuntimeProfile = try await stage(
            .profile,
            mapped?.profile != nil
                ? "mapping the profile of \(options.profileFrom?.image.platform ?? "")"
                : "running \(reference) under runc", into: &record
        ) {
            if let p = mapped?.profile, let m = mapped {
                return (
                    p,
                    "mapped from \(p.mappedFrom?.platform ?? "")'s profile: \(p.summary.files) files used (\(m.dropped) not on this platform), \(p.summary.packagesUsed) of \(p.summary.packagesUsed + p.summary.packagesUnused) packages"
                )
            }
            let p = try await ProfileStage.run(
                image, reference: reference, sbom: sbom, context: context, options: options.run, logger: logger)
            return (
                p,
                "\(p.summary.files) files used, \(p.summary.packagesUsed) of \(p.summary.packagesUsed + p.summary.packagesUnused) packages"
            )
        }
        record.profile = RunRecord.ProfileSummary(profile)
        files["profile.json"] = try Self.json(profile)
        let failedProbes = profile.runs.last?.probes.filter { !$0.ok } ?? []
        if !failedProbes.isEmpty && !options.allowProbeFailure {
            record.failures += failedProbes.map {
                "probe \($0.kind) \($0.spec) failed on the input image: \($0.error ?? "status \($0.status.map(String.init) ?? "-")")"
            }
            return finish(record, started: started, image: nil, files: files, inputChecks: nil)
        }

        // Minify and verify.
        let result: MinifyResult = try await stage(.minify, "planning, building and verifying", into: &record) {
            // Verification starts the container (and its services) with the settings it was profiled with.
            let r = try await MinifyStage.run(
                image, reference: reference, sbom: sbom, context: context, profile: profile, findings: before,
                data: data, options: options.minify, run: options.run, logger: logger)
            let v = r.report.verification
            return (
                r,
                "\(r.report.reductionPercent)% smaller; verification "
                    + (v.ran ? (v.passed ? "passed" : "FAILED") : "not run")
            )
        }
        files["seccomp.json"] = try Self.json(result.seccomp)
        files["k8s-security-context.yaml"] = Array(result.kubernetes.utf8)
        record.failures += MinifyStage.verificationFailures(result.report.verification)
        let outInspection = try ImageInspection.inspect(result.image)

        // Scan of the output, and the evidence.
        let after = try await scanOutput(
            result, before: before, profile: profile, inspection: outInspection, patchedFixes: patchedFixes,
            options: options, files: &files, into: &record)
        // Checks and the policy, on the output.
        try await checkOutput(
            result, inspection: outInspection, profile: profile, findings: after, options: options, into: &record)
        // Checks of the input, for the before/after comparison.
        let inputChecks = ImageChecks.run(
            CheckInput(
                image: image, reference: reference, tag: options.tag,
                inspection: try await inputInspection, profile: profile, findings: before,
                packageIDs: Set(sbom.packages.map(\.id))))
        return finish(record, started: started, image: result.image, files: files, inputChecks: inputChecks)
    }

    /// What the patch stage left for the rest of the run.
    struct PatchOutcome {
        var image: Image
        var record: (summary: RunRecord.PatchSummary, original: RunRecord.ImageSide, seconds: Double, startedAt: String)
        /// Vulnerability → the packages (name, new version) whose upgrade fixed it.
        var fixes: [String: [(name: String, version: String)]]
        var files: [String: [UInt8]]
    }

    func runPatch(
        _ given: Image, reference: String, options patchOptions: PatchOptions, run: RunOptions
    ) async throws
        -> PatchOutcome
    {
        let patchStarted = Self.now()
        let clock = Date()
        onEvent(.started(stage: .patch, detail: "upgrading packages with published fixes"))
        let output = try await PatchStage.run(
            given, reference: reference, data: data, options: patchOptions, logger: logger
        ) {
            [onEvent] in
            onEvent(.progress(stage: .patch, detail: $0))
        }
        var result = output.result
        // Library upgrades are kept only when the probes still agree (the breaking ones reverted by bisection).
        if LibraryVerification.applies(output, run: run) {
            let (verified, replays) = try await LibraryVerification(
                run: run, data: data, patch: patchOptions, logger: logger
            ).verify(output) { [onEvent] in onEvent(.progress(stage: .patch, detail: $0)) }
            result = verified
            result.report.libraries?.notes.append(
                "verify: \(replays) replays of the probes (\(Int(Date().timeIntervalSince(clock).rounded())) s with the patch)"
            )
        }
        var files = ["patch-report.json": try Self.json(result.report)]
        if let vex = result.vex { files["patch.vex.json"] = vex }
        let r = result.report
        var fixes: [String: [(name: String, version: String)]] = [:]
        for p in r.packages { for v in p.fixes { fixes[v, default: []].append((p.name, p.to)) } }
        for p in r.libraries?.packages ?? [] { for v in p.fixes { fixes[v, default: []].append((p.name, p.to)) } }
        let summary = Self.patchSummary(r, findingsBefore: output.findings)
        let seconds = Date().timeIntervalSince(clock)
        onEvent(
            .finished(
                stage: .patch, seconds: seconds, status: .ok,
                detail: "\(r.packages.count) packages upgraded"
                    + (r.libraries.map { ", \($0.packages.count) libraries upgraded" } ?? "")))
        let original = Self.side(
            given, reference: reference, tree: output.context.tree, packages: output.sbom.packages.count)
        return PatchOutcome(
            image: result.image, record: (summary, original, seconds, patchStarted), fixes: fixes, files: files)
    }

    /// The output's scan (findings say whether the profile saw their package used, by name and version: the
    /// output's package ids are those of a new image), the remediation's OpenVEX applied to it, its SARIF and SBOM,
    /// and the before/after vulnerabilities in the record. Returns the output's findings (nil without a database).
    func scanOutput(
        _ result: MinifyResult, before: [Finding]?, profile: RuntimeProfile, inspection outInspection: ImageInspection,
        patchedFixes: [String: [(name: String, version: String)]], options: PipelineOptions,
        files: inout [String: [UInt8]], into record: inout RunRecord
    ) async throws -> [Finding]? {
        // Scan of the output. Findings say whether the profile saw their package used (by name and version: the
        // output's package ids are those of a new image).
        var afterReport: ScanReport? = try await stage(
            .scanAfter, "matching \(result.sbomAfter.packages.count) packages", into: &record
        ) {
            var input = ScanStage.Input(sbom: result.sbomAfter, data: data)
            input.profile = profile
            input.matchProfileByID = false
            input.vex = options.vex
            let (report, matched) = try ScanStage.run(input)
            return (
                matched ? report : nil,
                matched ? "\(report.findings.count) findings" : "skipped: no vulnerability database"
            )
        }
        // The evidence: an OpenVEX statement for every vulnerability of the input; the output's findings with it applied.
        var minified = result
        if let before, let report = afterReport {
            let evidence = try MinifyStage.evidence(
                &minified, name: options.destination, before: before, after: report.findings, tree: outInspection.tree,
                patched: patchedFixes)
            if let doc = evidence.document { files["vex.openvex.json"] = doc }
            afterReport?.findings = evidence.after
            afterReport?.summary = evidence.after.activeCountsBySeverity
            afterReport?.counts = ScanReport.Counts(evidence.after)
        }
        let after = afterReport?.findings
        if let r = afterReport {
            files["scan-after.sarif"] = Array(try ScanRendering.sarif(r).utf8)
            files["sbom-after.cdx.json"] = Array(try ScanRendering.cyclonedx(r, sbom: result.sbomAfter).utf8)
        } else {
            files["sbom-after.cdx.json"] = Array(try SBOMEncoder.render(result.sbomAfter, format: .cyclonedxJSON).utf8)
        }
        record.minify = minified.report
        if var before, let after {
            ScanStage.markUse(&before, profile: profile, byID: false)
            record.vulnerabilities = RunRecord.Vulnerabilities(
                before: before, after: after, order: options.findingOrder)
        }
        return after
    }

    /// The image checks and the policy on the output, into the record (its checks, output side, verdict).
    func checkOutput(
        _ result: MinifyResult, inspection outInspection: ImageInspection, profile: RuntimeProfile,
        findings after: [Finding]?,
        options: PipelineOptions, into record: inout RunRecord
    ) async throws {
        let databaseAge = record.database?.ageDays
        let feedAges = record.database?.feedAgeDays ?? [:]
        let checked: CheckStage.Result = try await stage(.check, "image checks of the result", into: &record) {
            var input = CheckStage.Input(
                image: result.image, reference: options.destination, tag: options.tag, inspection: outInspection,
                profile: profile, sbom: result.sbomAfter, findings: after, policy: options.policy,
                databaseAgeDays: databaseAge)
            input.feedAgeDays = feedAges
            input.eol = try data.eol(result.sbomAfter)
            let r = CheckStage.run(input)
            return (r, "\(r.checks.filter(\.failed).count) of \(r.checks.count) checks failed")
        }
        record.checks = checked.checks
        record.output = Self.side(
            result.image, reference: options.destination, tree: outInspection.tree,
            packages: result.sbomAfter.packages.count)
        if let verdict = checked.verdict {
            record.policy = verdict
            record.stages.append(
                .init(
                    name: .policy, status: verdict.passed ? .ok : .failed, startedAt: Self.now(), seconds: 0,
                    detail: verdict.passed ? "passed" : "\(verdict.violations.count) violations"))
            record.failures += verdict.violations.map { "policy: [\($0.rule)] \($0.message)" }
            if !verdict.undecided.isEmpty { record.failures += verdict.undecided.map { "policy: cannot decide \($0)" } }
            record.warnings += verdict.warnings.map { "policy: \($0)" }
        }
    }

    func finish(
        _ record: RunRecord, started: Date, image: Image?, files: [String: [UInt8]], inputChecks: [CheckResult]?
    ) -> PipelineResult {
        var r = record
        for c in inputChecks ?? [] where c.status == .fail { r.checksFailedBefore[c.level.rawValue, default: 0] += 1 }
        r.finishedAt = Self.now()
        r.durationSeconds = Date().timeIntervalSince(started)
        r.verdict = r.failures.isEmpty ? .passed : .failed
        return PipelineResult(record: r, image: image, files: files)
    }

    /// The report directory's files: the stage outputs, then report.json (listing every other file with its digest) and report.html.
    public static func reportFiles(_ result: PipelineResult) throws -> [(name: String, bytes: [UInt8])] {
        var record = result.record
        let names = result.files.keys.sorted()
        record.artifacts = names.map {
            RunRecord.Artifact(
                file: $0, sha256: Digest.sha256(of: result.files[$0]!).encoded, bytes: result.files[$0]!.count)
        }
        var out = names.map { ($0, result.files[$0]!) }
        out.append(("report.json", try json(record)))
        out.append(("report.html", Array(HTMLReport.render(record).utf8)))
        return out
    }
}

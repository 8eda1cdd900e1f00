// harden — `harden patch` and `harden minify` as pipeline results, so that a signed patch or minify attaches the same
// kinds of evidence as a signed `harden run`: the written image's CycloneDX SBOM, the OpenVEX of what the command
// did, a vulnerability scan when there is a database, SLSA provenance and the hardening report.
import Foundation
import HardenCore
import HardenMinify
import HardenOCI
import HardenPackages
import HardenPatch
import HardenReport
import HardenSBOM
import HardenVulnDB

extension Pipeline {
    /// What `harden patch` did, as the record and files its evidence is made of. The patched image is catalogued
    /// again (its original layers come from the layer cache; only the new layer is read) and scanned.
    public func patchResult(
        _ output: PatchStage.Output, given: Image, reference: String, destination: String, started: Date
    ) throws -> PipelineResult {
        let startedAt = ISO8601DateFormatter().string(from: started)
        var record = RunRecord(
            startedAt: startedAt,
            input: Self.side(
                given, reference: reference, tree: output.context.tree, packages: output.sbom.packages.count)
        )
        record.database = try data.record()
        let report = output.result.report
        record.patch = Self.patchSummary(report, findingsBefore: output.findings)
        record.stages.append(
            .init(
                name: .patch, status: .ok, startedAt: startedAt, seconds: Date().timeIntervalSince(started),
                detail: "\(report.packages.count) packages upgraded"))
        var files = ["patch-report.json": try Self.json(report)]
        if let vex = output.result.vex { files["vex.openvex.json"] = vex }
        let patched = output.result.image
        let (sbom, context) = try SBOMBuilder(logger: logger).catalog(patched, reference: destination)
        let after = try scanForEvidence(sbom, files: &files)
        if let before = output.findings, let after {
            record.vulnerabilities = RunRecord.Vulnerabilities(before: before, after: after)
        }
        record.output = Self.side(patched, reference: destination, tree: context.tree, packages: sbom.packages.count)
        return finish(record, started: started, image: patched, files: files, inputChecks: nil)
    }

    /// What `harden minify` did with `profile` (its bytes, for the provenance's dependency), as the record and files
    /// its evidence is made of. `vex` is the remediation's OpenVEX (`MinifyStage.evidence`), `before` and `after` the
    /// input's and the output's findings with it applied.
    public func minifyResult(
        _ result: MinifyResult, given: Image, reference: String, destination: String, started: Date,
        evidence: (before: [Finding], after: [Finding], vex: [UInt8]?)?, profile: [UInt8]
    ) throws -> PipelineResult {
        let startedAt = ISO8601DateFormatter().string(from: started)
        let r = result.report
        var record = RunRecord(
            startedAt: startedAt,
            input: RunRecord.ImageSide(
                reference: reference, manifestDigest: given.manifestDigest.description,
                configDigest: given.configDigest.description, contentBytes: r.before.contentBytes,
                files: r.before.files, packages: r.before.packages, layers: given.layers.count,
                user: given.config.config?.user))
        record.database = try data.record()
        record.minify = r
        record.stages.append(
            .init(
                name: .minify, status: r.verification.passed ? .ok : .failed, startedAt: startedAt,
                seconds: Date().timeIntervalSince(started), detail: "\(r.reductionPercent)% smaller"))
        record.failures += MinifyStage.verificationFailures(r.verification)
        var files = ["profile.json": profile, "seccomp.json": try Self.json(result.seccomp)]
        if let vex = evidence?.vex { files["vex.openvex.json"] = vex }
        if let e = evidence { record.vulnerabilities = RunRecord.Vulnerabilities(before: e.before, after: e.after) }
        _ = try scanForEvidence(result.sbomAfter, applied: evidence?.after, files: &files)
        record.output = RunRecord.ImageSide(
            reference: destination, manifestDigest: result.image.manifestDigest.description,
            configDigest: result.image.configDigest.description, contentBytes: r.after.contentBytes,
            files: r.after.files, packages: r.after.packages, layers: result.image.layers.count,
            user: result.image.config.config?.user)
        return finish(record, started: started, image: result.image, files: files, inputChecks: nil)
    }

    /// The SBOM of an output, with its vulnerabilities when there is a database (`applied`: its findings with the
    /// remediation's OpenVEX applied, in place of a fresh match), into `files`; its findings.
    func scanForEvidence(_ sbom: SBOM, applied: [Finding]? = nil, files: inout [String: [UInt8]]) throws -> [Finding]? {
        var (report, matched) = try ScanStage.run(.init(sbom: sbom, data: data))
        if matched, let applied {
            report.findings = applied
            report.summary = applied.activeCountsBySeverity
            report.counts = ScanReport.Counts(applied)
        }
        files["sbom-after.cdx.json"] =
            matched
            ? Array(try ScanRendering.cyclonedx(report, sbom: sbom).utf8)
            : Array(try SBOMEncoder.render(sbom, format: .cyclonedxJSON).utf8)
        return matched ? report.findings : nil
    }

    /// The record's summary of a patch.
    static func patchSummary(_ r: PatchReport, findingsBefore: [Finding]?) -> RunRecord.PatchSummary {
        let libraries = r.libraries?.packages ?? []
        return RunRecord.PatchSummary(
            packages: r.packages.map { "\($0.name) \($0.from ?? "-") → \($0.to)" }
                + libraries.map { "\($0.ecosystem.rawValue):\($0.name) \($0.from ?? "-") → \($0.to)" },
            fixed: Set(r.packages.flatMap(\.fixes) + libraries.flatMap(\.fixes)).sorted(),
            noFixAvailable: Set(r.noFixAvailable.map(\.vulnerability)).count, layerBytes: r.layer?.size ?? 0,
            findingsBefore: findingsBefore?.filter { $0.suppressed == nil }.count,
            libraries: r.libraries.map { l in
                l.packages.map {
                    RunRecord.LibraryRow(
                        ecosystem: $0.ecosystem.rawValue, name: $0.name, from: $0.from, to: $0.to,
                        location: $0.location,
                        fixes: $0.fixes, outcome: $0.verification?.outcome.rawValue, probe: $0.verification?.probe,
                        output: $0.verification?.output)
                }
            })
    }
}

// harden — `harden run` of a multi-platform image: every platform the index lists (or those --platform names) goes
// through the whole pipeline (foreign ones under qemu-user emulation), the others are copied unchanged, and the
// hardened index — same platforms, same order — is written only when every processed platform passed.
import ArgumentParser
import Foundation
import HardenCore
import HardenMinify
import HardenOCI
import HardenPipeline
import HardenProfile
import HardenRegistry
import HardenReport
import HardenSystem
import Logging

/// `report.json` at the top of the report directory of an index: one row per platform; each processed platform's
/// full report is in its own subdirectory.
struct PlatformRunReport: Codable {
    struct Entry: Codable {
        var platform: String
        var outcome: Outcome
        var reason: String?
        /// The platform's report directory, relative to this file.
        var reportDirectory: String?
        var verdict: String?
        var sizeBefore: Int64?
        var sizeAfter: Int64?
        var packagesBefore: Int?
        var packagesAfter: Int?
        var vulnerabilitiesBefore: Int?
        var vulnerabilitiesAfter: Int?
        var verification: String?
        /// Set when this platform was not profiled itself: its profile was mapped from this platform's.
        var profileMappedFrom: String?
    }
    /// hardened (processed and passed), failed (processed, a gate failed), copied (not selected), kept (cannot be
    /// processed: written unchanged).
    enum Outcome: String, Codable { case hardened, failed, copied, kept }
    var index: String
    var output: String?
    var outputDigest: String?
    var platforms: [Entry]
    var droppedAttestations: Int
    var passed: Bool
}

extension Application.Run {
    /// The directory name of a platform's report: `linux-arm64-v8`.
    static func platformDirectory(_ platform: String) -> String {
        String(platform.map { $0.isLetter || $0.isNumber || $0 == "." ? $0 : "-" })
    }

    /// What one platform of the index came to.
    struct PlatformDone {
        var image: Image
        var row: PlatformRunReport.Entry
        var failures: [String] = []
        var profile: RuntimeProfile?
        /// The pipeline's result of a processed platform (its report files are written from it, after signing).
        var result: PipelineResult?
        var directory: String?
    }

    /// Runs the pipeline on each chosen platform of `index` and writes the hardened index to `destination`. With
    /// --profile-platform P, P is profiled first and its profile mapped onto the others.
    func runIndex(
        _ index: PlatformIndex, reference: ImageReference, destination: ImageReference, transport: ImageTransport,
        pipeline: Pipeline, options: PipelineOptions, publish: PublishOptions
    ) async throws {
        let chosen = try index.selected(imageOptions.platform)
        var order = index.platforms
        if let profilePlatform {
            let wanted = try Platform(parsing: profilePlatform)
            guard let first = chosen.first(where: { $0.platform?.matches(wanted) == true }) else {
                throw HardenError(
                    .invalidArgument,
                    "--profile-platform \(profilePlatform): not among the platforms processed (\(chosen.compactMap { $0.platform?.description }.joined(separator: ", ")))"
                )
            }
            order = [first] + order.filter { $0.digest != first.digest }
        }
        var done: [Digest: PlatformDone] = [:]
        var source: RuntimeProfile?
        for entry in order {
            var platformOptions = options
            platformOptions.profileFrom = source
            let d = try await processPlatform(
                entry, chosen: chosen.contains { $0.digest == entry.digest }, reference: reference,
                transport: transport, pipeline: pipeline, options: platformOptions)
            if profilePlatform != nil && source == nil { source = d.profile }
            done[entry.digest] = d
        }
        var results = index.platforms.compactMap { done[$0.digest] }
        let images = zip(index.platforms, results).map { ($0, $1.image) }
        let failures = results.flatMap(\.failures)
        var summary = PlatformRunReport(
            index: reference.description, platforms: results.map(\.row), droppedAttestations: index.attestations.count,
            passed: failures.isEmpty)
        if failures.isEmpty {
            let written = try await transport.writeIndex(
                images, index: index, to: destination, mountFrom: reference.mountSource(for: destination))
            summary.output = written.reference
            summary.outputDigest = written.manifestDigest?.description
            if let digest = written.manifestDigest {
                try await publishPlatforms(
                    &results, index: index, destination: destination, indexDigest: digest, transport: transport,
                    options: publish)
            }
            if !global.quiet {
                writeStandardError(
                    "wrote \(written.reference)"
                        + (written.manifestDigest.map { " (\($0), \(images.count) platforms)" } ?? "") + "\n")
            }
        }
        var files: [(name: String, bytes: [UInt8])] = []
        for r in results {
            guard let result = r.result, let dir = r.directory else { continue }
            files += try Pipeline.reportFiles(result).map { (dir + "/" + $0.name, $0.bytes) }
        }
        files.append(("report.json", try JSONCoding.encode(summary, pretty: true)))
        files.append(("report.html", Array(Self.indexHTML(summary).utf8)))
        try Self.writeReportDirectory(reportDir, files)
        if !global.quiet { print(Self.indexTable(summary, reportDir: reportDir)) }
        guard failures.isEmpty else {
            for f in failures { writeStandardError("harden: \(f)\n") }
            writeStandardError("harden: \(destination) was not written\n")
            throw ExitCode(2)
        }
    }

    func processPlatform(
        _ entry: Descriptor, chosen: Bool, reference: ImageReference, transport: ImageTransport, pipeline: Pipeline,
        options: PipelineOptions
    ) async throws -> PlatformDone {
        let platform = entry.platform?.description ?? "?"
        let image = try await transport.open(reference, entry: entry)
        guard chosen else {
            return PlatformDone(
                image: image, row: .init(platform: platform, outcome: .copied, reason: "not selected by --platform"))
        }
        if !global.quiet { writeStandardError("harden: == \(platform)\n") }
        var platformOptions = options
        platformOptions.tag = imageOptions.tag(of: reference, image: image)
        let result: PipelineResult
        do {
            result = try await pipeline.run(image, reference: "\(reference) (\(platform))", options: platformOptions)
        } catch let e as HardenError where e.code == .unsupported && !strictPlatforms {
            writeStandardError("harden: warning: \(platform) kept unchanged: \(e.message)\n")
            return PlatformDone(image: image, row: .init(platform: platform, outcome: .kept, reason: e.message))
        }
        let dir = Self.platformDirectory(platform)
        var d = PlatformDone(
            image: result.image ?? image, row: Self.row(platform, result: result, directory: dir), result: result,
            directory: dir)
        if result.gateFailed || result.image == nil {
            d.failures = result.record.failures.map { "\(platform): \($0)" }
            if d.failures.isEmpty { d.failures.append("\(platform): no hardened image") }
        }
        d.profile = try result.files["profile.json"].map {
            try JSONCoding.decode($0, source: "\(platform) profile", what: "profile")
        }
        d.row.profileMappedFrom = d.profile?.mappedFrom?.platform
        return d
    }

    /// After the index is written: each hardened platform's manifest digest recorded and, with a key, the platform
    /// signed with its own evidence attached (SBOM, OpenVEX, scan, provenance, report), then the index signed.
    func publishPlatforms(
        _ results: inout [PlatformDone], index: PlatformIndex, destination: ImageReference, indexDigest: Digest,
        transport: ImageTransport, options: PublishOptions
    ) async throws {
        let pinned = try PublishStage.pinned(destination, digest: indexDigest)
        guard let written = try await transport.platformIndex(of: pinned),
            written.platforms.count == results.count
        else {
            throw HardenError(.internalError, "\(destination): the index written does not list every platform")
        }
        for i in results.indices where results[i].result != nil {
            let subject = written.platforms[i]
            results[i].result?.record.output?.manifestDigest = subject.digest.description
            guard let key = options.signingKey else { continue }
            try await PublishStage.attach(
                &results[i].result!, subject: subject, destination: pinned, outputDigest: subject.digest,
                transport: transport, key: key, options: options)
        }
        if let key = options.signingKey {
            try await PublishStage.signIndex(
                at: destination, digest: indexDigest, transport: transport, key: key, options: options)
        }
    }

    static func row(_ platform: String, result: PipelineResult, directory: String) -> PlatformRunReport.Entry {
        let r = result.record
        let verification = r.minify.map {
            $0.verification.ran ? ($0.verification.passed ? "passed" : "failed") : "not run"
        }
        return PlatformRunReport.Entry(
            platform: platform, outcome: result.gateFailed || result.image == nil ? .failed : .hardened,
            reason: nil, reportDirectory: directory, verdict: r.verdict.rawValue,
            sizeBefore: r.input.contentBytes, sizeAfter: r.output?.contentBytes, packagesBefore: r.input.packages,
            packagesAfter: r.output?.packages, vulnerabilitiesBefore: r.vulnerabilities?.before.values.reduce(0, +),
            vulnerabilitiesAfter: r.vulnerabilities?.after.values.reduce(0, +), verification: verification)
    }

    static func indexTable(_ s: PlatformRunReport, reportDir: String) -> String {
        var t = TextTable(rows: [["PLATFORM", "OUTCOME", "SIZE", "PACKAGES", "VULNS", "VERIFICATION"]])
        func pair<T>(_ a: T?, _ b: T?, _ f: (T) -> String) -> String {
            "\(a.map(f) ?? "-") → \(b.map(f) ?? "-")"
        }
        for e in s.platforms {
            t.rows.append([
                e.platform, e.outcome.rawValue, pair(e.sizeBefore, e.sizeAfter, formatBytes),
                pair(e.packagesBefore, e.packagesAfter) { "\($0)" },
                pair(e.vulnerabilitiesBefore, e.vulnerabilitiesAfter) { "\($0)" }, e.verification ?? "-",
            ])
        }
        var out = t.render()
        if s.droppedAttestations > 0 {
            out +=
                "\n\(s.droppedAttestations) attestation manifest(s) of the index dropped: they describe the input images"
        }
        out += "\nverdict: \(s.passed ? "PASSED" : "FAILED") — report in \(reportDir)/report.html"
        return out
    }

    /// The index's report page: a row per platform, each linking to that platform's own report.
    static func indexHTML(_ s: PlatformRunReport) -> String {
        let esc = \String.htmlEscaped
        var rows = ""
        for e in s.platforms {
            let name =
                e.reportDirectory.map { "<a href=\"\($0[keyPath: esc])/report.html\">\(e.platform[keyPath: esc])</a>" }
                ?? e.platform[keyPath: esc]
            let cells = [
                e.outcome.rawValue + (e.reason.map { ": " + $0 } ?? ""),
                "\(e.sizeBefore.map(formatBytes) ?? "-") → \(e.sizeAfter.map(formatBytes) ?? "-")",
                "\(e.packagesBefore.map(String.init) ?? "-") → \(e.packagesAfter.map(String.init) ?? "-")",
                "\(e.vulnerabilitiesBefore.map(String.init) ?? "-") → \(e.vulnerabilitiesAfter.map(String.init) ?? "-")",
                e.verification ?? "-",
            ]
            rows += "<tr><td>\(name)</td>" + cells.map { "<td>\($0[keyPath: esc])</td>" }.joined() + "</tr>\n"
        }
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>harden: \(s.index[keyPath: esc])</title>
            <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}</style>
            </head><body>
            <h1>\(s.index[keyPath: esc])</h1>
            <p>Verdict: <strong>\(s.passed ? "passed" : "failed")</strong>\(s.outputDigest.map { " — wrote " + ((s.output ?? "") + " " + $0)[keyPath: esc] } ?? "")</p>
            <table><thead><tr><th>Platform</th><th>Outcome</th><th>Size</th><th>Packages</th><th>Vulnerabilities</th><th>Verification</th></tr></thead>
            <tbody>
            \(rows)</tbody></table>
            \(s.droppedAttestations > 0 ? "<p>\(s.droppedAttestations) attestation manifest(s) of the index dropped: they describe the input images.</p>" : "")
            </body></html>

            """
    }
}

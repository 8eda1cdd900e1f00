// harden — `harden patch` of a multi-platform image: every platform the index lists (or those --platform names) is
// patched with its own architecture's packages, the others are copied unchanged, and the result is one index with
// the same platforms in the same order.
import Foundation
import HardenCore
import HardenOCI
import HardenPackages
import HardenPatch
import HardenPipeline
import HardenRegistry
import HardenReport
import HardenSBOM
import HardenSystem
import HardenVulnDB
import Logging

/// What a patch of a multi-platform image did on each platform (`--report` of an index).
struct PlatformPatchReport: Codable {
    struct Entry: Codable {
        var platform: String
        /// patched, unchanged (nothing to upgrade), copied (not selected), or kept (could not be patched).
        var outcome: Outcome
        var reason: String?
        var report: PatchReport?
    }
    enum Outcome: String, Codable { case patched, unchanged, copied, kept }
    var index: String
    var platforms: [Entry]
    /// BuildKit attestation manifests dropped: they describe digests the patched index no longer has.
    var droppedAttestations: Int
}

extension Application.Patch {
    /// `--platform` on an index: nil or `all` for every platform, else a comma-separated list.
    var platformSelection: String? { imageOptions.platform }

    /// Patches the platforms of `index` chosen by --platform and writes the index back to `destination`.
    func patchIndex(
        _ index: PlatformIndex, reference: ImageReference, destination: ImageReference, transport: ImageTransport,
        data: VulnerabilityData, options: PatchOptions, logger: Logger
    ) async throws {
        let chosen = Set(try index.selected(platformSelection).map(\.digest))
        let strict = strictPlatforms
        let databasePath = data.path
        // Platforms are independent: patched side by side (downloads, layer compression), one per core.
        let done = try await ConcurrentMap.map(index.platforms, limit: ProcessInfo.processInfo.activeProcessorCount) {
            entry in
            try await Self.patchPlatform(
                entry, chosen: chosen.contains(entry.digest), reference: reference, transport: transport,
                // A connection per task: the database handle is not shared across threads.
                data: try VulnerabilityData(path: databasePath), options: options, strict: strict, logger: logger)
        }
        let images = done.map { ($0.entry, $0.image) }
        let entries = done.map(\.row)
        let statements = done.flatMap(\.statements)
        let vexDate = done.map(\.vexDate).max() ?? Date(timeIntervalSince1970: 0)
        let summary = PlatformPatchReport(
            index: reference.description, platforms: entries, droppedAttestations: index.attestations.count)
        if let report { try HostFS.writeFileAtomically(report, try JSONCoding.encode(summary, pretty: true)) }
        if !global.quiet { print(Self.table(summary)) }
        // Platforms copied unchanged, and the layers patching kept, are mounted on the same registry, not re-sent.
        let written = try await transport.writeIndex(
            images, index: index, to: destination, mountFrom: reference.mountSource(for: destination))
        if let vex {
            // One OpenVEX document: every platform's fixes, each statement naming its platform's image.
            if let doc = try OpenVEX.document(
                id:
                    "https://harden.dev/vex/patch/\(written.manifestDigest.map(\.description) ?? reference.description)",
                author: "harden \(hardenToolVersion)", timestamp: vexDate, statements: statements)
            {
                try HostFS.writeFileAtomically(vex, doc)
            } else if !global.quiet {
                writeStandardError("no vulnerability was fixed: no VEX statement to make, \(vex) not written\n")
            }
        }
        if !global.quiet {
            writeStandardError(
                "wrote \(written.reference)"
                    + (written.manifestDigest.map { " (\($0), \(images.count) platforms)" } ?? "")
                    + "\n")
        }
    }

    struct PlatformDone: Sendable {
        var entry: Descriptor
        var image: Image
        var row: PlatformPatchReport.Entry
        var statements: [OpenVEXStatement] = []
        var vexDate = Date(timeIntervalSince1970: 0)
    }

    /// One platform of the index: patched when chosen, else (or when it cannot be patched) as it was.
    static func patchPlatform(
        _ entry: Descriptor, chosen: Bool, reference: ImageReference, transport: ImageTransport,
        data: VulnerabilityData, options: PatchOptions, strict: Bool, logger: Logger
    ) async throws -> PlatformDone {
        let platform = entry.platform?.description ?? "?"
        let image = try await transport.open(reference, entry: entry)
        guard chosen else {
            return PlatformDone(
                entry: entry, image: image,
                row: .init(platform: platform, outcome: .copied, reason: "not selected by --platform"))
        }
        do {
            let output = try await PatchStage.run(
                image, reference: "\(reference) (\(platform))", data: data, options: options, logger: logger)
            let report = output.result.report
            return PlatformDone(
                entry: entry, image: output.result.image,
                row: .init(
                    platform: platform, outcome: output.result.changed ? .patched : .unchanged, reason: nil,
                    report: report),
                statements: AptPatcher.vexStatements(
                    report, image: output.result.image, osID: output.context.os?.id ?? OSInfo.assumedDpkgID),
                vexDate: AptPatcher.vexDate(report))
        } catch let e as HardenError where e.code == .unsupported && !strict {
            writeStandardError("harden: warning: \(platform) kept unchanged: \(e.message)\n")
            return PlatformDone(
                entry: entry, image: image, row: .init(platform: platform, outcome: .kept, reason: e.message))
        }
    }

    static func table(_ summary: PlatformPatchReport) -> String {
        var out: [String] = []
        for e in summary.platforms {
            switch e.outcome {
            case .patched, .unchanged:
                out.append("== \(e.platform)\n" + (e.report.map(table) ?? ""))
            case .copied, .kept:
                out.append("== \(e.platform): \(e.outcome.rawValue) unchanged (\(e.reason ?? ""))")
            }
        }
        if summary.droppedAttestations > 0 {
            out.append(
                "\(summary.droppedAttestations) attestation manifest(s) of the index dropped: they describe the unpatched images"
            )
        }
        return out.joined(separator: "\n")
    }
}

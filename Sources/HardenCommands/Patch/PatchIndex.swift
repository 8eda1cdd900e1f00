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
        var images: [(entry: Descriptor, image: Image)] = []
        var entries: [PlatformPatchReport.Entry] = []
        var statements: [OpenVEXStatement] = []
        var vexDate = Date(timeIntervalSince1970: 0)
        for entry in index.platforms {
            let platform = entry.platform?.description ?? "?"
            let image = try await transport.open(reference, entry: entry)
            guard chosen.contains(entry.digest) else {
                images.append((entry, image))
                entries.append(.init(platform: platform, outcome: .copied, reason: "not selected by --platform"))
                continue
            }
            do {
                let output = try await PatchStage.run(
                    image, reference: "\(reference) (\(platform))", data: data, options: options, logger: logger)
                images.append((entry, output.result.image))
                statements += AptPatcher.vexStatements(
                    output.result.report, image: output.result.image,
                    osID: output.context.os?.id ?? OSInfo.assumedDpkgID)
                vexDate = max(vexDate, AptPatcher.vexDate(output.result.report))
                entries.append(
                    .init(
                        platform: platform, outcome: output.result.changed ? .patched : .unchanged, reason: nil,
                        report: output.result.report))
            } catch let e as HardenError where e.code == .unsupported && !strictPlatforms {
                writeStandardError("harden: warning: \(platform) kept unchanged: \(e.message)\n")
                images.append((entry, image))
                entries.append(.init(platform: platform, outcome: .kept, reason: e.message))
            }
        }
        let summary = PlatformPatchReport(
            index: reference.description, platforms: entries, droppedAttestations: index.attestations.count)
        if let report { try HostFS.writeFileAtomically(report, try JSONCoding.encode(summary, pretty: true)) }
        if !global.quiet { print(Self.table(summary)) }
        let written = try await transport.writeIndex(images, index: index, to: destination)
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

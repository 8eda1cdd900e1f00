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

/// One platform's patch-stage output, handed from the task that patched it to the command once every task is done
/// (never touched by two tasks at once).
final class PatchOutputBox: @unchecked Sendable {
    let output: PatchStage.Output
    init(_ output: PatchStage.Output) { self.output = output }
}

/// `patch --sign-key` of an index: the key, the publish options and when the command started.
struct PlatformSigning {
    var key: KeyLoader
    var publish: PublishOptions
    var started: Date
}

extension Application.Patch {
    /// `--platform` on an index: nil or `all` for every platform, else a comma-separated list.
    var platformSelection: String? { imageOptions.platform }

    /// Patches the platforms of `index` chosen by --platform and writes the index back to `destination`.
    func patchIndex(
        _ index: PlatformIndex, reference: ImageReference, destination: ImageReference, transport: ImageTransport,
        data: VulnerabilityData, options: PatchOptions, signing: PlatformSigning? = nil, logger: Logger
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
        if let signing, let digest = written.manifestDigest {
            try await signPlatforms(
                done, destination: destination, indexDigest: digest, transport: transport, data: data,
                signing: signing, reference: reference, logger: logger)
        }
        if !global.quiet {
            writeStandardError(
                "wrote \(written.reference)"
                    + (written.manifestDigest.map { " (\($0), \(images.count) platforms)" } ?? "")
                    + "\n")
        }
    }

    /// With a key, after the index is written: each platform harden patched (or found nothing to upgrade in) signed
    /// with its own evidence (SBOM, scan, the patch's OpenVEX, provenance, report), then the index itself signed.
    func signPlatforms(
        _ done: [PlatformDone], destination: ImageReference, indexDigest: Digest, transport: ImageTransport,
        data: VulnerabilityData, signing: PlatformSigning, reference: ImageReference, logger: Logger
    ) async throws {
        var publish = signing.publish
        let key = try await signing.key.value()
        publish.signingKey = key
        let pinned = try PublishStage.pinned(destination, digest: indexDigest)
        guard let written = try await transport.platformIndex(of: pinned), written.platforms.count == done.count else {
            throw HardenError(.internalError, "\(destination): the index written does not list every platform")
        }
        let pipeline = Pipeline(logger: logger, vulnerabilities: data)
        for (d, subject) in zip(done, written.platforms) {
            guard let output = d.output?.output else { continue }
            var result = try pipeline.patchResult(
                output, given: d.given, reference: "\(reference) (\(d.row.platform))",
                destination: "\(destination)@\(subject.digest)", started: signing.started)
            try await PublishStage.attach(
                &result, subject: subject, destination: pinned, outputDigest: subject.digest, transport: transport,
                key: key, options: publish)
        }
        try await PublishStage.signIndex(
            at: destination, digest: indexDigest, transport: transport, key: key, options: publish)
    }

    struct PlatformDone: Sendable {
        var entry: Descriptor
        var image: Image
        var row: PlatformPatchReport.Entry
        var statements: [OpenVEXStatement] = []
        var vexDate = Date(timeIntervalSince1970: 0)
        /// The platform as it was and what the patch stage made of it (for its evidence when signing).
        var given: Image
        var output: PatchOutputBox?
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
                row: .init(platform: platform, outcome: .copied, reason: "not selected by --platform"), given: image)
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
                vexDate: AptPatcher.vexDate(report), given: image, output: PatchOutputBox(output))
        } catch let e as HardenError where e.code == .unsupported && !strict {
            writeStandardError("harden: warning: \(platform) kept unchanged: \(e.message)\n")
            return PlatformDone(
                entry: entry, image: image, row: .init(platform: platform, outcome: .kept, reason: e.message),
                given: image)
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

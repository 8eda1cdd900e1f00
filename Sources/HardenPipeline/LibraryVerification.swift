// harden — verified library upgrades (`run --patch-libraries` with probes): the patched image runs the probes under
// runc; when a probe's outcome differs from the image without the library layer, the breaking upgrades are found by
// bisection (keep a prefix of the upgrades, revert the rest, replay), reverted one by one until the probes agree,
// and reported with the probe that failed and what it printed. Every upgrade kept is marked verified.
import HardenCore
import HardenOCI
import HardenPackages
import HardenPatch
import HardenProfile
import HardenRuntime
import Logging

public struct LibraryVerification {
    let logger: Logger
    let run: RunOptions
    let data: VulnerabilityData
    let patch: PatchOptions

    public init(run: RunOptions, data: VulnerabilityData, patch: PatchOptions, logger: Logger) {
        self.run = run
        self.data = data
        self.patch = patch
        self.logger = logger
    }

    /// Whether there is anything to verify with: library upgrades and at least one probe.
    public static func applies(_ output: PatchStage.Output, run: RunOptions) -> Bool {
        !output.libraryRoots.isEmpty && !(output.result.report.libraries?.packages.isEmpty ?? true)
            && !(run.httpProbes.isEmpty && run.execProbes.isEmpty && run.probeScripts.isEmpty)
    }

    /// One replay's verdict: nil when every probe agrees with the baseline, else the first that does not.
    struct Failure {
        var probe: String
        var output: String
    }

    /// Verifies `output`'s library upgrades; returns the result with the breaking ones reverted and every row
    /// marked, and the number of replays it took.
    public func verify(_ output: PatchStage.Output, progress: (String) -> Void) async throws -> (PatchResult, Int) {
        let users = (output.context.content(RawPath("etc/passwd")), output.context.content(RawPath("etc/group")))
        var replays = 0
        progress("verify: the probes on the image without the library upgrades")
        let baseline = try await observe(output.beforeLibraries, users: users)
        var cache: [Set<String>: (LibraryPatchResult, Failure?)] = [:]
        func test(_ excluded: Set<String>) async throws -> (LibraryPatchResult, Failure?) {
            if let c = cache[excluded] { return c }
            replays += 1
            let libs: LibraryPatchResult
            if excluded.isEmpty {
                libs = LibraryPatchResult(
                    image: output.result.image, report: output.result.report.libraries ?? LibraryPatchReport(),
                    changed: true, roots: output.libraryRoots)
            } else {
                libs = try await PatchStage.librariesWithout(
                    excluded, output: output, data: data, options: patch, logger: logger)
            }
            let image = libs.changed ? libs.image : output.beforeLibraries
            progress("verify: replay \(replays) (\(excluded.count) of \(output.libraryRoots.count) upgrades reverted)")
            let failure = Self.compare(baseline, try await observe(image, users: users))
            cache[excluded] = (libs, failure)
            return (libs, failure)
        }
        var reverted: [(key: String, failure: Failure)] = []
        var kept = output.libraryRoots
        var (final, failure) = try await test([])
        while let f = failure, !kept.isEmpty {
            // The shortest prefix of the kept upgrades that still fails ends with a breaking one.
            var lo = 1, hi = kept.count
            var culpritFailure = f
            while lo < hi {
                let mid = (lo + hi) / 2
                let excluded = Set(reverted.map(\.key) + kept[mid...])
                if let f2 = try await test(excluded).1 {
                    hi = mid
                    culpritFailure = f2
                } else {
                    lo = mid + 1
                }
            }
            reverted.append((kept[lo - 1], culpritFailure))
            kept.remove(at: lo - 1)
            (final, failure) = try await test(Set(reverted.map(\.key)))
        }
        return (try result(output, final: final, reverted: reverted, stillFailing: failure), replays)
    }

    /// The patch result with the kept upgrades' layer and every row marked.
    func result(
        _ output: PatchStage.Output, final: LibraryPatchResult, reverted: [(key: String, failure: Failure)],
        stillFailing: Failure?
    ) throws -> PatchResult {
        var result = output.result
        var report = final.changed ? final.report : LibraryPatchReport()
        let full = output.result.report.libraries ?? LibraryPatchReport()
        for i in report.packages.indices {
            report.packages[i].verification = stillFailing == nil ? .init(outcome: .verified) : nil
        }
        for (key, failure) in reverted {
            // Every copy the upgrade replaced (npm's nested copies, a jar in several archives).
            for var row in full.packages where row.root == key && row.from != nil {
                row.verification = .init(outcome: .reverted, probe: failure.probe, output: failure.output)
                report.packages.append(row)
            }
        }
        report.notes = full.notes + report.notes.filter { !full.notes.contains($0) }
        if let f = stillFailing {
            report.notes.append(
                "verify: \(f.probe) differs even with every library upgrade reverted: not a library upgrade's doing")
        }
        result.report.libraries = report
        result.image = final.changed ? final.image : output.beforeLibraries
        result.vex = try AptPatcher.vex(
            result.report, image: result.image, osID: output.context.os?.id ?? OSInfo.assumedDpkgID)
        return result
    }

    /// The probes' outcomes on `image` (no sensors: only behaviour is compared).
    func observe(
        _ image: Image, users: (passwd: [UInt8]?, group: [UInt8]?)
    ) async throws -> [RuntimeProfile
        .ProbeResult]
    {
        var o = run
        o.sensors = []
        return try await ContainerRunner(logger: logger).run(
            image, users: users, reference: "library upgrade replay", options: o
        ).run.probes
    }

    /// The first probe whose outcome differs from the baseline's.
    static func compare(_ before: [RuntimeProfile.ProbeResult], _ after: [RuntimeProfile.ProbeResult]) -> Failure? {
        let describe = VerifyStage.describe
        for b in before {
            let a = after.first { $0.kind == b.kind && $0.spec == b.spec }
            guard let a else { return Failure(probe: "\(b.kind) \(b.spec)", output: "not run") }
            if describe(a) != describe(b) {
                let out = [a.error, a.output].compactMap { $0 }.joined(separator: "\n")
                return Failure(probe: "\(b.kind) \(b.spec)", output: "\(describe(a)) (was \(describe(b)))\n\(out)")
            }
        }
        return nil
    }
}

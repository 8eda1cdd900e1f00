// harden — the verify stage: the minified image runs under the executor (runc, its seccomp profile, the ptrace
// sensor) with the profile's probes and any given ones, and each probe's outcome is compared with the original's.
// Minify asks it through `MinifyVerifier`, so HardenMinify does not link the executor.
import HardenCore
import HardenMinify
import HardenOCI
import HardenPackages
import HardenProfile
import HardenRuntime
import Logging

public struct VerifyStage: MinifyVerifier {
    let logger: Logger
    /// Run settings: directories, timeouts, the probes given besides the profile's, the app's settings.
    let options: RunOptions

    public init(options: RunOptions, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Replays the profile's probes against the minified image, under its seccomp profile, with the ptrace
    /// sensor watching for files the app looks for and does not find. Probes in `options` that the profile does not
    /// hold (an imported profile holds none) run too, and must pass.
    public func verify(
        _ image: Image, users: (passwd: [UInt8]?, group: [UInt8]?), original: RuntimeProfile,
        seccomp: RuntimeSpec.Seccomp, originalFS: any ImageFileSystem, keep: [String: String]
    ) async -> MinifyReport.Verification {
        guard let run = original.runs.last else {
            return .init(ran: false, passed: true, probes: [], missingFiles: [], error: nil)
        }
        var o = options
        o.sensors = [.ptrace]
        o.seccomp = seccomp
        // The network the app had while it was profiled (a service on the host, say); isolated for older profiles.
        if let mode = run.network.flatMap(NetworkMode.init(rawValue:)) { o.network = mode }
        o.httpProbes = run.probes.filter { $0.kind == .http || $0.kind == .https }.compactMap {
            try? HTTPProbe(parsing: $0.kind == .https && !$0.spec.hasPrefix("https:") ? "https:" + $0.spec : $0.spec)
        }
        o.execProbes = run.probes.filter { $0.kind == .exec }.map(\.spec)
        o.probeScripts = run.probes.filter { $0.kind == .script }.map(\.spec)
        let extraHTTP = options.httpProbes.filter { p in !o.httpProbes.contains { $0.spec == p.spec } }
        let extraExec = options.execProbes.filter { !o.execProbes.contains($0) }
        let extraScripts = options.probeScripts.filter { !o.probeScripts.contains($0) }
        o.httpProbes += extraHTTP
        o.execProbes += extraExec
        o.probeScripts += extraScripts
        if o.httpProbes.isEmpty && o.execProbes.isEmpty && o.probeScripts.isEmpty { o.duration = 2 }
        do {
            let observation = try await ContainerRunner(logger: logger).run(
                image, users: users, reference: "minified image", options: o)
            var comparisons: [MinifyReport.ProbeComparison] = []
            let order = run.probes
            let afterByKey = Dictionary(
                observation.run.probes.map { ("\($0.kind) \($0.spec)", $0) }, uniquingKeysWith: { a, _ in a })
            for b in order {
                let key = "\(b.kind == .https && !b.spec.hasPrefix("https:") ? "https" : b.kind.rawValue) \(b.spec)"
                let a = afterByKey[key] ?? afterByKey["\(b.kind) \(b.spec)"]
                let bs = Self.describe(b), asText = a.map(Self.describe) ?? "not run"
                comparisons.append(.init(probe: "\(b.kind) \(b.spec)", before: bs, after: asText, same: bs == asText))
            }
            let extras =
                extraHTTP.map { ($0.https ? "https" : "http", $0.spec) } + extraExec.map { ("exec", $0) }
                + extraScripts.map { ("script", $0) }
            for (kind, spec) in extras {
                let a = afterByKey["\(kind) \(spec)"]
                comparisons.append(
                    .init(
                        probe: "\(kind) \(spec)", before: "(given) must pass", after: a.map(Self.describe) ?? "not run",
                        same: a?.ok == true))
            }
            var missing = Set<String>()
            for t in observation.traces {
                for p in t.paths where p.failures["ENOENT"] != nil && p.operations.isEmpty {
                    if keep[p.path] == nil, originalFS.resolve(p.path) != nil { missing.insert(p.path) }
                }
            }
            let passed = comparisons.allSatisfy(\.same)
            return .init(ran: true, passed: passed, probes: comparisons, missingFiles: missing.sorted(), error: nil)
        } catch {
            return .init(ran: true, passed: false, probes: [], missingFiles: [], error: "\(error)")
        }
    }

    /// A probe's outcome as verification compares it (`ok 200`, `failed 3`).
    static func describe(_ p: RuntimeProfile.ProbeResult) -> String {
        p.ok ? "ok \(p.status.map(String.init) ?? "")" : "failed \(p.status.map(String.init) ?? p.error ?? "")"
    }
}

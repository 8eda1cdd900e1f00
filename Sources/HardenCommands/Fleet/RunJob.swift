// harden — a fleet `run` job: the whole pipeline (`harden run`) on a worker, its report stored with the image.
import ArgumentParser
import Foundation
import HardenCompose
import HardenCore
import HardenFleet
import HardenOCI
import HardenPackages
import HardenPolicy
import HardenReport
import HardenSBOM
import HardenSystem
import HardenVulnDB
import Logging

public struct RunJob: Sendable {
    let imageOptions: ImageOptions
    let logger: Logger
    var limits = JobLimits()

    /// Options of `harden run` a job may carry, and whether each takes a value. Everything that names a file or
    /// directory of the worker (--probe-script, --env-file, --mount, --compose, -o, --report-dir, --db, credentials)
    /// is refused: a submitter must not read or write the worker's files.
    static let allowed: [String: Bool] = [
        "--http-probe": true, "--exec-probe": true, "--duration": true, "--probe-timeout": true,
        "--allow-probe-failure": false,
        "--require-probes": false, "--network": true, "--pids-limit": true, "--memory": true, "--env": true,
        "--tmpfs": true,
        "--read-only": false, "--user": true, "--workdir": true, "--entrypoint": true, "--include": true,
        "--keep-package": true,
        "--preset": true, "--strip-secret-env": false, "--python-bytecode": false, "--patch": false,
        "--patch-all": false,
        "--service": true,
    ]

    /// Validates a run job's options against the worker's limits. Refused: options outside the allowlist, `--env NAME`
    /// without a value (it would read the worker's environment), `--network host|open` unless the worker allows job
    /// networks, durations, memory and pids over the worker's caps; in a Compose file, bind mounts, env files, volume
    /// names that are not plain names, variables and bare environment names.
    public static func validate(_ options: JobOptions, limits: JobLimits = JobLimits()) throws {
        var args = (options.arguments ?? [])[...]
        while let a = args.popFirst() {
            let parts = a.split(separator: "=", maxSplits: 1).map(String.init)
            let name = parts.first ?? a
            guard let takesValue = allowed[name] else {
                throw HardenError(
                    .invalidArgument,
                    "run job: \(a) is not allowed (allowed: \(allowed.keys.sorted().joined(separator: " ")))")
            }
            guard takesValue else { continue }
            var value = parts.count == 2 ? parts[1] : nil
            if value == nil {
                guard let v = args.popFirst() else {
                    throw HardenError(.invalidArgument, "run job: \(a) needs a value")
                }
                value = v
            }
            try limits.check(option: name, value: value ?? "")
        }
        if let push = options.pushTo {
            guard case .registry = try ImageReference.parseUntrusted(push) else {
                throw HardenError(.invalidArgument, "run job: pushTo must be a registry reference, not \(push)")
            }
        }
        if let compose = options.compose { try validateCompose(compose, options: options, limits: limits) }
    }

    static func validateCompose(_ compose: String, options: JobOptions, limits: JobLimits) throws {
        let project = try ComposeReader.parse(
            compose, file: "compose", directory: "/nonexistent-job-directory", variables: [:], untrusted: true)
        for (name, service) in project.services.sorted(by: { $0.key < $1.key }) {
            if let bind = service.volumes.first(where: { $0.kind == .bind }) {
                throw HardenError(
                    .invalidArgument,
                    "run job: compose service \(name): bind mount \(bind.target) refused (it would mount the worker's files)"
                )
            }
            if !service.envFiles.isEmpty {
                throw HardenError(
                    .invalidArgument,
                    "run job: compose service \(name): env_file refused (it would read the worker's files)")
            }
            if let image = service.image {
                try limits.checkImage(RunSettingsOptions.reference(image), what: "compose service \(name)'s image")
            }
        }
        guard (options.arguments ?? []).contains(where: { $0 == "--service" || $0.hasPrefix("--service=") }) else {
            throw HardenError(
                .invalidArgument, "run job: with a Compose file, name the service to harden (--service NAME)")
        }
    }

    func run(_ job: ClaimedJob, databasePath: String) async throws -> ImageResult {
        try Self.validate(job.options, limits: limits)
        try limits.checkImage(job.image, what: "the image")
        let scratch = try HostFS.makeTemporaryDirectory(prefix: "harden-job-\(job.id)-")
        defer { try? HostFS.removeTree(scratch) }
        var args = [job.image, "--db", databasePath, "--report-dir", scratch + "/report", "--quiet"]
        args += ["-o", job.options.pushTo ?? "oci:\(scratch)/hardened"]
        if let p = job.options.platform { args += ["--platform", p] }
        if let policy = job.options.policy {
            try HostFS.writeFileAtomically(scratch + "/policy.yaml", Array(policy.utf8))
            args += ["--policy", scratch + "/policy.yaml"]
        }
        if let compose = job.options.compose {
            try HostFS.writeFileAtomically(scratch + "/compose.yaml", Array(compose.utf8))
            args += ["--compose", scratch + "/compose.yaml"]
        }
        args += job.options.arguments ?? []
        var command = try Application.Run.parse(args)
        command.imageOptions.creds = imageOptions.creds
        command.imageOptions.credsFile = imageOptions.credsFile
        command.imageOptions.tlsVerify = imageOptions.tlsVerify
        command.imageOptions.hostScopedCredentialsOnly = imageOptions.hostScopedCredentialsOnly
        do {
            try await command.run()
        } catch let e as ExitCode where e.rawValue == 2 {
            // The run finished and its verdict is "failed" (probe, verification or policy): recorded, not an error.
        }
        let reportBytes = try HostFS.readFile(scratch + "/report/report.json", limit: 256 << 20)
        let record = try JSONDecoder().decode(RunRecord.self, from: Data(reportBytes))
        var failures = (record.policy?.violations ?? []).map(\.rule)
        if record.verdict != .passed && failures.isEmpty { failures = ["run"] }
        // The image's inventory and findings, as a scan job records them.
        var result = try await JobRunner(imageOptions: imageOptions, logger: logger, limits: limits).scan(
            job, databasePath: databasePath)
        result.report = Data(reportBytes)
        result.policyFailures = Array(Set(failures)).sorted()
        return result
    }
}

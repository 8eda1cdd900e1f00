// harden — a fleet `run` job: the whole pipeline (`harden run`) on a worker, its report stored with the image.
import ArgumentParser
import Foundation
import HardenCompose
import HardenCore
import HardenFleet
import HardenOCI
import HardenPackages
import HardenPipeline
import HardenPolicy
import HardenReport
import HardenSBOM
import HardenSign
import HardenSystem
import HardenVulnDB
import Logging

public struct RunJob: Sendable {
    let imageOptions: ImageOptions
    let logger: Logger
    var limits = JobLimits()
    /// The worker's signing key: the pushed image is signed and its evidence attached.
    var signingKey: SigningKey?
    var signScheme: AttachmentScheme = .both

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
        if let policy = options.policy, !(try Policy.parse(policy, source: "policy").vulnerabilities.vex.isEmpty) {
            throw HardenError(
                .invalidArgument,
                "run job: policy vulnerabilities.vex names files, and a job cannot read the worker's files")
        }
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

    /// Runs the pipeline on the job's image: the job's options are read by `harden run`'s own parser (after the
    /// allowlist check), the image is pulled once, and the report is kept as a value (report.json's bytes).
    func run(_ job: ClaimedJob, databasePath: String) async throws -> ImageResult {
        try Self.validate(job.options, limits: limits)
        try limits.checkImage(job.image, what: "the image")
        let scratch = try HostFS.makeTemporaryDirectory(prefix: "harden-job-\(job.id)-")
        defer { try? HostFS.removeTree(scratch) }
        // `-o` is required by the parser; where the image goes is the job's pushTo alone (nothing is written without).
        var args = [job.image, "-o", job.options.pushTo ?? "oci:\(scratch)/unused"]
        if let p = job.options.platform { args += ["--platform", p] }
        if let policy = job.options.policy {
            try HostFS.writeFileAtomically(scratch + "/policy.yaml", Array(policy.utf8))
            args += ["--policy", scratch + "/policy.yaml"]
        }
        if let compose = job.options.compose {
            try HostFS.writeFileAtomically(scratch + "/compose.yaml", Array(compose.utf8))
            args += ["--compose", scratch + "/compose.yaml"]
        }
        var command = try Application.Run.parse(args + (job.options.arguments ?? []))
        command.imageOptions.creds = imageOptions.creds
        command.imageOptions.credsFile = imageOptions.credsFile
        command.imageOptions.tlsVerify = imageOptions.tlsVerify
        command.imageOptions.hostScopedCredentialsOnly = imageOptions.hostScopedCredentialsOnly

        let reference = try ImageReference.parse(try command.settings.targetImage(given: command.image))
        let destination = try job.options.pushTo.map { try ImageReference.parseUntrusted($0) }
        let data = try VulnerabilityData(path: databasePath)
        var options = try await command.pipelineOptions(
            reference: reference, destination: destination ?? reference, data: data, logger: logger)
        var inputVerification: Evidence.InputVerification?
        if let inputs = options.policy?.inputs, !inputs.isEmpty {
            do {
                inputVerification = try await InputGate.check(
                    inputs, policyFile: nil, reference: reference,
                    transport: try command.imageOptions.transport(logger: logger), allowKeyFiles: false)
            } catch let failure as InputGate.Failure {
                throw HardenError(.invalidArgument, "run job: \(failure.message)")
            }
        }
        let image = try await command.imageOptions.open(reference, logger: logger)
        options.tag = command.imageOptions.tag(of: reference, image: image)
        let logger = self.logger
        var result = try await Pipeline(logger: logger, vulnerabilities: data) { event in
            if case .finished(let stage, let seconds, let status, _) = event {
                logger.debug(
                    "job stage", metadata: ["stage": "\(stage.rawValue)", "status": "\(status)", "s": "\(seconds)"])
            }
        }.run(image, reference: reference.description, options: options)
        // The hardened image goes where the job says, only when every gate holds.
        if let destination, let hardened = result.image, !result.gateFailed {
            var publish = PublishOptions(
                signingKey: signingKey, scheme: signScheme,
                invocation: Evidence.Invocation(
                    command: "run", arguments: SignOutputOptions.redacted(job.options.arguments ?? [])))
            publish.invocation.inputVerification = inputVerification
            _ = try await PublishStage.publish(
                hardened, result: &result, to: destination,
                transport: try command.imageOptions.transport(logger: logger),
                options: publish)
        }
        let reportBytes = try Pipeline.reportFiles(result).first { $0.name == "report.json" }?.bytes ?? []
        var failures = (result.record.policy?.violations ?? []).map(\.rule)
        if result.record.verdict != .passed && failures.isEmpty { failures = ["run"] }
        // The image's inventory and findings, as a scan job records them (the image already pulled).
        var scanned = try await JobRunner(imageOptions: imageOptions, logger: logger, limits: limits).scan(
            image, reference: reference.description, labels: job.options.labels ?? [:], databasePath: databasePath)
        scanned.report = Data(reportBytes)
        scanned.policyFailures = Array(Set(failures)).sorted()
        return scanned
    }
}

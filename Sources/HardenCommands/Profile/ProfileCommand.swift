// harden — `harden profile IMAGE [probes] -o PROFILE.json`, and the hidden ptrace sensor process.
import ArgumentParser
import HardenCore
import HardenOCI
import HardenPackages
import HardenPipeline
import HardenProfile
import HardenReport
import HardenRuntime
import HardenSBOM
import HardenSystem
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The probe options `profile`, `minify` and `run` share.
public struct ProbeOptions: ParsableArguments {
    @Option(
        name: .customLong("http-probe"),
        help: ArgumentHelp("An HTTP probe: [http|https:]PORT[:METHOD:PATH] (repeatable).", valueName: "PROBE"))
    public var httpProbes: [String] = []

    @Option(
        name: .customLong("exec-probe"),
        help: ArgumentHelp(
            "A command run inside the running container, like docker exec (repeatable).", valueName: "CMD"))
    public var execProbes: [String] = []

    @Option(
        name: .customLong("probe-script"),
        help: ArgumentHelp(
            "A script run on the host with HARDEN_TARGET_HOST and HARDEN_TARGET_PORTS set (repeatable).",
            valueName: "FILE"))
    public var probeScripts: [String] = []

    @Option(
        name: .long,
        help:
            "Keep the container running at least this many seconds (default: until the probes end, or 5 s without probes)."
    )
    public var duration: Double?

    @Option(name: .long, help: "Seconds to wait for a port to open, a command or a script to finish.")
    public var probeTimeout: Double = 60

    @Flag(name: .long, help: "Record failed probes but exit 0.")
    public var allowProbeFailure = false

    @Flag(
        name: .long,
        help:
            "Refuse to run without a probe (CI): start-up alone leaves lazily loaded code and unseen request paths out."
    )
    public var requireProbes = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "What the container may connect to: isolated (its own loopback only; probes still reach it), host (also the host, through its gateway address), open (no filter).",
            valueName: "MODE"))
    public var network: NetworkMode = .isolated

    @Option(
        name: .customLong("pids-limit"),
        help: ArgumentHelp("Processes and threads the container may have at once.", valueName: "N"))
    public var pidsLimit: Int64 = SandboxLimits().pids

    @Option(
        name: .long,
        help: ArgumentHelp("Memory the container may use: bytes or a size such as 512M, 4G.", valueName: "SIZE"))
    public var memory: String = "4G"

    public init() {}

    public func validate() throws {
        for p in httpProbes { _ = try HTTPProbe(parsing: p) }
        for s in probeScripts where !HostFS.isRegularFile(s) {
            throw ValidationError("--probe-script \(s): no such file")
        }
        if let duration, duration < 0 || duration > 86_400 {
            throw ValidationError("--duration must be between 0 and 86400 seconds")
        }
    }

    /// Nil when probes exercise the app; else the warning that only start-up is observed (an error with
    /// `--require-probes`).
    public func coverageWarning() throws -> String? {
        guard httpProbes.isEmpty && execProbes.isEmpty && probeScripts.isEmpty else { return nil }
        let seconds = duration.map { "\(Int($0.rounded())) s" } ?? "5 s"
        let text =
            "no probe: only start-up was observed (\(seconds)); code loaded lazily and request paths never taken are not in the profile — give --http-probe, --exec-probe or --probe-script"
        if requireProbes { throw HardenError(.invalidArgument, text + " (--require-probes)") }
        return text
    }

    public func runOptions(sensors: Set<Sensor>) throws -> RunOptions {
        var o = RunOptions()
        guard pidsLimit > 0 else { throw HardenError(.invalidArgument, "--pids-limit: must be a positive number") }
        o.limits = SandboxLimits(pids: pidsLimit, memoryBytes: try parseSize(memory, option: "--memory"))
        o.network = network
        o.httpProbes = try httpProbes.map(HTTPProbe.init(parsing:))
        o.execProbes = execProbes
        o.probeScripts = probeScripts
        o.duration = duration
        o.probeTimeout = probeTimeout
        o.sensors = sensors
        return o
    }
}

public enum SensorChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    case fanotify, ptrace, both, none
    public var sensors: Set<Sensor> {
        switch self {
        case .none: []
        case .fanotify: [.fanotify]
        case .ptrace: [.ptrace]
        case .both: [.fanotify, .ptrace]
        }
    }
}

extension Application {
    public struct Profile: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "profile",
            abstract: "Run an image under runc with file-access sensors while probes exercise it; write what it used.",
            discussion: """
                Needs root: the image is unpacked once (cached by image ID), run on an overlay with its own namespaces and \
                a private link to the host, watched by fanotify (every open/read/exec/write on its root filesystem) and \
                ptrace (path syscalls including failed probes, execs with argv, syscall counts). Everything the run \
                creates is removed at the end, on errors and on Ctrl-C. Exit 2 when a probe fails.
                """)

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var imageOptions: ImageOptions
        @OptionGroup public var probes: ProbeOptions
        @OptionGroup public var settings: RunSettingsOptions

        @Argument(help: "The image (with --compose: default, the service's image).")
        public var image: String?

        @Option(name: .long, help: "Sensors: fanotify, ptrace or both (none: only run the probes, as a baseline).")
        public var sensor: SensorChoice = .both

        @Option(
            name: .long,
            help: ArgumentHelp("Run the container under this seccomp profile (OCI/Docker JSON).", valueName: "FILE"))
        public var seccomp: String?

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Unite this earlier profile of the same image with the new run (repeatable).", valueName: "PROFILE.json"
            ))
        public var merge: [String] = []

        @Option(
            name: .customLong("import"),
            help: ArgumentHelp(
                "Do not run: build the profile from what an image made by `harden instrument` recorded — fragment files, directories of them, captured logs (docker logs, kubectl logs), or - for standard input (repeatable; runs merge). IMAGE is the original image.",
                valueName: "PATH"))
        public var imports: [String] = []

        @Option(
            name: .shortAndLong,
            help: "Write the profile (JSON) to this file; without it, the JSON goes to standard output.")
        public var output: String?

        public init() {}

        public func validate() throws {
            if !imports.isEmpty
                && !(probes.httpProbes.isEmpty && probes.execProbes.isEmpty && probes.probeScripts.isEmpty)
            {
                throw ValidationError(
                    "--import reads what an instrumented image recorded where it ran: probes do not apply")
            }
        }

        public func run() async throws {
            let logger = global.makeLogger()
            let reference = try ImageReference.parse(try settings.targetImage(given: image))
            let earlier = try merge.map { try ProfileFile.read($0) }
            let img = try await imageOptions.open(reference, logger: logger, progress: global.showProgress)
            for (path, p) in zip(merge, earlier) {
                try p.image.require(img.configDigest.description, reference: reference.description, file: path)
            }
            let progress = ProgressLine(enabled: global.showProgress)
            progress.update("profile: reading the image")
            let (sbom, context) = try SBOMBuilder(logger: logger).catalog(img, reference: reference.description)
            if !imports.isEmpty {
                progress.update("profile: reading fragments")
                let (fragments, skipped) = try InstrumentStage.readFragments(imports)
                var (profile, warnings) = try InstrumentStage.importProfile(
                    image: img, reference: reference.description, tree: context.tree, packages: sbom.packages,
                    fragments: fragments)
                progress.finish()
                if !earlier.isEmpty { profile = try RuntimeProfile.merge([profile] + earlier, packages: sbom.packages) }
                if !global.quiet { for w in skipped + warnings { writeStandardError("harden: warning: \(w)\n") } }
                try Output.emit(
                    String(decoding: try JSONCoding.encode(profile, pretty: true), as: UTF8.self), to: output)
                if output != nil && !global.quiet {
                    print("imported \(profile.runs.count) instrumented run(s)\n" + ProfileFile.summary(profile))
                }
                return
            }
            progress.update("profile: running \(reference.description)")
            var options = try probes.runOptions(sensors: sensor.sensors)
            if let w = try probes.coverageWarning(), !global.quiet { writeStandardError("harden: warning: \(w)\n") }
            for w in try await settings.apply(
                to: &options, imageOptions: imageOptions, target: reference, logger: logger)
            {
                writeStandardError("harden: warning: \(w)\n")
            }
            if let seccomp {
                options.seccomp = try JSONCoding.decode(
                    try HostFS.readFile(seccomp), source: seccomp, what: "seccomp profile")
            }
            var profile = try await ProfileStage.run(
                img, reference: reference.description, sbom: sbom, context: context, options: options, logger: logger)
            progress.finish()
            if !earlier.isEmpty { profile = try RuntimeProfile.merge([profile] + earlier, packages: sbom.packages) }
            try Output.emit(String(decoding: try JSONCoding.encode(profile, pretty: true), as: UTF8.self), to: output)
            if output != nil && !global.quiet { print(ProfileFile.summary(profile)) }
            let failed = profile.runs.last?.probes.filter { !$0.ok } ?? []
            if !failed.isEmpty {
                for f in failed {
                    writeStandardError("harden: probe \(f.kind) \(f.spec) failed: \(f.error ?? "no detail")\n")
                }
                if !probes.allowProbeFailure { throw ExitCode(2) }
            }
        }
    }

    /// The ptrace sensor, run by `profile` in its own process. Not for direct use.
    public struct InternalTrace: ParsableCommand {
        public static let configuration = CommandConfiguration(commandName: "internal-trace", shouldDisplay: false)

        @Option public var attach: Int32?
        @Flag public var spawn = false
        @Option public var mountNamespace: UInt64?
        @Option public var stripPrefix: String?
        @Option public var out: String
        @Argument(parsing: .postTerminator) public var command: [String] = []

        public init() {}

        public func run() throws {
            let target: TracerProcess.Target
            if let attach {
                target = .attach(pid: attach)
            } else if spawn, !command.isEmpty {
                target = .spawn(command: command, mountNamespace: mountNamespace)
            } else {
                throw ValidationError("give --attach PID or --spawn -- COMMAND")
            }
            try TracerProcess.run(target, stripPrefix: stripPrefix, out: out)
        }
    }
}

/// Reading and summarising profile files.
public enum ProfileFile {
    /// The largest profile read (a real one with 100,000 files is ~30 MB; decoding takes ~6× its size in memory).
    public static let sizeLimit = 64 << 20

    public static func read(_ path: String) throws -> RuntimeProfile { try readWithBytes(path).profile }

    /// The profile and the bytes it was decoded from (a signed minify records their digest).
    public static func readWithBytes(_ path: String) throws -> (profile: RuntimeProfile, bytes: [UInt8]) {
        let bytes = try HostFS.readFile(path, limit: sizeLimit)
        return (try JSONCoding.decode(bytes, source: path, what: "runtime profile"), bytes)
    }

    static func summary(_ p: RuntimeProfile) -> String {
        var t = TextTable(rows: [["PROBE", "RESULT", "STATUS", "MS"]])
        for r in p.runs.last?.probes ?? [] {
            t.rows.append([
                "\(r.kind) \(r.spec)", r.ok ? "ok" : "FAILED", r.status.map(String.init) ?? "-",
                r.latencyMs.map { String(Int($0)) } ?? "-",
            ])
        }
        var seen = Set<String>()
        let ports = p.ports.map { "\($0.protocolName)/\($0.port)" }.filter { seen.insert($0).inserted }.joined(
            separator: " ")
        return t.render() + """

            files used: \(p.summary.files) (\(p.summary.missingFiles) looked for but missing), executables: \(p.summary.executables), \
            listening: \(ports.isEmpty ? "none" : ports)
            packages used: \(p.summary.packagesUsed) of \(p.summary.packagesUsed + p.summary.packagesUnused)
            """
    }
}

extension NetworkMode: ExpressibleByArgument {}

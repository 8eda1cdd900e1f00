// harden — the root command.
import ArgumentParser
import CHardenSystem
import HardenArchive
import HardenCore
import HardenPackages
import HardenProfile
import HardenSBOM
import HardenVulnDB
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

public struct Application: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "harden",
        abstract: "Scan and harden container images without a Docker engine.",
        discussion: """
            Images: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REPO:TAG], dir:ROOTFS, \
            docker://[HOST/]REPO[:TAG|@DIGEST], a bare path (an OCI layout directory or an image archive, recognised by \
            content) or a bare image name as Docker users type it (nginx:1.27 is docker://docker.io/library/nginx:1.27; \
            an existing path wins over a name).
            Exit codes: 0 success, 1 error, 2 gate failed.
            """,
        version: HardenVersion.description,
        subcommands: [
            ImageInspect.self, ImageConvert.self, SBOMGenerate.self, ScanRun.self, DB.self, Profile.self, Minify.self,
            Patch.self,
            Check.self, Run.self, Sign.self, Attest.self, Verify.self, Instrument.self, Serve.self, Worker.self,
            Fleet.self,
            InternalTrace.self,
        ]
    )

    public init() {}

    /// Parses the arguments, runs the command, and turns errors into a one-line message and an exit code.
    public static func run(arguments: [String]? = nil) async -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
            return 0
        } catch let error as HardenError {
            writeStandardError("harden: \(error.message)\n")
            return 1
        } catch let error as ExitCode {
            return error.rawValue
        } catch {
            let code = exitCode(for: error).rawValue
            if code == ExitCode.failure.rawValue {
                // Not a usage error: an error from a library that is not a HardenError still gets one line.
                let text = "\(error)".textLines().first.map(String.init) ?? "\(type(of: error))"
                writeStandardError("harden: \(text)\n")
                return code
            }
            let message = fullMessage(for: error)
            guard !message.isEmpty else { return code }
            let text = message + (message.hasSuffix("\n") ? "" : "\n")
            // Help, --version and completion scripts are output (standard output); usage errors go to standard error.
            if code == ExitCode.success.rawValue { print(text, terminator: "") } else { writeStandardError(text) }
            return code
        }
    }
}

extension Application {
    /// Runs `harden internal-trace …` synchronously on the calling (main) thread; nil for any other command.
    public static func runSensor(_ arguments: [String]) -> Int32? {
        guard arguments.count > 1, arguments[1] == InternalTrace.configuration.commandName else { return nil }
        do {
            let command = try InternalTrace.parse(Array(arguments.dropFirst(2)))
            try command.run()
            return 0
        } catch let error as HardenError {
            writeStandardError("harden: \(error.message)\n")
            return 1
        } catch {
            writeStandardError(InternalTrace.fullMessage(for: error) + "\n")
            return InternalTrace.exitCode(for: error).rawValue
        }
    }
}

public enum HardenVersion {
    public static let current = hardenToolVersion
    /// The commit the binary was built from (stamped by scripts/stamp-version.sh), nil in a development build.
    public static var commit: String? {
        let c = String(cString: harden_build_commit())
        return c.isEmpty || c == "unknown" ? nil : c
    }
    /// `harden --version`: the version, the commit, the vulnerability database schema it reads.
    public static var description: String {
        """
        harden \(current)
        commit: \(commit ?? "unknown (a development build; scripts/package.sh and scripts/setup.sh record it)")
        vulnerability database schema: \(VulnerabilityDatabase.schemaVersion)
        sensor fragment format: \(SensorFragment.formatName) 1
        inflate: \(InflateBackend.description)
        """
    }
}

/// Options every command takes.
public struct GlobalOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Print only results and errors.")
    public var quiet = false

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    public var logLevel: String = "warning"

    @Flag(name: .long, help: "Never draw progress bars (they are drawn only on a terminal anyway).")
    public var noProgress = false

    @Option(
        name: .long,
        help:
            "Threads for CPU-bound work: layers scanned at once, each layer's decompression ahead of its parsing (default: the number of cores; 1: everything on one thread)."
    )
    public var jobs: Int?

    public init() {}

    public func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of: trace, debug, info, notice, warning, error, critical")
        }
        if let jobs, jobs < 1 || jobs > 256 { throw ValidationError("--jobs must be between 1 and 256") }
    }

    /// Bootstraps logging to standard error at the chosen level and applies `--jobs` to the process; returns the
    /// command's logger.
    public func makeLogger() -> Logger {
        if let jobs { Parallelism.configure(jobs: jobs) }
        let level = quiet ? Logger.Level.error : (Logger.Level(rawValue: logLevel) ?? .warning)
        LoggingBootstrap.once(level: level)
        var logger = Logger(label: "harden")
        logger.logLevel = level
        return logger
    }

    /// Whether progress may be drawn: a terminal on stderr, not quiet, not disabled.
    public var showProgress: Bool { !quiet && !noProgress && isatty(2) == 1 }
}

enum LoggingBootstrap {
    private static let done = Mutex(false)
    static func once(level: Logger.Level) {
        done.withLock { bootstrapped in
            guard !bootstrapped else { return }
            bootstrapped = true
            LoggingSystem.bootstrap { label in StderrLogHandler(label: label, level: level) }
        }
    }
}

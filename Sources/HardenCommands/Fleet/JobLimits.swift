// harden — what a worker lets a job ask for: which images (registry only, or local paths under allowed
// directories), whether its container may reach a network, and caps on its run's duration, memory and processes.
import Foundation
import HardenCore
import HardenOCI
import HardenPackages
import HardenProfile
import HardenReport
import HardenSystem

#if canImport(Glibc)
import Glibc
#endif

public struct JobLimits: Sendable {
    /// Directories under which jobs may name local images (`--allow-local-images DIR`); none: registry images only.
    public var localRoots: [String] = []
    /// `--network host|open` in run jobs (`--allow-job-network`).
    public var allowNetwork = false
    /// The longest `--duration` / `--probe-timeout` a run job may ask for, in seconds.
    public var maxDuration: Double = 600
    public var maxMemory: Int64 = 4 << 30
    public var maxPids: Int64 = 4096
    /// A job's overall deadline.
    public var deadline: Duration = .seconds(1800)
    /// Whether local paths are checked on this machine's files (a worker), or only lexically (the submitter's CLI).
    public var inspectsFiles = true

    public init(
        localRoots: [String] = [], allowNetwork: Bool = false, maxDuration: Double = 600, maxMemory: Int64 = 4 << 30,
        maxPids: Int64 = 4096, deadline: Duration = .seconds(1800), inspectsFiles: Bool = true
    ) {
        self.localRoots = localRoots
        self.allowNetwork = allowNetwork
        self.maxDuration = maxDuration
        self.maxMemory = maxMemory
        self.maxPids = maxPids
        self.deadline = deadline
        self.inspectsFiles = inspectsFiles
    }

    /// What `harden fleet submit` checks before sending: the rules every worker applies, whatever it allows besides.
    public static let submitter = JobLimits(
        localRoots: ["/"], allowNetwork: true, maxDuration: .greatestFiniteMagnitude, maxMemory: .max, maxPids: .max,
        inspectsFiles: false)

    /// One option of a run job, with its value.
    public func check(option: String, value: String) throws {
        switch option {
        case "--env":
            guard let eq = value.firstIndex(of: "="), eq != value.startIndex else {
                throw HardenError(
                    .invalidArgument,
                    "run job: --env \(value.prefix(80)) has no value; a job's variables come from the job (NAME=VALUE), never from the worker"
                )
            }
        case "--network":
            guard let mode = NetworkMode(rawValue: value) else {
                throw HardenError(
                    .invalidArgument, "run job: --network \(value.prefix(40)) is not isolated, host or open")
            }
            guard mode == .isolated || allowNetwork else {
                throw HardenError(
                    .invalidArgument,
                    "run job: --network \(value) refused: this worker runs jobs isolated (--allow-job-network)")
            }
        case "--duration", "--probe-timeout":
            guard let seconds = Double(value), seconds >= 0, seconds <= maxDuration else {
                throw HardenError(
                    .invalidArgument,
                    "run job: \(option) \(value.prefix(40)): at most \(Int(maxDuration)) s on this worker")
            }
        case "--memory":
            guard let bytes = try? parseSize(value, option: option), bytes > 0, bytes <= maxMemory else {
                throw HardenError(
                    .invalidArgument,
                    "run job: --memory \(value.prefix(40)): at most \(formatBytes(maxMemory)) on this worker")
            }
        case "--pids-limit":
            guard let n = Int64(value), n > 0, n <= maxPids else {
                throw HardenError(
                    .invalidArgument, "run job: --pids-limit \(value.prefix(40)): at most \(maxPids) on this worker")
            }
        default:
            break
        }
    }

    /// A job's image: parsed from its text alone (a bare path is never probed). A local path must be absolute,
    /// lexically under an allowed directory, still under it once its links are resolved, and a regular file
    /// (archives) or a directory (layouts, root file systems): never a FIFO or a device, which would block or read
    /// forever.
    public func checkImage(_ text: String, what: String) throws {
        let ref = try ImageReference.parseUntrusted(text)
        guard let path = ref.path else { return }
        guard !localRoots.isEmpty else {
            throw HardenError(
                .invalidArgument,
                "\(what) \(text.prefix(200)) is a path on the worker; this worker takes registry images only (--allow-local-images DIR)"
            )
        }
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard path.hasPrefix("/"), !components.contains(where: { $0 == ".." || $0 == "." || $0.isEmpty }) || path == "/"
        else {
            throw HardenError(
                .invalidArgument, "\(what) \(text.prefix(200)): a local path must be absolute and normalized")
        }
        guard let root = localRoots.first(where: { $0 == "/" || path == $0 || path.hasPrefix($0 + "/") }) else {
            throw HardenError(
                .invalidArgument,
                "\(what) \(text.prefix(200)) is outside the directories this worker allows (\(localRoots.joined(separator: ", ")))"
            )
        }
        guard inspectsFiles else { return }
        guard let real = HostFS.realPath(path), let realRoot = HostFS.realPath(root),
            realRoot == "/" || real == realRoot || real.hasPrefix(realRoot + "/")
        else {
            throw HardenError(.invalidArgument, "\(what) \(text.prefix(200)): not found under \(root)")
        }
        var st = stat()
        guard lstat(real, &st) == 0 else { throw HardenError(.notFound, "\(what) \(text.prefix(200)): not found") }
        let type = st.st_mode & S_IFMT
        let wantsDirectory: Bool
        switch ref {
        case .ociArchive, .dockerArchive: wantsDirectory = false
        default: wantsDirectory = true
        }
        guard type == (wantsDirectory ? S_IFDIR : S_IFREG) else {
            throw HardenError(
                .invalidArgument,
                "\(what) \(text.prefix(200)): not a \(wantsDirectory ? "directory" : "regular file") (refused)")
        }
    }
}

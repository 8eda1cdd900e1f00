// harden — what the in-image sensor (`harden instrument`, Sensor/sensor.c) hands back: fragments, written as files
// into its output directory or to its standard error between marker lines. Reading them is pure (bytes in,
// fragments out), so captured logs of any origin can be fuzzed.
import HardenCore
import HardenOCI
import HardenPackages

/// Errno names for the numbers sensors report.
public enum Errno {
    public static func name(_ e: Int32) -> String {
        let names: [Int32: String] = [
            1: "EPERM", 2: "ENOENT", 5: "EIO", 6: "ENXIO", 9: "EBADF", 11: "EAGAIN", 13: "EACCES", 17: "EEXIST",
            18: "EXDEV",
            20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL", 30: "EROFS", 36: "ENAMETOOLONG", 38: "ENOSYS", 39: "ENOTEMPTY",
            40: "ELOOP", 61: "ENODATA", 95: "EOPNOTSUPP",
        ]
        return names[e] ?? "E\(e)"
    }
}

/// One fragment: everything one instrumented container recorded up to a flush (each flush repeats the whole).
public struct SensorFragment: Codable, Sendable, Equatable {
    public struct PathRecord: Codable, Sendable, Equatable {
        public var path: String
        public var operations: [String: Int]
        /// errno number (as text) → count.
        public var failures: [String: Int]
        public var process: String?
    }
    public struct ExecRecord: Codable, Sendable, Equatable {
        public var path: String
        public var argv: [String]
        public var count: Int
        public var uid: UInt32
        public var gid: UInt32
        /// The executable has the setuid or setgid bit.
        public var setid: Bool
    }
    public var format: String
    public var version: Int
    /// The run: the host name, the start time and a random suffix (several pods, restarts: several runs).
    public var run: String
    public var host: String
    /// The image ID of the original image, when `harden instrument` told the sensor.
    public var image: String?
    /// Where the sensor writes fragments (a volume: the app's files there are not image content).
    public var outputDirectory: String?
    public var startedAt: String
    public var flushedAt: String
    public var durationSeconds: Double
    public var sequence: Int
    /// Written when the app ended (false: a periodic flush, e.g. the last one before a SIGKILL).
    public var final: Bool
    /// `seccomp` (traced) or `untraced` (ptrace or the filter refused: nothing was recorded).
    public var mode: String
    public var command: [String]
    public var uid: UInt32
    public var gid: UInt32
    public var exitCode: Int32?
    public var exitSignal: Int32?
    public var processes: Int
    /// Path arguments the sensor could not read (a process of another user that is not dumpable).
    public var unreadableArguments: Int
    public var warnings: [String]
    public var paths: [PathRecord]
    public var executions: [ExecRecord]
    /// x86-64 syscall number (as text) → times it stopped the sensor.
    public var syscalls: [String: Int]
    /// Syscall numbers the filter let through without a stop: possibly used, never observed.
    public var untraced: [Int]
    public var uids: [UInt32]
    public var gids: [UInt32]
    public var ports: [RuntimeProfile.Port]

    public static let formatName = "harden-sensor-fragment"
}

/// Reading fragments from files (one JSON fragment each) and from captured output (`docker logs`, `kubectl logs`,
/// with or without prefixes such as timestamps or pod names).
public enum SensorFragments {
    static let marker = Array("harden-sensor: ".utf8)
    static let begin = Array("BEGIN FRAGMENT ".utf8)
    static let data = Array("D ".utf8)
    static let end = Array("END FRAGMENT ".utf8)

    /// The fragments in `bytes`; `source` names the file in errors. A file holding one JSON object is a fragment;
    /// anything else is read as captured output. Broken fragments in output are skipped (reported in `skipped`) when
    /// a complete one of the same run exists; a file with nothing usable is an error.
    public static func parse(
        _ bytes: [UInt8], source: String
    ) throws -> (fragments: [SensorFragment], skipped: [String]) {
        let first = bytes.first { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
        if first == UInt8(ascii: "{") {
            let f = try decode(bytes, source: source)
            return ([f], [])
        }
        var open: [String: (sequence: Int, text: [UInt8])] = [:]
        var fragments: [SensorFragment] = []
        var skipped: [String] = []
        var lineNumber = 0
        for raw in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Array(raw)
            if line.last == 0x0D { line.removeLast() }
            // Anything before the marker (timestamps, pod names) is ignored; lines without it are the app's.
            guard let m = find(marker, in: line) else { continue }
            let after = line[(m + marker.count)...]
            if after.starts(with: begin) {
                let f = words(after.dropFirst(begin.count))
                guard f.count >= 2, let seq = Int(f[1]) else {
                    skipped.append("\(source):\(lineNumber): a malformed BEGIN line")
                    continue
                }
                open[f[0]] = (seq, [])
            } else if after.starts(with: data) {
                // "D RUN SEQ CHUNK": the chunk is everything after the third space.
                let rest = after.dropFirst(data.count)
                guard let s1 = rest.firstIndex(of: 0x20), let s2 = rest[(s1 + 1)...].firstIndex(of: 0x20) else {
                    continue
                }
                let run = String(decoding: rest[..<s1], as: UTF8.self)
                guard let seq = Int(String(decoding: rest[(s1 + 1)..<s2], as: UTF8.self)), open[run]?.sequence == seq
                else { continue }
                open[run]?.text += rest[(s2 + 1)...]
                if open[run]!.text.count > ProfileLimits.fragmentBytes {
                    skipped.append(
                        "\(source):\(lineNumber): fragment of run \(run) larger than \(ProfileLimits.fragmentBytes) bytes"
                    )
                    open[run] = nil
                }
            } else if after.starts(with: end) {
                let f = words(after.dropFirst(end.count))
                guard f.count >= 3, let seq = Int(f[1]), let size = Int(f[2]), let o = open[f[0]], o.sequence == seq
                else { continue }
                open[f[0]] = nil
                guard o.text.count == size else {
                    skipped.append(
                        "\(source):\(lineNumber): fragment \(seq) of run \(f[0]) is incomplete (\(o.text.count) of \(size) bytes)"
                    )
                    continue
                }
                do { fragments.append(try decode(o.text, source: "\(source):\(lineNumber)")) } catch {
                    skipped.append("\((error as? HardenError)?.message ?? "\(source):\(lineNumber): \(error)")")
                }
            }
        }
        for (run, o) in open {
            skipped.append("\(source): fragment \(o.sequence) of run \(run) has no END line (output cut short)")
        }
        guard !fragments.isEmpty else {
            throw HardenError(
                .invalidArgument,
                "\(source): no complete harden-sensor fragment" + (skipped.isEmpty ? "" : " (\(skipped[0]))"))
        }
        return (fragments, skipped)
    }

    static func decode(_ bytes: [UInt8], source: String) throws -> SensorFragment {
        let f: SensorFragment = try JSONCoding.decode(bytes, source: source, what: "sensor fragment")
        guard f.format == SensorFragment.formatName else {
            throw HardenError(.invalidArgument, "\(source): not a harden-sensor fragment (format \"\(f.format)\")")
        }
        guard f.version == 1 else {
            throw HardenError(.unsupported, "\(source): sensor fragment version \(f.version) (this harden reads 1)")
        }
        return f
    }

    /// The latest fragment of each run (the highest sequence; a final one wins a tie).
    public static func latest(_ fragments: [SensorFragment]) -> [SensorFragment] {
        var best: [String: SensorFragment] = [:]
        for f in fragments {
            if let b = best[f.run], (b.sequence, b.final ? 1 : 0) >= (f.sequence, f.final ? 1 : 0) { continue }
            best[f.run] = f
        }
        return best.values.sorted { ($0.startedAt, $0.run) < ($1.startedAt, $1.run) }
    }

    private static func find(_ n: [UInt8], in line: [UInt8]) -> Int? {
        guard line.count >= n.count else { return nil }
        var i = 0
        while i + n.count <= line.count {
            if line[i] == n[0] && line[i..<(i + n.count)].elementsEqual(n) { return i }
            i += 1
        }
        return nil
    }

    private static func words(_ s: ArraySlice<UInt8>) -> [String] {
        s.split(separator: 0x20).map { String(decoding: $0, as: UTF8.self) }
    }
}

public enum ProfileLimits {
    /// The largest fragment read (a busy app's is a few MB).
    public static let fragmentBytes = 256 << 20
}

extension SensorFragment {
    /// Paths that are the sensor's own, never the app's.
    public static let sensorDirectory = "/.harden"

    /// What this run observed, as the runc sensors report it (so the profile is built the same way).
    /// `outputDirectory` is the sensor's volume: what the app finds there is not image content.
    public func observation() -> RunObservation {
        var t = TraceReport()
        t.paths =
            paths
            .filter { $0.path != Self.sensorDirectory && !$0.path.hasPrefix(Self.sensorDirectory + "/") }
            .map { p in
                var failures: [String: Int] = [:]
                for (k, v) in p.failures { failures[Int32(k).map(Errno.name) ?? k, default: 0] += v }
                return TraceReport.PathActivity(
                    path: p.path, operations: p.operations, failures: failures, firstProcess: p.process)
            }
            .sorted { $0.path < $1.path }
        for e in executions where !e.path.hasPrefix(Self.sensorDirectory + "/") {
            let x = TraceReport.Execution(path: e.path, argv: e.argv, uid: e.uid, gid: e.gid)
            t.executions += Array(repeating: x, count: min(max(e.count, 1), 1000))
        }
        for (k, v) in syscalls { t.syscalls[Int(k).map(Self.syscallName) ?? k, default: 0] += v }
        for n in untraced { t.syscalls[Self.syscallName(n), default: 0] += 0 }
        t.uids = uids
        t.gids = gids
        t.processes = processes
        t.exitCode = exitCode
        var run = RuntimeProfile.Run(
            startedAt: startedAt, durationSeconds: durationSeconds, sensors: ["instrumented"], command: command,
            user: "\(uid):\(gid)",
            probes: [], exitCode: exitCode, fanotifyEvents: nil, tracedProcesses: processes)
        run.instrumentation = RuntimeProfile.Instrumentation(
            run: self.run, host: host, mode: mode, sequence: sequence, final: final,
            unreadableArguments: unreadableArguments, warnings: warnings,
            setidExecutables: Set(executions.filter(\.setid).map(\.path)).sorted())
        var o = RunObservation(run: run, fanotify: nil, traces: mode == "untraced" ? [] : [t], ports: ports, log: "")
        if let outputDirectory { o.mountPoints = [outputDirectory] }
        return o
    }

    static func syscallName(_ n: Int) -> String {
        n >= 0 && n < SyscallTable.x86_64.count ? SyscallTable.x86_64[n] ?? "syscall_\(n)" : "syscall_\(n)"
    }
}

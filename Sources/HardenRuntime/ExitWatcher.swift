// harden — the container's exit, watched; stop signals read from a process's status.
import CHardenSystem
import Dispatch
import HardenCore
import HardenOCI
import HardenProfile
import HardenSystem
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Collects the exit status of the container's init (our child once `runc create` exits, thanks to the
/// subreaper flag); falls back to /proc when it is not our child.
final class ExitWatcher: Sendable {
    let pid: Int32
    private let finished = Mutex<ExitStatus?>(nil)
    init(pid: Int32) { self.pid = pid }

    func status() -> ExitStatus? {
        finished.withLock { f in
            if let f { return f }
            var st: Int32 = 0
            let r = waitpid(pid, &st, WNOHANG)
            if r == pid {
                f = ExitStatus(waitStatus: st)
                return f
            }
            if r < 0 && errno == ECHILD {
                // Not our child: alive while /proc/PID exists and is not a zombie.
                guard let b = try? HostFS.readFile("/proc/\(pid)/stat", limit: 4096) else {
                    f = .exited(-1)
                    return f
                }
                let s = String(decoding: b, as: UTF8.self)
                if let close = s.lastIndex(of: ")"), s[s.index(close, offsetBy: 2)...].hasPrefix("Z") {
                    f = .exited(-1)
                    return f
                }
            }
            return nil
        }
    }
}

/// The stop signal and the container's init. The kernel delivers a signal sent from outside a PID namespace to
/// that namespace's init only when init has a handler for it (SIGKILL aside): a Python or shell PID 1 without one
/// would ignore TERM, and waiting for it to stop would only add the timeout to every run.
public enum StopSignal {
    static let numbers: [String: Int] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8, "KILL": 9, "USR1": 10,
        "SEGV": 11,
        "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20,
        "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29,
        "PWR": 30, "SYS": 31,
    ]

    /// `TERM`, `SIGTERM`, `sigterm` or `15` → 15; nil for anything else (real-time signals included).
    public static func number(_ name: String) -> Int? {
        if let n = Int(name) { return (1...64).contains(n) ? n : nil }
        var upper = name.uppercased()
        if upper.hasPrefix("SIG") { upper.removeFirst(3) }
        return numbers[upper]
    }

    /// Whether the `SigCgt:` mask of a `/proc/PID/status` text has a handler for `signal`; nil when it cannot tell.
    public static func isCaught(_ signal: String, status: String) -> Bool? {
        guard let n = number(signal) else { return nil }
        guard let line = status.textLines().first(where: { $0.hasPrefix("SigCgt:") }),
            let mask = UInt64(line.dropFirst(7).trimming(" \t"), radix: 16)
        else { return nil }
        return mask & (1 << UInt64(n - 1)) != 0
    }

    /// Whether process `pid` has a handler for `signal` now; true when it cannot tell (then the caller waits as usual).
    public static func isCaught(_ signal: String, pid: Int32) -> Bool {
        guard let bytes = try? HostFS.readFile("/proc/\(pid)/status", limit: 1 << 16) else { return true }
        return isCaught(signal, status: String(decoding: bytes, as: UTF8.self)) ?? true
    }
}

// harden — undo actions for everything a container run creates (mounts, namespaces, containers, files),
// run in reverse order on success, on error, and on SIGINT/SIGTERM.
import Dispatch
import HardenCore
import HardenSystem
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A stack of undo actions. Each runs at most once.
public final class CleanupStack: Sendable {
    private let actions = Mutex<[(id: Int, name: String, action: @Sendable () -> Void)]>([])
    private let nextID = Atomic<Int>(0)
    private let running = Mutex<Void>(())

    public init() {}

    /// Registers an action; returns a token to run it early with `run(_:)`.
    @discardableResult
    public func push(_ name: String, _ action: @escaping @Sendable () -> Void) -> Int {
        let id = nextID.add(1, ordering: .relaxed).newValue
        actions.withLock { $0.append((id, name, action)) }
        return id
    }

    /// Runs one action now (and forgets it).
    public func run(_ id: Int) {
        let a = actions.withLock { list -> (@Sendable () -> Void)? in
            guard let i = list.firstIndex(where: { $0.id == id }) else { return nil }
            return list.remove(at: i).action
        }
        a?()
    }

    /// Runs every action, newest first. One caller at a time: when a signal arrives while the normal path is
    /// cleaning up, the signal handler waits for it (and finds nothing left), and the other way round.
    public func runAll() {
        running.withLock { _ in
            while let a = actions.withLock({ $0.popLast() }) { a.action() }
        }
    }

    public var isEmpty: Bool { actions.withLock { $0.isEmpty } }
}

/// Turns SIGINT and SIGTERM into "clean up, then die of the same signal" while installed (the shell sees 130/143,
/// as for any program the signal ends; the library never calls `exit`).
/// @unchecked: the dispatch sources are set in `init` and only cancelled afterwards (cancel is thread-safe); the
/// rest of the state is atomic.
public final class SignalCleanup: @unchecked Sendable {
    private var sources: [any DispatchSourceSignal] = []
    private let received = Atomic<Int32>(0)

    public init(_ stack: CleanupStack, onSignal: (@Sendable (Int32) -> Void)? = nil) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                self.received.store(sig, ordering: .sequentiallyConsistent)
                onSignal?(sig)
                stack.runAll()
                writeStandardError("harden: interrupted; everything the run created was removed\n")
                signal(sig, SIG_DFL)
                kill(getpid(), sig)
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Restores the default dispositions. When a signal already arrived, the handler owns the ending (the
    /// signal, re-raised): the calling thread waits for it rather than racing it with its own exit status.
    public func remove() {
        if received.load(ordering: .sequentiallyConsistent) != 0 {
            while true { pause() }
        }
        for s in sources { s.cancel() }
        sources = []
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

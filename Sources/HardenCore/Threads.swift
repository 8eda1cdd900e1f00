// harden — the few threading primitives the synchronous byte pipeline needs: how many threads to use, a lock
// with a condition, a joinable thread, and a bounded parallel loop over independent items (an image's layers).
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How many threads harden's CPU-bound stages use at once: `--jobs N` when given, else the number of online cores.
public enum Parallelism {
    private static let configured = Atomic<Int>(0)

    /// The number of threads to use (at least 1).
    public static var jobs: Int {
        let v = configured.load(ordering: .relaxed)
        return v > 0 ? v : cores
    }

    /// Sets `jobs` for the rest of the process (`--jobs N`); 0 goes back to the number of cores.
    public static func configure(jobs: Int) { configured.store(max(0, jobs), ordering: .relaxed) }

    /// Online cores.
    public static var cores: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}

/// A mutex with one condition variable (pthread), for producer/consumer hand-offs between threads.
public final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` holding the lock.
    public func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits (holding the lock, inside `withLock`) until `ready()` is true.
    public func wait(until ready: () -> Bool) {
        while !ready() { pthread_cond_wait(condition, mutex) }
    }

    /// Wakes every waiter (call inside `withLock` after changing the state they wait on).
    public func broadcast() { pthread_cond_broadcast(condition) }
}

/// A thread running `body` once; `join` waits for it.
public final class JoinableThread: @unchecked Sendable {
    private var handle = pthread_t()
    private var joined = false

    public init(_ body: @escaping @Sendable () -> Void) throws {
        let box = Unmanaged.passRetained(ThreadBody(body))
        #if canImport(Darwin)
        var h: pthread_t?
        #else
        var h = pthread_t()
        #endif
        let r = pthread_create(
            &h, nil,
            { arg in
                #if canImport(Darwin)
                let body = Unmanaged<ThreadBody>.fromOpaque(arg).takeRetainedValue()
                #else
                let body = Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue()
                #endif
                body.run()
                return nil
            }, box.toOpaque())
        guard r == 0 else {
            box.release()
            throw HardenError(.internalError, "cannot start a thread (\(String(cString: strerror(r))))")
        }
        #if canImport(Darwin)
        handle = h!
        #else
        handle = h
        #endif
    }

    /// Waits for the thread to end (once; later calls return at once).
    public func join() {
        guard !joined else { return }
        joined = true
        pthread_join(handle, nil)
    }

    deinit { join() }
}

private final class ThreadBody: @unchecked Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

/// Runs independent items on a few threads.
public enum ParallelLoop {
    /// Calls `body(i)` for every `i` in `0..<count`, at most `jobs` at a time (the calling thread is one of them).
    /// Items are taken in order; after the first error no new item starts, and that error is rethrown once the
    /// running ones end. `body` must be safe to call from several threads at once: it is run unsynchronised.
    public static func run(count: Int, jobs: Int, _ body: (Int) throws -> Void) throws {
        let workers = min(max(1, jobs), count)
        guard workers > 1 else {
            for i in 0..<count { try body(i) }
            return
        }
        try withoutActuallyEscaping(body) { body in
            let shared = LoopState(count: count, body: body)
            var threads: [JoinableThread] = []
            defer { for t in threads { t.join() } }
            for _ in 1..<workers {
                do {
                    threads.append(try JoinableThread { shared.work() })
                } catch {
                    break  // fewer threads: the loop still finishes on those that started
                }
            }
            shared.work()
            for t in threads { t.join() }
            if let error = shared.firstError { throw error }
        }
    }
}

/// One result slot per item of a parallel loop, filled from its threads.
public final class ParallelResults<T>: @unchecked Sendable {
    private let lock = ConditionLock()
    private var slots: [T?]

    public init(count: Int) { slots = Array(repeating: nil, count: count) }

    /// Stores item `i`'s result, then runs `then` (a progress callback) under the same lock: callbacks never overlap.
    public func set(_ i: Int, _ value: T, then: () -> Void = {}) {
        lock.withLock {
            slots[i] = value
            then()
        }
    }

    /// Every slot in item order (nil where no result was stored).
    public var values: [T?] { lock.withLock { slots } }
}

/// The next item to take and the first error, shared by a loop's threads.
private final class LoopState: @unchecked Sendable {
    private let lock = ConditionLock()
    private let count: Int
    private let body: (Int) throws -> Void
    private var next = 0
    private(set) var firstError: (any Error)?

    init(count: Int, body: @escaping (Int) throws -> Void) {
        self.count = count
        self.body = body
    }

    func work() {
        while let i = take() {
            do { try body(i) } catch { lock.withLock { if firstError == nil { firstError = error } } }
        }
    }

    private func take() -> Int? {
        lock.withLock {
            guard firstError == nil, next < count else { return nil }
            next += 1
            return next - 1
        }
    }
}

// harden — a two-stage pipeline over a byte stream: a thread reads ahead (inflating, hashing what is below it) into
// a few fixed buffers while the caller parses what was already produced, so one layer uses two cores.
import HardenCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads `upstream` on its own thread, `depth` buffers of `chunkSize` ahead of the caller (memory stays bounded at
/// `depth × chunkSize`). The bytes, their order and the errors are those of `upstream`: an error is raised after the
/// bytes read before it. Dropping the reader early stops the thread (after its current read) and waits for it.
public final class PrefetchReader: ByteReader {
    private let shared: PrefetchQueue
    private let thread: JoinableThread
    private var current: (buffer: UnsafeMutableRawBufferPointer, count: Int)?
    private var offset = 0

    public init(_ upstream: any ByteReader, chunkSize: Int = 1 << 20, depth: Int = 3) throws {
        let shared = PrefetchQueue(chunkSize: chunkSize, depth: depth)
        let source = UncheckedReader(upstream)
        self.shared = shared
        // Only the thread touches `upstream` from here on.
        self.thread = try JoinableThread { shared.produce(from: source.reader) }
    }

    deinit {
        shared.cancel()
        thread.join()
        if let current { shared.recycle(current.buffer) }
        shared.deallocateAll()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        if current == nil {
            guard let next = try shared.take() else { return 0 }
            current = next
            offset = 0
        }
        guard let (chunk, count) = current else { return 0 }
        let n = min(buffer.count, count - offset)
        buffer.baseAddress!.copyMemory(from: chunk.baseAddress! + offset, byteCount: n)
        offset += n
        if offset == count {
            shared.recycle(chunk)
            current = nil
        }
        return n
    }
}

/// Hands a non-Sendable reader to the one thread that uses it.
private final class UncheckedReader: @unchecked Sendable {
    let reader: any ByteReader
    init(_ reader: any ByteReader) { self.reader = reader }
}

/// The buffers going round between the producing thread and the reader: free ones, filled ones in order, and how
/// the stream ended.
private final class PrefetchQueue: @unchecked Sendable {
    private let lock = ConditionLock()
    private var free: [UnsafeMutableRawBufferPointer]
    private var filled: [(buffer: UnsafeMutableRawBufferPointer, count: Int)] = []
    private var head = 0
    private var ended = false
    private var error: (any Error)?
    private var cancelled = false
    private var all: [UnsafeMutableRawBufferPointer]

    init(chunkSize: Int, depth: Int) {
        all = (0..<max(1, depth)).map { _ in
            UnsafeMutableRawBufferPointer.allocate(byteCount: max(4096, chunkSize), alignment: 64)
        }
        free = all
    }

    /// The producing thread: fills free buffers from `upstream` until its end, an error, or `cancel`.
    func produce(from upstream: any ByteReader) {
        while let buffer = nextFree() {
            var n = 0
            var failure: (any Error)?
            var atEnd = false
            do {
                while n < buffer.count {
                    let r = try upstream.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[n...]))
                    if r == 0 {
                        atEnd = true
                        break
                    }
                    n += r
                }
            } catch {
                failure = error
            }
            let stop = lock.withLock {
                if n > 0 { filled.append((buffer, n)) } else { free.append(buffer) }
                if let failure { error = failure }
                if atEnd || failure != nil { ended = true }
                lock.broadcast()
                return ended
            }
            if stop { return }
        }
    }

    private func nextFree() -> UnsafeMutableRawBufferPointer? {
        lock.withLock {
            lock.wait { cancelled || !free.isEmpty }
            return cancelled ? nil : free.removeLast()
        }
    }

    /// The next filled buffer, nil at the end; throws the producer's error once the bytes before it are taken.
    func take() throws -> (buffer: UnsafeMutableRawBufferPointer, count: Int)? {
        try lock.withLock {
            lock.wait { head < filled.count || ended }
            if head < filled.count {
                let next = filled[head]
                head += 1
                if head == filled.count {
                    filled.removeAll(keepingCapacity: true)
                    head = 0
                }
                return next
            }
            if let error { throw error }
            return nil
        }
    }

    func recycle(_ buffer: UnsafeMutableRawBufferPointer) {
        lock.withLock {
            free.append(buffer)
            lock.broadcast()
        }
    }

    func cancel() {
        lock.withLock {
            cancelled = true
            lock.broadcast()
        }
    }

    /// After the thread ended.
    func deallocateAll() {
        for b in all { b.deallocate() }
        all = []
    }
}

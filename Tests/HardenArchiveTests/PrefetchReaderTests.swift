// harden — the read-ahead thread and the bounded parallel loop: the same bytes and errors as reading directly,
// bounded memory, a reader dropped early stops its thread, at most `jobs` items at once, every item once.
import HardenArchive
import HardenCore
import HardenTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Serves `bytes` in reads of at most `step` bytes, then throws `failAtEnd` if given; counts what it served.
private final class ScriptedReader: ByteReader, @unchecked Sendable {
    let bytes: [UInt8]
    let step: Int
    let failAtEnd: HardenError?
    let served = Atomic<Int>(0)
    private var offset = 0

    init(_ bytes: [UInt8], step: Int, failAtEnd: HardenError? = nil) {
        self.bytes = bytes
        self.step = step
        self.failAtEnd = failAtEnd
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, step, bytes.count - offset)
        if n == 0, let failAtEnd { throw failAtEnd }
        for i in 0..<n { buffer[i] = bytes[offset + i] }
        offset += n
        served.add(n, ordering: .relaxed)
        return n
    }
}

private func readAll(_ r: any ByteReader, readSize: Int) throws -> [UInt8] {
    var out: [UInt8] = []
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: readSize, alignment: 1)
    defer { buffer.deallocate() }
    while true {
        let n = try r.read(into: buffer)
        if n == 0 { return out }
        out += buffer.prefix(n)
    }
}

struct PrefetchReaderTests {
    @Test(arguments: [(1, 1), (4096, 1), (4096, 3), (65536, 2)])
    func sameBytesInTheSameOrder(chunkSize: Int, depth: Int) throws {
        var g = SeededGenerator(seed: UInt64(chunkSize * 10 + depth))
        for size in [0, 1, 4095, 4096, 4097, 300_001] {
            let data = (0..<size).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            for (step, readSize) in [(1, 7), (1000, 4096), (1 << 20, 1 << 16), (333, 1)] where size < 5000 || step > 1 {
                let r = try PrefetchReader(ScriptedReader(data, step: step), chunkSize: chunkSize, depth: depth)
                #expect(try readAll(r, readSize: readSize) == data, "size \(size) step \(step) read \(readSize)")
                #expect(try r.read(into: .allocate(byteCount: 1, alignment: 1)) == 0, "stays at the end")
            }
        }
    }

    @Test func theUpstreamErrorComesAfterTheBytesBeforeIt() throws {
        let data = Array(repeating: UInt8(7), count: 10_000)
        let r = try PrefetchReader(
            ScriptedReader(data, step: 999, failAtEnd: HardenError(.corrupt, "blob: digest mismatch")),
            chunkSize: 4096, depth: 2)
        var got = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1500, alignment: 1)
        defer { buffer.deallocate() }
        do {
            while true {
                let n = try r.read(into: buffer)
                #expect(n > 0, "no end of stream before the error")
                got += n
            }
        } catch let e as HardenError {
            #expect(e.message == "blob: digest mismatch" && e.code == .corrupt)
        }
        #expect(got == data.count, "every byte read before the error is delivered")
        // The error stays.
        #expect(throws: HardenError.self) { _ = try r.read(into: buffer) }
    }

    /// Memory stays bounded: the thread reads at most `depth` chunks (plus the one being filled) ahead; a reader
    /// dropped early stops its thread and releases the upstream.
    @Test func readAheadIsBoundedAndStopsWhenDropped() throws {
        let upstream = ScriptedReader(Array(repeating: 1, count: 10 << 20), step: 4096)
        weak var weakUpstream: ScriptedReader? = upstream
        do {
            let r = try PrefetchReader(upstream, chunkSize: 16384, depth: 2)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 100, alignment: 1)
            defer { buffer.deallocate() }
            _ = try r.read(into: buffer)
            // Give the thread time to run ahead as far as it may.
            for _ in 0..<50 where upstream.served.load(ordering: .relaxed) < 3 * 16384 { usleepMillis(10) }
            let served = upstream.served.load(ordering: .relaxed)
            #expect(served <= 3 * 16384, "read \(served) bytes ahead with two 16 KiB buffers")
        }
        let servedAtDrop = upstream.served.load(ordering: .relaxed)
        usleepMillis(50)
        #expect(upstream.served.load(ordering: .relaxed) == servedAtDrop, "the thread stopped")
        _ = consume upstream
        #expect(weakUpstream == nil, "the thread released the upstream reader")
    }
}

struct ParallelLoopTests {
    @Test(arguments: [1, 2, 4])
    func everyItemOnceAndNeverMoreThanJobsAtOnce(jobs: Int) throws {
        let running = Atomic<Int>(0)
        let peak = Atomic<Int>(0)
        let seen = Mutex<[Int]>([])
        try ParallelLoop.run(count: 40, jobs: jobs) { i in
            let now = running.add(1, ordering: .sequentiallyConsistent).newValue
            peak.max(now, ordering: .sequentiallyConsistent)
            usleepMillis(2)
            seen.withLock { $0.append(i) }
            running.subtract(1, ordering: .sequentiallyConsistent)
        }
        #expect(seen.withLock { $0.sorted() } == Array(0..<40))
        #expect(peak.load(ordering: .relaxed) <= jobs)
        if jobs > 1 { #expect(peak.load(ordering: .relaxed) > 1, "items did run side by side") }
    }

    @Test func theFirstErrorStopsNewItemsAndIsRethrown() {
        let started = Atomic<Int>(0)
        #expect(throws: HardenError.self) {
            try ParallelLoop.run(count: 1000, jobs: 2) { i in
                started.add(1, ordering: .relaxed)
                if i == 3 { throw HardenError(.corrupt, "layer 3 is corrupt") }
                usleepMillis(1)
            }
        }
        #expect(started.load(ordering: .relaxed) < 20, "no new item after the error")
    }
}

private func usleepMillis(_ ms: Int) {
    var ts = timespec(tv_sec: 0, tv_nsec: ms * 1_000_000)
    nanosleep(&ts, nil)
}

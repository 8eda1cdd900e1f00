// harden — synchronous, pull-based byte streams: the plumbing every layer and blob flows through.
import HardenCore
import HardenSystem

/// A source of bytes read in order. `read` returns 0 only at the end of the stream.
public protocol ByteReader: AnyObject {
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// A sink of bytes. `finish` flushes whatever the writer holds back (compressor state, buffers).
public protocol ByteWriter: AnyObject {
    func write(_ buffer: UnsafeRawBufferPointer) throws
    func finish() throws
}

extension ByteWriter {
    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }
}

extension ByteReader {
    /// Reads the whole stream, refusing more than `limit` bytes.
    public func readAll(limit: Int, name: String) throws -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try read(into: $0) }
            if n == 0 { return out }
            if out.count + n > limit { throw HardenError(.limitExceeded, "\(name): more than \(limit) bytes") }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    /// Reads and discards the rest of the stream; returns how many bytes that was.
    @discardableResult
    public func drain(bufferSize: Int = 1 << 20) throws -> Int64 {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            let n = try read(into: buffer)
            if n == 0 { return total }
            total += Int64(n)
        }
    }

    /// Copies the rest of this stream into `writer`; returns the number of bytes copied.
    @discardableResult
    public func copy(to writer: any ByteWriter, bufferSize: Int = 1 << 20) throws -> Int64 {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            let n = try read(into: buffer)
            if n == 0 { return total }
            try writer.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            total += Int64(n)
        }
    }
}

/// Reads bytes held in memory.
public final class MemoryReader: ByteReader {
    private let bytes: [UInt8]
    private var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - offset)
        if n <= 0 { return 0 }
        bytes.withUnsafeBytes { src in
            buffer.baseAddress.unsafelyUnwrapped.copyMemory(
                from: src.baseAddress.unsafelyUnwrapped + offset, byteCount: n)
        }
        offset += n
        return n
    }
}

/// Collects written bytes in memory (tests, small blobs).
public final class MemoryWriter: ByteWriter {
    public private(set) var bytes: [UInt8] = []
    public init() {}
    public func write(_ buffer: UnsafeRawBufferPointer) throws { bytes.append(contentsOf: buffer) }
    public func finish() throws {}
}

/// Reads a file, or a byte range of it (a member of an uncompressed tar archive).
public final class FileReader: ByteReader {
    private let fd: FileDescriptor
    private var offset: Int64
    private let end: Int64?
    private let name: String

    /// Reads `path` from `offset`, for `length` bytes or to the end of the file.
    public init(path: String, offset: Int64 = 0, length: Int64? = nil) throws {
        self.fd = try FileDescriptor.open(path)
        self.offset = offset
        self.end = length.map { offset + $0 }
        self.name = path
    }

    public init(descriptor: FileDescriptor, offset: Int64 = 0, length: Int64? = nil, name: String) {
        self.fd = descriptor
        self.offset = offset
        self.end = length.map { offset + $0 }
        self.name = name
    }

    /// Moves forward `count` bytes without reading them; fails past the end of the file or range.
    public func skip(_ count: Int64) throws {
        let limit = try end ?? fd.size()
        guard offset + count <= limit else {
            throw HardenError(.corrupt, "\(name): ends \(offset + count - limit) bytes early (truncated)")
        }
        offset += count
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var want = buffer.count
        if let end { want = Int(min(Int64(want), end - offset)) }
        if want <= 0 { return 0 }
        let n: Int
        do {
            n = try fd.pread(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), offset: offset)
        } catch let e as HardenError {
            throw e.prefixed(name)
        }
        if n == 0, end != nil {
            throw HardenError(
                .corrupt,
                "\(name): file ends before the expected \(end.map { $0 - offset } ?? 0) more bytes (truncated)")
        }
        offset += Int64(n)
        return n
    }
}

/// Writes to a file descriptor through a buffer.
public final class FileWriter: ByteWriter {
    public let fd: FileDescriptor
    private var buffer: [UInt8] = []
    private let capacity: Int

    public init(descriptor: FileDescriptor, bufferSize: Int = 1 << 20) {
        self.fd = descriptor
        self.capacity = bufferSize
        buffer.reserveCapacity(bufferSize)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count > capacity {
            try flush()
            if bytes.count >= capacity {
                try fd.writeAll(bytes)
                return
            }
        }
        buffer.append(contentsOf: bytes)
    }

    public func flush() throws {
        if buffer.isEmpty { return }
        try buffer.withUnsafeBytes { try fd.writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    public func finish() throws { try flush() }
}

/// Counts the bytes passing through to another writer.
public final class CountingWriter: ByteWriter {
    private let inner: any ByteWriter
    public private(set) var count: Int64 = 0
    public init(_ inner: any ByteWriter) { self.inner = inner }
    public func write(_ buffer: UnsafeRawBufferPointer) throws {
        count += Int64(buffer.count)
        try inner.write(buffer)
    }
    public func finish() throws { try inner.finish() }
}

/// Discards everything written to it.
public final class NullWriter: ByteWriter {
    public init() {}
    public func write(_ buffer: UnsafeRawBufferPointer) throws {}
    public func finish() throws {}
}

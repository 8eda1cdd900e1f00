import CHardenInflate
// harden — gzip and zstd streams over zlib and libzstd, with decompression-bomb limits.
import CLzma
import CZlib
import CZstd
import HardenCore

/// The compressions a layer blob can have.
public enum Compression: String, Sendable, CaseIterable {
    case none, gzip, zstd

    /// Recognises the compression from a stream's first bytes.
    public static func detect(_ prefix: [UInt8]) -> Compression {
        if prefix.count >= 2 && prefix[0] == 0x1f && prefix[1] == 0x8b { return .gzip }
        if prefix.count >= 4 && prefix[0] == 0x28 && prefix[1] == 0xb5 && prefix[2] == 0x2f && prefix[3] == 0xfd {
            return .zstd
        }
        return .none
    }

    /// Wraps `reader` in the matching decompressor.
    public func decompressing(
        _ reader: any ByteReader, name: String, limits: DecompressionLimits = .default
    ) -> any ByteReader {
        switch self {
        case .none: return reader
        case .gzip: return GzipReader(reader, name: name, limits: limits)
        case .zstd: return ZstdReader(reader, name: name, limits: limits)
        }
    }

    /// Wraps `writer` in the matching compressor.
    public func compressing(_ writer: any ByteWriter) throws -> any ByteWriter {
        switch self {
        case .none: return PassthroughWriter(writer)
        case .gzip: return try GzipWriter(writer)
        case .zstd: return try ZstdWriter(writer)
        }
    }
}

/// Bounds on what a compressed stream may expand to. A stream over `maxBytes`, or one that has expanded
/// past `ratioGrace` bytes at more than `maxRatio` times its compressed size, is refused as a bomb.
public struct DecompressionLimits: Sendable {
    public var maxBytes: Int64
    public var maxRatio: Int64
    public var ratioGrace: Int64

    public init(maxBytes: Int64, maxRatio: Int64, ratioGrace: Int64) {
        self.maxBytes = maxBytes
        self.maxRatio = maxRatio
        self.ratioGrace = ratioGrace
    }

    /// 64 GiB; more than 250:1 once past 1 GiB. Real layers stay far below both.
    public static let `default` = DecompressionLimits(maxBytes: 64 << 30, maxRatio: 250, ratioGrace: 1 << 30)

    func check(input: Int64, output: Int64, name: String) throws {
        if output > maxBytes {
            throw HardenError(
                .limitExceeded,
                "\(name): decompresses to more than \(maxBytes) bytes; refusing it as a decompression bomb")
        }
        if output > ratioGrace && output > input * maxRatio {
            throw HardenError(
                .limitExceeded,
                "\(name): expands more than \(maxRatio)× (\(input) → \(output)+ bytes); refusing it as a decompression bomb"
            )
        }
    }
}

/// Passes bytes through unchanged (the `none` compression).
final class PassthroughWriter: ByteWriter {
    private let inner: any ByteWriter
    init(_ inner: any ByteWriter) { self.inner = inner }
    func write(_ buffer: UnsafeRawBufferPointer) throws { try inner.write(buffer) }
    func finish() throws { try inner.finish() }
}

/// The inflate implementation gzip layers go through: ISA-L's when the build had its headers and the machine has
/// libisal (2–3× zlib's speed on x86-64), else zlib. `HARDEN_INFLATE=zlib` forces zlib.
public enum InflateBackend: String, Sendable {
    case isal = "ISA-L"
    case zlib

    public static var preferred: InflateBackend { harden_isal_version() != nil ? .isal : .zlib }

    /// `ISA-L 2.30.0` or `zlib 1.2.13`, for `harden --version`.
    public static var description: String {
        if let v = harden_isal_version() {
            return "ISA-L \(String(cString: v)) (zlib \(String(cString: zlibVersion())) beside it)"
        }
        return "zlib \(String(cString: zlibVersion()))"
    }
}

/// Decompresses a gzip stream, including several concatenated members.
public final class GzipReader: ByteReader {
    private let inner: any ByteReader
    private var stream = z_stream()
    /// ISA-L's decoder, when that backend is used (nil: zlib's `stream`).
    private var isal: OpaquePointer?
    private var isalIn: UnsafePointer<UInt8>?
    private var isalAvail = 0
    /// A member starts: its header's flags are checked first (ISA-L ignores reserved flag bits zlib rejects).
    private var isalHeaderPending = true
    private let input: UnsafeMutableRawBufferPointer
    private var initialised = false
    private var innerDone = false
    private var ended = false
    private var memberEnded = false
    private let name: String
    private let limits: DecompressionLimits
    private var inputTotal: Int64 = 0
    private var outputTotal: Int64 = 0

    public init(
        _ inner: any ByteReader, name: String, limits: DecompressionLimits = .default, bufferSize: Int = 256 * 1024,
        backend: InflateBackend = .preferred
    ) {
        self.inner = inner
        self.name = name
        self.limits = limits
        self.input = .allocate(byteCount: bufferSize, alignment: 16)
        if backend == .isal { isal = harden_isal_new() }
    }

    deinit {
        if initialised { inflateEnd(&stream) }
        if let isal { harden_isal_free(isal) }
        input.deallocate()
    }

    /// Makes at least `n` input bytes available when the stream has them (moving what is left to the buffer's start).
    private func fillISAL(atLeast n: Int) throws {
        guard isalAvail < n, !innerDone, let base = input.baseAddress else { return }
        if isalAvail > 0, let p = isalIn { base.copyMemory(from: p, byteCount: isalAvail) }
        isalIn = UnsafePointer(base.assumingMemoryBound(to: UInt8.self))
        while isalAvail < n && !innerDone {
            let got = try inner.read(into: UnsafeMutableRawBufferPointer(rebasing: input[isalAvail...]))
            if got == 0 { innerDone = true }
            inputTotal += Int64(got)
            isalAvail += got
        }
    }

    /// The ISA-L path: the same member, padding and truncation rules as zlib's below.
    private func readISAL(_ isal: OpaquePointer, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            if isalAvail == 0 && !innerDone {
                let n = try inner.read(into: input)
                if n == 0 {
                    innerDone = true
                } else {
                    inputTotal += Int64(n)
                    isalIn = UnsafePointer(input.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: UInt8.self))
                    isalAvail = n
                }
            }
            if memberEnded {
                if isalAvail == 0 && innerDone {
                    ended = true
                    return 0
                }
                if isalAvail == 0 { continue }
                if let p = isalIn, p.pointee == 0 {
                    // NUL padding after the last member.
                    var q = p
                    while isalAvail > 0 && q.pointee == 0 {
                        q += 1
                        isalAvail -= 1
                    }
                    isalIn = q
                    continue
                }
                harden_isal_reset(isal)
                memberEnded = false
                isalHeaderPending = true
            }
            if isalHeaderPending {
                try fillISAL(atLeast: 4)
                if isalAvail >= 4, let p = isalIn, p[3] & 0xE0 != 0 {
                    throw HardenError(.corrupt, "\(name): gzip data is corrupt: unknown header flags set")
                }
                isalHeaderPending = false
            }
            var out: UnsafeMutablePointer<UInt8>? = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self)
            var outAvail = buffer.count
            let r = harden_isal_inflate(isal, &isalIn, &isalAvail, &out, &outAvail)
            if r < 0 {
                throw HardenError(.corrupt, "\(name): gzip data is corrupt: \(String(cString: harden_isal_error(r)))")
            }
            if r == 1 { memberEnded = true }
            let produced = buffer.count - outAvail
            if produced > 0 {
                outputTotal += Int64(produced)
                try limits.check(input: inputTotal, output: outputTotal, name: name)
                return produced
            }
            if !memberEnded && isalAvail == 0 && innerDone {
                throw HardenError(.corrupt, "\(name): gzip stream is truncated")
            }
        }
    }

    private func refill() throws {
        if stream.avail_in > 0 || innerDone { return }
        let n = try inner.read(into: input)
        if n == 0 {
            innerDone = true
            return
        }
        inputTotal += Int64(n)
        stream.next_in = input.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: Bytef.self)
        stream.avail_in = uInt(n)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if ended || buffer.count == 0 { return 0 }
        if let isal { return try readISAL(isal, into: buffer) }
        if !initialised {
            let r = inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            guard r == Z_OK else { throw HardenError(.internalError, "\(name): zlib initialisation failed (\(r))") }
            initialised = true
        }
        while true {
            try refill()
            if memberEnded {
                // Another gzip member may follow; trailing zero padding is tolerated.
                if stream.avail_in == 0 && innerDone {
                    ended = true
                    return 0
                }
                if stream.avail_in > 0 && stream.next_in.pointee == 0 {
                    // Skip NUL padding after the last member.
                    while stream.avail_in > 0 && stream.next_in.pointee == 0 {
                        stream.next_in += 1
                        stream.avail_in -= 1
                    }
                    continue
                }
                inflateReset(&stream)
                memberEnded = false
                continue
            }
            if stream.avail_in == 0 && innerDone {
                throw HardenError(.corrupt, "\(name): gzip stream is truncated")
            }
            stream.next_out = buffer.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(buffer.count)
            let r = inflate(&stream, Z_NO_FLUSH)
            let produced = buffer.count - Int(stream.avail_out)
            switch r {
            case Z_STREAM_END:
                memberEnded = true
            case Z_OK, Z_BUF_ERROR:
                break
            default:
                let msg = stream.msg.map { String(cString: $0) } ?? "error \(r)"
                throw HardenError(.corrupt, "\(name): gzip data is corrupt: \(msg)")
            }
            if produced > 0 {
                outputTotal += Int64(produced)
                try limits.check(input: inputTotal, output: outputTotal, name: name)
                return produced
            }
        }
    }
}

/// Compresses into a gzip stream. Output depends only on the input (no name, mtime 0), so it is reproducible.
public final class GzipWriter: ByteWriter {
    private let inner: any ByteWriter
    private var stream = z_stream()
    private let output: UnsafeMutableRawBufferPointer
    private var finished = false

    public init(_ inner: any ByteWriter, level: Int32 = 6, bufferSize: Int = 256 * 1024) throws {
        self.inner = inner
        self.output = .allocate(byteCount: bufferSize, alignment: 16)
        let r = deflateInit2_(
            &stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)
        )
        guard r == Z_OK else {
            output.deallocate()
            throw HardenError(.internalError, "zlib deflate initialisation failed (\(r))")
        }
    }

    deinit {
        deflateEnd(&stream)
        output.deallocate()
    }

    private func pump(flush: Int32) throws {
        repeat {
            stream.next_out = output.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(output.count)
            let r = deflate(&stream, flush)
            guard r != Z_STREAM_ERROR else { throw HardenError(.internalError, "zlib deflate failed") }
            let produced = output.count - Int(stream.avail_out)
            if produced > 0 { try inner.write(UnsafeRawBufferPointer(rebasing: output[0..<produced])) }
            if flush == Z_FINISH && r == Z_STREAM_END { return }
        } while stream.avail_out == 0 || (flush == Z_FINISH)
    }

    public func write(_ buffer: UnsafeRawBufferPointer) throws {
        guard buffer.count > 0 else { return }
        stream.next_in = UnsafeMutablePointer(
            mutating: buffer.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(buffer.count)
        while stream.avail_in > 0 { try pump(flush: Z_NO_FLUSH) }
    }

    public func finish() throws {
        guard !finished else { return }
        finished = true
        stream.avail_in = 0
        try pump(flush: Z_FINISH)
        try inner.finish()
    }
}

/// Decompresses a zstd stream (any number of frames).
public final class ZstdReader: ByteReader {
    private let inner: any ByteReader
    private let dctx: OpaquePointer
    private let input: UnsafeMutableRawBufferPointer
    private var inBuf = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
    private var innerDone = false
    private var lastResult = 0
    private var sawInput = false
    private let name: String
    private let limits: DecompressionLimits
    private var inputTotal: Int64 = 0
    private var outputTotal: Int64 = 0

    public init(_ inner: any ByteReader, name: String, limits: DecompressionLimits = .default) {
        self.inner = inner
        self.name = name
        self.limits = limits
        self.dctx = ZSTD_createDCtx()
        // Cap the window so a hostile frame cannot make us allocate gigabytes.
        ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, 27)
        self.input = .allocate(byteCount: ZSTD_DStreamInSize(), alignment: 16)
    }

    deinit {
        ZSTD_freeDCtx(dctx)
        input.deallocate()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if buffer.count == 0 { return 0 }
        while true {
            if inBuf.pos == inBuf.size && !innerDone {
                let n = try inner.read(into: input)
                if n == 0 {
                    innerDone = true
                } else {
                    sawInput = true
                    inputTotal += Int64(n)
                    inBuf = ZSTD_inBuffer(src: UnsafeRawPointer(input.baseAddress), size: n, pos: 0)
                }
            }
            if inBuf.pos == inBuf.size && innerDone {
                if lastResult != 0 || !sawInput {
                    if !sawInput { return 0 }
                    throw HardenError(.corrupt, "\(name): zstd stream is truncated")
                }
                return 0
            }
            var out = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
            let r = ZSTD_decompressStream(dctx, &out, &inBuf)
            if ZSTD_isError(r) != 0 {
                throw HardenError(.corrupt, "\(name): zstd data is corrupt: \(String(cString: ZSTD_getErrorName(r)))")
            }
            lastResult = r
            if out.pos > 0 {
                outputTotal += Int64(out.pos)
                try limits.check(input: inputTotal, output: outputTotal, name: name)
                return out.pos
            }
        }
    }
}

/// Compresses into a zstd stream.
public final class ZstdWriter: ByteWriter {
    private let inner: any ByteWriter
    private let cctx: OpaquePointer
    private let output: UnsafeMutableRawBufferPointer
    private var finished = false

    public init(_ inner: any ByteWriter, level: Int32 = 3) throws {
        self.inner = inner
        guard let ctx = ZSTD_createCCtx() else { throw HardenError(.internalError, "zstd initialisation failed") }
        self.cctx = ctx
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        self.output = .allocate(byteCount: ZSTD_CStreamOutSize(), alignment: 16)
    }

    deinit {
        ZSTD_freeCCtx(cctx)
        output.deallocate()
    }

    private func run(_ buffer: UnsafeRawBufferPointer, end: Bool) throws {
        var inBuf = ZSTD_inBuffer(src: buffer.baseAddress, size: buffer.count, pos: 0)
        while true {
            var out = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
            let r = ZSTD_compressStream2(cctx, &out, &inBuf, end ? ZSTD_e_end : ZSTD_e_continue)
            if ZSTD_isError(r) != 0 {
                throw HardenError(.internalError, "zstd: \(String(cString: ZSTD_getErrorName(r)))")
            }
            if out.pos > 0 { try inner.write(UnsafeRawBufferPointer(rebasing: output[0..<out.pos])) }
            if end ? (r == 0) : (inBuf.pos == inBuf.size) { return }
        }
    }

    public func write(_ buffer: UnsafeRawBufferPointer) throws {
        guard buffer.count > 0 else { return }
        try run(buffer, end: false)
    }

    public func finish() throws {
        guard !finished else { return }
        finished = true
        try run(UnsafeRawBufferPointer(start: nil, count: 0), end: true)
        try inner.finish()
    }
}

/// A reader that lets its first bytes be looked at before they are read (to detect compression).
public final class PeekableReader: ByteReader {
    private let inner: any ByteReader
    private var pending: [UInt8] = []
    private var pendingOffset = 0

    public init(_ inner: any ByteReader) { self.inner = inner }

    /// Returns up to `count` first bytes without consuming them.
    public func peek(_ count: Int) throws -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: count)
        while pending.count - pendingOffset < count {
            let want = count - (pending.count - pendingOffset)
            let n = try chunk.withUnsafeMutableBytes {
                try inner.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<want]))
            }
            if n == 0 { break }
            pending.append(contentsOf: chunk[0..<n])
        }
        return Array(pending[pendingOffset..<min(pending.count, pendingOffset + count)])
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if pendingOffset < pending.count {
            let n = min(buffer.count, pending.count - pendingOffset)
            pending.withUnsafeBytes { src in
                buffer.baseAddress.unsafelyUnwrapped.copyMemory(
                    from: src.baseAddress.unsafelyUnwrapped + pendingOffset, byteCount: n)
            }
            pendingOffset += n
            return n
        }
        return try inner.read(into: buffer)
    }
}

/// Decompresses an xz stream (`.deb` members, APT indexes) through liblzma, with the same bomb limits.
public final class XzReader: ByteReader {
    private let inner: any ByteReader
    private var stream = lzma_stream()
    private let input: UnsafeMutableRawBufferPointer
    private var innerDone = false
    private var ended = false
    private let name: String
    private let limits: DecompressionLimits
    private var inputTotal: Int64 = 0
    private var outputTotal: Int64 = 0
    private let initError: lzma_ret

    public init(_ inner: any ByteReader, name: String, limits: DecompressionLimits = .default) {
        self.inner = inner
        self.name = name
        self.limits = limits
        self.input = .allocate(byteCount: 256 * 1024, alignment: 16)
        // 1 GiB of decoder memory at most (real streams need a few MiB); concatenated streams allowed.
        initError = lzma_stream_decoder(&stream, 1 << 30, 0x08)  // LZMA_CONCATENATED (a macro Swift does not import)
    }

    deinit {
        lzma_end(&stream)
        input.deallocate()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard initError == LZMA_OK else {
            throw HardenError(.internalError, "\(name): cannot start the xz decoder (\(initError.rawValue))")
        }
        if buffer.count == 0 || ended { return 0 }
        while true {
            if stream.avail_in == 0 && !innerDone {
                let n = try inner.read(into: input)
                if n == 0 {
                    innerDone = true
                } else {
                    inputTotal += Int64(n)
                    stream.next_in = UnsafePointer(input.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    stream.avail_in = n
                }
            }
            stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.avail_out = buffer.count
            let r = lzma_code(&stream, innerDone ? LZMA_FINISH : LZMA_RUN)
            let produced = buffer.count - stream.avail_out
            if produced > 0 {
                outputTotal += Int64(produced)
                try limits.check(input: inputTotal, output: outputTotal, name: name)
            }
            switch r {
            case LZMA_OK:
                if produced > 0 { return produced }
                if innerDone && stream.avail_in == 0 { throw HardenError(.corrupt, "\(name): xz stream is truncated") }
            case LZMA_STREAM_END:
                ended = true
                return produced
            case LZMA_BUF_ERROR:
                if produced > 0 { return produced }
                throw HardenError(.corrupt, "\(name): xz stream is truncated")
            case LZMA_MEMLIMIT_ERROR:
                throw HardenError(.limitExceeded, "\(name): xz stream needs more than 1 GiB of decoder memory")
            default:
                throw HardenError(.corrupt, "\(name): xz data is corrupt (liblzma error \(r.rawValue))")
            }
        }
    }
}

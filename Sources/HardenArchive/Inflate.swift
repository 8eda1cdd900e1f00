// harden — one-shot inflation of a whole buffer (zip entries, Rust's audit section, .apk members); layers stream
// through GzipReader instead. Both use the same backend: ISA-L's inflate when it is there, else zlib's.
import CHardenInflate
import CZlib
import HardenCore

public enum Inflate {
    /// Raw deflate (zip) or the zlib wrapper around it (Rust's `.dep-v0`).
    public enum Format: Sendable { case raw, zlib }

    /// Inflates `input`, refusing more than `limit` bytes of output. `what` names the data in errors. `sizeHint`: the
    /// output size the container declares (a zip entry's), allocated at once instead of grown.
    public static func bytes(
        _ input: [UInt8], format: Format, limit: Int, what: String, sizeHint: Int? = nil,
        backend: InflateBackend = .preferred
    ) throws -> [UInt8] {
        if backend == .isal,
            let r = try runISAL(
                input, from: 0, format: format == .raw ? Int32(HARDEN_INFLATE_RAW) : Int32(HARDEN_INFLATE_ZLIB),
                limit: limit, what: what, sizeHint: sizeHint)
        {
            return r.output
        }
        return try run(
            input, from: 0, windowBits: format == .raw ? -15 : 15, limit: limit, what: what, sizeHint: sizeHint
        ).output
    }

    /// One gzip member of `input` starting at `offset` (concatenated members: an .apk, an APKINDEX.tar.gz): its
    /// output and the offset just past it.
    public static func gzipMember(
        _ input: [UInt8], at offset: Int, limit: Int, what: String, backend: InflateBackend = .preferred
    ) throws -> (output: [UInt8], end: Int) {
        guard offset < input.count else { throw HardenError(.corrupt, "\(what): missing gzip stream") }
        if backend == .isal {
            // ISA-L ignores reserved header flag bits that zlib rejects: the same verdict for both.
            if input.count - offset >= 4 && input[offset + 3] & 0xE0 != 0 {
                throw HardenError(.corrupt, "\(what): corrupt deflate data (unknown gzip header flags set)")
            }
            if let r = try runISAL(
                input, from: offset, format: Int32(HARDEN_INFLATE_GZIP), limit: limit, what: what, sizeHint: nil)
            {
                return r
            }
        }
        return try run(input, from: offset, windowBits: 15 + 16, limit: limit, what: what, sizeHint: nil)
    }

    /// ISA-L's decoder over the whole buffer; nil when ISA-L cannot be used here.
    private static func runISAL(
        _ input: [UInt8], from offset: Int, format: Int32, limit: Int, what: String, sizeHint: Int?
    ) throws -> (output: [UInt8], end: Int)? {
        guard let decoder = harden_isal_new_format(format) else { return nil }
        defer { harden_isal_free(decoder) }
        var out = [UInt8](repeating: 0, count: min(limit, sizeHint ?? max(64 << 10, (input.count - offset) * 4)) + 1)
        var produced = 0
        return try input.withUnsafeBufferPointer { inBuf in
            var next: UnsafePointer<UInt8>? = inBuf.baseAddress.map { $0 + offset }
            var available = inBuf.count - offset
            while true {
                let before = (produced, available)
                let r = out.withUnsafeMutableBufferPointer { o -> Int32 in
                    var to: UnsafeMutablePointer<UInt8>? = o.baseAddress.map { $0 + produced }
                    var room = o.count - produced
                    let r = harden_isal_inflate(decoder, &next, &available, &to, &room)
                    produced = o.count - room
                    return r
                }
                guard produced <= limit else {
                    throw HardenError(.limitExceeded, "\(what): inflates to more than \(limit) bytes")
                }
                if r < 0 {
                    throw HardenError(
                        .corrupt, "\(what): corrupt deflate data (\(String(cString: harden_isal_error(r))))")
                }
                if r == 1 { return (Array(out[0..<produced]), inBuf.count - available) }
                if produced == out.count {
                    out += [UInt8](repeating: 0, count: min(out.count, limit + 1 - out.count))
                } else if before == (produced, available) {
                    // No progress: the input ended inside the stream (or the decoder is stuck on it).
                    throw HardenError(
                        .corrupt, "\(what): \(available == 0 ? "truncated deflate data" : "corrupt deflate data")")
                }
            }
        }
    }

    private static func run(
        _ input: [UInt8], from offset: Int, windowBits: Int32, limit: Int, what: String, sizeHint: Int?
    ) throws -> (output: [UInt8], end: Int) {
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw HardenError(.internalError, "\(what): zlib initialisation failed")
        }
        defer { inflateEnd(&stream) }
        // One byte more than the limit: output that fills it is over the limit.
        var out = [UInt8](repeating: 0, count: min(limit, sizeHint ?? max(64 << 10, (input.count - offset) * 4)) + 1)
        var produced = 0
        var input = input
        return try input.withUnsafeMutableBufferPointer { inBuf in
            stream.next_in = inBuf.baseAddress.map { $0 + offset }
            stream.avail_in = uInt(inBuf.count - offset)
            while true {
                let r = out.withUnsafeMutableBufferPointer { o -> Int32 in
                    stream.next_out = o.baseAddress.map { $0 + produced }
                    stream.avail_out = uInt(o.count - produced)
                    let r = inflate(&stream, Z_NO_FLUSH)
                    produced = o.count - Int(stream.avail_out)
                    return r
                }
                guard produced <= limit else {
                    throw HardenError(.limitExceeded, "\(what): inflates to more than \(limit) bytes")
                }
                if r == Z_STREAM_END { return (Array(out[0..<produced]), inBuf.count - Int(stream.avail_in)) }
                guard r == Z_OK || r == Z_BUF_ERROR else {
                    throw HardenError(.corrupt, "\(what): corrupt deflate data (\(r))")
                }
                if produced == out.count {
                    out += [UInt8](repeating: 0, count: min(out.count, limit + 1 - out.count))
                } else if stream.avail_in == 0 {
                    throw HardenError(.corrupt, "\(what): truncated deflate data")
                }
            }
        }
    }
}

// harden — one-shot inflation of a whole buffer (zip entries, Rust's audit section); layers stream through
// GzipReader instead.
import CZlib
import HardenCore

public enum Inflate {
    /// Raw deflate (zip) or the zlib wrapper around it (Rust's `.dep-v0`).
    public enum Format: Sendable { case raw, zlib }

    /// Inflates `input`, refusing more than `limit` bytes of output. `what` names the data in errors. `sizeHint`: the
    /// output size the container declares (a zip entry's), allocated at once instead of grown.
    public static func bytes(
        _ input: [UInt8], format: Format, limit: Int, what: String, sizeHint: Int? = nil
    ) throws -> [UInt8] {
        var stream = z_stream()
        let windowBits: Int32 = format == .raw ? -15 : 15
        guard inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw HardenError(.internalError, "\(what): zlib initialisation failed")
        }
        defer { inflateEnd(&stream) }
        // One byte more than the limit: output that fills it is over the limit.
        var out = [UInt8](repeating: 0, count: min(limit, sizeHint ?? max(64 << 10, input.count * 4)) + 1)
        var produced = 0
        var input = input
        return try input.withUnsafeMutableBufferPointer { inBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = uInt(inBuf.count)
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
                if r == Z_STREAM_END { return Array(out[0..<produced]) }
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

// harden — the `ar` archive format of `.deb` packages (common format: `!<arch>\n`, 60-byte member headers,
// members padded to even offsets). Streaming: members are handed out one after another.
import HardenCore

public final class ArReader {
    public struct Member: Sendable, Equatable {
        public var name: String
        public var size: Int64
    }

    private let inner: any ByteReader
    private let name: String
    private var remaining: Int64 = 0
    private var padding = 0
    private var started = false

    public init(_ inner: any ByteReader, name: String) {
        self.inner = inner
        self.name = name
    }

    /// The next member's header, skipping what was left unread of the previous one; nil at the end.
    public func next() throws -> Member? {
        if !started {
            let magic = try readExactly(8, allowEnd: false) ?? []
            guard magic == Array("!<arch>\n".utf8) else { throw HardenError(.corrupt, "\(name): not an ar archive") }
            started = true
        }
        try skip(remaining + Int64(padding))
        remaining = 0
        guard let header = try readExactly(60, allowEnd: true) else { return nil }
        guard header[58] == 0x60, header[59] == 0x0a else {
            throw HardenError(.corrupt, "\(name): damaged ar member header")
        }
        var memberName = String(decoding: header[0..<16], as: UTF8.self).trimming(" ")
        if memberName.hasSuffix("/") { memberName.removeLast() }  // GNU ar terminates names with '/'
        guard let size = Int64(String(decoding: header[48..<58], as: UTF8.self).trimming(" ")), size >= 0 else {
            throw HardenError(.corrupt, "\(name): ar member \(memberName) has no valid size")
        }
        guard !memberName.isEmpty, !memberName.contains("/") else {
            throw HardenError(.unsupported, "\(name): ar member name \"\(memberName)\" is not supported")
        }
        remaining = size
        padding = Int(size % 2)
        return Member(name: memberName, size: size)
    }

    /// The current member's data as a stream (valid until `next()`).
    public func body() -> any ByteReader { MemberReader(owner: self) }

    fileprivate func readBody(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard remaining > 0 else { return 0 }
        let want = Int(min(Int64(buffer.count), remaining))
        let n = try inner.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
        guard n > 0 else { throw HardenError(.corrupt, "\(name): ar member is truncated") }
        remaining -= Int64(n)
        return n
    }

    private func readExactly(_ count: Int, allowEnd: Bool) throws -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = try out.withUnsafeMutableBytes {
                try inner.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[got...]))
            }
            if n == 0 {
                if got == 0 && allowEnd { return nil }
                throw HardenError(.corrupt, "\(name): ar archive is truncated")
            }
            got += n
        }
        return out
    }

    private func skip(_ count: Int64) throws {
        var left = count
        var scratch = [UInt8](repeating: 0, count: 64 * 1024)
        while left > 0 {
            let want = Int(min(left, Int64(scratch.count)))
            let n = try scratch.withUnsafeMutableBytes {
                try inner.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<want]))
            }
            if n == 0 {
                if left == 1 && padding == 1 && remaining == 0 { return }  // the last member's pad byte may be missing
                throw HardenError(.corrupt, "\(name): ar archive is truncated")
            }
            left -= Int64(n)
        }
    }
}

private final class MemberReader: ByteReader {
    let owner: ArReader
    init(owner: ArReader) { self.owner = owner }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try owner.readBody(into: buffer) }
}

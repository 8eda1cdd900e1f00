// harden — hashing bytes while they stream, and verifying size and digest at the end.
import Crypto
import HardenCore

/// The digest algorithms OCI images use.
public enum HashAlgorithm: String, Sendable, CaseIterable {
    case sha256, sha512

    /// Length of the hexadecimal encoding.
    public var hexLength: Int { self == .sha256 ? 64 : 128 }
}

/// An incremental hash over one of the supported algorithms.
public struct StreamHasher {
    private var sha256: SHA256?
    private var sha512: SHA512?
    public let algorithm: HashAlgorithm

    public init(_ algorithm: HashAlgorithm = .sha256) {
        self.algorithm = algorithm
        switch algorithm {
        case .sha256: sha256 = SHA256()
        case .sha512: sha512 = SHA512()
        }
    }

    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        if sha256 != nil { sha256?.update(bufferPointer: buffer) } else { sha512?.update(bufferPointer: buffer) }
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The lower-case hexadecimal digest.
    public func finalizeHex() -> String {
        if let sha256 { return Hex.encode(sha256.finalize()) }
        if let sha512 { return Hex.encode(sha512.finalize()) }
        return ""
    }

    /// `algorithm:hex` of `bytes`.
    public static func digestString(of bytes: [UInt8], _ algorithm: HashAlgorithm = .sha256) -> String {
        var h = StreamHasher(algorithm)
        h.update(bytes)
        return "\(algorithm.rawValue):\(h.finalizeHex())"
    }
}

/// What a stream is expected to be; checked by `HashingReader` as bytes pass.
public struct ExpectedContent: Sendable {
    public var algorithm: HashAlgorithm
    public var hex: String?
    public var size: Int64?
    /// Used in error messages: the file and blob being read.
    public var name: String

    public init(algorithm: HashAlgorithm = .sha256, hex: String?, size: Int64?, name: String) {
        self.algorithm = algorithm
        self.hex = hex
        self.size = size
        self.name = name
    }
}

/// Hashes and counts everything read through it. With an expectation, it refuses a stream that grows past
/// the expected size (as soon as it does) and one whose size or digest differ at its end.
public final class HashingReader: ByteReader {
    private let inner: any ByteReader
    private var hasher: StreamHasher
    private let expected: ExpectedContent?
    public private(set) var count: Int64 = 0
    public private(set) var finishedHex: String?

    public init(_ inner: any ByteReader, algorithm: HashAlgorithm = .sha256, expected: ExpectedContent? = nil) {
        self.inner = inner
        self.hasher = StreamHasher(expected?.algorithm ?? algorithm)
        self.expected = expected
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if finishedHex != nil { return 0 }
        let n = try inner.read(into: buffer)
        if n == 0 {
            let hex = hasher.finalizeHex()
            finishedHex = hex
            if let expected {
                if let size = expected.size, size != count {
                    throw HardenError(
                        .corrupt,
                        "\(expected.name): size is \(count) bytes, expected \(size) (truncated or wrong descriptor)")
                }
                if let want = expected.hex, want != hex {
                    throw HardenError(
                        .corrupt,
                        "\(expected.name): digest is \(expected.algorithm.rawValue):\(hex), expected \(expected.algorithm.rawValue):\(want)"
                    )
                }
            }
            return 0
        }
        count += Int64(n)
        if let expected, let size = expected.size, count > size {
            throw HardenError(.corrupt, "\(expected.name): more than the \(size) bytes its descriptor declares")
        }
        hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        return n
    }

    /// The digest as `algorithm:hex`, after the stream ended.
    public var digestString: String? { finishedHex.map { "\(hasher.algorithm.rawValue):\($0)" } }
}

/// Hashes and counts everything written through it.
public final class HashingWriter: ByteWriter {
    private let inner: any ByteWriter
    private var hasher: StreamHasher
    public private(set) var count: Int64 = 0
    private var finalHex: String?

    public init(_ inner: any ByteWriter, algorithm: HashAlgorithm = .sha256) {
        self.inner = inner
        self.hasher = StreamHasher(algorithm)
    }

    public func write(_ buffer: UnsafeRawBufferPointer) throws {
        hasher.update(buffer)
        count += Int64(buffer.count)
        try inner.write(buffer)
    }

    public func finish() throws {
        try inner.finish()
        if finalHex == nil { finalHex = hasher.finalizeHex() }
    }

    /// `algorithm:hex` of everything written; valid after `finish`.
    public var digestString: String { "\(hasher.algorithm.rawValue):\(finalHex ?? hasher.finalizeHex())" }
}

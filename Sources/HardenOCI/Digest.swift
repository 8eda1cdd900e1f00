// harden — a validated content digest.
// Source: https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests
import HardenArchive
import HardenCore

/// `algorithm:encoded`, validated so that it can never smuggle a path (`sha256:../../x`) into a file name.
public struct Digest: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let algorithm: HashAlgorithm
    /// Lower-case hexadecimal, exactly as long as the algorithm's output.
    public let encoded: String

    public init(algorithm: HashAlgorithm, encoded: String) throws {
        guard encoded.utf8.count == algorithm.hexLength, Hex.isLowerHex(Substring(encoded)) else {
            throw HardenError(.corrupt, "invalid \(algorithm.rawValue) digest \"\(encoded.prefix(80))\"")
        }
        self.algorithm = algorithm
        self.encoded = encoded
    }

    public init(parsing text: String) throws {
        guard let colon = text.firstIndex(of: ":") else {
            throw HardenError(.corrupt, "invalid digest \"\(text.prefix(80))\": expected algorithm:hex")
        }
        let alg = String(text[..<colon])
        guard let algorithm = HashAlgorithm(rawValue: alg) else {
            throw HardenError(
                .unsupported, "unsupported digest algorithm \"\(alg.prefix(20))\" in \"\(text.prefix(80))\"")
        }
        try self.init(algorithm: algorithm, encoded: String(text[text.index(after: colon)...]))
    }

    /// The sha256 digest of `bytes`.
    public static func sha256(of bytes: [UInt8]) -> Digest {
        var h = StreamHasher(.sha256)
        h.update(bytes)
        // A hasher's output is always valid hex of the right length.
        return Digest(unchecked: .sha256, h.finalizeHex())
    }

    init(unchecked algorithm: HashAlgorithm, _ encoded: String) {
        self.algorithm = algorithm
        self.encoded = encoded
    }

    public var description: String { "\(algorithm.rawValue):\(encoded)" }

    /// A short form for tables: `sha256:0123456789ab`.
    public var short: String { "\(algorithm.rawValue):\(encoded.prefix(12))" }

    /// The blob's path inside an OCI layout: `blobs/<algorithm>/<encoded>`.
    public var blobPath: String { "blobs/\(algorithm.rawValue)/\(encoded)" }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(parsing: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    /// What a stream with this digest is expected to hash to.
    public func expectation(size: Int64?, name: String) -> ExpectedContent {
        ExpectedContent(algorithm: algorithm, hex: encoded, size: size, name: name)
    }
}

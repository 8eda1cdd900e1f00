// harden — what one streaming pass over a layer keeps: every tar header, and the content of the files that
// catalogers and patchers read.
import HardenArchive
import HardenCore
import HardenOCI

/// What a cataloger needs from a file while the layer streams past.
public enum CaptureKind: Sendable, Equatable {
    /// The whole file, up to a limit (package databases, metadata files).
    case whole(limit: Int)
    /// An executable: if it is an ELF binary with Go build information, capture that.
    case goBuildInfo
    /// A runtime's executable or library (by name): windows around these version anchors, and Go build information.
    case binary(anchors: [[UInt8]])
}

/// Everything the SBOM needs from one layer. Cached on disk by DiffID.
public struct LayerScan: Sendable {
    public var diffID: Digest
    public var entries: [TarEntry]
    /// Captured content, by index into `entries`.
    public var captures: [Int: [UInt8]]
    public var uncompressedSize: Int64

    public init(diffID: Digest, entries: [TarEntry], captures: [Int: [UInt8]], uncompressedSize: Int64) {
        self.diffID = diffID
        self.entries = entries
        self.captures = captures
        self.uncompressedSize = uncompressedSize
    }
}

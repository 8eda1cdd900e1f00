// harden — random access to the members of an image archive (oci-archive, docker-archive) without unpacking it.
import HardenArchive
import HardenCore
import HardenSystem

/// The member table of a tar file: where each member's data lies, so blobs are read in place.
/// A compressed archive is first decompressed into a private temporary file.
public final class TarArchiveIndex: Sendable {
    public struct Member: Sendable {
        public var path: RawPath
        public var type: TarEntryType
        public var offset: Int64
        public var size: Int64
        public var linkTarget: [UInt8]
    }

    public let name: String
    public let dataPath: String
    private let members: [RawPath: Member]
    private let temporaryDirectory: String?
    public let descriptor: FileDescriptor

    public init(path: String) throws {
        self.name = path
        var dataPath = path
        var temporaryDirectory: String?
        do {
            let peek = PeekableReader(try FileReader(path: path))
            let compression = Compression.detect(try peek.peek(4))
            if compression != .none {
                // Archives are normally plain tar; a compressed one is expanded once to a private file.
                let dir = try HostFS.makeTemporaryDirectory(prefix: "harden-archive")
                temporaryDirectory = dir
                let out = try FileDescriptor.create(dir + "/archive.tar", mode: 0o600, exclusive: true)
                let writer = FileWriter(descriptor: out)
                try compression.decompressing(peek, name: path).copy(to: writer)
                try writer.finish()
                dataPath = dir + "/archive.tar"
            }
            let descriptor = try FileDescriptor.open(dataPath)
            let tar = TarReader(FileReader(descriptor: descriptor, name: path), name: path)
            var members: [RawPath: Member] = [:]
            while let e = try tar.next() {
                if members.count >= 1_000_000 {
                    throw HardenError(.limitExceeded, "\(path): more than 1000000 archive members")
                }
                let p = e.path.normalized
                members[p] = Member(
                    path: p, type: e.type, offset: tar.dataOffset, size: e.type == .regular ? e.size : 0,
                    linkTarget: e.linkTarget)
                if e.sparseMap != nil {
                    throw HardenError(.unsupported, "\(path): sparse member \(p) in an image archive")
                }
            }
            self.descriptor = descriptor
            self.members = members
        } catch {
            if let dir = temporaryDirectory { try? HostFS.removeTree(dir) }
            throw error
        }
        self.dataPath = dataPath
        self.temporaryDirectory = temporaryDirectory
    }

    deinit {
        if let dir = temporaryDirectory { try? HostFS.removeTree(dir) }
    }

    /// The regular-file member at `path`, following symlinks and hardlinks inside the archive.
    public func member(_ path: String) -> Member? { member(RawPath(path).normalized, hops: 0) }

    private func member(_ path: RawPath, hops: Int) -> Member? {
        guard hops < 16, let m = members[path] else { return nil }
        switch m.type {
        case .regular: return m
        case .hardlink: return member(RawPath(m.linkTarget).normalized, hops: hops + 1)
        case .symlink:
            let target = RawPath(m.linkTarget)
            let resolved =
                target.bytes.first == UInt8(ascii: "/")
                ? target.normalized
                : RawPath((path.parent ?? .root).bytes + [UInt8(ascii: "/")] + target.bytes).normalized
            return member(resolved, hops: hops + 1)
        default: return nil
        }
    }

    /// Reads a small member whole.
    public func read(_ path: String, limit: Int = 16 << 20) throws -> [UInt8] {
        guard let m = member(path) else { throw HardenError(.notFound, "\(name): no \(path) in the archive") }
        guard m.size <= Int64(limit) else {
            throw HardenError(.limitExceeded, "\(name): \(path) is larger than \(limit) bytes")
        }
        return try open(m).readAll(limit: limit, name: "\(name): \(path)")
    }

    public func open(_ member: Member) throws -> any ByteReader {
        FileReader(descriptor: descriptor, offset: member.offset, length: member.size, name: "\(name): \(member.path)")
    }
}

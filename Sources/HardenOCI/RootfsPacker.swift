// harden — a plain root file system as an image (`dir:` source): packed into one deterministic layer.
import HardenArchive
import HardenCore
import HardenSystem

#if canImport(Glibc)
import Glibc
#endif

/// Writes a layer blob to a temporary file while computing its digest and DiffID in one pass.
public final class LayerBlobWriter {
    public let tar: TarWriter
    private let file: FileWriter
    private let blobHash: HashingWriter
    private let compressor: any ByteWriter
    private let diffHash: HashingWriter
    public let path: String
    public let compression: Compression

    /// `gzipLevel`: 6 (zlib's default) unless a caller trades size for time (a patch layer uses 3: half the time,
    /// 6 % larger).
    public init(path: String, compression: Compression, gzipLevel: Int32 = 6) throws {
        self.path = path
        self.compression = compression
        file = FileWriter(descriptor: try FileDescriptor.create(path, mode: 0o644, exclusive: true))
        blobHash = HashingWriter(file)
        compressor =
            compression == .gzip ? try GzipWriter(blobHash, level: gzipLevel) : try compression.compressing(blobHash)
        diffHash = HashingWriter(compressor)
        tar = TarWriter(diffHash)
    }

    /// Ends the archive; returns the blob's digest and size and the DiffID.
    public func finish() throws -> (digest: Digest, size: Int64, diffID: Digest) {
        try tar.finish()
        try file.fd.sync()
        return (try Digest(parsing: blobHash.digestString), blobHash.count, try Digest(parsing: diffHash.digestString))
    }
}

/// A directory of loose blobs (a temporary store for images harden builds).
public final class DirectoryBlobStore: BlobStore {
    public let root: String
    private let owned: Bool
    public var name: String { root }

    public init(root: String, owned: Bool) {
        self.root = root
        self.owned = owned
    }

    deinit { if owned { try? HostFS.removeTree(root) } }

    public func path(of digest: Digest) -> String { root + "/" + digest.encoded }

    public func openRaw(_ digest: Digest) throws -> any ByteReader {
        guard HostFS.isRegularFile(path(of: digest)) else {
            throw HardenError(.notFound, "\(root): blob \(digest) is missing")
        }
        return try FileReader(path: path(of: digest))
    }

    public func contains(_ digest: Digest) -> Bool { HostFS.isRegularFile(path(of: digest)) }

    /// Stores `bytes` under their digest.
    public func put(_ bytes: [UInt8]) throws -> Digest {
        let d = Digest.sha256(of: bytes)
        try HostFS.writeFileAtomically(path(of: d), bytes)
        return d
    }

    /// Moves a finished file into the store under `digest`.
    public func adopt(_ file: String, as digest: Digest) throws { try HostFS.rename(file, path(of: digest)) }
}

public enum RootfsPacker {
    /// Packs `directory` into a one-layer image (uncompressed layer), kept in a temporary store.
    public static func image(fromDirectory directory: String) throws -> Image {
        guard HostFS.isDirectory(directory) else { throw HardenError(.notFound, "no such directory") }
        let storeDir = try HostFS.makeTemporaryDirectory(prefix: "harden-rootfs")
        let store = DirectoryBlobStore(root: storeDir, owned: true)
        let writer = try LayerBlobWriter(path: storeDir + "/layer.tmp", compression: .none)
        try pack(directory: directory, into: writer.tar)
        let (digest, size, diffID) = try writer.finish()
        try store.adopt(writer.path, as: digest)
        let config = ImageConfiguration(
            architecture: Platform.host.architecture, os: "linux", config: ContainerConfig(), diffIDs: [diffID],
            history: [History(createdBy: "harden: packed from dir:\(directory)")])
        let configBytes = try JSONCoding.encode(config)
        let configDigest = try store.put(configBytes)
        let manifest = Manifest(
            config: Descriptor(mediaType: MediaType.ociConfig, digest: configDigest, size: Int64(configBytes.count)),
            layers: [Descriptor(mediaType: MediaType.ociLayer, digest: digest, size: size)])
        return try Image(
            source: directory, manifest: manifest, manifestBytes: try JSONCoding.encode(manifest),
            configBytes: configBytes,
            store: store, tag: nil)
    }

    /// Writes the tree under `directory` as tar entries, sorted by name, hardlinks detected by inode.
    public static func pack(directory: String, into tar: TarWriter) throws {
        let root = try AnchoredDirectory(hostPath: directory)
        var seen: [UInt64: RawPath] = [:]
        try walk(root.root, path: .root, tar: tar, seen: &seen, directory: directory, depth: 0)
    }

    private static func walk(
        _ dirFD: FileDescriptor, path: RawPath, tar: TarWriter, seen: inout [UInt64: RawPath], directory: String,
        depth: Int
    ) throws {
        guard depth < 512 else {
            throw HardenError(.limitExceeded, "\(directory)/\(path): directories nested too deep")
        }
        let names = try listNames(dirFD)
        for name in names {
            let child = path.appending(name)
            var st = stat()
            guard withCPath(name, { fstatat(dirFD.raw, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else {
                throw HardenError(.io, "\(directory)/\(child): \(errnoText())")
            }
            var entry = TarEntry(
                path: child, type: .regular, mode: UInt32(st.st_mode & 0o7777), uid: Int(st.st_uid),
                gid: Int(st.st_gid),
                mtime: Int64(st.st_mtim.tv_sec))
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                entry.type = .directory
                try tar.append(entry)
                let fd = withCPath(name) { openat(dirFD.raw, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
                guard fd >= 0 else { throw HardenError(.io, "\(directory)/\(child): \(errnoText())") }
                try walk(
                    FileDescriptor(raw: fd), path: child, tar: tar, seen: &seen, directory: directory, depth: depth + 1)
            case S_IFREG:
                let inode = UInt64(st.st_ino)
                if st.st_nlink > 1, let first = seen[inode] {
                    entry.type = .hardlink
                    entry.linkTarget = first.bytes
                    try tar.append(entry)
                    continue
                }
                if st.st_nlink > 1 { seen[inode] = child }
                let fd = withCPath(name) { openat(dirFD.raw, $0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
                guard fd >= 0 else { throw HardenError(.io, "\(directory)/\(child): \(errnoText())") }
                entry.size = Int64(st.st_size)
                try tar.append(
                    entry,
                    from: FileReader(
                        descriptor: FileDescriptor(raw: fd), offset: 0, length: entry.size,
                        name: "\(directory)/\(child)"))
            case S_IFLNK:
                entry.type = .symlink
                var buf = [UInt8](repeating: 0, count: 4097)
                let n = withCPath(name) { c in
                    buf.withUnsafeMutableBufferPointer {
                        readlinkat(
                            dirFD.raw, c,
                            UnsafeMutableRawPointer($0.baseAddress.unsafelyUnwrapped).assumingMemoryBound(
                                to: CChar.self),
                            4096)
                    }
                }
                guard n >= 0 else { throw HardenError(.io, "\(directory)/\(child): \(errnoText())") }
                entry.linkTarget = Array(buf[0..<n])
                try tar.append(entry)
            case S_IFCHR, S_IFBLK:
                entry.type = (st.st_mode & S_IFMT) == S_IFCHR ? .characterDevice : .blockDevice
                entry.devMajor = DeviceNumber.major(st.st_rdev)
                entry.devMinor = DeviceNumber.minor(st.st_rdev)
                try tar.append(entry)
            case S_IFIFO:
                entry.type = .fifo
                try tar.append(entry)
            default:
                continue  // sockets are not archived
            }
        }
    }

    /// Entry names of a directory as bytes, sorted.
    static func listNames(_ dirFD: FileDescriptor) throws -> [[UInt8]] {
        let fd = dup(dirFD.raw)
        guard fd >= 0, let dir = fdopendir(fd) else { throw HardenError(.io, "cannot read directory: \(errnoText())") }
        defer { closedir(dir) }
        rewinddir(dir)
        var names: [[UInt8]] = []
        while let ent = readdir(dir) {
            let name: [UInt8] = withUnsafePointer(to: ent.pointee.d_name) {
                $0.withMemoryRebound(to: UInt8.self, capacity: 256) { p in
                    var out: [UInt8] = []
                    var i = 0
                    while i < 256 && p[i] != 0 {
                        out.append(p[i])
                        i += 1
                    }
                    return out
                }
            }
            if name == [0x2e] || name == [0x2e, 0x2e] { continue }
            names.append(name)
        }
        return names.sorted { $0.lexicographicallyPrecedes($1) }
    }
}

/// Blobs from several stores, first match wins (a patched image: its new layer, then the original's blobs).
public final class CombinedBlobStore: BlobStore {
    public let stores: [any BlobStore]
    public var name: String { stores.first?.name ?? "" }

    public init(_ stores: [any BlobStore]) { self.stores = stores }

    public func openRaw(_ digest: Digest) throws -> any ByteReader {
        guard let s = stores.first(where: { $0.contains(digest) }) else {
            throw HardenError(.notFound, "\(name): blob \(digest) is missing")
        }
        return try s.openRaw(digest)
    }

    public func contains(_ digest: Digest) -> Bool { stores.contains { $0.contains(digest) } }
}

extension Image {
    /// An image made of `config` and layer blobs already in `store` (the config is stored in `configStore`, by
    /// default `store`).
    public static func assemble(
        source: String, config: ImageConfiguration, layers: [Descriptor], store: any BlobStore,
        configStore: DirectoryBlobStore? = nil
    ) throws -> Image {
        let configBytes = try JSONCoding.encode(config)
        guard let target = configStore ?? (store as? DirectoryBlobStore) else {
            throw HardenError(.internalError, "assemble: no directory store for the config")
        }
        let configDigest = try target.put(configBytes)
        let manifest = Manifest(
            config: Descriptor(mediaType: MediaType.ociConfig, digest: configDigest, size: Int64(configBytes.count)),
            layers: layers)
        return try Image(
            source: source, manifest: manifest, manifestBytes: try JSONCoding.encode(manifest),
            configBytes: configBytes,
            store: store, tag: nil)
    }
}

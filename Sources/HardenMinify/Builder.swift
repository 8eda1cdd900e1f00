// harden — writing the hardened image: one new, byte-reproducible layer holding the keep set (metadata from
// the original layers, content from the unpacked image, setuid/setgid bits removed), and a hardened config.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenSystem

#if canImport(Glibc)
import Glibc
#endif

public struct BuiltLayer: Sendable {
    public var descriptor: Descriptor
    public var diffID: Digest
    public var files: Int
    public var bytes: Int64
    /// Paths whose setuid/setgid bits were removed.
    public var strippedModes: [String]
}

public enum LayerBuilder {
    /// Writes the kept paths (and every parent directory) into a gzip layer blob in `store`.
    /// - Parameters:
    ///   - rootfs: the unpacked original image (content of regular files).
    ///   - overrides: new content for some paths (the rewritten package database, added files).
    ///   - compression: gzip for the image; none for a draft that is only read back (no time spent compressing).
    public static func write(
        keep: [String: String], tree: FileTree, rootfs: String, overrides: [String: [UInt8]],
        store: DirectoryBlobStore, compression: Compression = .gzip
    ) throws -> BuiltLayer {
        // Every kept path and its ancestors, as tree paths.
        var paths = Set<RawPath>()
        for abs in keep.keys {
            var p: RawPath? = RawPath(String(abs.drop { $0 == "/" })).normalized
            while let q = p, !q.isRoot {
                if !paths.insert(q).inserted { break }
                p = q.parent
            }
        }
        for abs in overrides.keys {
            var p = RawPath(String(abs.drop { $0 == "/" })).normalized.parent
            while let q = p, !q.isRoot {
                paths.insert(q)
                p = q.parent
            }
        }
        let overridden = Dictionary(
            uniqueKeysWithValues: overrides.map { (RawPath(String($0.key.drop { $0 == "/" })).normalized, $0.value) })
        paths.formUnion(overridden.keys)
        let writer = try LayerBlobWriter(path: store.root + "/layer-\(getpid()).tmp", compression: compression)
        var files = 0
        var bytes: Int64 = 0
        var stripped: [String] = []
        for p in paths.sorted() {
            let node = tree.nodes[p]
            var entry = TarEntry(path: p, type: .directory, mode: 0o755, uid: 0, gid: 0, mtime: 0)
            if let node {
                entry.type = node.type == .hardlink ? .regular : node.type
                entry.mode = node.mode
                entry.uid = node.uid
                entry.gid = node.gid
                entry.mtime = node.mtime
                entry.linkTarget = node.linkTarget
                entry.xattrs = node.xattrs
                entry.devMajor = node.devMajor
                entry.devMinor = node.devMinor
            } else if overridden[p] != nil {
                entry.type = .regular
                entry.mode = 0o644
            } else {
                continue  // not in the image (a path only seen at run time)
            }
            if entry.type != .directory, entry.mode & 0o6000 != 0 {
                entry.mode &= ~0o6000
                stripped.append(p.absoluteDescription)
            }
            switch entry.type {
            case .regular:
                if let content = overridden[p] {
                    entry.size = Int64(content.count)
                    try writer.tar.append(entry, body: content)
                    bytes += entry.size
                } else {
                    let host = rootfs + p.absoluteDescription
                    let fd = try FileDescriptor.open(host, flags: O_RDONLY | O_NOFOLLOW)
                    entry.size = try fd.size()
                    try writer.tar.append(
                        entry, from: FileReader(descriptor: fd, offset: 0, length: entry.size, name: host))
                    bytes += entry.size
                }
                files += 1
            case .directory, .symlink, .characterDevice, .blockDevice, .fifo:
                try writer.tar.append(entry)
                if entry.type != .directory { files += 1 }
            default:
                continue
            }
        }
        let (digest, size, diffID) = try writer.finish()
        try store.adopt(writer.path, as: digest)
        return BuiltLayer(
            descriptor: Descriptor(mediaType: MediaType.ociLayer(compression), digest: digest, size: size),
            diffID: diffID,
            files: files, bytes: bytes, strippedModes: stripped.sorted())
    }
}

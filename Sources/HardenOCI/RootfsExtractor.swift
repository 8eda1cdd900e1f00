// harden — writing an image's squashed file system into a directory, safely.
import HardenArchive
import HardenCore
import HardenSystem

#if canImport(Glibc)
import Glibc
#endif

/// Extracts the squashed tree of an image into a directory. Every write goes through `AnchoredDirectory`,
/// so no entry can create or modify anything outside the target, whatever the layers say.
public enum RootfsExtractor {
    public struct Options: Sendable {
        /// Create character and block devices (root only). Off by default: a device node in an
        /// extracted tree grants raw access to host hardware.
        public var createDevices = false
        /// The most bytes of file content written in all (holes of sparse files are not written and not counted).
        public var maxBytesWritten: Int64 = 64 << 30
        /// Strip setuid/setgid bits from what is written.
        public var stripSetuid = false
        public init(createDevices: Bool = false, maxBytesWritten: Int64 = 64 << 30, stripSetuid: Bool = false) {
            self.createDevices = createDevices
            self.maxBytesWritten = maxBytesWritten
            self.stripSetuid = stripSetuid
        }
    }

    public struct Result: Sendable {
        public var files = 0
        public var directories = 0
        public var symlinks = 0
        public var hardlinks = 0
        public var skippedDevices: [String] = []
        /// Bytes of file content written (holes excluded).
        public var bytesWritten: Int64 = 0
        /// Setuid/setgid files written (with their bits unless `stripSetuid`).
        public var setuidFiles: [String] = []
    }

    /// Extracts into `target`, which must not exist or be empty. The result is written into a temporary
    /// sibling and renamed into place, so a failure leaves no half-written tree behind.
    public static func extract(
        _ image: Image, tree: FileTree, to target: String, options: Options = Options()
    ) throws -> Result {
        HostFS.sweepStaleSiblings(of: HostFS.absolute(target))
        if HostFS.exists(target) {
            guard HostFS.isDirectory(target), try HostFS.listDirectory(target).isEmpty else {
                throw HardenError(.invalidArgument, "\(target): destination exists and is not an empty directory")
            }
        }
        let (parent, _) = HostFS.split(HostFS.absolute(target))
        try HostFS.makeDirectories(parent)
        let staging = HostFS.temporarySibling(of: HostFS.absolute(target))
        do {
            let result = try extract(image, tree: tree, into: staging, options: options)
            if HostFS.exists(target) { try HostFS.removeTree(target) }
            try HostFS.rename(staging, target)
            return result
        } catch {
            try? HostFS.removeTree(staging)
            throw error
        }
    }

    static func extract(_ image: Image, tree: FileTree, into dir: String, options: Options) throws -> Result {
        let root = try AnchoredDirectory(hostPath: dir, create: true)
        var result = Result()
        let paths = tree.sortedPaths
        // Which paths need which content; the first one gets the bytes, the rest are hard-linked to it.
        var wanted: [ContentKey: [RawPath]] = [:]
        for p in paths {
            guard let n = tree.nodes[p] else { continue }
            switch n.type {
            case .directory:
                if !p.isRoot {
                    try root.makeDirectory(p, mode: 0o700)
                    result.directories += 1
                }
            case .regular:
                if let k = n.content { wanted[k, default: []].append(p) }
            default: break
            }
        }
        // Stream the layers that hold needed content.
        let layersNeeded = Set(wanted.keys.map(\.layer))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        for layer in layersNeeded.sorted() {
            var index = 0
            try image.forEachEntry(inLayer: layer) { entry, tar in
                defer { index += 1 }
                guard let targets = wanted[ContentKey(layer: layer, entry: index)], let first = targets.first else {
                    return
                }
                let fd = try root.createFile(first, mode: 0o600)
                // Stored bytes go where they belong; holes of sparse entries are left as holes.
                while let (offset, n) = try tar.readBodyData(into: buffer) {
                    result.bytesWritten += Int64(n)
                    if result.bytesWritten > options.maxBytesWritten {
                        throw HardenError(
                            .limitExceeded,
                            "layer \(layer): writing \(first.absoluteDescription) would take the files written past \(options.maxBytesWritten) bytes (--max-write)"
                        )
                    }
                    try fd.pwriteAll(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), at: offset)
                }
                try fd.truncate(to: entry.size)
                result.files += 1
            }
        }
        for (_, targets) in wanted.sorted(by: { $0.key < $1.key }) {
            guard let first = targets.first else { continue }
            for other in targets.dropFirst() {
                try root.createHardlink(other, to: first)
                result.hardlinks += 1
            }
        }
        // Links and special files.
        for p in paths {
            guard let n = tree.nodes[p] else { continue }
            switch n.type {
            case .symlink:
                try root.createSymlink(p, target: n.linkTarget)
                result.symlinks += 1
            case .fifo:
                try root.createNode(p, mode: S_IFIFO | 0o600, device: 0)
            case .characterDevice, .blockDevice:
                if options.createDevices && geteuid() == 0 {
                    let kind = n.type == .characterDevice ? S_IFCHR : S_IFBLK
                    try root.createNode(
                        p, mode: kind | 0o600, device: DeviceNumber.make(major: n.devMajor, minor: n.devMinor))
                } else {
                    result.skippedDevices.append(p.absoluteDescription)
                }
            default: break
            }
        }
        // Metadata last, deepest first, so directory modes and times are not disturbed by their children.
        for p in paths.reversed() {
            guard let n = tree.nodes[p] else { continue }
            if (n.type == .characterDevice || n.type == .blockDevice) && !(options.createDevices && geteuid() == 0) {
                continue
            }
            if p.isRoot {
                if fchmod(root.root.raw, mode_t(n.mode & 0o7777)) != 0 {
                    throw HardenError(.io, "\(dir): cannot change mode: \(errnoText())")
                }
                if geteuid() == 0 { _ = fchown(root.root.raw, uid_t(n.uid), gid_t(n.gid)) }
                continue
            }
            root.invalidateCache()
            var mode = n.mode & 0o7777
            if n.type == .regular && mode & 0o6000 != 0 {
                result.setuidFiles.append(p.absoluteDescription)
                if options.stripSetuid { mode &= ~UInt32(0o6000) }
            }
            try root.setMetadata(
                p, uid: UInt32(clamping: n.uid), gid: UInt32(clamping: n.gid), mode: mode_t(mode),
                mtime: n.mtime, isSymlink: n.type == .symlink)
            if n.type == .regular || n.type == .directory { try root.setXattrs(p, n.xattrs) }
        }
        return result
    }
}

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
        public init(createDevices: Bool = false) { self.createDevices = createDevices }
    }

    public struct Result: Sendable {
        public var files = 0
        public var directories = 0
        public var symlinks = 0
        public var hardlinks = 0
        public var skippedDevices: [String] = []
    }

    /// Extracts into `target`, which must not exist or be empty. The result is written into a temporary
    /// sibling and renamed into place, so a failure leaves no half-written tree behind.
    public static func extract(_ image: Image, tree: FileTree, to target: String, options: Options = Options()) throws -> Result {
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
                if !p.isRoot { try root.makeDirectory(p, mode: 0o700); result.directories += 1 }
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
            try image.forEachEntry(inLayer: layer) { _, tar in
                defer { index += 1 }
                guard let targets = wanted[ContentKey(layer: layer, entry: index)], let first = targets.first else { return }
                let fd = try root.createFile(first, mode: 0o600)
                let out = FileWriter(descriptor: fd)
                while true {
                    let n = try tar.readBody(into: buffer)
                    if n == 0 { break }
                    try out.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                }
                try out.finish()
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
                    try root.createNode(p, mode: kind | 0o600, device: DeviceNumber.make(major: n.devMajor, minor: n.devMinor))
                } else {
                    result.skippedDevices.append(p.absoluteDescription)
                }
            default: break
            }
        }
        // Metadata last, deepest first, so directory modes and times are not disturbed by their children.
        for p in paths.reversed() {
            guard let n = tree.nodes[p] else { continue }
            if (n.type == .characterDevice || n.type == .blockDevice) && !(options.createDevices && geteuid() == 0) { continue }
            if p.isRoot {
                if fchmod(root.root.raw, mode_t(n.mode & 0o7777)) != 0 { throw HardenError(.io, "\(dir): cannot change mode: \(errnoText())") }
                if geteuid() == 0 { _ = fchown(root.root.raw, uid_t(n.uid), gid_t(n.gid)) }
                continue
            }
            root.invalidateCache()
            try root.setMetadata(p, uid: UInt32(clamping: n.uid), gid: UInt32(clamping: n.gid), mode: mode_t(n.mode & 0o7777),
                                 mtime: n.mtime, isSymlink: n.type == .symlink)
            if n.type == .regular || n.type == .directory { try root.setXattrs(p, n.xattrs) }
        }
        return result
    }
}

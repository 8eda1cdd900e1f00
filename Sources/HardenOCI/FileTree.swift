// harden — the squashed view of an image's layers: whiteouts applied, each path knowing its layer.
import HardenArchive
import HardenCore

/// Identifies the tar entry whose bytes a regular file has: (layer, index of the entry in that layer).
public struct ContentKey: Hashable, Sendable, Comparable {
    public var layer: Int
    public var entry: Int
    public init(layer: Int, entry: Int) {
        self.layer = layer
        self.entry = entry
    }
    public static func < (a: ContentKey, b: ContentKey) -> Bool { (a.layer, a.entry) < (b.layer, b.entry) }
}

/// One path of the squashed file system.
public struct FileNode: Sendable, Hashable {
    public var type: TarEntryType
    public var mode: UInt32
    public var uid: Int
    public var gid: Int
    public var size: Int64
    public var mtime: Int64
    public var linkTarget: [UInt8]
    public var devMajor: UInt32
    public var devMinor: UInt32
    public var xattrs: [String: [UInt8]]
    /// The layer that provided this path (for implicit parent directories, the layer that needed them).
    public var layer: Int
    /// For regular files: where their bytes are (hardlinks share their target's key).
    public var content: ContentKey?
    /// True for directories no layer listed (created because a deeper path needed them).
    public var implicit: Bool

    public var isDirectory: Bool { type == .directory }
}

/// The squashed file system of an image, built by applying layers in order.
///
/// Whiteouts (`.wh.NAME`) and opaque markers (`.wh..wh..opq`) hide lower layers only, never entries of the same
/// layer, whatever their order in the tar. Paths are normalized with the root as a floor and parents that
/// are symlinks are resolved inside the tree, so no entry can name anything outside the root.
public final class FileTree {
    public private(set) var nodes: [RawPath: FileNode] = [:]
    private var children: [RawPath: Set<RawPath>] = [:]
    /// Small files whose content callers asked to keep (`/etc/os-release`…), by content key.
    public private(set) var captured: [ContentKey: [UInt8]] = [:]
    /// Paths whose content to capture while applying layers.
    public var capturePaths = Set(FileTree.osReleaseFiles)
    /// The files that name an image's operating system, in the order they are believed.
    public static let osReleaseFiles: [RawPath] = [
        "etc/os-release", "usr/lib/os-release", "etc/debian_version", "etc/alpine-release",
    ]
    /// Problems that did not stop the squash (hostile or odd entries that were neutralised).
    public private(set) var warnings: [String] = []
    private var currentLayer = 0
    private var entryIndex = 0

    public init() {
        nodes[.root] = FileNode(
            type: .directory, mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0, linkTarget: [], devMajor: 0,
            devMinor: 0, xattrs: [:], layer: 0, content: nil, implicit: true)
    }

    /// Applies every layer of `image` in order.
    public static func build(
        from image: Image, limits: DecompressionLimits = .default,
        onLayer: ((Int, LayerStats) -> Void)? = nil
    ) throws -> FileTree {
        let tree = FileTree()
        for i in image.layers.indices {
            let stats = try tree.apply(image: image, layer: i, limits: limits)
            onLayer?(i, stats)
        }
        return tree
    }

    /// What one layer contained.
    public struct LayerStats: Sendable {
        public var entries = 0
        public var files = 0
        public var whiteouts = 0
        public var uncompressedBytes: Int64 = 0
        public var contentBytes: Int64 = 0
    }

    /// Applies layer `layer` of `image`, streaming it.
    @discardableResult
    public func apply(image: Image, layer: Int, limits: DecompressionLimits = .default) throws -> LayerStats {
        var stats = LayerStats()
        begin(layer: layer)
        let stream = try image.openLayer(layer, limits: limits)
        let counted = CountingReader(stream)
        let tar = TarReader(counted, name: "\(image.source): layer \(layer)")
        while let entry = try tar.next() {
            stats.entries += 1
            if entry.type == .regular {
                stats.files += 1
                stats.contentBytes += entry.size
            }
            if entry.path.lastComponent.starts(with: Array(".wh.".utf8)) { stats.whiteouts += 1 }
            try add(entry, body: tar)
        }
        try tar.drainTrailer(
            limit: 64 << 20,
            onExcess: "more than 64 MiB of data after the end of the tar archive (a decompression bomb?)")
        stats.uncompressedBytes = counted.count
        return stats
    }

    /// Starts a new layer; entries added next belong to it.
    private static let whiteoutPrefix = Array(".wh.".utf8)
    private static let opaqueMarker = Array(".wh..wh..opq".utf8)

    /// Makes room for `count` more paths (the squash of scanned layers knows how many entries follow).
    public func reserveCapacity(_ count: Int) {
        nodes.reserveCapacity(nodes.count + count)
        children.reserveCapacity(children.count + count / 8)
    }

    public func begin(layer: Int) {
        currentLayer = layer
        entryIndex = 0
    }

    /// Applies one tar entry of the current layer. `body` is used only to capture small files.
    public func add(_ entry: TarEntry, body: TarReader?) throws {
        let key = ContentKey(layer: currentLayer, entry: entryIndex)
        entryIndex += 1
        let raw = entry.path
        if raw.climbsAboveRoot {
            warnings.append("layer \(currentLayer): entry \(raw) climbs above the root; kept inside it")
        }
        var path = resolveParents(raw.normalized)
        let name = path.lastComponent

        // Whiteouts.
        if name.starts(with: Self.whiteoutPrefix) {
            let parent = path.parent ?? .root
            if name == Self.opaqueMarker {
                removeLower(childrenOf: parent)
                return
            }
            let target = Array(name.dropFirst(4))
            if target.isEmpty || target == Array(".".utf8) || target == Array("..".utf8) {
                warnings.append("layer \(currentLayer): ignored whiteout \(raw) that names no file")
                return
            }
            removeLower(parent.appending(target))
            return
        }
        if path.isRoot {
            if entry.type == .directory { updateRoot(entry) }
            return
        }

        var node = FileNode(
            type: entry.type, mode: entry.mode, uid: entry.uid, gid: entry.gid,
            size: entry.type == .regular ? entry.size : 0,
            mtime: entry.mtime, linkTarget: entry.linkTarget, devMajor: entry.devMajor, devMinor: entry.devMinor,
            xattrs: entry.xattrs, layer: currentLayer, content: nil, implicit: false)
        switch entry.type {
        case .regular:
            node.content = key
            if capturePaths.contains(path), let body, entry.size <= 1 << 20 {
                captured[key] = try body.readWholeBody(limit: 1 << 20)
            }
        case .hardlink:
            let target = resolveParents(RawPath(entry.linkTarget).normalized)
            guard let t = nodes[target], t.type == .regular, let content = t.content else {
                throw HardenError(
                    .corrupt,
                    "layer \(currentLayer): hardlink \(raw) points to \(RawPath(entry.linkTarget)), which is not a regular file in the image"
                )
            }
            // A hardlink shares its target's inode: content and metadata.
            node = t
            node.layer = currentLayer
            node.content = content
            node.implicit = false
        case .other(let flag):
            warnings.append("layer \(currentLayer): skipped \(raw) of unsupported tar type \(flag)")
            return
        default:
            break
        }
        path = path.normalized
        if entry.type == .directory, let existing = nodes[path], existing.isDirectory {
            // Re-listing a directory updates its metadata and keeps its children.
            node.implicit = false
            nodes[path] = node
            return
        }
        remove(path)
        insert(path, node)
    }

    private func updateRoot(_ entry: TarEntry) {
        guard var root = nodes[.root] else { return }
        root.mode = entry.mode
        root.uid = entry.uid
        root.gid = entry.gid
        root.mtime = entry.mtime
        root.xattrs = entry.xattrs
        root.implicit = false
        nodes[.root] = root
    }

    /// Resolves symlinks among `path`'s parents inside the tree (root as a floor, at most 40 links),
    /// so `a/b` under a symlink `a -> /etc` names `etc/b`, as a container runtime would see it.
    public func resolveParents(_ path: RawPath) -> RawPath {
        // Fast path: the parent already exists as a real directory, so no component of it is a symlink
        // (every directory in the tree was reached through resolved parents).
        guard let parent = path.parent else { return path }
        if parent.isRoot || nodes[parent]?.isDirectory == true { return path }
        let comps = path.components
        guard comps.count > 1 else { return path }
        var resolved = RawPath.root
        var hops = 0
        var queue = Array(comps.dropLast().map(Array.init))
        var i = 0
        while i < queue.count {
            let next = resolved.appending(queue[i])
            if let n = nodes[next], n.type == .symlink, hops < 40 {
                hops += 1
                let target = RawPath(n.linkTarget)
                let base = target.bytes.first == UInt8(ascii: "/") ? RawPath.root : resolved
                // Re-walk the link target's components from `base`, then continue with the rest.
                let rest = Array(queue[(i + 1)...])
                let joined = RawPath(base.bytes + [UInt8(ascii: "/")] + target.bytes).normalized
                resolved = .root
                queue = joined.components.map(Array.init) + rest
                i = 0
                continue
            }
            resolved = next
            i += 1
        }
        return resolved.appending(Array(comps.last ?? []))
    }

    private func insert(_ path: RawPath, _ node: FileNode) {
        ensureDirectory(path.parent ?? .root)
        nodes[path] = node
        children[path.parent ?? .root, default: []].insert(path)
    }

    private func ensureDirectory(_ path: RawPath) {
        if path.isRoot { return }
        if let n = nodes[path], n.isDirectory { return }
        if nodes[path] != nil {
            warnings.append(
                "layer \(currentLayer): /\(path) was replaced by a directory because a later entry lies below it")
            remove(path)
        }
        ensureDirectory(path.parent ?? .root)
        nodes[path] = FileNode(
            type: .directory, mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0, linkTarget: [], devMajor: 0, devMinor: 0,
            xattrs: [:], layer: currentLayer, content: nil, implicit: true)
        children[path.parent ?? .root, default: []].insert(path)
    }

    /// Removes `path` and everything below it.
    private func remove(_ path: RawPath) {
        guard nodes.removeValue(forKey: path) != nil else { return }
        children[path.parent ?? .root]?.remove(path)
        var stack = [path]
        while let p = stack.popLast() {
            if let kids = children.removeValue(forKey: p) {
                for k in kids {
                    nodes.removeValue(forKey: k)
                    stack.append(k)
                }
            }
        }
    }

    /// Whiteout: removes `path` and its descendants provided by lower layers; same-layer entries stay.
    private func removeLower(_ path: RawPath) {
        guard let n = nodes[path] else { return }
        let sameLayer = n.layer == currentLayer && !n.implicit
        if sameLayer && !n.isDirectory { return }
        if n.isDirectory && (sameLayer || subtreeHasCurrentLayer(path)) {
            removeLower(childrenOf: path)
        } else {
            remove(path)
        }
    }

    private func subtreeHasCurrentLayer(_ dir: RawPath) -> Bool {
        var stack = [dir]
        while let d = stack.popLast() {
            for c in children[d] ?? [] {
                guard let n = nodes[c] else { continue }
                if n.layer == currentLayer && !n.implicit { return true }
                if n.isDirectory { stack.append(c) }
            }
        }
        return false
    }

    /// Opaque directory: removes the lower-layer content of `dir`, keeping what this layer put there.
    private func removeLower(childrenOf dir: RawPath) {
        for child in children[dir] ?? [] {
            guard let n = nodes[child] else { continue }
            if n.layer < currentLayer {
                remove(child)
            } else if n.isDirectory {
                removeLower(childrenOf: child)
            }
        }
    }

    // MARK: queries

    /// Every path, sorted (parents before children).
    public var sortedPaths: [RawPath] { nodes.keys.sorted() }

    /// Number of entries other than the root directory.
    public var entryCount: Int { nodes.count - 1 }

    public var regularFileCount: Int { nodes.values.reduce(0) { $0 + ($1.type == .regular ? 1 : 0) } }

    /// Sum of regular file sizes, counting hardlinked content once.
    public var contentSize: Int64 {
        var seen = Set<ContentKey>()
        var total: Int64 = 0
        for n in nodes.values where n.type == .regular {
            if let k = n.content, seen.insert(k).inserted { total += n.size }
        }
        return total
    }

    /// The content of a small captured file at `path`, following symlinks inside the tree.
    public func capturedContent(_ path: RawPath) -> [UInt8]? {
        guard let p = resolve(path), let n = nodes[p], let k = n.content else { return nil }
        return captured[k]
    }

    /// Follows symlinks (the path's own and its parents') inside the tree; `nil` if it dangles or loops.
    public func resolve(_ path: RawPath, hops: Int = 0) -> RawPath? {
        guard hops < 40 else { return nil }
        let p = resolveParents(path.normalized)
        guard let n = nodes[p] else { return nil }
        if n.type == .symlink {
            let target = RawPath(n.linkTarget)
            let base = target.bytes.first == UInt8(ascii: "/") ? RawPath.root : (p.parent ?? .root)
            return resolve(RawPath(base.bytes + [UInt8(ascii: "/")] + target.bytes).normalized, hops: hops + 1)
        }
        return p
    }

    /// The paths below `dir`, directly.
    public func children(of dir: RawPath) -> [RawPath] { (children[dir] ?? []).sorted() }
}

/// Counts bytes read through it.
public final class CountingReader: ByteReader {
    private let inner: any ByteReader
    public private(set) var count: Int64 = 0
    public init(_ inner: any ByteReader) { self.inner = inner }
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try inner.read(into: buffer)
        count += Int64(n)
        return n
    }
}

// harden — the image's squashed view (paths, types, links and the captured small files such as /etc/passwd) and
// the cataloger protocol every ecosystem's cataloger implements.
import HardenArchive
import HardenCore
import HardenOCI

/// The squashed file system with the captured contents of the files catalogers asked for.
public final class CatalogContext {
    public let tree: FileTree
    public let scans: [LayerScan]
    public let diffIDs: [Digest]
    public private(set) var warnings: [String] = []
    public var os: OSInfo?

    public init(tree: FileTree, scans: [LayerScan]) {
        self.tree = tree
        self.scans = scans
        self.diffIDs = scans.map(\.diffID)
    }

    public func warn(_ message: String) { warnings.append(message) }

    /// The captured content of `path` in the squashed view (following symlinks), if captured.
    public func content(_ path: RawPath) -> [UInt8]? {
        guard let p = tree.resolve(path), let n = tree.nodes[p], let key = n.content else { return nil }
        return scans[key.layer].captures[key.entry]
    }

    /// The content of `path` as each layer that wrote it left it, bottom to top.
    public func history(_ path: RawPath) -> [(layer: Int, bytes: [UInt8])] {
        var out: [(Int, [UInt8])] = []
        for (l, scan) in scans.enumerated() {
            for (i, e) in scan.entries.enumerated() where e.type == .regular && e.path.normalized == path {
                if let b = scan.captures[i] { out.append((l, b)) }
            }
        }
        return out
    }

    private var capturedCache: [(path: RawPath, bytes: [UInt8])]?

    /// Every path of the squashed tree whose captured content exists, with the content, sorted by path.
    public func capturedFiles() -> [(path: RawPath, bytes: [UInt8])] {
        if let capturedCache { return capturedCache }
        let files = computeCapturedFiles()
        capturedCache = files
        return files
    }

    private func computeCapturedFiles() -> [(path: RawPath, bytes: [UInt8])] {
        var out: [(RawPath, [UInt8])] = []
        for (p, n) in tree.nodes where n.type == .regular {
            if let k = n.content, let b = scans[k.layer].captures[k.entry] { out.append((p, b)) }
        }
        return out.sorted { $0.0 < $1.0 }
    }

    /// The layer that provided `path` in the squashed view.
    public func layer(of path: RawPath) -> LayerRef? {
        guard let n = tree.nodes[path] else { return nil }
        let l = n.content?.layer ?? n.layer
        return LayerRef(index: l, diffID: diffIDs[l].description)
    }

    public func layerRef(_ index: Int) -> LayerRef { LayerRef(index: index, diffID: diffIDs[index].description) }

    /// The path as the squashed tree stores it: `/lib/x.so` under a `/lib -> usr/lib` symlink is `usr/lib/x.so`.
    /// Returns nil when nothing is there, or when it is a directory (packages own files and links).
    public func ownedFile(_ path: RawPath) -> RawPath? {
        let p = tree.resolveParents(path.normalized)
        guard !p.isRoot, let n = tree.nodes[p], n.type != .directory else { return nil }
        return p
    }

    /// True when `path` is present (any type) in the squashed view.
    public func exists(_ path: RawPath) -> Bool { tree.nodes[path] != nil }
}

/// A cataloger reads the squashed view and returns the packages it recognises.
public protocol Cataloger {
    var name: String { get }
    func catalog(_ context: CatalogContext) -> [SoftwarePackage]
}

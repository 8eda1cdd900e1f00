// harden — building an SBOM: scan (or load) each layer, squash, run the catalogers on the squashed view.
import HardenArchive
import HardenCore
import HardenOCI
import Logging

/// The squashed file system with the captured contents of the files catalogers asked for.
public final class CatalogContext {
    public let tree: FileTree
    public let scans: [LayerScan]
    public let diffIDs: [Digest]
    public private(set) var warnings: [String] = []
    public var os: OSInfo?

    init(tree: FileTree, scans: [LayerScan]) {
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

/// Builds SBOMs.
public struct SBOMBuilder {
    public var cache: LayerCache?
    public var catalogers: [any Cataloger]
    public var logger: Logger

    public init(cache: LayerCache? = LayerCache(directory: LayerCache.defaultDirectory()), logger: Logger = .harden) {
        self.cache = cache
        self.logger = logger
        self.catalogers = [
            DpkgCataloger(), ApkCataloger(), RpmCataloger(), PythonCataloger(), NpmCataloger(), GemCataloger(),
            GoBinaryCataloger(), JavaArchiveCataloger(), BinaryCataloger(), RustAuditCataloger(), DotnetDepsCataloger(),
            ComposerCataloger(),
        ]
    }

    /// Scans (or loads from the cache) every layer, squashes them and catalogs the result.
    public func build(_ image: Image, reference: String, onLayer: ((Int, Bool) -> Void)? = nil) throws -> SBOM {
        try catalog(image, reference: reference, onLayer: onLayer).sbom
    }

    /// The SBOM and the squashed view it was made from (paths, types, links, and the captured small files such
    /// as /etc/passwd), so callers that need both read the layers once (or not at all, from the cache).
    public func catalog(
        _ image: Image, reference: String, onLayer: ((Int, Bool) -> Void)? = nil
    ) throws -> (sbom: SBOM, context: CatalogContext) {
        var scans: [LayerScan] = []
        for i in image.layers.indices {
            let diffID = image.layers[i].diffID
            if let cached = cache?.load(diffID) {
                logger.debug("Layer scan from cache", metadata: ["layer.index": "\(i)", "layer.diffID": "\(diffID)"])
                scans.append(cached)
                onLayer?(i, true)
                continue
            }
            let scan = try LayerScan.scan(image, layer: i)
            if let cache {
                do { try cache.store(scan) } catch {
                    logger.warning("Cannot write the layer cache", metadata: ["error": "\(error)"])
                }
            }
            scans.append(scan)
            onLayer?(i, false)
        }
        return try build(scans: scans, image: image, reference: reference)
    }

    func build(scans: [LayerScan], image: Image, reference: String) throws -> (sbom: SBOM, context: CatalogContext) {
        let tree = FileTree()
        for (i, scan) in scans.enumerated() {
            tree.begin(layer: i)
            for e in scan.entries { try tree.add(e, body: nil) }
        }
        let context = CatalogContext(tree: tree, scans: scans)
        context.os = OSInfo.detect { context.content($0) }
        var packages: [SoftwarePackage] = []
        for c in catalogers { packages += c.catalog(context) }
        packages = Ownership.resolve(packages)
        packages = Self.uniqueIDs(packages).sorted()
        let source = SBOM.Source(
            reference: reference, manifestDigest: image.manifestDigest.description,
            configDigest: image.manifest.config.digest.description, tag: image.tag,
            platform: image.config.platform.description, created: image.config.created,
            layers: scans.indices.map { context.layerRef($0) })
        return (
            SBOM(source: source, os: context.os, packages: packages, warnings: tree.warnings + context.warnings),
            context
        )
    }

    /// Makes every package id unique (the same name and version found at two locations).
    static func uniqueIDs(_ packages: [SoftwarePackage]) -> [SoftwarePackage] {
        var seen: [String: Int] = [:]
        return packages.sorted().map { p in
            var q = p
            let n = seen[p.id, default: 0]
            seen[p.id] = n + 1
            if n > 0 { q.id = "\(p.id)#\(n + 1)" }
            return q
        }
    }
}

/// Marks language packages whose metadata an OS package owns, and fills OS packages' file lists.
enum Ownership {
    static func resolve(_ packages: [SoftwarePackage]) -> [SoftwarePackage] {
        var owner: [String: String] = [:]
        for p in packages where p.type.isOS {
            for f in p.files { owner[f] = owner[f] ?? "\(p.type.rawValue):\(p.name)" }
        }
        return packages.compactMap { p in
            guard !p.type.isOS else { return p }
            // A runtime found by its binaries is reported only for files no package database owns.
            if p.type == .binary {
                let unowned = p.files.filter { owner[$0] == nil }
                guard !unowned.isEmpty else { return nil }
                var q = p
                q.files = unowned
                q.locations = unowned
                return q
            }
            var q = p
            if let o = p.locations.lazy.compactMap({ owner[$0] }).first { q.ownedBy = o }
            return q
        }
    }
}

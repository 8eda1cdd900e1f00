// harden — building an SBOM: scan (or load) each layer, squash, run the catalogers on the squashed view.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import Logging

/// Builds SBOMs.
public struct SBOMBuilder {
    public var cache: LayerCache?
    public var catalogers: [any Cataloger]
    /// Which files the layer scan captures. The layer cache holds scans made with the standard ecosystems: pass no
    /// cache with other ones.
    public var capture: CapturePolicy
    public var logger: Logger
    /// How many layers are scanned at once (`--jobs`; the layer cache is shared safely between them).
    public var jobs: Int = Parallelism.jobs

    public init(
        cache: LayerCache? = LayerCache(directory: LayerCache.defaultDirectory()), logger: Logger = .harden,
        ecosystems: [any PackageEcosystem] = Ecosystems.standard
    ) {
        self.cache = cache
        self.logger = logger
        self.catalogers = ecosystems.map(\.cataloger) + Ecosystems.languageCatalogers
        self.capture = CapturePolicy(ecosystems: ecosystems)
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
        let (scans, tree) = try scanLayers(image, onLayer: onLayer)
        return try build(scans: scans, tree: tree, image: image, reference: reference)
    }

    /// Every layer's scan, in layer order, and the squashed tree: scans come from the cache or are streamed, `jobs`
    /// layers at a time (each layer's evidence is independent), while a thread of its own applies their entries to
    /// the tree in layer order. `onLayer` is called once per layer, never from two threads at once.
    func scanLayers(_ image: Image, onLayer: ((Int, Bool) -> Void)?) throws -> ([LayerScan], FileTree) {
        let count = image.layers.count
        let results = ParallelResults<LayerScan>(count: count)
        // The cached scans are loaded first: their entry counts size the tree.
        var cached: [Int: LayerScan] = [:]
        for (i, layer) in image.layers.enumerated() { cached[i] = cache?.load(layer.diffID) }
        let squash = ConcurrentSquash(
            layerCount: count, expectedEntries: cached.values.reduce(0) { $0 + $1.entries.count }, threaded: jobs > 1)
        do {
            try ParallelLoop.run(count: count, jobs: jobs) { i in
                if let scan = cached[i] {
                    logger.debug("Layer scan from cache", metadata: ["layer.index": "\(i)"])
                    squash.add(layer: i, scan.entries)
                    squash.finish(layer: i)
                    results.set(i, scan) { onLayer?(i, true) }
                    return
                }
                let scan = try LayerScan.scan(image, layer: i, policy: capture) { squash.add(layer: i, $0) }
                squash.finish(layer: i)
                if let cache {
                    do { try cache.store(scan) } catch {
                        logger.warning("Cannot write the layer cache", metadata: ["error": "\(error)"])
                    }
                }
                results.set(i, scan) { onLayer?(i, false) }
            }
        } catch {
            squash.cancel()
            throw error
        }
        return (results.values.compactMap { $0 }, try squash.result())
    }

    /// The SBOM of layers already scanned and squashed into `tree`.
    func build(
        scans: [LayerScan], tree: FileTree, image: Image, reference: String
    ) throws -> (sbom: SBOM, context: CatalogContext) {
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

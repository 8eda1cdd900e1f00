// harden — opening an image from any local transport.
import HardenArchive
import HardenCore
import HardenSystem

/// Opens images. Registry references are handled by a registry module; this type reads local ones.
public enum ImageLoader {
    public struct Options: Sendable {
        public var platform: Platform
        /// True when the user named the platform (a single-platform image for another platform is then an error).
        public var platformExplicit: Bool
        public init(platform: Platform = .defaultPlatform, platformExplicit: Bool = false) {
            self.platform = platform
            self.platformExplicit = platformExplicit
        }
    }

    public static func open(_ reference: ImageReference, options: Options = Options()) throws -> Image {
        do {
            switch reference {
            case .ociLayout(let path, let tag):
                guard HostFS.isDirectory(path) else { throw HardenError(.notFound, "\(path): no such directory") }
                let store = LayoutBlobStore(root: path)
                let layout = try HostFS.readFile(path + "/oci-layout", limit: 1 << 20)
                let indexBytes = try HostFS.readFile(path + "/index.json", limit: 16 << 20)
                return try openLayout(
                    layoutBytes: layout, indexBytes: indexBytes, store: store, name: path, tag: tag, options: options)
            case .ociArchive(let path, let tag):
                let archive = try TarArchiveIndex(path: path)
                let store = ArchiveBlobStore(archive: archive)
                let layout = try archive.read("oci-layout", limit: 1 << 20)
                let indexBytes = try archive.read("index.json")
                return try openLayout(
                    layoutBytes: layout, indexBytes: indexBytes, store: store, name: path, tag: tag, options: options)
            case .dockerArchive(let path, let repoTag):
                return try openDockerArchive(path: path, repoTag: repoTag)
            case .rootfs(let path):
                return try RootfsPacker.image(fromDirectory: path)
            case .registry(let r):
                // Registry images are pulled asynchronously by HardenRegistry (RegistryTransfer.pull), which the commands use.
                throw HardenError(
                    .internalError,
                    "docker://\(r): registry images are opened with RegistryTransfer.pull, not ImageLoader")
            }
        } catch let e as HardenError {
            throw e.prefixed(reference.path ?? reference.description)
        }
    }

    // MARK: OCI layout (directory or archive)

    static func openLayout(
        layoutBytes: [UInt8], indexBytes: [UInt8], store: any BlobStore, name: String, tag: String?,
        options: Options
    ) throws -> Image {
        struct Layout: Decodable { var imageLayoutVersion: String }
        let layout: Layout = try JSONCoding.decode(layoutBytes, source: "oci-layout", what: "oci-layout file")
        guard layout.imageLayoutVersion.hasPrefix("1.") else {
            throw HardenError(.unsupported, "oci-layout version \(layout.imageLayoutVersion) is not supported")
        }
        let index = try Index.parse(indexBytes, source: "index.json")
        // Signatures, attestations and other referrers stored beside the image are not images to open.
        var candidates = index.manifests.filter { !$0.isAttachment }
        if let tag {
            candidates = candidates.filter {
                $0.refName == tag || ($0.refName.map { $0.hasSuffix(":" + tag) } ?? false)
            }
            if candidates.isEmpty {
                throw HardenError(.notFound, "no image tagged \"\(tag)\"; tags: \(tagList(index))")
            }
        } else {
            let tags = Set(candidates.compactMap(\.refName))
            if tags.count > 1 {
                throw HardenError(
                    .invalidArgument, "holds several images; name one with :TAG (tags: \(tagList(index)))")
            }
        }
        guard !candidates.isEmpty else { throw HardenError(.notFound, "index.json lists no images") }
        let chosen = try select(candidates, store: store, options: options, depth: 0)
        return try openManifest(
            chosen, store: store, name: name, tag: tag ?? chosen.refName ?? candidates.first?.refName,
            options: options)
    }

    private static func tagList(_ index: Index) -> String {
        let tags = index.manifests.filter { !$0.isAttachment }.compactMap(\.refName).sorted()
        return tags.isEmpty ? "(none)" : tags.joined(separator: ", ")
    }

    /// Picks one manifest among descriptors, descending into indexes and choosing by platform.
    static func select(
        _ descriptors: [Descriptor], store: any BlobStore, options: Options, depth: Int
    ) throws -> Descriptor {
        guard depth < 8 else { throw HardenError(.limitExceeded, "indexes are nested more than 8 levels deep") }
        var expanded: [Descriptor] = []
        for d in descriptors {
            if MediaType.isIndex(d.mediaType) {
                let bytes = try store.readVerified(d, what: "index")
                let nested = try Index.parse(bytes, source: "index \(d.digest)")
                let pick = try select(nested.manifests, store: store, options: options, depth: depth + 1)
                var annotated = pick
                if annotated.refName == nil, let ref = d.refName {
                    annotated.annotations = (annotated.annotations ?? [:]).merging([Descriptor.refNameAnnotation: ref])
                    { a, _ in a }
                }
                expanded.append(annotated)
            } else if MediaType.isManifest(d.mediaType) || d.mediaType.isEmpty {
                expanded.append(d)
            }
        }
        guard !expanded.isEmpty else { throw HardenError(.unsupported, "no image manifest of a known media type") }
        if expanded.count == 1 { return expanded[0] }
        let withPlatform = expanded.filter { $0.platform != nil }
        let matching = withPlatform.filter { $0.platform?.matches(options.platform) ?? false }
        if let first = matching.first { return first }
        if withPlatform.isEmpty {
            // Several untagged manifests without platforms: ambiguous.
            throw HardenError(
                .invalidArgument, "holds \(expanded.count) images without tags or platforms; cannot choose one")
        }
        let available = withPlatform.compactMap { $0.platform?.description }.joined(separator: ", ")
        throw HardenError(.notFound, "no image for platform \(options.platform); available: \(available)")
    }

    public static func openManifest(
        _ descriptor: Descriptor, store: any BlobStore, name: String, tag: String?, options: Options,
    ) throws -> Image {
        let bytes = try store.readVerified(descriptor, what: "manifest")
        let manifest = try Manifest.parse(bytes, source: "manifest \(descriptor.digest)")
        let configBytes = try store.readVerified(manifest.config, what: "config")
        let image = try Image(
            source: name, manifest: manifest, manifestBytes: bytes, configBytes: configBytes, store: store,
            tag: tag)
        if options.platformExplicit && !image.config.platform.matches(options.platform) {
            throw HardenError(.notFound, "image is for \(image.config.platform), not \(options.platform)")
        }
        return image
    }

    // MARK: docker-archive

    static func openDockerArchive(path: String, repoTag: String?) throws -> Image {
        let archive = try TarArchiveIndex(path: path)
        var extraPaths: [Digest: String] = [:]
        let entries = try DockerArchiveManifestEntry.parseList(
            try archive.read("manifest.json"), source: "manifest.json")
        guard !entries.isEmpty else { throw HardenError(.corrupt, "manifest.json lists no images") }
        let entry: DockerArchiveManifestEntry
        if let repoTag {
            let wanted = normalizeDockerTag(repoTag)
            guard let e = entries.first(where: { ($0.repoTags ?? []).contains { normalizeDockerTag($0) == wanted } })
            else {
                let tags = entries.flatMap { $0.repoTags ?? [] }
                throw HardenError(
                    .notFound,
                    "no image tagged \"\(repoTag)\"; tags: \(tags.isEmpty ? "(none)" : tags.joined(separator: ", "))")
            }
            entry = e
        } else {
            guard entries.count == 1 else {
                let tags = entries.flatMap { $0.repoTags ?? [] }
                throw HardenError(
                    .invalidArgument,
                    "holds \(entries.count) images; name one with :REPO:TAG (tags: \(tags.joined(separator: ", ")))")
            }
            entry = entries[0]
        }
        let configBytes = try archive.read(entry.config)
        let configDigest = Digest.sha256(of: configBytes)
        if let named = digestInPath(entry.config), named != configDigest {
            throw HardenError(.corrupt, "config \(entry.config) has digest \(configDigest), not the one its name says")
        }
        extraPaths[configDigest] = entry.config
        let config = try ImageConfiguration.parse(configBytes, source: "config \(entry.config)")
        guard config.rootfs.diffIDs.count == entry.layers.count else {
            throw HardenError(
                .corrupt,
                "manifest.json lists \(entry.layers.count) layers but the config has \(config.rootfs.diffIDs.count) diff_ids"
            )
        }
        var layers: [Descriptor] = []
        var compressions: [Compression] = []
        for (i, layerPath) in entry.layers.enumerated() {
            guard let member = archive.member(layerPath) else {
                throw HardenError(.notFound, "layer \(layerPath) is missing from the archive")
            }
            let peek = PeekableReader(try archive.open(member))
            let compression = Compression.detect(try peek.peek(4))
            let digest: Digest
            if let named = digestInPath(layerPath) {
                digest = named
            } else if compression == .none {
                // An uncompressed layer's digest is its DiffID; it is verified when the layer is read.
                digest = config.rootfs.diffIDs[i]
            } else {
                let h = HashingReader(try archive.open(member))
                try h.drain()
                digest = try Digest(parsing: h.digestString ?? "")
            }
            extraPaths[digest] = layerPath
            let mediaType: String
            switch compression {
            case .none: mediaType = MediaType.dockerLayer
            case .gzip: mediaType = MediaType.dockerLayerGzip
            case .zstd: mediaType = MediaType.dockerLayerZstd
            }
            layers.append(Descriptor(mediaType: mediaType, digest: digest, size: member.size))
            compressions.append(compression)
        }
        let manifest = Manifest(
            mediaType: MediaType.dockerManifest,
            config: Descriptor(mediaType: MediaType.dockerConfig, digest: configDigest, size: Int64(configBytes.count)),
            layers: layers)
        let manifestBytes = try JSONCoding.encode(manifest)
        let tag = repoTag ?? entry.repoTags?.first
        let store = ArchiveBlobStore(archive: archive, extraPaths: extraPaths)
        return try Image(
            source: path, manifest: manifest, manifestBytes: manifestBytes, configBytes: configBytes, store: store,
            tag: tag, layerCompressions: compressions)
    }

    /// Docker's normal form of a repository tag: `nginx` → `docker.io/library/nginx:latest`.
    public static func normalizeDockerTag(_ tag: String) -> String {
        var name = tag
        var suffix = ":latest"
        if let at = name.firstIndex(of: "@") {
            suffix = String(name[at...])
            name = String(name[..<at])
        } else if let colon = name.lastIndex(of: ":"), !name[colon...].contains("/") {
            suffix = String(name[colon...])
            name = String(name[..<colon])
        }
        let parts = name.split(separator: "/", maxSplits: 1).map(String.init)
        let hasDomain =
            parts.count == 2 && (parts[0].contains(".") || parts[0].contains(":") || parts[0] == "localhost")
        if !hasDomain {
            name = "docker.io/" + (parts.count == 1 ? "library/" + name : name)
        }
        return name + suffix
    }

    /// `blobs/sha256/<hex>` or `<hex>.json` / `<hex>.tar` / `<hex>/layer.tar` names carry a digest.
    static func digestInPath(_ path: String) -> Digest? {
        let parts = path.split(separator: "/")
        if parts.count == 3, parts[0] == "blobs", let alg = HashAlgorithm(rawValue: String(parts[1])) {
            return try? Digest(algorithm: alg, encoded: String(parts[2]))
        }
        return nil
    }
}

// harden — writing an image to any local transport, atomically.
import HardenArchive
import HardenCore
import HardenSystem

#if canImport(Glibc)
import Glibc
#endif

public enum ImageWriter {
    /// What to do with layer compression when writing.
    public enum LayerCompression: String, Sendable, CaseIterable {
        case keep, none, gzip, zstd
    }

    public struct Options: Sendable {
        public var compression: LayerCompression = .keep
        public var extract = RootfsExtractor.Options()
        /// Decompress layers copied as they are, to check their DiffIDs. Off when the blobs were just verified by
        /// digest (a registry pull); DiffIDs are still checked whenever layers are read.
        public var verifyDiffIDs = true
        public init(compression: LayerCompression = .keep, verifyDiffIDs: Bool = true) {
            self.compression = compression
            self.verifyDiffIDs = verifyDiffIDs
        }
    }

    /// What was written.
    public struct Written: Sendable {
        public var manifestDigest: Digest?
        public var reference: String
        /// For `dir:`, what the extraction wrote.
        public var extracted: RootfsExtractor.Result?

        public init(manifestDigest: Digest?, reference: String, extracted: RootfsExtractor.Result? = nil) {
            self.manifestDigest = manifestDigest
            self.reference = reference
            self.extracted = extracted
        }
    }

    public static func write(
        _ image: Image, to reference: ImageReference, options: Options = Options()
    ) throws -> Written {
        do {
            switch reference {
            case .ociLayout(let path, let tag):
                let d = try writeLayout(
                    image, directory: path, tag: tag ?? image.tag.map(tagOnly), compression: options.compression,
                    verifyDiffIDs: options.verifyDiffIDs)
                return Written(manifestDigest: d, reference: reference.description)
            case .ociArchive(let path, let tag):
                let d = try writeArchive(path) { staging in
                    try writeLayout(
                        image, directory: staging, tag: tag ?? image.tag.map(tagOnly), compression: options.compression)
                }
                return Written(manifestDigest: d, reference: reference.description)
            case .dockerArchive(let path, let repoTag):
                let d = try writeArchive(path) { staging in
                    try writeDockerArchive(image, directory: staging, repoTag: repoTag ?? image.tag.map(fullTag))
                }
                return Written(manifestDigest: d, reference: reference.description)
            case .rootfs(let path):
                let tree = try FileTree.build(from: image)
                let result = try RootfsExtractor.extract(image, tree: tree, to: path, options: options.extract)
                return Written(manifestDigest: nil, reference: reference.description, extracted: result)
            case .registry(let r):
                // Pushing is asynchronous and lives in HardenRegistry (RegistryTransfer.push), which `convert` uses.
                throw HardenError(
                    .internalError,
                    "docker://\(r): registry images are written with RegistryTransfer.push, not ImageWriter")
            }
        } catch let e as HardenError {
            // An error about the source (a blob that fails its digest, a bomb) names the source, not the destination.
            if e.message.hasPrefix(image.source) { throw e }
            throw e.prefixed(reference.path ?? reference.description)
        }
    }

    /// `repo:tag` → `tag`, for OCI layouts, which name images by tag.
    public static func tagOnly(_ tag: String) -> String {
        if let slash = tag.lastIndex(of: "/"), let colon = tag[slash...].lastIndex(of: ":") {
            return String(tag[tag.index(after: colon)...])
        }
        if !tag.contains("/"), let colon = tag.lastIndex(of: ":") { return String(tag[tag.index(after: colon)...]) }
        return tag
    }

    /// A docker-archive RepoTag needs a repository; a bare tag becomes `harden/image:TAG`.
    static func fullTag(_ tag: String) -> String {
        if tag.contains("/") || tag.contains(":") { return tag }
        return "localhost/image:\(tag)"
    }

    // MARK: layers

    /// Copies or transcodes layer `i` into `directory` (a blob directory), verifying digests and DiffID.
    /// Returns its descriptor in the destination.
    static func writeLayer(
        _ image: Image, _ i: Int, into blobDir: String, target: Compression, ociMediaType: Bool,
        verifyDiffID: Bool = true
    ) throws -> Descriptor {
        let layer = image.layers[i]
        if target == layer.compression && !verifyDiffID {
            var d = layer.descriptor
            if ociMediaType { d.mediaType = MediaType.ociLayer(target) }
            let final = blobDir + "/" + layer.descriptor.digest.encoded
            if HostFS.isRegularFile(final), (try? HostFS.fileSize(final)) == layer.descriptor.size { return d }
            let tmp = blobDir + "/.layer-\(i).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            defer { _ = try? HostFS.removeTree(tmp) }
            let out = FileWriter(descriptor: try FileDescriptor.create(tmp, mode: 0o644, exclusive: true))
            try HashingReader(
                try image.store.openRaw(layer.descriptor.digest),
                expected: layer.descriptor.digest.expectation(
                    size: layer.descriptor.size, name: "\(image.source): layer blob \(layer.descriptor.digest)")
            )
            .copy(to: out)
            try out.finish()
            try out.fd.sync()
            try HostFS.rename(tmp, final)
            return d
        }
        let tmp = blobDir + "/.layer-\(i).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { _ = try? HostFS.removeTree(tmp) }
        let mediaType = ociMediaType ? MediaType.ociLayer(target) : layer.descriptor.mediaType
        if target == layer.compression {
            // Same bytes: copy the blob while checking both its digest and, through a decompressing tee, its DiffID.
            let out = FileWriter(descriptor: try FileDescriptor.create(tmp, mode: 0o644, exclusive: true))
            let raw = HashingReader(
                try image.store.openRaw(layer.descriptor.digest),
                expected: layer.descriptor.digest.expectation(
                    size: layer.descriptor.size, name: "\(image.source): layer blob \(layer.descriptor.digest)"))
            let tee = TeeReader(raw, out)
            let plain = HashingReader(
                layer.compression.decompressing(tee, name: "\(image.source): layer \(i)"),
                expected: layer.diffID.expectation(
                    size: nil, name: "\(image.source): layer \(i) uncompressed content (DiffID \(layer.diffID))"))
            try Image.checkTarStructure(plain, name: "\(image.source): layer \(i)")
            try plain.drain()
            try tee.drainInner()
            try out.finish()
            try out.fd.sync()
            try HostFS.rename(tmp, blobDir + "/" + layer.descriptor.digest.encoded)
            var d = layer.descriptor
            d.mediaType = mediaType
            return d
        }
        let compressedOut = try RawLayerWriter(path: tmp, compression: target)
        let source = TeeReader(try image.openLayer(i), compressedOut.input)
        try Image.checkTarStructure(source, name: "\(image.source): layer \(i)")
        try source.drainInner()
        let (digest, size, diffID) = try compressedOut.finish()
        guard diffID == layer.diffID else {
            throw HardenError(
                .corrupt, "\(image.source): layer \(i) re-encoded to DiffID \(diffID), expected \(layer.diffID)")
        }
        try HostFS.rename(tmp, blobDir + "/" + digest.encoded)
        return Descriptor(mediaType: mediaType, digest: digest, size: size)
    }

    static func resolveCompression(_ wanted: LayerCompression, for layer: ImageLayer) -> Compression {
        switch wanted {
        case .keep: layer.compression
        case .none: .none
        case .gzip: .gzip
        case .zstd: .zstd
        }
    }

    // MARK: OCI layout

    /// Writes (or adds to) an OCI image layout; returns the manifest digest.
    static func writeLayout(
        _ image: Image, directory: String, tag: String?, compression: LayerCompression, verifyDiffIDs: Bool = true
    ) throws -> Digest {
        let (existing, created) = try prepareLayout(directory)
        let blobDir = directory + "/blobs/sha256"
        // A layout that did not exist before is removed again if writing fails: no empty skeleton is left.
        do {
            return try fillLayout(
                image, directory: directory, blobDir: blobDir, existing: existing, tag: tag,
                compression: compression, verifyDiffIDs: verifyDiffIDs)
        } catch {
            if created { try? HostFS.removeTree(directory) }
            throw error
        }
    }

    /// Checks that `directory` is an OCI layout, an empty directory or absent, and makes its blob directory.
    /// Returns whether it already had an index.json and whether it was created now.
    static func prepareLayout(_ directory: String) throws -> (existing: Bool, created: Bool) {
        if HostFS.exists(directory) && !HostFS.isDirectory(directory) {
            throw HardenError(.invalidArgument, "exists and is not a directory")
        }
        let existing = HostFS.exists(directory + "/index.json")
        // A directory holding only blobs (a pull that wrote straight into it) counts as a fresh layout.
        let empty =
            HostFS.exists(directory)
            ? try HostFS.listDirectory(directory).allSatisfy { $0 == "blobs" || $0 == "oci-layout" } : true
        if !existing && !empty {
            throw HardenError(.invalidArgument, "exists, is not empty and is not an OCI layout")
        }
        let created = !HostFS.exists(directory)
        try HostFS.makeDirectories(directory + "/blobs/sha256")
        return (existing, created)
    }

    static func fillLayout(
        _ image: Image, directory: String, blobDir: String, existing: Bool, tag: String?,
        compression: LayerCompression, verifyDiffIDs: Bool
    ) throws -> Digest {
        HostFS.sweepStale(in: blobDir, prefix: ".")
        HostFS.sweepStale(in: directory, prefix: ".")
        let manifest = try writeImageBlobs(
            image, blobDir: blobDir, compression: compression, verifyDiffIDs: verifyDiffIDs)
        try addToIndexJSON(manifest, directory: directory, existing: existing, tag: tag)
        return manifest.digest
    }

    /// Writes an image's layers, config and manifest into a layout's blob directory; returns the manifest's
    /// descriptor (an OCI manifest: rewritten when a layer was transcoded or the source was Docker's format).
    static func writeImageBlobs(
        _ image: Image, blobDir: String, compression: LayerCompression, verifyDiffIDs: Bool
    ) throws -> Descriptor {
        var layers: [Descriptor] = []
        var changed = false
        for i in image.layers.indices {
            let target = resolveCompression(compression, for: image.layers[i])
            let isOCI = image.manifest.mediaType == MediaType.ociManifest || image.manifest.mediaType == nil
            let d = try writeLayer(
                image, i, into: blobDir, target: target, ociMediaType: true, verifyDiffID: verifyDiffIDs)
            if d != image.layers[i].descriptor || !isOCI { changed = true }
            layers.append(d)
        }
        let configDigest = image.configDigest
        try HostFS.writeFileAtomically(blobDir + "/" + configDigest.encoded, image.configBytes)
        var manifestBytes = image.manifestBytes
        if changed || image.manifest.config.mediaType != MediaType.ociConfig {
            var m = Manifest(
                config: Descriptor(
                    mediaType: MediaType.ociConfig, digest: configDigest, size: Int64(image.configBytes.count)),
                layers: layers, annotations: image.manifest.annotations)
            m.mediaType = MediaType.ociManifest
            manifestBytes = try JSONCoding.encode(m)
        }
        let manifestDigest = Digest.sha256(of: manifestBytes)
        try HostFS.writeFileAtomically(blobDir + "/" + manifestDigest.encoded, manifestBytes)
        return Descriptor(mediaType: MediaType.ociManifest, digest: manifestDigest, size: Int64(manifestBytes.count))
    }

    /// Lists `descriptor` in the layout's index.json under `tag` (replacing what the tag named), atomically.
    static func addToIndexJSON(_ descriptor: Descriptor, directory: String, existing: Bool, tag: String?) throws {
        var index = Index(manifests: [])
        if existing {
            index = try Index.parse(try HostFS.readFile(directory + "/index.json"), source: "\(directory)/index.json")
        }
        var entry = descriptor
        if let tag { entry.annotations = [Descriptor.refNameAnnotation: tag] }
        index.manifests.removeAll { d in
            tag != nil ? d.refName == tag : (d.digest == descriptor.digest && d.refName == nil)
        }
        index.manifests.append(entry)
        try HostFS.writeFileAtomically(directory + "/oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        try HostFS.writeFileAtomically(directory + "/index.json", try JSONCoding.encode(index))
    }

    /// Writes every platform of a multi-platform image into an OCI layout: each image's blobs and manifest, then
    /// `index` rewritten to name them (attestation manifests and entries not in `images` dropped), listed under `tag`.
    /// Returns the index's digest.
    public static func writeLayoutIndex(
        _ images: [(entry: Descriptor, image: Image)], index: PlatformIndex, directory: String, tag: String?,
        compression: LayerCompression = .keep
    ) throws -> Digest {
        let (existing, created) = try prepareLayout(directory)
        let blobDir = directory + "/blobs/sha256"
        do {
            HostFS.sweepStale(in: blobDir, prefix: ".")
            var replaced: [Digest: Descriptor] = [:]
            for (entry, image) in images {
                replaced[entry.digest] = try writeImageBlobs(
                    image, blobDir: blobDir, compression: compression, verifyDiffIDs: true)
            }
            let out = index.rewritten(replaced)
            let bytes = try JSONCoding.encode(out)
            let digest = Digest.sha256(of: bytes)
            try HostFS.writeFileAtomically(blobDir + "/" + digest.encoded, bytes)
            try addToIndexJSON(
                Descriptor(mediaType: MediaType.ociIndex, digest: digest, size: Int64(bytes.count)),
                directory: directory, existing: existing, tag: tag)
            return digest
        } catch {
            if created { try? HostFS.removeTree(directory) }
            throw error
        }
    }

    // MARK: docker-archive

    static func writeDockerArchive(_ image: Image, directory: String, repoTag: String?) throws -> Digest {
        try HostFS.makeDirectories(directory)
        var layerNames: [String] = []
        for i in image.layers.indices {
            // docker-archive layers are plain tar, named by DiffID.
            let d = try writeLayer(image, i, into: directory, target: .none, ociMediaType: false)
            let name = d.digest.encoded + ".tar"
            try HostFS.rename(directory + "/" + d.digest.encoded, directory + "/" + name)
            layerNames.append(name)
        }
        let configDigest = image.configDigest
        try HostFS.writeFileAtomically(directory + "/\(configDigest.encoded).json", image.configBytes)
        let entry = DockerArchiveManifestEntry(
            config: "\(configDigest.encoded).json", repoTags: repoTag.map { [$0] }, layers: layerNames)
        try HostFS.writeFileAtomically(directory + "/manifest.json", try JSONCoding.encode([entry]))
        return configDigest
    }

    // MARK: archives

    /// Builds the archive's content in a staging directory, tars it deterministically into a temporary file
    /// beside `path`, and renames it into place.
    static func writeArchive<R>(_ path: String, _ fill: (String) throws -> R) throws -> R {
        if HostFS.isDirectory(path) { throw HardenError(.invalidArgument, "is a directory; an archive file is needed") }
        let absolute = HostFS.absolute(path)
        let (parent, _) = HostFS.split(absolute)
        try HostFS.makeDirectories(parent)
        HostFS.sweepStaleSiblings(of: absolute)
        let staging = HostFS.temporarySibling(of: absolute) + ".d"
        let tmp = HostFS.temporarySibling(of: absolute)
        defer {
            try? HostFS.removeTree(staging)
            try? HostFS.removeTree(tmp)
        }
        let result = try fill(staging)
        let out = FileWriter(descriptor: try FileDescriptor.create(tmp, mode: 0o644, exclusive: true))
        let tar = TarWriter(out)
        try archiveTree(staging, prefix: .root, tar: tar)
        try tar.finish()
        try out.fd.sync()
        try HostFS.rename(tmp, absolute)
        return result
    }

    /// Adds a staging tree to an archive with fixed owners, modes and times.
    static func archiveTree(_ dir: String, prefix: RawPath, tar: TarWriter) throws {
        for name in try HostFS.listDirectory(dir) {
            let host = dir + "/" + name
            let path = prefix.appending(Array(name.utf8))
            if HostFS.isDirectory(host) {
                try tar.append(TarEntry(path: RawPath(path.bytes + [UInt8(ascii: "/")]), type: .directory, mode: 0o755))
                try archiveTree(host, prefix: path, tar: tar)
            } else {
                let size = try HostFS.fileSize(host)
                try tar.append(
                    TarEntry(path: path, type: .regular, mode: 0o644, size: size), from: try FileReader(path: host))
            }
        }
    }
}

/// Writes a layer tar given as a plain stream into a compressed blob, hashing both sides.
final class RawLayerWriter {
    let input: any ByteWriter
    private let file: FileWriter
    private let blobHash: HashingWriter
    private let diffHash: HashingWriter

    init(path: String, compression: Compression) throws {
        file = FileWriter(descriptor: try FileDescriptor.create(path, mode: 0o644, exclusive: true))
        blobHash = HashingWriter(file)
        diffHash = HashingWriter(try compression.compressing(blobHash))
        input = diffHash
    }

    func finish() throws -> (Digest, Int64, Digest) {
        try diffHash.finish()
        try file.fd.sync()
        return (try Digest(parsing: blobHash.digestString), blobHash.count, try Digest(parsing: diffHash.digestString))
    }
}

/// Passes reads through and copies every byte read into a writer.
final class TeeReader: ByteReader {
    private let inner: any ByteReader
    private let copy: any ByteWriter
    init(_ inner: any ByteReader, _ copy: any ByteWriter) {
        self.inner = inner
        self.copy = copy
    }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try inner.read(into: buffer)
        if n > 0 { try copy.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) }
        return n
    }
    /// Reads whatever the consumer left unread (bytes after a compressed stream's end), so all is copied and hashed.
    func drainInner() throws {
        try (self as any ByteReader).drain()
    }
}

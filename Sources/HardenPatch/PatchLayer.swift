// harden — the one layer a patch adds: the new versions' files, whiteouts for files the new versions dropped,
// conffiles the image changed kept (the new one beside them as FILE.dpkg-dist), and a package database that
// tells the truth (status or status.d, info/PKG.list, .md5sums, .conffiles and the other control members).
import Crypto
import Foundation
import HardenArchive
import HardenCore
import HardenDpkg
import HardenELF
import HardenOCI
import HardenPackages
import HardenSystem

/// The image's dpkg database, as read from its tree.
public struct DpkgDatabase: Sendable {
    public enum Kind: String, Sendable { case status, statusD = "status.d" }
    public var kind: Kind
    /// `var/lib/dpkg` (tree path, no leading slash).
    public var directory: String
    /// The status file's stanzas in order (kind .status), or one stanza per status.d file.
    public var stanzas: [Deb822Stanza]
    /// status.d file name per package (distroless).
    public var statusDFiles: [String: String] = [:]
}

public struct LayerPlanEntry: Sendable {
    public var planned: PlannedPackage
    /// The downloaded .deb.
    public var path: String
}

public struct PatchLayerResult: Sendable {
    public var descriptor: Descriptor
    public var diffID: HardenOCI.Digest
    public var bytesAdded: [String: Int64]
    public var conffilesKept: [String]
    public var whiteouts: [String]
    /// Maintainer scripts of each package (not run).
    public var scripts: [String: [String]]
    /// What happened to /etc/ld.so.cache (the ldconfig trigger, done natively).
    public var ldconfig: String
    /// What happened to /etc/ssl/certs (the update-ca-certificates trigger), nil when it did not apply.
    public var caCertificates: String?
    /// What the layer left undone (triggers not run), for the report's notes.
    public var notes: [String] = []
}

enum PatchLayerWriter {
    static func md5(_ bytes: [UInt8]) -> String { Hex.encode(Insecure.MD5.hash(data: bytes)) }

    /// Writes the layer into `store`.
    /// - Parameters:
    ///   - content: the image's current bytes of the files this needs (old conffiles), by tree path.
    ///   - ownedElsewhere: for a path an old version listed, whether another installed package lists it too.
    static func write(
        _ entries: [LayerPlanEntry], tree: FileTree, database: DpkgDatabase, infoFiles: [String: [String]],
        oldLists: [String: [String]], content: [RawPath: [UInt8]],
        caCertificates caInputs: CACertificateInputs? = nil, ownedElsewhere: @escaping (String, String) -> Bool,
        mtime: Int64, store: DirectoryBlobStore
    ) async throws -> PatchLayerResult {
        let session = PatchLayerSession(
            writer: try LayerBlobWriter(path: store.root + "/patch-layer.tmp", compression: .gzip, gzipLevel: 3),
            tree: tree, database: database, infoFiles: infoFiles, oldLists: oldLists, content: content,
            caInputs: caInputs, ownedElsewhere: ownedElsewhere, mtime: mtime)
        // Two stages on the two cores: the next package decompresses while this one is written and compressed.
        let sorted = entries.sorted { $0.planned.package.name < $1.planned.package.name }
        func decode(_ e: LayerPlanEntry) -> Task<DecodedDeb, any Error> {
            let p = e.planned.package
            let (path, name) = (e.path, "\(p.name)_\(p.version)_\(p.architecture).deb")
            return Task.detached { try DebFile.decode(path, name: name) }
        }
        var pending: Task<DecodedDeb, any Error>? = sorted.first.map(decode)
        defer { pending?.cancel() }
        for (k, e) in sorted.enumerated() {
            let decoded = try await pending!.value
            pending = k + 1 < sorted.count ? decode(sorted[k + 1]) : nil
            try session.writePackage(e.planned, decoded)
        }
        session.writeStatusFile()
        let ldconfig = try session.ldconfigTrigger()
        let caReport = try session.caCertificatesTrigger()
        try session.writeDatabaseFiles()
        let (digest, size, diffID) = try session.writer.finish()
        try HostFS.rename(session.writer.path, store.path(of: digest))
        return PatchLayerResult(
            descriptor: Descriptor(mediaType: MediaType.ociLayer(.gzip), digest: digest, size: size), diffID: diffID,
            bytesAdded: session.bytesAdded, conffilesKept: session.conffilesKept, whiteouts: session.whiteouts,
            scripts: session.scripts, ldconfig: ldconfig, caCertificates: caReport)
    }
}

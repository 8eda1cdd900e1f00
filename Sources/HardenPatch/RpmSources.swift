// harden — what rpm's patcher reads before it resolves: the image's rpm database (rpmdb.sqlite; BerkeleyDB and NDB
// are refused by name), its enabled repositories with dnf's variables, the keys it trusts, its accounts; then each
// repository's repomd.xml (signature checked when repo_gpgcheck is on) and primary.xml (size and checksum against
// repomd.xml), and the planned packages (size and checksum against primary.xml, header and payload digests, the
// header's OpenPGP signature against the repository's keys when gpgcheck is on).
import Crypto
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenRpm
import HardenSystem

/// One fetched repository: what it is, the base URL that answered, repomd's revision and its packages.
struct RpmFetchedRepository: Sendable {
    var repository: YumRepository
    var base: String
    var revision: String?
    var packages: [RpmRepoPackage]
    var keys: [[UInt8]]
    /// modules.yaml, when the repository has modular content.
    var modules: RpmModuleMetadata?
}

extension RpmPatcher {
    static let databaseDirectories = ["var/lib/rpm", "usr/lib/sysimage/rpm"]
    static let repoDirectories = ["etc/yum.repos.d", "etc/distro.repos.d", "etc/zypp/repos.d"]

    /// Files of the image by path: captured by the catalog, else read from their layers.
    static func imageFiles(_ paths: [String], context: CatalogContext, image: Image) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        var missing = Set<RawPath>()
        for p in paths {
            if let bytes = context.content(RawPath(p)) { out[p] = bytes } else { missing.insert(RawPath(p)) }
        }
        for (p, bytes) in try ImageContent.read(image, located: ImageContent.locate(context.tree, paths: missing)) {
            out[String(decoding: p.bytes, as: UTF8.self)] = bytes
        }
        return out
    }

    static func setup(_ context: CatalogContext, image: Image, options: PatchOptions) throws -> Setup {
        let tree = context.tree
        guard
            let dbPath = databaseDirectories.lazy.compactMap({ tree.resolve(RawPath($0 + "/rpmdb.sqlite")) }).first(
                where: { tree.nodes[$0]?.type == .regular })
        else {
            for dir in databaseDirectories {
                for (file, kind) in [("Packages", "a BerkeleyDB"), ("Packages.db", "an NDB")]
                where tree.resolve(RawPath(dir + "/" + file)) != nil {
                    throw HardenError(
                        .unsupported,
                        "/\(dir)/\(file) is \(kind) rpm database: harden writes rpm's SQLite database (rpmdb.sqlite, "
                            + "rpm ≥ 4.16) only, so this image is not patched")
                }
            }
            throw HardenError(.notFound, "the image has no rpm database (/var/lib/rpm/rpmdb.sqlite)")
        }
        let dbName = "/" + String(decoding: dbPath.bytes, as: UTF8.self)
        guard let dbBytes = try imageFiles([String(dbName.dropFirst())], context: context, image: image).values.first
        else { throw HardenError(.notFound, "\(dbName) could not be read") }
        var installed: [RpmInstalledPackage] = []
        var imported: [[UInt8]] = []
        for (hnum, blob) in try RpmDatabaseWriter.headers(dbBytes, source: dbName) {
            let (header, _) = try RpmHeader.parse(blob, source: "\(dbName) package \(hnum)")
            if header.name == "gpg-pubkey" {
                if let key = header.string(1005) { imported.append(Array(key.utf8)) }
                continue
            }
            installed.append(RpmInstalledPackage(header: header, hnum: hnum))
        }
        let arch = YumRepositories.rpmArchitecture(image.config.architecture)
        let (repositories, files) = try repositories(context, image: image, arch: arch, mirror: options.mirror)
        var imageKeys: [String: [UInt8]] = [:]
        let keyPaths = Set(repositories.flatMap(\.gpgKeys).filter { $0.hasPrefix("file:///") }.map { $0.dropFirst(8) })
        for (p, bytes) in try imageFiles(keyPaths.map(String.init), context: context, image: image) {
            imageKeys["/" + p] = bytes
        }
        let dnfConf = String(decoding: files["etc/dnf/dnf.conf"] ?? files["etc/yum.conf"] ?? [], as: UTF8.self)
        return Setup(
            databasePath: dbPath, databaseBytes: dbBytes, installed: installed, repositories: repositories,
            arch: arch, imageKeys: imageKeys, importedKeys: imported,
            operatorKeys: try options.keyrings.map { try HostFS.readFile($0, limit: 1 << 20) },
            users: accounts(files["etc/passwd"]), groups: accounts(files["etc/group"]),
            noDocs: dnfConf.textLines().contains {
                $0.replacingOccurrences(of: " ", with: "").hasPrefix("tsflags=") && $0.contains("nodocs")
            },
            moduleStates: RpmModuleMetadata.states(
                files.filter { $0.key.hasPrefix("etc/dnf/modules.d/") }.sorted { $0.key < $1.key }.map(\.value)))
    }

    /// The enabled repositories of the image's `.repo` files (hosts replaced by `mirror`), and the other
    /// configuration files read on the way (accounts, dnf.conf).
    static func repositories(
        _ context: CatalogContext, image: Image, arch: String, mirror: String?
    ) throws -> ([YumRepository], [String: [UInt8]]) {
        var wanted = ["etc/passwd", "etc/group", "etc/dnf/dnf.conf", "etc/yum.conf"]
        for child in context.tree.children(of: RawPath("etc/dnf/modules.d"))
        where child.lastComponent.suffix(7) == Array(".module".utf8) {
            wanted.append(String(decoding: child.bytes, as: UTF8.self))
        }
        var repoFiles: [String] = []
        for dir in repoDirectories {
            for child in context.tree.children(of: RawPath(dir))
            where child.lastComponent.suffix(5) == Array(".repo".utf8) {
                repoFiles.append(String(decoding: child.bytes, as: UTF8.self))
            }
        }
        var varFiles: [String] = []
        for dir in ["etc/dnf/vars", "etc/yum/vars"] {
            varFiles += context.tree.children(of: RawPath(dir)).map { String(decoding: $0.bytes, as: UTF8.self) }
        }
        wanted += repoFiles + varFiles
        let files = try imageFiles(wanted, context: context, image: image)
        let variables = YumRepositories.variables(
            osID: context.os?.id, versionID: context.os?.versionID, architecture: image.config.architecture,
            files: varFiles.compactMap { p in files[p].map { (String(p.split(separator: "/").last ?? ""), $0) } })
        var out: [YumRepository] = []
        for p in repoFiles.sorted() {
            for var r in YumRepositories.parse(files[p] ?? [], file: "/" + p, variables: variables) where r.enabled {
                if let mirror {
                    r.baseURLs = r.baseURLs.map { MirrorURL.replacingHost($0, with: mirror) }
                    if r.baseURLs.isEmpty { r.baseURLs = [mirror] }
                    r.metalink = nil
                    r.mirrorlist = nil
                }
                out.append(r)
            }
        }
        guard !out.isEmpty else {
            throw HardenError(
                .notFound, "the image enables no rpm repository (/etc/yum.repos.d/*.repo): nothing to upgrade from")
        }
        return (out, files)
    }

    /// `name:x:id:…` lines of /etc/passwd or /etc/group.
    static func accounts(_ bytes: [UInt8]?) -> [String: UInt32] {
        var out: [String: UInt32] = [:]
        for line in String(decoding: bytes ?? [], as: UTF8.self).textLines() {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            if f.count > 2, let id = UInt32(f[2]) { out[String(f[0])] = out[String(f[0])] ?? id }
        }
        return out
    }

    /// Every enabled repository's metadata, verified, in configuration order, filtered as dnf filters modular
    /// content (the streams of every repository's modules.yaml against the image's module states).
    static func fetchRepositories(_ setup: Setup, client: AptClient) async throws -> [RpmFetchedRepository] {
        var out: [RpmFetchedRepository] = []
        for repo in setup.repositories {
            out.append(try await fetchRepository(repo, setup: setup, client: client))
        }
        var modules = RpmModuleMetadata()
        for m in out.compactMap(\.modules) {
            modules.streams += m.streams
            modules.defaults.merge(m.defaults) { a, _ in a }
        }
        let active = modules.activeStreams(states: setup.moduleStates)
        for i in out.indices { out[i].packages = modules.filter(out[i].packages, active: active) }
        return out
    }

    /// The keys a repository's signatures are checked with: its `gpgkey=` files (of the image) and URLs, the keys
    /// rpm imported into the database, and the operator's `--keyring` files.
    static func keys(_ repo: YumRepository, setup: Setup, client: AptClient) async throws -> [[UInt8]] {
        var keys = setup.operatorKeys + setup.importedKeys
        for k in repo.gpgKeys {
            if k.hasPrefix("file://") {
                if let bytes = setup.imageKeys[String(k.dropFirst(7))] { keys.append(bytes) }
            } else if k.hasPrefix("http://") || k.hasPrefix("https://") {
                keys.append(try await client.get(k, limit: 1 << 20))
            }
        }
        return keys
    }

    static func fetchRepository(
        _ repo: YumRepository, setup: Setup, client: AptClient
    ) async throws -> RpmFetchedRepository {
        let keys = try await keys(repo, setup: setup, client: client)
        var bases = repo.baseURLs
        var metalinkHashes: [String]?
        if bases.isEmpty, let list = repo.metalink ?? repo.mirrorlist {
            let text = String(decoding: try await client.get(list, limit: 4 << 20), as: UTF8.self)
            bases = try mirrors(text, source: list)
            if repo.metalink != nil {
                let h = Self.metalinkHashes(text)
                metalinkHashes = h.isEmpty ? nil : h
            }
        }
        var lastError: any Error = HardenError(.notFound, "repository \(repo.id) (\(repo.file)) has no baseurl")
        for raw in bases {
            var base = raw
            while base.hasSuffix("/") { base.removeLast() }
            let url = base + "/repodata/repomd.xml"
            let bytes: [UInt8]
            do { bytes = try await client.get(url, limit: 16 << 20) } catch {
                lastError = error
                continue
            }
            if let hashes = metalinkHashes {
                // The metalink names repomd.xml's current (and recent alternate) SHA-256: a mirror must serve one.
                let got = Digest.sha256(of: bytes).encoded
                guard hashes.contains(got) else {
                    lastError = HardenError(
                        .corrupt, "\(url): SHA-256 \(got) is not one the metalink \(repo.metalink ?? "") lists")
                    continue
                }
            }
            if repo.repoGPGCheck {
                let signature = try await client.get(url + ".asc", limit: 1 << 20)
                try await SignatureCheck.verifyDetached(signature, data: bytes, keyrings: keys, source: url)
            }
            let repomd = try RepoMD.parse(bytes, source: url)
            guard let primary = repomd.entries["primary"] else {
                throw HardenError(.corrupt, "\(url) names no primary metadata")
            }
            let compressed = try await client.get(
                base + "/" + primary.location, limit: Int(primary.size ?? (1 << 30)) + 1)
            try checkSum(
                compressed, type: primary.checksumType, want: primary.checksum, size: primary.size,
                source: base + "/" + primary.location)
            let xml = try decompress(compressed, name: base + "/" + primary.location)
            var modules: RpmModuleMetadata?
            if let m = repomd.entries["modules"] {
                let url = base + "/" + m.location
                let bytes = try await client.get(url, limit: Int(m.size ?? (1 << 30)) + 1)
                try checkSum(bytes, type: m.checksumType, want: m.checksum, size: m.size, source: url)
                modules = try RpmModuleMetadata.parse(try decompress(bytes, name: url), source: url)
            }
            return RpmFetchedRepository(
                repository: repo, base: base, revision: repomd.revision,
                packages: try RpmRepoPackage.primary(xml, source: base + "/" + primary.location), keys: keys,
                modules: modules)
        }
        throw lastError
    }

    /// The base URLs of a mirrorlist (one per line) or a metalink (`<url>` elements ending in repodata/repomd.xml).
    public static func mirrors(_ text: String, source url: String) throws -> [String] {
        var out: [String] = []
        for line in text.textLines() {
            var l = line.trimming(" \t\r")
            if l.hasPrefix("<url"), let open = l.firstIndex(of: ">"), let close = l.range(of: "</url>") {
                l = String(l[l.index(after: open)..<close.lowerBound])
            }
            guard l.hasPrefix("http://") || l.hasPrefix("https://") else { continue }
            if l.hasSuffix("/repodata/repomd.xml") { l.removeLast("/repodata/repomd.xml".count) }
            out.append(l)
        }
        guard !out.isEmpty else { throw HardenError(.notFound, "\(url) lists no mirror") }
        return out
    }

    /// Every `<hash type="sha256">` of a metalink (repomd.xml's, and its alternates').
    public static func metalinkHashes(_ text: String) -> [String] {
        var out: [String] = []
        var rest = Substring(text)
        while let open = rest.range(of: "type=\"sha256\">") {
            let after = rest[open.upperBound...]
            guard let close = after.firstIndex(of: "<") else { break }
            out.append(after[..<close].trimming(" \t\r\n").lowercased())
            rest = after[close...]
        }
        return out
    }

    static func checkSum(_ bytes: [UInt8], type: String, want: String, size: Int64?, source: String) throws {
        if let size, Int64(bytes.count) != size {
            throw HardenError(.corrupt, "\(source): \(bytes.count) bytes, the repository metadata says \(size)")
        }
        let got: String
        switch type.lowercased() {
        case "sha256": got = Digest.sha256(of: bytes).encoded
        case "sha512": got = Hex.encode(SHA512.hash(data: bytes))
        case "sha", "sha1": got = Hex.encode(Insecure.SHA1.hash(data: bytes))
        default: throw HardenError(.unsupported, "\(source): checksum type \(type)")
        }
        guard got == want.lowercased() else {
            throw HardenError(.corrupt, "\(source): \(type) \(got), the repository metadata says \(want)")
        }
    }

    static func decompress(_ bytes: [UInt8], name: String) throws -> [UInt8] {
        let source = MemoryReader(bytes)
        let limit = 2 << 30
        if bytes.starts(with: [0x1f, 0x8b]) {
            return try GzipReader(source, name: name).readAll(limit: limit, name: name)
        }
        if bytes.starts(with: [0xfd, 0x37, 0x7a, 0x58, 0x5a]) {
            return try XzReader(source, name: name).readAll(limit: limit, name: name)
        }
        if bytes.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) {
            return try ZstdReader(source, name: name).readAll(limit: limit, name: name)
        }
        if bytes.starts(with: Array("<?xml".utf8)) || bytes.starts(with: Array("<metadata".utf8))
            || bytes.starts(with: Array("---".utf8))
        {
            return bytes
        }
        throw HardenError(.unsupported, "\(name): not gzip, xz, zstd or plain XML")
    }

    /// The planned packages, two at a time, each checked as dnf and rpm check it before installing.
    static func download(
        _ plan: [RpmPlanned], repos: [RpmFetchedRepository], client: AptClient
    ) async throws -> [String: RpmPackageFile] {
        try await withThrowingTaskGroup(of: (String, RpmPackageFile).self) { group in
            var out: [String: RpmPackageFile] = [:]
            for (i, p) in plan.enumerated() {
                if i >= 2, let done = try await group.next() { out[done.0] = done.1 }
                let repo = repos[p.repository]
                group.addTask {
                    let file = try await fetchPackage(p.package, repo: repo, client: client)
                    return (p.package.name, file)
                }
            }
            for try await done in group { out[done.0] = done.1 }
            return out
        }
    }

    static func fetchPackage(
        _ pkg: RpmRepoPackage, repo: RpmFetchedRepository, client: AptClient
    ) async throws -> RpmPackageFile {
        let url = repo.base + "/" + pkg.location
        let bytes: [UInt8]
        if pkg.checksumType.lowercased() == "sha256" {
            bytes = try HostFS.readFile(
                try await client.fetchVerified(url, sha256: pkg.checksum.lowercased(), size: pkg.size),
                limit: Int(pkg.size) + 1)
        } else {
            bytes = try await client.get(url, limit: Int(pkg.size) + 1)
            try checkSum(bytes, type: pkg.checksumType, want: pkg.checksum, size: pkg.size, source: url)
        }
        let file = try RpmPackageFile.read(bytes, name: url)
        try file.verifyDigests()
        let h = file.header
        guard h.name == pkg.name, h.arch == pkg.arch, RpmResolver.compareEVR(h.evr, pkg.evr) == 0,
            h.evr == pkg.evr || (h.epoch ?? "0") == pkg.epoch
        else {
            throw HardenError(
                .corrupt, "\(url): the package is \(h.name)-\(h.evr).\(h.arch), primary.xml says \(pkg.nevra)")
        }
        if repo.repository.gpgCheck {
            guard let signature = file.headerSignature else {
                throw HardenError(
                    .corrupt, "\(url): the package is not signed and repository \(repo.repository.id) has gpgcheck on")
            }
            try await SignatureCheck.verifyDetached(
                signature, data: file.headerBytes, keyrings: repo.keys, source: url + " (header signature)")
        }
        return file
    }
}

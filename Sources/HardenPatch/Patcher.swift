// harden — `harden patch`: the image's Debian/Ubuntu packages upgraded to their published fixes in one new layer,
// natively (no dpkg, no apt, nothing run in the image), with a report and an OpenVEX document of what was fixed.
import Foundation
import HardenArchive
import HardenCore
import HardenDpkg
import HardenOCI
import HardenPackages
import HardenSBOM
import HardenSystem
import HardenVulnDB
import Logging

public struct PatchOptions: Sendable {
    /// Upgrade every package with a newer version (like `apt-get upgrade`), not only those with fixed findings.
    public var all = false
    /// Replaces the scheme and host of every repository (an air-gapped mirror).
    public var mirror: String?
    /// Trusted key files on the host, in addition to the image's.
    public var keyrings: [String] = []
    public var cacheDirectory = AptClient.defaultCacheDirectory()
    /// Whether the OS packages are patched (`--only-libraries` turns it off).
    public var osPackages = true
    /// The application's own libraries to patch (`--libraries`).
    public var libraries = LibraryPatchOptions()
    public init() {}
}

/// What `harden patch` upgrades: the packages with a published fix for a finding (default), or every package with
/// a newer version (`--all`). The raw values are the report's `mode`.
public enum PatchMode: String, Codable, Sendable, CaseIterable {
    case vulnerable
    case all
}

/// `harden patch --report`. Schema in docs/formats.md.
public struct PatchReport: Codable, Sendable {
    public struct Repository: Codable, Sendable {
        public var url: String
        public var suite: String
        public var date: String?
        public var origin: String
        public var packages: Int
    }
    public struct Package: Codable, Sendable {
        public var name: String
        public var architecture: String
        /// nil for a package the upgrades needed that was not installed.
        public var from: String?
        public var to: String
        public var source: String
        public var sourceVersion: String
        public var fixes: [String]
        public var reasons: [String]
        public var bytesAdded: Int64
        /// Maintainer scripts the new version has; harden does not run them.
        public var scriptsNotRun: [String]
        /// Where the package was fetched from and its verified SHA-256 (the provenance's resolved dependencies).
        public var url: String?
        public var sha256: String?
    }
    public struct Unfixed: Codable, Sendable {
        public var vulnerability: String
        public var package: String
        public var version: String
        public var fixedIn: [String]
        public var candidate: String?
    }
    public var schemaVersion = 1
    public var tool = "harden \(hardenToolVersion)"
    public var image: String
    /// The package ecosystem whose patcher ran (`dpkg`, …).
    public var ecosystem: String?
    public var mode: PatchMode
    public var repositories: [Repository]
    public var notes: [String]
    public var packages: [Package]
    public var noFixAvailable: [Unfixed]
    public var conffilesKept: [String]
    public var removedFiles: [String]
    public var layer: Descriptor?
    public var ldconfig: String?
    /// What happened to /etc/ssl/certs (the update-ca-certificates trigger, done natively), when it applied.
    public var caCertificates: String?
    /// The application's libraries upgraded (`--libraries`), when asked for.
    public var libraries: LibraryPatchReport?

    /// A report with nothing upgraded yet.
    public init(image: String, mode: PatchMode) {
        self.image = image
        self.mode = mode
        self.repositories = []
        self.notes = []
        self.packages = []
        self.noFixAvailable = []
        self.conffilesKept = []
        self.removedFiles = []
    }
}

public struct PatchResult {
    public var image: Image
    public var report: PatchReport
    /// OpenVEX: one `fixed` statement per vulnerability the upgrades fix.
    /// The OpenVEX document of the fixes; nil when nothing was fixed.
    public var vex: [UInt8]?
    /// False when nothing needed upgrading (the image is returned as it was).
    public var changed: Bool

    public init(image: Image, report: PatchReport, vex: [UInt8]?, changed: Bool) {
        self.image = image
        self.report = report
        self.vex = vex
        self.changed = changed
    }
}

/// dpkg's patcher: APT repositories (signatures verified), the resolver, .deb files and the dpkg patch layer.
public final class AptPatcher: PackagePatcher {
    let logger: Logger

    public init(logger: Logger = .harden) { self.logger = logger }

    public var ecosystem: String { "dpkg" }

    public func patch(_ request: PatchRequest, progress: @escaping (String) -> Void) async throws -> PatchResult {
        try await AptClient.using(cacheDirectory: request.options.cacheDirectory) { client in
            try await patch(
                request.image, reference: request.reference, context: request.context, findings: request.findings,
                options: request.options, client: client, progress: progress)
        }
    }

    private func patch(
        _ image: Image, reference: String, context: CatalogContext, findings: [Finding]?, options: PatchOptions,
        client: AptClient,
        progress: @escaping (String) -> Void
    ) async throws -> PatchResult {
        let tree = context.tree
        let clock = MonotonicClock.now
        func phase(_ what: String) {
            logger.debug("patch: \(what) at \(String(format: "%.2f", MonotonicClock.now - clock)) s")
        }
        let database = try Self.database(context)
        let installed = try database.stanzas.filter(InstalledPackage.isInstalled).map {
            try InstalledPackage(stanza: $0)
        }
        let architecture = Self.dpkgArchitecture(image.config.architecture, installed: installed)
        let osRelease = AptSources.osRelease(
            FileTree.osReleaseFiles.prefix(2).lazy.compactMap { context.content($0) }.first ?? [])

        // The image's APT configuration: sources and trusted keys.
        let (aptFiles, sources) = try Self.aptConfiguration(context)
        phase("read the APT configuration")
        let (repos, notes) = try AptSources.complete(sources, osRelease: osRelease, mirror: options.mirror)
        let hostKeys = try options.keyrings.map { try HostFS.readFile($0, limit: 16 << 20) }

        // Repositories, verified.
        // Every suite at once (their InRelease round trips and index downloads overlap); results in source order.
        let keysBySource = repos.map { Self.keyrings(for: $0, aptFiles: aptFiles) + hostKeys }
        let fetched: [FetchedRepository] = try await withThrowingTaskGroup(of: (Int, FetchedRepository).self) { group in
            for (i, s) in repos.enumerated() {
                let keys = keysBySource[i]
                group.addTask { (i, try await client.fetch(s, index: i, keyrings: keys, architecture: architecture)) }
            }
            var out: [(Int, FetchedRepository)] = []
            for try await r in group { out.append(r) }
            return out.sorted { $0.0 < $1.0 }.map(\.1)
        }
        phase("fetched and verified \(fetched.count) repositories")
        let resolver = Resolver(installed: installed, indexes: fetched.flatMap(\.indexes), architecture: architecture)

        // What to upgrade, and why.
        var (wanted, fixes, unfixed) = Self.upgradesFixing(findings ?? [], installed: installed, resolver: resolver)
        if options.all {
            for name in resolver.upgradable() where wanted[name] == nil { wanted[name] = "newer version (--all)" }
        }
        let plan = try resolver.plan(wanted)
        phase("resolved \(plan.count) packages")
        let reposReport = fetched.map {
            PatchReport.Repository(
                url: $0.url, suite: $0.source.suite, date: $0.release.stanza["Date"], origin: $0.source.origin,
                packages: $0.indexes.reduce(0) { $0 + $1.count })
        }
        var report = PatchReport(image: reference, mode: options.all ? .all : .vulnerable)
        report.repositories = reposReport
        report.notes = notes
        report.noFixAvailable = unfixed.sorted { ($0.package, $0.vulnerability) < ($1.package, $1.vulnerability) }
        guard !plan.isEmpty else {
            return PatchResult(
                image: image, report: report,
                vex: try Self.vex(report, image: image, osID: context.os?.id ?? OSInfo.assumedDpkgID), changed: false)
        }

        // The image's bytes of the conffiles the upgraded packages own (to tell changed ones from shipped ones): read
        // from the image on one core while the packages download.
        var conffilePaths = Self.conffilePaths(plan.values, tree: tree)
        // Small /etc files are captured by the catalog's layer scan; others are read from the image, on one core while
        // the packages download.
        conffilePaths.insert(RawPath("etc/ld.so.cache"))  // for the ldconfig trigger
        let (infoFiles, oldLists, owners) = Self.infoFiles(context: context, database: database, installed: installed)
        let caInputs = Self.caCertificateInputs(plan.values, oldLists: oldLists, tree: tree)
        if let caInputs { conffilePaths.formUnion(caInputs.paths) }
        var conffiles: [RawPath: [UInt8]] = [:]
        for p in conffilePaths { conffiles[p] = context.content(p) }
        let located = ImageContent.locate(tree, paths: conffilePaths.filter { conffiles[$0] == nil })
        async let conffilesRead = ImageContent.read(image, located: located)

        // Download and verify, four at a time.
        let planned = plan.values.sorted { $0.package.name < $1.package.name }
        let paths = try await Self.download(planned, suites: fetched.map(\.source), client: client)
        let entries = zip(planned, paths).map { LayerPlanEntry(planned: $0, path: $1) }
        phase("downloaded \(entries.count) packages")
        conffiles.merge(try await conffilesRead) { a, _ in a }
        phase("read \(conffiles.count) conffiles")
        progress("patch: writing the layer")
        let store = DirectoryBlobStore(root: try HostFS.makeTemporaryDirectory(prefix: "harden-patch"), owned: true)
        let dates = fetched.compactMap(\.release.date)
        let mtime = Int64((dates.max() ?? Date(timeIntervalSince1970: 0)).timeIntervalSince1970)
        let layer = try await PatchLayerWriter.write(
            entries, tree: tree, database: database, infoFiles: infoFiles, oldLists: oldLists, content: conffiles,
            caCertificates: caInputs, ownedElsewhere: { pkg, path in (owners[path] ?? []).contains { $0 != pkg } },
            mtime: mtime,
            store: store)

        phase("wrote the layer")
        report.packages = planned.map { p in
            PatchReport.Package(
                name: p.package.name, architecture: p.package.architecture, from: p.installed?.version,
                to: p.package.version, source: p.package.source, sourceVersion: p.package.sourceVersion,
                fixes: (fixes[p.package.name] ?? []).sorted(), reasons: p.reasons,
                bytesAdded: layer.bytesAdded[p.package.name] ?? 0, scriptsNotRun: layer.scripts[p.package.name] ?? [],
                url: fetched.map(\.source)[p.package.repository].uri + "/" + p.package.filename,
                sha256: p.package.sha256)
        }
        report.conffilesKept = layer.conffilesKept.sorted()
        report.removedFiles = layer.whiteouts.sorted()
        report.layer = layer.descriptor
        report.ldconfig = layer.ldconfig
        report.caCertificates = layer.caCertificates

        // The image: the original layers, then the patch layer; labels name the patch.
        let patched = try Self.assemble(image, layer: layer, report: report, mtime: mtime, store: store)
        return PatchResult(
            image: patched, report: report,
            vex: try Self.vex(report, image: patched, osID: context.os?.id ?? OSInfo.assumedDpkgID), changed: true)
    }

    /// The image paths of the conffiles the upgraded packages own (their bytes tell changed ones from shipped ones).
    static func conffilePaths(_ plan: some Sequence<PlannedPackage>, tree: FileTree) -> Set<RawPath> {
        var paths = Set<RawPath>()
        for p in plan {
            for line in (p.installed?.stanza["Conffiles"] ?? "").textLines() {
                if let f = line.split(separator: " ").first, f.hasPrefix("/") {
                    paths.insert(tree.resolveParents(RawPath(String(f.dropFirst())).normalized))
                }
            }
        }
        return paths
    }

    /// For the update-ca-certificates trigger, when the plan touches certificates: the certificates, the
    /// configuration and /etc/ssl/certs.
    static func caCertificateInputs(
        _ plan: some Sequence<PlannedPackage>, oldLists: [String: [String]], tree: FileTree
    ) -> CACertificateInputs? {
        let certs = CACertificateInputs.certsPrefix.absoluteDescription
        let touches = plan.contains {
            $0.package.name == "ca-certificates" || (oldLists[$0.package.name] ?? []).contains { $0.hasPrefix(certs) }
        }
        return touches ? CACertificateInputs.locate(tree) : nil
    }

    /// The patched image: the original layers, then the patch layer; history and labels name the patch.
    static func assemble(
        _ image: Image, layer: PatchLayerResult, report: PatchReport, mtime: Int64, store: DirectoryBlobStore
    ) throws -> Image {
        var config = image.config
        config.rootfs.diffIDs.append(layer.diffID)
        let created = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(mtime)))
        config.history =
            (config.history ?? []) + [
                History(
                    created: created, createdBy: "harden patch",
                    comment: "\(report.packages.count) packages upgraded: "
                        + report.packages.prefix(20).map { "\($0.name) \($0.to)" }.joined(separator: ", "))
            ]
        var labels = config.config?.labels ?? [:]
        labels["dev.harden.patch.packages"] = report.packages.map { "\($0.name)=\($0.to)" }.joined(separator: ",")
        labels["dev.harden.patch.fixes"] = Set(report.packages.flatMap(\.fixes)).sorted().joined(separator: ",")
        labels["dev.harden.patch.repositories-date"] = created
        if config.config == nil { config.config = ContainerConfig() }
        config.config?.labels = labels
        let combined = CombinedBlobStore([store, image.store])
        let patched = try Image.assemble(
            source: "patched", config: config, layers: image.layers.map(\.descriptor) + [layer.descriptor],
            store: combined,
            configStore: store)
        return patched
    }

    /// The image's APT configuration, as the layer scan captured it: sources.list(.d) and the trusted keys.
    static func aptConfiguration(_ context: CatalogContext) throws -> (files: [RawPath: [UInt8]], sources: [AptSource])
    {
        let aptPaths = context.tree.nodes.keys.filter { p in
            let s = String(decoding: p.bytes, as: UTF8.self)
            return s == "etc/apt/sources.list" || s == "etc/apt/trusted.gpg"
                || (s.hasPrefix("etc/apt/sources.list.d/") && (s.hasSuffix(".list") || s.hasSuffix(".sources")))
                || (s.hasPrefix("etc/apt/trusted.gpg.d/") && (s.hasSuffix(".gpg") || s.hasSuffix(".asc")))
                || (s.hasPrefix("usr/share/keyrings/") && (s.hasSuffix(".gpg") || s.hasSuffix(".asc")))
        }
        var aptFiles: [RawPath: [UInt8]] = [:]
        for p in aptPaths { aptFiles[p] = context.content(p) }
        var sources: [AptSource] = []
        for (p, bytes) in aptFiles.sorted(by: { $0.key < $1.key }) {
            let s = String(decoding: p.bytes, as: UTF8.self)
            if s.hasSuffix(".sources") { sources += try AptSources.parseDeb822(bytes, file: "/" + s) }
            if s.hasSuffix(".list") || s == "etc/apt/sources.list" {
                sources += AptSources.parseOneLine(bytes, file: "/" + s)
            }
        }
        return (aptFiles, sources)
    }

    /// The keys a source's Release must be signed with: its Signed-By (inline or files of the image), else apt's
    /// default (trusted.gpg and trusted.gpg.d) and the distribution's archive keyrings.
    static func keyrings(for source: AptSource, aptFiles: [RawPath: [UInt8]]) -> [[UInt8]] {
        var keys: [[UInt8]] = []
        if let signed = source.signedBy {
            if signed.contains("BEGIN PGP PUBLIC KEY BLOCK") {
                let lines = signed.textLines().map { $0.trimming(" ") == "." ? "" : $0.trimming(" ") }
                keys.append(Array(lines.joined(separator: "\n").utf8))
            } else {
                for path in signed.split(whereSeparator: { $0 == " " || $0 == "," }) {
                    if let b = aptFiles[RawPath(String(path.drop { $0 == "/" })).normalized] { keys.append(b) }
                }
            }
        }
        if keys.isEmpty {
            keys = aptFiles.filter { p, _ in
                let s = String(decoding: p.bytes, as: UTF8.self)
                return s.hasPrefix("etc/apt/trusted.gpg") || s.hasSuffix("-archive-keyring.gpg")
            }.sorted { $0.key < $1.key }.map(\.value)
        }
        return keys
    }

    /// The packages to upgrade for the fixable findings (the whole source package moves together: libssl3 with
    /// openssl), the vulnerabilities each fixes, and the findings no candidate fixes.
    static func upgradesFixing(
        _ findings: [Finding], installed: [InstalledPackage], resolver: Resolver
    ) -> (
        wanted: [String: String], fixes: [String: Set<String>], unfixed: [PatchReport.Unfixed]
    ) {
        var wanted: [String: String] = [:]
        var fixes: [String: Set<String>] = [:]
        var unfixed: [PatchReport.Unfixed] = []
        let dpkg = DpkgVersion()
        let bySource = Dictionary(grouping: installed, by: \.source)
        for f in findings where f.package.type == "deb" && f.fixState == .fixed && f.suppressed == nil {
            guard let inst = installed.first(where: { $0.name == f.package.name }) else { continue }
            let c = resolver.candidate(inst.name, installedArch: inst.architecture)
            let needed = f.fixedVersions.min { dpkg.compare($0, $1) < 0 }
            guard let c, let needed, dpkg.compare(c.sourceVersion, needed) >= 0 || dpkg.compare(c.version, needed) >= 0,
                dpkg.compare(c.version, inst.version) > 0
            else {
                unfixed.append(
                    .init(
                        vulnerability: f.id, package: f.package.name, version: f.package.version,
                        fixedIn: f.fixedVersions, candidate: c?.version))
                continue
            }
            for sibling in bySource[inst.source] ?? [] {
                if let sc = resolver.candidate(sibling.name, installedArch: sibling.architecture),
                    sc.sourceVersion == c.sourceVersion, dpkg.compare(sc.version, sibling.version) > 0
                {
                    wanted[sibling.name] = wanted[sibling.name] ?? "fixes \(f.id)"
                    fixes[sibling.name, default: []].insert(f.id)
                }
            }
        }
        return (wanted, fixes, unfixed)
    }

    /// Downloads the planned packages (each verified against its index's SHA-256 and size), four at a time; paths in
    /// the order of `planned`.
    static func download(_ planned: [PlannedPackage], suites: [AptSource], client: AptClient) async throws -> [String] {
        try await withThrowingTaskGroup(of: (Int, String).self) { group in
            var out: [(Int, String)] = []
            for (i, p) in planned.enumerated() {
                if i >= 4, let done = try await group.next() { out.append(done) }
                let url = suites[p.package.repository].uri + "/" + p.package.filename
                let (sha, size) = (p.package.sha256, p.package.size)
                group.addTask { (i, try await client.fetchVerified(url, sha256: sha, size: size)) }
            }
            for try await done in group { out.append(done) }
            return out.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// The dpkg database of the image: /var/lib/dpkg/status, or status.d/ (distroless).
    static func database(_ context: CatalogContext) throws -> DpkgDatabase {
        let dir = "var/lib/dpkg"
        if let status = context.content(RawPath(dir + "/status")) {
            return DpkgDatabase(
                kind: .status, directory: dir, stanzas: try Deb822.parse(status, source: "/\(dir)/status"))
        }
        var stanzas: [Deb822Stanza] = []
        var files: [String: String] = [:]
        for child in context.tree.children(of: RawPath(dir + "/status.d")) {
            let name = String(decoding: child.lastComponent, as: UTF8.self)
            guard !name.contains("."), let bytes = context.content(child) else { continue }
            for s in try Deb822.parse(bytes, source: "/" + String(decoding: child.bytes, as: UTF8.self)) {
                stanzas.append(s)
                if let p = s["Package"] { files[p] = name }
            }
        }
        guard !stanzas.isEmpty else {
            throw HardenError(
                .unsupported,
                "no dpkg database (/var/lib/dpkg/status or status.d/): only Debian and Ubuntu images can be patched")
        }
        return DpkgDatabase(kind: .statusD, directory: dir, stanzas: stanzas, statusDFiles: files)
    }

    /// info/ file names per package, each package's .list, and the packages listing each path.
    static func infoFiles(
        context: CatalogContext, database: DpkgDatabase, installed: [InstalledPackage]
    )
        -> ([String: [String]], [String: [String]], [String: [String]])
    {
        var names: [String: [String]] = [:]
        var lists: [String: [String]] = [:]
        var owners: [String: [String]] = [:]
        for child in context.tree.children(of: RawPath(database.directory + "/info")) {
            let file = String(decoding: child.lastComponent, as: UTF8.self)
            guard let dot = file.lastIndex(of: ".") else { continue }
            var pkg = String(file[..<dot])
            if let colon = pkg.firstIndex(of: ":") { pkg = String(pkg[..<colon]) }
            names[pkg, default: []].append(file)
            if file.hasSuffix(".list"), let bytes = context.content(child) {
                let paths = String(decoding: bytes, as: UTF8.self).textLines().map(String.init)
                lists[pkg] = paths
                for p in paths { owners[p, default: []].append(pkg) }
            }
        }
        return (names, lists, owners)
    }

    /// dpkg's name for the image's architecture.
    static func dpkgArchitecture(_ oci: String, installed: [InstalledPackage]) -> String {
        if let a = installed.first(where: { $0.architecture != "all" })?.architecture { return a }
        switch oci {
        case "amd64": return "amd64"
        case "arm64": return "arm64"
        case "386": return "i386"
        case "arm": return "armhf"
        default: return oci
        }
    }

    /// An OpenVEX document: one `fixed` statement per vulnerability an upgrade fixes, for the patched image (its
    /// packages named by purl); nil when nothing was fixed.
    public static func vex(_ report: PatchReport, image: Image, osID: String) throws -> [UInt8]? {
        try OpenVEX.document(
            id: "https://harden.dev/vex/patch/\(image.manifestDigest)", author: "harden \(hardenToolVersion)",
            timestamp: vexDate(report), statements: vexStatements(report, image: image, osID: osID))
    }

    /// The `fixed` statements of a patch: one per vulnerability, the patched image as the product, the upgraded
    /// packages as subcomponents (a multi-platform patch puts every platform's in one document).
    public static func vexStatements(_ report: PatchReport, image: Image, osID: String) -> [OpenVEXStatement] {
        var byVuln: [String: [String]] = [:]
        let type = report.ecosystem.flatMap { ["apk", "rpm"].contains($0) ? $0 : nil } ?? "deb"
        for p in report.packages {
            var purl = "pkg:\(type)/\(osID)/\(p.name)@\(p.to)"
            if type == "rpm" {
                // rpm's purl: version-release, the epoch and architecture as qualifiers.
                let (epoch, vr) =
                    p.to.firstIndex(of: ":").map { (String(p.to[..<$0]), String(p.to[p.to.index(after: $0)...])) } ?? (
                        nil, p.to
                    )
                purl = "pkg:rpm/\(osID)/\(p.name)@\(vr)?arch=\(p.architecture)" + (epoch.map { "&epoch=\($0)" } ?? "")
            }
            for v in p.fixes { byVuln[v, default: []].append(purl) }
        }
        for p in report.libraries?.packages ?? [] where p.verification?.outcome != .reverted {
            let purl = LibraryPatchReport.purl(p)
            for v in p.fixes { byVuln[v, default: []].append(purl) }
        }
        let product = OpenVEX.imageProduct(name: report.image, digest: image.manifestDigest.description)
        return byVuln.keys.sorted().map { v in
            OpenVEXStatement(
                vulnerability: v, product: product, subcomponents: byVuln[v]!, status: .fixed,
                statusNotes: "upgraded by harden patch to the version its publisher released with the fix")
        }
    }

    /// A patch's statements are dated by the repository's Release date (reproducible output).
    public static func vexDate(_ report: PatchReport) -> Date {
        report.repositories.compactMap(\.date).first.flatMap { ReleaseFile.date($0) } ?? Date(timeIntervalSince1970: 0)
    }
}

/// Reads the current bytes of some paths of an image (the final version of each), streaming only the layers
/// that hold them.
public enum ImageContent {
    /// Where the final version of each path is (layer, entry): computed from the tree, then read without it.
    public static func locate(_ tree: FileTree, paths: Set<RawPath>) -> [ContentKey: RawPath] {
        var out: [ContentKey: RawPath] = [:]
        for p in paths {
            guard let r = tree.resolve(p), let node = tree.nodes[r], node.type == .regular, let key = node.content
            else { continue }
            out[key] = p
        }
        return out
    }

    public static func read(
        _ image: Image, located: [ContentKey: RawPath], limit: Int = 64 << 20
    ) throws -> [RawPath: [UInt8]] {
        var out: [RawPath: [UInt8]] = [:]
        for layer in Set(located.keys.map(\.layer)).sorted() {
            var index = 0
            try image.forEachEntry(inLayer: layer) { entry, tar in
                defer { index += 1 }
                if let p = located[ContentKey(layer: layer, entry: index)] {
                    out[p] = try tar.bodyReader().readAll(
                        limit: limit, name: "\(image.source): /\(String(decoding: p.bytes, as: UTF8.self))")
                }
            }
        }
        return out
    }
}

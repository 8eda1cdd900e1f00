// harden — patching an application's own libraries (`harden patch --libraries`): the options, the report section,
// the layer every library backend writes (new files, whiteouts for the replaced versions' files and the directories
// they leave empty) and the facade that runs the backends of the ecosystems asked for.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenSystem
import HardenVulnDB
import Logging

/// The language ecosystems whose libraries harden can upgrade.
public enum LibraryEcosystem: String, Sendable, Codable, CaseIterable {
    case python, npm, maven
}

public struct LibraryPatchOptions: Sendable {
    public var ecosystems: Set<LibraryEcosystem> = []
    /// nil: the smallest version that fixes every finding, however far.
    public var level: LibraryPatchLevel?
    /// Every outdated library, not only vulnerable ones.
    public var all = false
    public var pythonIndex = PythonIndex.pypi
    public var npmRegistry = NpmRegistry.npmjs
    public var mavenRepository = MavenRepository.central
    /// Credentials for private indexes, registries and repositories, each bound to its host.
    public var credentials: IndexCredentials?
    /// Upgrades left out (normalized names): the verified-upgrade bisection reverts them; the distributions they
    /// pulled in go with them.
    public var exclude: Set<String> = []
    /// What the backends fetched and built, kept for one patch and its bisection steps (copies of these options
    /// share it; new options start empty, so a long-running worker never reads an index as it was hours ago).
    public var cache = LibraryPatchCache()
    public init() {}
}

/// Index pages, metadata and built installs, by key, for one patch run.
public final class LibraryPatchCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: Any] = [:]
    public init() {}

    func get<T>(_ key: String, as: T.Type = T.self) -> T? { lock.withLock { entries[key] as? T } }
    func set(_ key: String, _ value: Any) { lock.withLock { entries[key] = value } }
}

/// The `libraries` section of `harden patch --report`. Schema in docs/formats.md.
public struct LibraryPatchReport: Codable, Sendable {
    public struct Package: Codable, Sendable {
        public var ecosystem: LibraryEcosystem
        public var name: String
        /// nil for a dependency an upgrade needed that was not installed.
        public var from: String?
        public var to: String
        public var fixes: [String]
        public var reason: String
        public var url: String
        public var sha256: String?
        /// Where it is installed (the site directory).
        public var location: String
        public var bytesAdded: Int64
        /// Set by verified upgrades (`run --patch-libraries`, `patch --verify`).
        public var verification: Verification?
        /// This package's bisection key (`requests`, `npm:lodash`): what reverting it names.
        public var root: String?
        /// npm: the tarball's Subresource Integrity (`sha512-…`), checked before installing.
        public var integrity: String?
    }
    public struct Verification: Codable, Sendable {
        public enum Outcome: String, Codable, Sendable { case verified, reverted }
        public var outcome: Outcome
        /// The probe that failed with this upgrade (reverted), and what it printed.
        public var probe: String?
        public var output: String?

        public init(outcome: Outcome, probe: String? = nil, output: String? = nil) {
            self.outcome = outcome
            self.probe = probe
            self.output = output
        }
    }
    public struct Refused: Codable, Sendable {
        public var ecosystem: LibraryEcosystem
        public var name: String
        public var version: String
        public var reason: String
        public var vulnerabilities: [String]
    }
    public struct Unfixed: Codable, Sendable {
        public var vulnerability: String
        public var package: String
        public var version: String
        public var fixedIn: [String]
        /// The patch level that kept the fix out of reach, when one was set.
        public var level: LibraryPatchLevel?
        /// Why no release was chosen (no fix published, only sdists, outside the level, …).
        public var reason: String?
    }
    public var packages: [Package] = []
    public var refused: [Refused] = []
    public var unfixed: [Unfixed] = []
    public var notes: [String] = []
    public var removedFiles: [String] = []
    public var layer: Descriptor?
    public init() {}

    /// The package URL of a row's new version (`pkg:pypi/requests@2.31.0`, `pkg:npm/%40scope/name@1.0.2`).
    public static func purl(_ p: Package) -> String {
        switch p.ecosystem {
        case .python: return PURL(type: "pypi", name: PURL.pep503(p.name), version: p.to).description
        case .npm:
            if p.name.hasPrefix("@"), let slash = p.name.firstIndex(of: "/") {
                return PURL(
                    type: "npm", namespace: String(p.name[..<slash]),
                    name: String(p.name[p.name.index(after: slash)...]),
                    version: p.to
                ).description
            }
            return PURL(type: "npm", name: p.name, version: p.to).description
        case .maven:
            let parts = p.name.split(separator: ":", maxSplits: 1).map(String.init)
            return PURL(type: "maven", namespace: parts.first, name: parts.last ?? p.name, version: p.to).description
        }
    }
}

public struct LibraryPatchResult {
    public var image: Image
    public var report: LibraryPatchReport
    public var changed: Bool
    /// The upgrades asked for (normalized names), each with the rows of the report it brought; what bisection
    /// reverts one at a time.
    public var roots: [String] = []

    public init(image: Image, report: LibraryPatchReport, changed: Bool, roots: [String] = []) {
        self.image = image
        self.report = report
        self.changed = changed
        self.roots = roots
    }
}

/// What one ecosystem's backend plans: the files its new versions install, the old files to white out, its rows.
public struct LibraryPlan {
    public var files: [LayerFile] = []
    public var whiteouts: [RawPath] = []
    public var report = LibraryPatchReport()
    /// The upgrades asked for (bisection keys) that the plan makes.
    public var roots: [String] = []
    /// `ecosystem:name=version` for the image's label.
    public var labels: [String] = []
    public init() {}
}

/// Runs the library backends the options name and writes their files as one layer over `image`.
public struct LibraryPatcher {
    let logger: Logger
    public init(logger: Logger = .harden) { self.logger = logger }

    public func patch(
        _ image: Image, context: CatalogContext, packages: [SoftwarePackage], findings: [Finding]?,
        options: LibraryPatchOptions, database: VulnerabilityDatabase?, cacheDirectory: String
    ) async throws -> LibraryPatchResult {
        let plans = try await AptClient.using(cacheDirectory: cacheDirectory, credentials: options.credentials) {
            client in
            var plans: [LibraryPlan] = []
            if options.ecosystems.contains(.python) {
                plans.append(
                    try await PythonPatcher(logger: logger).plan(
                        image, context: context, packages: packages, findings: findings, options: options,
                        advisories: try PythonAdvisories(database: database, packages: packages), client: client))
            }
            if options.ecosystems.contains(.npm) {
                plans.append(
                    try await NpmPatcher(logger: logger).plan(
                        image, context: context, packages: packages, findings: findings, options: options,
                        database: database, client: client))
            }
            if options.ecosystems.contains(.maven) {
                plans.append(
                    try await MavenPatcher(logger: logger).plan(
                        image, context: context, packages: packages, findings: findings, options: options,
                        database: database, client: client))
            }
            return plans
        }
        var report = LibraryPatchReport()
        for p in plans {
            report.packages += p.report.packages
            report.refused += p.report.refused
            report.unfixed += p.report.unfixed
            report.notes += p.report.notes
        }
        let files = plans.flatMap(\.files), whiteouts = plans.flatMap(\.whiteouts)
        guard !files.isEmpty else { return LibraryPatchResult(image: image, report: report, changed: false) }
        let store = DirectoryBlobStore(root: try HostFS.makeTemporaryDirectory(prefix: "harden-libpatch"), owned: true)
        let (descriptor, diffID) = try LibraryLayer.write(files, whiteouts: whiteouts, tree: context.tree, store: store)
        report.layer = descriptor
        report.removedFiles = whiteouts.map(\.absoluteDescription).sorted()
        let patched = try ImageLayering.append(
            image, layer: descriptor, diffID: diffID, store: store, createdBy: "harden patch --libraries",
            comment: "\(report.packages.count) libraries upgraded: "
                + report.packages.prefix(20).map { "\($0.name) \($0.to)" }.joined(separator: ", "),
            labels: ["dev.harden.patch.libraries": plans.flatMap(\.labels).joined(separator: ",")])
        return LibraryPatchResult(
            image: patched, report: report, changed: true, roots: plans.flatMap(\.roots))
    }
}

/// The layer of a library patch.
public enum LibraryLayer {
    static let mtime: Int64 = 315_532_800  // 1980-01-01, the earliest time a zip entry holds: reproducible layers

    /// What to white out for replaced installs (each: its site directory and RECORD paths): every old file the new
    /// files do not overwrite, and every directory of theirs left with nothing else in it (whited out whole).
    public static func removals(
        _ replaced: [(site: RawPath, record: [String])], written: Set<RawPath>, tree: FileTree
    )
        -> [RawPath]
    {
        var old = Set<RawPath>()
        for (site, record) in replaced {
            for rel in record {
                let p = RawPath(site.description + "/" + rel).normalized
                // Only paths inside the image's tree (a RECORD's `../` cannot climb out of the root).
                guard !p.isRoot, !p.description.hasPrefix("..") else { continue }
                old.insert(tree.resolveParents(p))
            }
        }
        let writtenDirs = Set(written.flatMap { $0.ancestors })
        var out: [RawPath] = []
        var covered = Set<RawPath>()
        // Directories first (shortest paths first), then files not under a removed directory.
        let dirs = Set(old.flatMap { $0.ancestors }).filter { d in
            !writtenDirs.contains(d) && !written.contains(d)
                && !replaced.contains { $0.site == d || $0.site.isUnder(d) }
        }
        for d in dirs.sorted(by: { $0.bytes.count < $1.bytes.count || ($0.bytes.count == $1.bytes.count && $0 < $1) }) {
            guard !covered.contains(where: { d.isUnder($0) }), tree.nodes[d]?.isDirectory == true,
                onlyHolds(d, old, tree: tree)
            else { continue }
            out.append(d)
            covered.insert(d)
        }
        for p in old.sorted() where !written.contains(p) && !covered.contains(where: { p.isUnder($0) }) {
            if let n = tree.nodes[p], !n.isDirectory { out.append(p) }
        }
        return out
    }

    /// Whether every file under `dir` is one of `files`.
    static func onlyHolds(_ dir: RawPath, _ files: Set<RawPath>, tree: FileTree) -> Bool {
        for child in tree.children(of: dir) {
            if tree.nodes[child]?.isDirectory == true {
                if !onlyHolds(child, files, tree: tree) { return false }
            } else if !files.contains(child) {
                return false
            }
        }
        return true
    }

    /// Writes the layer: whiteouts, the new directories, then the files, in path order.
    public static func write(
        _ files: [LayerFile], whiteouts: [RawPath], tree: FileTree, store: DirectoryBlobStore
    )
        throws -> (Descriptor, Digest)
    {
        let writer = try LayerBlobWriter(path: store.root + "/library-layer.tmp", compression: .gzip, gzipLevel: 6)
        for w in whiteouts.sorted() {
            guard let parent = w.parent else { continue }
            let wh =
                parent.isRoot
                ? RawPath(Array(".wh.".utf8) + w.lastComponent) : parent.appending(Array(".wh.".utf8) + w.lastComponent)
            try writer.tar.append(TarEntry(path: wh, type: .regular, mode: 0o644, mtime: mtime))
        }
        var dirs = Set<RawPath>()
        for f in files { for a in f.path.ancestors where tree.nodes[a] == nil { dirs.insert(a) } }
        for d in dirs.sorted() {
            try writer.tar.append(TarEntry(path: d, type: .directory, mode: 0o755, mtime: mtime))
        }
        var seen = Set<RawPath>()
        for f in files.sorted(by: { $0.path < $1.path }) where seen.insert(f.path).inserted {
            if let target = f.symlink {
                try writer.tar.append(
                    TarEntry(path: f.path, type: .symlink, mode: 0o777, mtime: mtime, linkTarget: target))
                continue
            }
            try writer.tar.append(
                TarEntry(path: f.path, type: .regular, mode: f.mode, size: Int64(f.bytes.count), mtime: mtime),
                body: f.bytes)
        }
        let (digest, size, diffID) = try writer.finish()
        try HostFS.rename(writer.path, store.path(of: digest))
        return (Descriptor(mediaType: MediaType.ociLayer(.gzip), digest: digest, size: size), diffID)
    }
}

/// An image with one more layer on top: config, history and labels updated.
public enum ImageLayering {
    public static func append(
        _ image: Image, layer: Descriptor, diffID: Digest, store: DirectoryBlobStore, createdBy: String,
        comment: String, labels: [String: String], created: Date = Date(timeIntervalSince1970: 315_532_800)
    ) throws -> Image {
        var config = image.config
        config.rootfs.diffIDs.append(diffID)
        let stamp = ISO8601DateFormatter().string(from: created)
        config.history = (config.history ?? []) + [History(created: stamp, createdBy: createdBy, comment: comment)]
        if config.config == nil { config.config = ContainerConfig() }
        let merged = (config.config?.labels ?? [:]).merging(labels) { _, new in new }
        config.config?.labels = merged
        return try Image.assemble(
            source: "patched", config: config, layers: image.layers.map(\.descriptor) + [layer],
            store: CombinedBlobStore([store, image.store]), configStore: store)
    }
}

extension RawPath {
    /// Every ancestor directory, nearest last (`a/b/c` → `a`, `a/b`).
    var ancestors: [RawPath] {
        var out: [RawPath] = []
        var p = parent
        while let q = p, !q.isRoot {
            out.append(q)
            p = q.parent
        }
        return out.reversed()
    }

    /// Strictly below `dir`.
    func isUnder(_ dir: RawPath) -> Bool {
        bytes.count > dir.bytes.count && bytes.starts(with: dir.bytes) && bytes[dir.bytes.count] == UInt8(ascii: "/")
    }
}

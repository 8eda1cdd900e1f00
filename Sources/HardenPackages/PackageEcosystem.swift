// harden — the seam every package ecosystem plugs into: what the layer scan captures for it, how its installed
// packages are found and ordered, and how a minified image's copy of its database is rewritten. Patchers plug into
// HardenPatch's `PackagePatcher` the same way. docs/architecture.md lists the files a new backend adds.
import HardenArchive
import HardenCore
import HardenOCI

/// A package manager family (dpkg, apk, rpm, …). Registered in a list (`Ecosystems.standard` in HardenSBOM); the
/// scan, minify and patch stages ask the list and never name an ecosystem themselves.
public protocol PackageEcosystem: Sendable {
    /// A short, stable name (`dpkg`, `apk`, `rpm`): logs, reports and the patcher registry use it.
    var name: String { get }
    /// The SBOM type of the packages it installs.
    var packageType: PackageType { get }
    /// Orders its package versions.
    var versions: any VersionComparator { get }
    /// Finds its installed packages in the squashed image.
    var cataloger: any Cataloger { get }
    /// Whether a layer's file is one its cataloger or patcher reads (its database, its repository configuration),
    /// and how much of it to capture; nil when it is not.
    func capture(_ path: RawPath, entry: TarEntry) -> CaptureKind?
    /// Whether the squashed image holds this ecosystem's package database.
    func isInstalled(in context: CatalogContext) -> Bool
    /// The files of its database a minified image keeps, given the packages of this ecosystem that are left, each
    /// with the rewrite that makes it list exactly what is left.
    func databaseFiles(in fs: any ImageFileSystem, tree: FileTree, kept: [SoftwarePackage]) -> [DatabaseFile]
}

/// A file of a package database that a minified image keeps.
public struct DatabaseFile {
    /// The absolute path in the image (symlinks resolved).
    public var path: String
    /// Why it is kept (the minify report's reason).
    public var reason: String
    /// The new bytes from the old ones and whether a path the database lists is still present; nil (or a rewrite
    /// that returns nil) keeps the file as it is.
    public var rewrite: (([UInt8], (String) -> Bool) -> [UInt8]?)?

    public init(path: String, reason: String, rewrite: (([UInt8], (String) -> Bool) -> [UInt8]?)? = nil) {
        self.path = path
        self.reason = reason
        self.rewrite = rewrite
    }
}

extension Array where Element == any PackageEcosystem {
    /// The first ecosystem that claims a layer's file, and its capture.
    public func capture(_ path: RawPath, entry: TarEntry) -> CaptureKind? {
        for e in self { if let kind = e.capture(path, entry: entry) { return kind } }
        return nil
    }

    /// The ecosystems whose database the image holds, in registration order.
    public func installed(in context: CatalogContext) -> [any PackageEcosystem] {
        filter { $0.isInstalled(in: context) }
    }

    /// The ecosystem of a package type, if one is registered.
    public func ecosystem(of type: PackageType) -> (any PackageEcosystem)? { first { $0.packageType == type } }
}

/// A read-only view of an image's files: what minify plans over and what ecosystems read their databases from.
public protocol ImageFileSystem {
    /// Follows symlinks (the path's own and its parents') inside the image. Returns the final path and every
    /// symlink passed on the way (as absolute paths), or nil when the path does not exist (or loops).
    func resolve(_ path: String) -> (path: String, links: [String])?
    /// Up to `count` bytes of the regular file at the resolved `path` from `offset`.
    func read(_ path: String, offset: Int, count: Int) throws -> [UInt8]
    func size(_ path: String) -> Int?
}

extension ImageFileSystem {
    /// The whole regular file at `path`, or nil.
    public func readWhole(_ path: String) -> [UInt8]? {
        size(path).flatMap { try? read(path, offset: 0, count: $0) }
    }
}

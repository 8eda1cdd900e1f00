// harden — apk (Alpine, Wolfi, Chainguard) as a package ecosystem: its installed database in the layer scan, its
// cataloger and version order, and the database of a minified image.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages

public struct ApkEcosystem: PackageEcosystem {
    public init() {}
    public var name: String { "apk" }
    public var packageType: PackageType { .apk }
    public var versions: any VersionComparator { ApkVersion() }
    public var cataloger: any Cataloger { ApkCataloger() }

    /// The installed database, and what `harden patch` reads: the rest of apk's database (scripts.tar, triggers)
    /// and its configuration (repositories, world, arch, trusted keys, protected paths).
    public func capture(_ path: RawPath, entry: TarEntry) -> CaptureKind? {
        // A cheap test first: this runs for every entry of every layer.
        guard path.contains("apk/") else { return nil }
        if path.ends(with: "lib/apk/db/installed") { return .whole(limit: 256 << 20) }
        if path.equals("lib/apk/db/scripts.tar") { return .whole(limit: 64 << 20) }
        if path.equals("lib/apk/db/triggers") || path.equals("etc/apk/repositories") || path.equals("etc/apk/world")
            || path.equals("etc/apk/arch") || path.isDirectlyIn("etc/apk/keys")
            || path.isDirectlyIn("etc/apk/protected_paths.d")
        {
            return .whole(limit: 1 << 20)
        }
        return nil
    }

    public func isInstalled(in context: CatalogContext) -> Bool { context.exists("lib/apk/db/installed") }

    public func databaseFiles(in fs: any ImageFileSystem, tree: FileTree, kept: [SoftwarePackage]) -> [DatabaseFile] {
        guard let installed = fs.resolve("/lib/apk/db/installed")?.path else { return [] }
        let names = Set(kept.map(\.name))
        return [
            DatabaseFile(path: installed, reason: "package database (rewritten to the \(names.count) packages left)") {
                ApkInstalled.filter($0, keeping: names, isPresent: $1)
            }
        ]
    }
}

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

    public func capture(_ path: RawPath, entry: TarEntry) -> CaptureKind? {
        path.ends(with: "lib/apk/db/installed") ? .whole(limit: 256 << 20) : nil
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

// harden — rpm (RHEL, Fedora, Rocky, Alma, openSUSE, Amazon Linux) as a package ecosystem: its databases in the
// layer scan, its cataloger and version order, and the database of a minified image.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages

public struct RpmEcosystem: PackageEcosystem {
    public init() {}
    public var name: String { "rpm" }
    public var packageType: PackageType { .rpm }
    public var versions: any VersionComparator { RpmVersion() }
    public var cataloger: any Cataloger { RpmCataloger() }

    static let databaseDirectories = ["/var/lib/rpm", "/usr/lib/sysimage/rpm"]

    /// SQLite, BerkeleyDB and NDB databases (the last two are reported, not read).
    public func capture(_ path: RawPath, entry: TarEntry) -> CaptureKind? {
        guard path.contains("rpm/"), path.named("rpmdb.sqlite") || path.named("Packages") || path.named("Packages.db")
        else { return nil }
        return .whole(limit: 512 << 20)
    }

    public func isInstalled(in context: CatalogContext) -> Bool {
        Self.databaseDirectories.contains { dir in
            ["rpmdb.sqlite", "Packages", "Packages.db"].contains {
                context.exists(RawPath(String(dir.dropFirst()) + "/" + $0))
            }
        }
    }

    public func databaseFiles(in fs: any ImageFileSystem, tree: FileTree, kept: [SoftwarePackage]) -> [DatabaseFile] {
        let ids = Set(kept.map(\.id))
        var files: [DatabaseFile] = []
        for dir in Self.databaseDirectories {
            // rpm headers are signed, so their file lists stay as they are; whole packages leave the database.
            if let db = fs.resolve(dir + "/rpmdb.sqlite")?.path {
                files.append(
                    DatabaseFile(path: db, reason: "package database (rewritten to the \(ids.count) packages left)") {
                        bytes, _ in try? RpmCataloger.filterSQLite(bytes, keeping: ids)
                    })
            }
            // BerkeleyDB and NDB databases cannot be rewritten here: kept whole, so that no package is hidden.
            for name in ["Packages", "Packages.db"] {
                files.append(
                    DatabaseFile(
                        path: "\(dir)/\(name)",
                        reason: "package database (BerkeleyDB/NDB, kept unchanged: it still lists the packages removed)"
                    ))
            }
        }
        return files
    }
}

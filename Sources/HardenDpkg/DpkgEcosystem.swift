// harden — dpkg as a package ecosystem: its database and APT's configuration in the layer scan, its cataloger and
// version order, and its database in a minified image.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages

public struct DpkgEcosystem: PackageEcosystem {
    public init() {}
    public var name: String { "dpkg" }
    public var packageType: PackageType { .deb }
    public var versions: any VersionComparator { DpkgVersion() }
    public var cataloger: any Cataloger { DpkgCataloger() }

    public func capture(_ path: RawPath, entry: TarEntry) -> CaptureKind? {
        if path.contains("dpkg/") {
            if path.ends(with: "lib/dpkg/status") { return .whole(limit: 256 << 20) }
            if path.contains("lib/dpkg/status.d/") { return .whole(limit: 16 << 20) }
            if path.contains("lib/dpkg/info/")
                && (path.ends(with: ".list") || path.ends(with: ".md5sums") || path.ends(with: ".conffiles"))
            {
                return .whole(limit: 16 << 20)
            }
        }
        if path.named("copyright") && path.contains("usr/share/doc/") { return .whole(limit: 1 << 20) }
        // APT's sources and trusted keys (what `harden patch` fetches from and verifies with).
        if path.equals("etc/apt/sources.list") || path.equals("etc/apt/trusted.gpg")
            || path.isDirectlyIn("etc/apt/sources.list.d") || path.isDirectlyIn("etc/apt/trusted.gpg.d")
            || path.isDirectlyIn("usr/share/keyrings")
        {
            return .whole(limit: 1 << 20)
        }
        return nil
    }

    public func isInstalled(in context: CatalogContext) -> Bool {
        context.exists("var/lib/dpkg/status")
            || context.tree.nodes.keys.contains { $0.parent == "var/lib/dpkg/status.d" }
    }

    public func databaseFiles(in fs: any ImageFileSystem, tree: FileTree, kept: [SoftwarePackage]) -> [DatabaseFile] {
        let keptNames = Set(kept.map(\.name))
        // Licences travel with the binaries (and SBOMs read them): each package left keeps its copyright file.
        var files = keptNames.sorted().map {
            DatabaseFile(path: "/usr/share/doc/\($0)/copyright", reason: "licence of package \($0)")
        }
        if let status = fs.resolve("/var/lib/dpkg/status")?.path {
            files.append(
                DatabaseFile(
                    path: status, reason: "package database (rewritten to the \(keptNames.count) packages left)"
                ) {
                    DpkgStatus.filter($0, keeping: keptNames, isPresent: $1)
                })
            // dpkg's own files: without info/format, dpkg reads NAME:ARCH.list as NAME.list and finds no files.
            for admin in ["info/format", "arch", "diversions", "statoverride"] {
                files.append(DatabaseFile(path: "/var/lib/dpkg/" + admin, reason: "package database"))
            }
        }
        // info/NAME[:ARCH].list|md5sums|conffiles (names may contain dots: libpython3.11-stdlib), and distroless
        // images' status.d/NAME control files with NAME.md5sums beside them.
        for (rel, node) in tree.nodes where node.type == .regular {
            let abs = rel.absoluteDescription
            let inInfo = abs.hasPrefix("/var/lib/dpkg/info/"), inStatusD = abs.hasPrefix("/var/lib/dpkg/status.d/")
            guard inInfo || inStatusD else { continue }
            let base = String(abs.split(separator: "/").last ?? "")
            if let kind = (inInfo ? ["list", "md5sums", "conffiles"] : ["md5sums"]).first(where: {
                base.hasSuffix("." + $0)
            }) {
                let package = String(base.dropLast(kind.count + 1).prefix { $0 != ":" })
                if keptNames.contains(package) {
                    files.append(
                        DatabaseFile(path: abs, reason: "package database of \(package) (rewritten to its files left)")
                        {
                            DpkgStatus.pruneFileList($0, kind: kind, isPresent: $1)
                        })
                }
            } else if inStatusD, let bytes = fs.readWhole(abs), !DpkgStatus.filter(bytes, keeping: keptNames).isEmpty {
                files.append(
                    DatabaseFile(path: abs, reason: "package database (a package left)") { _, isPresent in
                        DpkgStatus.filter(bytes, keeping: keptNames, isPresent: isPresent)
                    })
            }
        }
        return files
    }
}

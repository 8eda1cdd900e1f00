// harden — the keep set: files used at run time ∪ their static closure ∪ essentials ∪ includes, and the
// package database rewritten to the packages that still have files.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenProfile
import HardenSBOM

/// How much to remove.
public enum Preset: String, Sendable, CaseIterable {
    /// Drop every file the profile and its closure do not need.
    case aggressive
    /// Drop unused packages that carry any known vulnerability, and unused files no package owns.
    case standard
    /// Drop only unused packages with high or critical vulnerabilities.
    case light
}

public struct PlanInput {
    public var config: ContainerConfig?
    public var tree: FileTree
    public var fileSystem: any ImageFileSystem
    public var packages: [SoftwarePackage]
    public var profile: RuntimeProfile
    public var includes: [String] = []
    public var keepPackages: [String] = []
    public var preset: Preset = .aggressive
    /// Package id → the highest severity rank of its known vulnerabilities (1 negligible … 5 critical).
    public var vulnerabilityRank: [String: Int] = [:]
    /// Replace Python sources the app only stat-ed (Python loaded their cached bytecode) by sourceless modules.
    public var pythonBytecode = false
    /// The package ecosystems whose databases are rewritten to the packages left.
    public var ecosystems: [any PackageEcosystem] = Ecosystems.standard

    public init(
        config: ContainerConfig?, tree: FileTree, fileSystem: any ImageFileSystem, packages: [SoftwarePackage],
        profile: RuntimeProfile
    ) {
        self.config = config
        self.tree = tree
        self.fileSystem = fileSystem
        self.packages = packages
        self.profile = profile
    }
}

/// What stays and what goes, each with its reason.
public struct Plan: Sendable {
    /// Absolute paths kept (files, links, and directories that were used or included), with the reason.
    public var keep: [String: String] = [:]
    /// Absolute paths removed (not directories), with the reason.
    public var removed: [String: String] = [:]
    /// Rewritten contents (the package database).
    public var overrides: [String: [UInt8]] = [:]
    public var packagesKept: [String] = []
    public var packagesRemoved: [String] = []
    /// Libraries the closure could not find (library, needed by).
    public var unresolved: [String] = []
    /// Python sources replaced by sourceless bytecode (`--python-bytecode`): source → the new `.pyc` beside it.
    public var bytecode: [String: String] = [:]
}

public enum Planner {
    static let essentials = [
        "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts", "/etc/resolv.conf", "/etc/os-release",
        "/usr/lib/os-release",
        "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs", "/etc/ca-certificates.conf", "/etc/localtime",
        "/etc/host.conf",
        "/etc/ld.so.cache", "/etc/debian_version", "/etc/alpine-release",
    ]
    static let nssLibraries = ["libnss_files.so.2", "libnss_dns.so.2", "libresolv.so.2"]
    static let shellsAndPackageManagers: Set<String> = [
        "bash", "dash", "sh", "busybox", "apt", "dpkg", "apk-tools", "rpm", "yum", "dnf", "microdnf", "zsh", "ash",
    ]

    public static func plan(_ input: PlanInput) -> Plan { PlanBuilder(input).build() }

    /// `/d/__pycache__/m.cpython-311.pyc` → `/d/m.py` (nil for other paths and optimised `.opt-N` files).
    static func cacheOwner(_ path: String) -> String? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 3, parts[parts.count - 2] == "__pycache__", path.hasSuffix(".pyc"), !path.contains(".opt-")
        else { return nil }
        let file = parts[parts.count - 1]
        guard let dot = file.firstIndex(of: "."), file[dot...].hasPrefix(".cpython-") else { return nil }
        return parts.dropLast(2).joined(separator: "/") + "/" + file[..<dot] + ".py"
    }

    /// Replaces each kept source the profile saw only stat-ed, whose cached bytecode is kept, by that bytecode
    /// beside it; returns source → new `.pyc`.
    static func sourcelessModules(
        keep: inout [String: String], profile: RuntimeProfile, fs: any ImageFileSystem,
        overrides: inout [String: [UInt8]]
    ) -> [String: String] {
        var ops: [String: Set<String>] = [:]
        for f in profile.files { ops[f.path, default: []].formUnion(f.operations) }
        var cached: [String: String] = [:]  // source → kept cache file
        for path in keep.keys { if let source = cacheOwner(path) { cached[source] = path } }
        var moved: [String: String] = [:]
        for (source, cache) in cached.sorted(by: { $0.key < $1.key }) {
            guard keep[source] != nil, let seen = ops[source], !seen.isEmpty, seen.isSubset(of: ["stat", "access"]),
                let size = fs.size(cache), let bytes = try? fs.read(cache, offset: 0, count: size), bytes.count >= 16
            else { continue }
            let target = String(source.dropLast(3)) + ".pyc"
            guard keep[target] == nil, fs.resolve(target) == nil else { continue }
            overrides[target] = bytes
            keep[target] = "bytecode of \(source) (--python-bytecode)"
            keep.removeValue(forKey: source)
            keep.removeValue(forKey: cache)
            moved[source] = target
        }
        return moved
    }

    static func parentPath(_ p: String) -> String? {
        guard let i = p.lastIndex(of: "/"), i != p.startIndex else { return nil }
        return String(p[..<i])
    }

    /// Adds a path, or everything under a directory, from the tree.
    static func addTree(_ path: String, reason: String, tree: FileTree, into keep: inout [String: String]) {
        let rel = RawPath(String(path.drop { $0 == "/" })).normalized
        let prefix = rel.absoluteDescription
        for (p, _) in tree.nodes where !p.isRoot {
            let abs = p.absoluteDescription
            if abs == prefix || abs.hasPrefix(prefix + "/") { if keep[abs] == nil { keep[abs] = reason } }
        }
    }

    /// The interpreter of a `#!` script (through `env NAME`).
    static func shebang(_ path: String, fs: any ImageFileSystem, pathDirs: [String]) -> String? {
        guard let head = try? fs.read(path, offset: 0, count: 256), head.starts(with: Array("#!".utf8)) else {
            return nil
        }
        let line = String(decoding: head.dropFirst(2).prefix { $0 != 10 }, as: UTF8.self)
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let interp = words.first else { return nil }
        if interp.hasSuffix("/env"), words.count > 1 {
            let name = words.dropFirst().first { !$0.hasPrefix("-") } ?? words[1]
            return pathDirs.lazy.map { "\($0)/\(name)" }.first { fs.resolve($0) != nil } ?? interp
        }
        return interp
    }
}

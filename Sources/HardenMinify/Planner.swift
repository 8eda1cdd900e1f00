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

    public static func plan(_ input: PlanInput) -> Plan {
        var plan = Plan()
        let fs = input.fileSystem
        var keep: [String: String] = [:]
        func add(_ path: String, _ reason: String) { if keep[path] == nil { keep[path] = reason } }
        func addResolved(_ path: String, _ reason: String) {
            if let (final, links) = fs.resolve(path) {
                for l in links { add(l, reason) }
                add(final, reason)
                return
            }
            // A link whose target only exists at run time (/var/log/nginx/error.log -> /dev/stderr): keep the link.
            guard let parent = parentPath(path), let (dir, links) = fs.resolve(parent) else { return }
            let candidate = (dir == "/" ? "" : dir) + "/" + (path.split(separator: "/").last.map(String.init) ?? "")
            guard input.tree.nodes[RawPath(String(candidate.dropFirst())).normalized] != nil else { return }
            for l in links { add(l, reason) }
            add(candidate, reason)
        }

        // 1. What the app used.
        for f in input.profile.files {
            if f.type == .missing {
                // Created at run time (nginx's /var/lib/nginx/body): its parent directory must exist.
                if f.operations.contains("write"), let parent = parentPath(f.path), fs.resolve(parent) != nil {
                    addResolved(parent, "parent of \(f.path), created at run time")
                }
                continue
            }
            addResolved(f.path, "used")
            if let t = f.target { add(t, "used (via \(f.path))") }
        }
        // 2. Entrypoint, cmd and healthcheck executables.
        let env = input.config?.env ?? []
        let pathDirs =
            (env.first { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) }
            ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .split(separator: ":").map(String.init)
        func executable(_ name: String) -> String? {
            if name.hasPrefix("/") { return fs.resolve(name) != nil ? name : nil }
            return pathDirs.lazy.map { "\($0)/\(name)" }.first { fs.resolve($0) != nil }
        }
        let args = (input.config?.entrypoint ?? []) + (input.config?.cmd ?? [])
        if let first = args.first, let exe = executable(first) { addResolved(exe, "entrypoint") }
        if let hc = input.config?.healthcheck?.test, hc.first == "CMD", hc.count > 1, let exe = executable(hc[1]) {
            addResolved(exe, "healthcheck")
        }
        // 3. Essentials that exist.
        for e in essentials { addResolved(e, "essential") }
        if let tz = env.first(where: { $0.hasPrefix("TZ=") })?.dropFirst(3), !tz.isEmpty {
            addResolved("/usr/share/zoneinfo/\(tz)", "essential (TZ=\(tz))")
        }
        // 4. Includes and kept packages.
        for inc in input.includes { addTree(inc, reason: "included (--include \(inc))", tree: input.tree, into: &keep) }
        let byName = Dictionary(grouping: input.packages, by: \.name)
        for name in input.keepPackages {
            for p in byName[name] ?? [] { for f in p.files { addResolved(f, "kept package \(name) (--keep-package)") } }
        }
        // 5. Presets other than aggressive keep whole packages unless they are unused and vulnerable.
        func isDirectoryLink(_ path: String) -> Bool {
            guard input.tree.nodes[RawPath(String(path.dropFirst())).normalized]?.type == .symlink,
                let r = fs.resolve(path)
            else {
                return false
            }
            return fs.size(r.path) == nil
        }
        let usedPaths = Set(keep.keys)
        func isUsed(_ p: SoftwarePackage) -> Bool {
            p.files.contains { usedPaths.contains($0) && !isDirectoryLink($0) }
        }
        if input.preset != .aggressive {
            for p in input.packages where !p.files.isEmpty && !isUsed(p) {
                let rank = input.vulnerabilityRank[p.id] ?? 0
                let drop = input.preset == .standard ? rank > 0 : rank >= 4
                if drop || shellsAndPackageManagers.contains(p.name) { continue }
                for f in p.files { addResolved(f, "package \(p.name) kept by the \(input.preset.rawValue) preset") }
            }
            if input.preset == .light {
                let owned = Set(input.packages.flatMap(\.files))
                for (rel, node) in input.tree.nodes where node.type != .directory {
                    let abs = rel.absoluteDescription
                    if !owned.contains(abs) && keep[abs] == nil {
                        add(abs, "file of no package, kept by the light preset")
                    }
                }
            }
        }
        // 6. Closure to a fixed point: ELF dependencies, script interpreters, NSS modules, whole language packages.
        let closure = DependencyClosure(
            fileSystem: fs,
            libraryPath: env.first { $0.hasPrefix("LD_LIBRARY_PATH=") }
                .map { $0.dropFirst(16).split(separator: ":").map(String.init) } ?? [])
        var examined = Set<String>()
        var nssAdded = false
        while true {
            let pending = keep.keys.filter { !examined.contains($0) }.sorted()
            if pending.isEmpty { break }
            examined.formUnion(pending)
            let result = closure.closure(of: pending.filter { fs.size($0) != nil })
            for (l, r) in result.links { add(l, r == "used" ? "used" : r) }
            for (f, r) in result.files { add(f, r) }
            plan.unresolved += result.missing.map { "\($0.0) (needed by \($0.1))" }
            for p in pending {
                if let interp = shebang(p, fs: fs, pathDirs: pathDirs) { addResolved(interp, "interpreter of \(p)") }
            }
            // NSS and DNS modules are loaded with dlopen by libc: keep them with libc.
            if !nssAdded, keep.keys.contains(where: { $0.hasSuffix("/libc.so.6") }) {
                nssAdded = true
                for lib in nssLibraries {
                    for dir in [
                        "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
                        "/usr/lib/aarch64-linux-gnu",
                        "/lib", "/usr/lib",
                    ] {
                        addResolved("\(dir)/\(lib)", "loaded by libc at run time (NSS/DNS)")
                    }
                }
            }
            // A language package is kept whole once any of its files is used: dynamic imports are the first cause
            // of broken minified images.
            for p in input.packages where p.files.contains(where: { keep[$0] != nil }) {
                if p.type == .python || p.type == .npm || p.type == .gem || p.type == .javaArchive {
                    for f in p.files { addResolved(f, "package \(p.name) (one of its files is used)") }
                } else if p.type.isOS {
                    for f in p.files
                    where f.contains("/dist-packages/") || f.contains("/site-packages/") || f.contains("/node_modules/")
                    {
                        addResolved(f, "package \(p.name) (one of its modules is used)")
                    }
                }
            }
        }
        // 6b. Sourceless Python: a module whose source Python only stat-ed loaded its cached bytecode; that bytecode
        // becomes NAME.pyc beside where the source was (Python imports it without the source) and the source goes.
        if input.pythonBytecode {
            plan.bytecode = Self.sourcelessModules(
                keep: &keep, profile: input.profile, fs: fs, overrides: &plan.overrides)
        }
        // 7. The package database: packages that still have files, with their file lists. A link to a directory
        // (usr-merge's /bin -> usr/bin, listed by many packages) does not make a package present.
        var keptPackages: [SoftwarePackage] = []
        for p in input.packages {
            // A package whose modules are left as bytecode only is still there.
            if p.files.contains(where: { (keep[$0] != nil && !isDirectoryLink($0)) || plan.bytecode[$0] != nil }) {
                keptPackages.append(p)
            } else {
                plan.packagesRemoved.append(p.id)
            }
        }
        plan.packagesKept = keptPackages.map(\.id)
        // The package databases are kept and rewritten to what is left (each ecosystem says which files and how);
        // the rewrites run once the keep set is final. Two paths to one file (rpm's two directories) rewrite it once.
        var rewrites: [(path: String, rewrite: ([UInt8], (String) -> Bool) -> [UInt8]?)] = []
        for ecosystem in input.ecosystems {
            let kept = keptPackages.filter { $0.type == ecosystem.packageType }
            for file in ecosystem.databaseFiles(in: fs, tree: input.tree, kept: kept) {
                guard let rewrite = file.rewrite else {
                    addResolved(file.path, file.reason)
                    continue
                }
                let path = fs.resolve(file.path)?.path ?? file.path
                guard !rewrites.contains(where: { $0.path == path }) else { continue }
                add(path, file.reason)
                rewrites.append((path, rewrite))
            }
        }
        // Every list names exactly what is left: dpkg --verify finds nothing missing, a scanner's file ownership is true.
        var present = Set<RawPath>([.root])
        for abs in Array(keep.keys) + Array(plan.overrides.keys) {
            var p: RawPath? = RawPath(String(abs.drop { $0 == "/" })).normalized
            while let q = p, present.insert(q).inserted { p = q.parent }
        }
        let tree = input.tree
        func isPresent(_ listed: String) -> Bool {
            present.contains(tree.resolveParents(RawPath(String(listed.drop { $0 == "/" })).normalized))
        }
        for (path, rewrite) in rewrites {
            if let bytes = fs.readWhole(path), let rewritten = rewrite(bytes, isPresent) {
                plan.overrides[path] = rewritten
            }
        }
        // Everything else goes.
        let owners = Dictionary(
            input.packages.flatMap { p in p.files.map { ($0, p.name) } }, uniquingKeysWith: { a, _ in a })
        for (rel, node) in input.tree.nodes where node.type != .directory && !rel.isRoot {
            let abs = rel.absoluteDescription
            if keep[abs] == nil {
                if let owner = owners[abs] {
                    let rank = input.vulnerabilityRank[input.packages.first { $0.name == owner }?.id ?? ""] ?? 0
                    plan.removed[abs] =
                        input.preset == .aggressive
                        ? "unused (package \(owner))"
                        : "dropped by the \(input.preset.rawValue) preset: package \(owner) is unused\(rank > 0 ? " and has known vulnerabilities" : "")"
                } else {
                    plan.removed[abs] = "unused (no package)"
                }
            }
        }
        for (source, pyc) in plan.bytecode { plan.removed[source] = "source of \(pyc) (--python-bytecode)" }
        for (cached, _) in plan.removed where cached.hasSuffix(".pyc") {
            if let source = Self.cacheOwner(cached), let pyc = plan.bytecode[source] {
                plan.removed[cached] = "moved to \(pyc) (--python-bytecode)"
            }
        }
        plan.keep = keep
        return plan
    }

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

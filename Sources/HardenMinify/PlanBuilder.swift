// harden — the steps of a minify plan, in order: what the app used, its start commands, essentials, includes and
// kept packages, presets, the dependency closure to a fixed point, sourceless Python, the package databases, and
// what goes. Each step adds to `keep` with its reason; the first reason given for a path wins.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenProfile

final class PlanBuilder {
    let input: PlanInput
    let fs: any ImageFileSystem
    let env: [String]
    let pathDirs: [String]
    var plan = Plan()
    var keep: [String: String] = [:]

    init(_ input: PlanInput) {
        self.input = input
        self.fs = input.fileSystem
        self.env = input.config?.env ?? []
        self.pathDirs =
            (env.first { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) }
            ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .split(separator: ":").map(String.init)
    }

    func build() -> Plan {
        addUsedFiles()
        addStartCommands()
        addEssentialsAndIncludes()
        addPresetPackages()
        addClosure()
        // Sourceless Python: a module whose source Python only stat-ed loaded its cached bytecode; that bytecode
        // becomes NAME.pyc beside where the source was (Python imports it without the source) and the source goes.
        if input.pythonBytecode {
            plan.bytecode = Planner.sourcelessModules(
                keep: &keep, profile: input.profile, fs: fs, overrides: &plan.overrides)
        }
        rewritePackageDatabases(keptPackages())
        markRemoved()
        plan.keep = keep
        return plan
    }

    func add(_ path: String, _ reason: String) { if keep[path] == nil { keep[path] = reason } }

    func addResolved(_ path: String, _ reason: String) {
        if let (final, links) = fs.resolve(path) {
            for l in links { add(l, reason) }
            add(final, reason)
            return
        }
        // A link whose target only exists at run time (/var/log/nginx/error.log -> /dev/stderr): keep the link.
        guard let parent = Planner.parentPath(path), let (dir, links) = fs.resolve(parent) else { return }
        let candidate = (dir == "/" ? "" : dir) + "/" + (path.split(separator: "/").last.map(String.init) ?? "")
        guard input.tree.nodes[RawPath(String(candidate.dropFirst())).normalized] != nil else { return }
        for l in links { add(l, reason) }
        add(candidate, reason)
    }

    func executable(_ name: String) -> String? {
        if name.hasPrefix("/") { return fs.resolve(name) != nil ? name : nil }
        return pathDirs.lazy.map { "\($0)/\(name)" }.first { fs.resolve($0) != nil }
    }

    /// A symlink to a directory (usr-merge's /bin -> usr/bin): listed by many packages, it makes none of them used.
    func isDirectoryLink(_ path: String) -> Bool {
        guard input.tree.nodes[RawPath(String(path.dropFirst())).normalized]?.type == .symlink, let r = fs.resolve(path)
        else { return false }
        return fs.size(r.path) == nil
    }

    /// 1. What the app used.
    func addUsedFiles() {
        for f in input.profile.files {
            if f.type == .missing {
                // Created at run time (nginx's /var/lib/nginx/body): its parent directory must exist.
                if f.operations.contains("write"), let parent = Planner.parentPath(f.path), fs.resolve(parent) != nil {
                    addResolved(parent, "parent of \(f.path), created at run time")
                }
                continue
            }
            addResolved(f.path, "used")
            if let t = f.target { add(t, "used (via \(f.path))") }
        }
    }

    /// 2. Entrypoint, cmd and healthcheck executables.
    func addStartCommands() {
        let args = (input.config?.entrypoint ?? []) + (input.config?.cmd ?? [])
        if let first = args.first, let exe = executable(first) { addResolved(exe, "entrypoint") }
        if let hc = input.config?.healthcheck?.test, hc.first == "CMD", hc.count > 1, let exe = executable(hc[1]) {
            addResolved(exe, "healthcheck")
        }
    }

    /// 3. Essentials that exist; 4. includes and kept packages.
    func addEssentialsAndIncludes() {
        for e in Planner.essentials { addResolved(e, "essential") }
        if let tz = env.first(where: { $0.hasPrefix("TZ=") })?.dropFirst(3), !tz.isEmpty {
            addResolved("/usr/share/zoneinfo/\(tz)", "essential (TZ=\(tz))")
        }
        for inc in input.includes {
            Planner.addTree(inc, reason: "included (--include \(inc))", tree: input.tree, into: &keep)
        }
        let byName = Dictionary(grouping: input.packages, by: \.name)
        for name in input.keepPackages {
            for p in byName[name] ?? [] { for f in p.files { addResolved(f, "kept package \(name) (--keep-package)") } }
        }
    }

    /// 5. Presets other than aggressive keep whole packages unless they are unused and vulnerable.
    func addPresetPackages() {
        guard input.preset != .aggressive else { return }
        let usedPaths = Set(keep.keys)
        func isUsed(_ p: SoftwarePackage) -> Bool {
            p.files.contains { usedPaths.contains($0) && !isDirectoryLink($0) }
        }
        for p in input.packages where !p.files.isEmpty && !isUsed(p) {
            let rank = input.vulnerabilityRank[p.id] ?? 0
            let drop = input.preset == .standard ? rank > 0 : rank >= 4
            if drop || Planner.shellsAndPackageManagers.contains(p.name) { continue }
            for f in p.files { addResolved(f, "package \(p.name) kept by the \(input.preset.rawValue) preset") }
        }
        if input.preset == .light {
            let owned = Set(input.packages.flatMap(\.files))
            for (rel, node) in input.tree.nodes where node.type != .directory {
                let abs = rel.absoluteDescription
                if !owned.contains(abs) && keep[abs] == nil { add(abs, "file of no package, kept by the light preset") }
            }
        }
    }

    /// 6. Closure to a fixed point: ELF dependencies, script interpreters, NSS modules, whole language packages.
    func addClosure() {
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
                if let interp = Planner.shebang(p, fs: fs, pathDirs: pathDirs) {
                    addResolved(interp, "interpreter of \(p)")
                }
            }
            // NSS and DNS modules are loaded with dlopen by libc: keep them with libc.
            if !nssAdded, keep.keys.contains(where: { $0.hasSuffix("/libc.so.6") }) {
                nssAdded = true
                addNSSModules()
            }
            addWholeLanguagePackages()
        }
    }

    func addNSSModules() {
        let directories = [
            "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/lib", "/usr/lib",
        ]
        for lib in Planner.nssLibraries {
            for dir in directories { addResolved("\(dir)/\(lib)", "loaded by libc at run time (NSS/DNS)") }
        }
    }

    /// A language package is kept whole once any of its files is used: dynamic imports are the first cause of
    /// broken minified images.
    func addWholeLanguagePackages() {
        for p in input.packages where p.files.contains(where: { keep[$0] != nil }) {
            if p.type == .python || p.type == .npm || p.type == .gem || p.type == .javaArchive {
                for f in p.files { addResolved(f, "package \(p.name) (one of its files is used)") }
            } else if p.type.isOS {
                for f in p.files
                where f.contains("/dist-packages/") || f.contains("/site-packages/") || f.contains("/node_modules/") {
                    addResolved(f, "package \(p.name) (one of its modules is used)")
                }
            }
        }
    }

    /// 7. The packages that still have files. A link to a directory (usr-merge's /bin -> usr/bin, listed by many
    /// packages) does not make a package present; a package whose modules are left as bytecode only is still there.
    func keptPackages() -> [SoftwarePackage] {
        var kept: [SoftwarePackage] = []
        for p in input.packages {
            if p.files.contains(where: { (keep[$0] != nil && !isDirectoryLink($0)) || plan.bytecode[$0] != nil }) {
                kept.append(p)
            } else {
                plan.packagesRemoved.append(p.id)
            }
        }
        plan.packagesKept = kept.map(\.id)
        return kept
    }

    /// The package databases are kept and rewritten to what is left (each ecosystem says which files and how); the
    /// rewrites run once the keep set is final. Two paths to one file (rpm's two directories) rewrite it once. Every
    /// list then names exactly what is left: dpkg --verify finds nothing missing, a scanner's file ownership is true.
    func rewritePackageDatabases(_ keptPackages: [SoftwarePackage]) {
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
    }

    /// Everything else goes, each with its reason.
    func markRemoved() {
        let owners = Dictionary(
            input.packages.flatMap { p in p.files.map { ($0, p.name) } }, uniquingKeysWith: { a, _ in a })
        for (rel, node) in input.tree.nodes where node.type != .directory && !rel.isRoot {
            let abs = rel.absoluteDescription
            guard keep[abs] == nil else { continue }
            guard let owner = owners[abs] else {
                plan.removed[abs] = "unused (no package)"
                continue
            }
            let rank = input.vulnerabilityRank[input.packages.first { $0.name == owner }?.id ?? ""] ?? 0
            plan.removed[abs] =
                input.preset == .aggressive
                ? "unused (package \(owner))"
                : "dropped by the \(input.preset.rawValue) preset: package \(owner) is unused"
                    + (rank > 0 ? " and has known vulnerabilities" : "")
        }
        for (source, pyc) in plan.bytecode { plan.removed[source] = "source of \(pyc) (--python-bytecode)" }
        for (cached, _) in plan.removed where cached.hasSuffix(".pyc") {
            if let source = Planner.cacheOwner(cached), let pyc = plan.bytecode[source] {
                plan.removed[cached] = "moved to \(pyc) (--python-bytecode)"
            }
        }
    }
}

// harden — the npm backend's view of node_modules (Node's resolution: the nearest node_modules up the tree), the
// tarball installed in place of a copy, and the lockfiles brought in line.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages

/// The installed copies and the apps (directories holding a top-level node_modules) with their manifests.
struct NpmTree {
    let copies: [RawPath: NpmCopy]
    /// App directory → the dependencies its package.json declares (dependencies, optional, dev).
    let apps: [RawPath: [String: String]]

    init(copies: [NpmCopy], apps: [RawPath: [String: String]]) {
        self.copies = Dictionary(copies.map { ($0.dir, $0) }, uniquingKeysWith: { a, _ in a })
        self.apps = apps
    }

    /// The copy `require(name)` finds from `dir`: `dir/node_modules/name`, then each ancestor's (not from inside a
    /// node_modules directory itself).
    func resolve(_ name: String, from dir: RawPath) -> NpmCopy? {
        var d: RawPath? = dir
        while let cur = d {
            if cur.lastComponent != Array("node_modules".utf8) {
                let candidate = RawPath((cur.isRoot ? "" : cur.description + "/") + "node_modules/" + name)
                if let c = copies[candidate] { return c }
            }
            if cur.isRoot { break }
            d = cur.parent ?? .root
        }
        return nil
    }

    /// Who requires `copy` (resolving to it), with the range each asks for.
    func dependents(of copy: NpmCopy) -> [(who: String, range: String)] {
        var out: [(String, String)] = []
        for d in copies.values.sorted(by: { $0.dir < $1.dir }) where d.dir != copy.dir {
            if let range = d.dependencies[copy.name], resolve(copy.name, from: d.dir)?.dir == copy.dir {
                out.append(("\(d.name)@\(d.version)", range))
            }
        }
        for (app, deps) in apps.sorted(by: { $0.key < $1.key }) {
            if let range = deps[copy.name], resolve(copy.name, from: app)?.dir == copy.dir {
                out.append(("the app at \(app.absoluteDescription)", range))
            }
        }
        return out
    }

    /// The first dependency of `deps` that does not resolve from `dir` to a version its range accepts.
    func unmet(_ deps: [String: String], from dir: RawPath) -> String? {
        for (name, range) in deps.sorted(by: { $0.key < $1.key }) {
            guard let c = resolve(name, from: dir) else { return "\(name)@\(range), which is not installed" }
            if let r = NpmRange.parse(range), !r.contains(c.version) {
                return "\(name)@\(range), and the image has \(c.version)"
            }
        }
        return nil
    }
}

/// The app directories' package.json and lockfiles, read from the image.
struct NpmAppFiles {
    var manifests: [RawPath: [String: String]]
    /// Lockfile path → its bytes (package-lock.json, node_modules/.package-lock.json).
    var lockfiles: [RawPath: [UInt8]]
}

extension NpmPatcher {
    /// The app directory of a copy: the part of its path before the first `node_modules`.
    static func appDirectory(_ dir: RawPath) -> RawPath {
        let parts = dir.description.split(separator: "/")
        let i = parts.firstIndex(of: "node_modules") ?? parts.count
        return RawPath(parts[..<i].joined(separator: "/"))
    }

    static func appFiles(_ image: Image, copies: [NpmCopy], tree: FileTree) throws -> NpmAppFiles {
        let apps = Set(copies.map { appDirectory($0.dir) })
        var wanted = Set<RawPath>()
        for a in apps {
            let base = a.isRoot ? "" : a.description + "/"
            for f in ["package.json", "package-lock.json", "node_modules/.package-lock.json"] {
                wanted.insert(RawPath(base + f))
            }
        }
        let content = try ImageContent.read(image, located: ImageContent.locate(tree, paths: wanted), limit: 64 << 20)
        var manifests: [RawPath: [String: String]] = [:]
        var locks: [RawPath: [UInt8]] = [:]
        for (path, bytes) in content {
            if path.lastComponent == Array("package.json".utf8) {
                let json = (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]) ?? [:]
                var deps: [String: String] = [:]
                for key in ["devDependencies", "optionalDependencies", "dependencies"] {
                    deps.merge((json[key] as? [String: String]) ?? [:]) { _, new in new }
                }
                manifests[path.parent ?? .root] = deps
            } else {
                locks[path] = bytes
            }
        }
        return NpmAppFiles(manifests: manifests, lockfiles: locks)
    }

    /// Downloads (integrity checked) and installs the chosen upgrades into `plan`.
    func install(
        _ chosen: [(copy: NpmCopy, to: NpmManifest, fixes: [String])], into plan: inout LibraryPlan,
        registry: NpmRegistry, tree: FileTree, apps: NpmAppFiles
    ) async throws {
        let tarballs = try await ConcurrentMap.map(chosen.map { ($0.copy.name, $0.to) }, limit: 4) { name, m in
            try await registry.tarball(m, name: name)
        }
        var replaced: [(site: RawPath, record: [String])] = []
        for (c, bytes) in zip(chosen, tarballs) {
            let files = try NpmTarball.files(bytes, into: c.copy.dir, name: "\(c.copy.name)@\(c.to.version)")
            plan.files += files
            replaced.append((c.copy.dir, Self.ownFiles(of: c.copy.dir, tree: tree)))
            plan.report.packages.append(
                .init(
                    ecosystem: .npm, name: c.copy.name, from: c.copy.version, to: c.to.version, fixes: c.fixes,
                    reason: c.fixes.isEmpty ? "newer version (--all)" : "fixes \(c.fixes.joined(separator: " "))",
                    url: c.to.tarball, sha256: nil, location: c.copy.dir.absoluteDescription,
                    bytesAdded: Int64(files.reduce(0) { $0 + $1.bytes.count }), root: "npm:" + c.copy.name,
                    integrity: c.to.integrity))
            plan.labels.append("npm:\(c.copy.name)=\(c.to.version)")
        }
        plan.roots = Array(Set(chosen.map { "npm:" + $0.copy.name })).sorted()
        plan.whiteouts += LibraryLayer.removals(replaced, written: Set(plan.files.map(\.path)), tree: tree)
        for (path, bytes) in apps.lockfiles.sorted(by: { $0.key < $1.key }) {
            if let updated = try NpmLockfile.update(bytes, path: path, upgrades: chosen.map { ($0.copy.dir, $0.to) }) {
                plan.files.append(LayerFile(path: path, bytes: updated, mode: 0o644))
            }
        }
    }

    /// The copy's files (relative to its directory), its own node_modules left out.
    static func ownFiles(of dir: RawPath, tree: FileTree) -> [String] {
        var out: [String] = []
        func walk(_ d: RawPath, _ prefix: String) {
            for child in tree.children(of: d) {
                let name = String(decoding: child.lastComponent, as: UTF8.self)
                if prefix.isEmpty && name == "node_modules" { continue }
                if tree.nodes[child]?.isDirectory == true {
                    walk(child, prefix + name + "/")
                } else {
                    out.append(prefix + name)
                }
            }
        }
        walk(dir, "")
        return out
    }
}

/// An npm tarball (`package/…`, gzip): its files placed under a copy's directory.
public enum NpmTarball {
    public static func files(_ bytes: [UInt8], into dir: RawPath, name: String) throws -> [LayerFile] {
        let tar = TarReader(GzipReader(MemoryReader(bytes), name: name), name: name)
        var out: [LayerFile] = []
        var seen = Set<String>()
        while let e = try tar.next() {
            let path = String(decoding: e.path.bytes, as: UTF8.self)
            var parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            if parts.last == "" { parts.removeLast() }
            guard !path.hasPrefix("/"), !parts.contains(".."), !parts.contains(""), !path.contains("\\") else {
                throw HardenError(.unsafe, "\(name): unsafe path \"\(path)\" in the tarball")
            }
            switch e.type {
            case .directory: continue
            case .regular: break
            default: throw HardenError(.unsafe, "\(name): \(path) is a link or device (npm packages hold files only)")
            }
            guard parts.count >= 2 else { continue }  // the top directory's own entry
            let rel = parts.dropFirst().joined(separator: "/")
            guard seen.insert(rel).inserted else {
                throw HardenError(.corrupt, "\(name): \(rel) is in the tarball twice")
            }
            let body = try tar.readWholeBody(limit: 256 << 20)
            let mode: UInt32 = e.mode & 0o111 != 0 ? 0o755 : 0o644
            out.append(LayerFile(path: RawPath(dir.description + "/" + rel), bytes: body, mode: mode))
        }
        guard seen.contains("package.json") else {
            throw HardenError(.corrupt, "\(name): no package.json in the tarball")
        }
        return out
    }
}

/// package-lock.json and node_modules/.package-lock.json, field by field (order and spelling kept).
public enum NpmLockfile {
    /// The lockfile with the new version, resolved and integrity of every upgraded copy under its app; nil when it
    /// names none of them.
    public static func update(
        _ bytes: [UInt8], path: RawPath, upgrades: [(dir: RawPath, to: NpmManifest)]
    ) throws
        -> [UInt8]?
    {
        var json = try OrderedJSON.parse(bytes, source: path.absoluteDescription)
        // Keys are relative to the app directory (for the hidden lockfile: its node_modules' parent).
        var app = path.parent ?? .root
        if app.lastComponent == Array("node_modules".utf8) { app = app.parent ?? .root }
        var changed = false
        for (dir, m) in upgrades {
            let prefix = app.isRoot ? "" : app.description + "/"
            guard dir.description.hasPrefix(prefix) else { continue }
            let key = String(dir.description.dropFirst(prefix.count))
            if var packages = json["packages"], var entry = packages[key] {
                set(&entry, m)
                packages[key] = entry
                json["packages"] = packages
                changed = true
            }
            // The v1 tree: dependencies → a → dependencies → b for node_modules/a/node_modules/b.
            let names = key.split(separator: "node_modules/", omittingEmptySubsequences: false).map {
                String($0.hasSuffix("/") ? $0.dropLast() : $0)
            }
            .filter { !$0.isEmpty }
            if !names.isEmpty, let updated = setNested(json, names[...], m) {
                json = updated
                changed = true
            }
        }
        return changed ? Array(json.rendered().utf8) : nil
    }

    static func set(_ entry: inout OrderedJSON, _ m: NpmManifest) {
        entry["version"] = .string(m.version)
        if entry["resolved"] != nil { entry["resolved"] = .string(m.tarball) }
        if entry["integrity"] != nil, let i = m.integrity { entry["integrity"] = .string(i) }
    }

    static func setNested(_ node: OrderedJSON, _ names: ArraySlice<String>, _ m: NpmManifest) -> OrderedJSON? {
        guard let first = names.first, var deps = node["dependencies"], var entry = deps[first] else { return nil }
        if names.count == 1 {
            set(&entry, m)
        } else {
            guard let inner = setNested(entry, names.dropFirst(), m) else { return nil }
            entry = inner
        }
        deps[first] = entry
        var out = node
        out["dependencies"] = deps
        return out
    }
}

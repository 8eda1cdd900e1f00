// harden — which Python distributions to upgrade, and to what: the smallest release that fixes a distribution's
// findings (within the patch level), then every requirement of the result made to hold — a dependency an upgrade
// needs is upgraded or installed, a dependent that pins the old version is upgraded to a release that accepts the
// new one — or the upgrade is refused with the requirement that blocks it.
import HardenCore
import HardenPackages

/// How far a library may move: within its minor series, its major series, or anywhere.
public enum LibraryPatchLevel: String, Sendable, Codable, CaseIterable {
    case patch, minor, major
}

/// One release of a project with the wheel the image's interpreter would install.
public struct PythonRelease: Sendable {
    public var version: String
    public var file: PythonIndexFile
}

/// A distribution the plan installs.
public struct PythonChoice: Sendable {
    public var key: String
    public var name: String
    /// nil for a dependency that was not installed.
    public var from: String?
    public var release: PythonRelease
    public var requires: [PythonRequirement]
    /// The upgrades (root keys) it is part of.
    public var roots: Set<String>
    public var reason: String
    public var fixes: [String]
}

/// An upgrade the plan could not make.
public struct PythonRefusal: Sendable {
    public var key: String
    public var reason: String
}

final class PythonResolver {
    let env: PythonEnvironment
    let index: PythonIndex
    let level: LibraryPatchLevel?
    /// The vulnerabilities affecting (normalized name, version).
    let affected: (String, String) -> [String]
    let pep440 = PEP440Version()
    private var releaseCache: [String: [PythonRelease]] = [:]
    private var requiresCache: [String: [PythonRequirement]] = [:]
    var markerEnvironment: [String: String] { env.target.markerEnvironment }

    init(
        env: PythonEnvironment, index: PythonIndex, level: LibraryPatchLevel?,
        affected: @escaping (String, String) -> [String]
    ) {
        self.env = env
        self.index = index
        self.level = level
        self.affected = affected
    }

    /// Every release with a wheel this interpreter can install (not yanked, Requires-Python met, no pre-releases),
    /// oldest first, each with its preferred wheel.
    func releases(_ key: String) async throws -> [PythonRelease] {
        if let r = releaseCache[key] { return r }
        guard let project = try await index.project(key) else {
            releaseCache[key] = []
            return []
        }
        var best: [String: (rank: Int, file: PythonIndexFile)] = [:]
        for f in project.files where !f.yanked {
            guard let wheel = WheelName.parse(f.filename), let rank = env.target.rank(wheel),
                let parsed = PEP440Version.parse(wheel.version), !parsed.isPrerelease
            else { continue }
            if let rp = f.requiresPython, let spec = try? PythonSpecifier.parse(rp),
                !spec.contains(env.target.fullVersion, prereleases: true)
            {
                continue
            }
            let v = Self.canonical(wheel.version)
            if rank < best[v]?.rank ?? Int.max { best[v] = (rank, f) }
        }
        let out = best.map { PythonRelease(version: $0.key, file: $0.value.file) }.sorted {
            pep440.compare($0.version, $1.version) < 0
        }
        releaseCache[key] = out
        return out
    }

    /// The requirements of a release, from its METADATA (PEP 658, else the wheel's own).
    func requires(_ r: PythonRelease) async throws -> [PythonRequirement] {
        if let c = requiresCache[r.file.url] { return c }
        let bytes = try await index.metadata(of: r.file)
        let headers = Deb822.parse(bytes, headerOnly: true) { _, _ in }.first
        let reqs = try (headers?.all("Requires-Dist") ?? []).map { try PythonRequirement.parse($0) }
        requiresCache[r.file.url] = reqs
        return reqs
    }

    /// Whether `to` is within the patch level of `from`.
    func allowed(from: String, to: String) -> Bool {
        guard let level, let a = PEP440Version.parse(from), let b = PEP440Version.parse(to) else { return true }
        switch level {
        case .major: return true
        case .minor: return a.epoch == b.epoch && a.release.first == b.release.first
        case .patch:
            return a.epoch == b.epoch && a.release.first == b.release.first
                && (a.release.count > 1 ? a.release[1] : 0) == (b.release.count > 1 ? b.release[1] : 0)
        }
    }

    /// The release an installed distribution moves to: the smallest newer one (within the level) that no advisory
    /// affects, else the smallest that fixes every one of `findings`; nil when none does.
    func target(for dist: PythonDist, findings: Set<String>, all: Bool) async throws -> PythonRelease? {
        let newer = try await releases(dist.key).filter {
            pep440.compare($0.version, dist.version) > 0 && allowed(from: dist.version, to: $0.version)
        }
        if all { return newer.last }
        if let clean = newer.first(where: { affected(dist.key, $0.version).isEmpty }) { return clean }
        return newer.first { findings.isDisjoint(with: affected(dist.key, $0.version)) }
    }

    /// Why `target` found nothing: the index lacks the project, no newer release fixes the findings, the fixing
    /// releases are outside the level, or they have no wheel for this interpreter (only sdists, which harden does not
    /// build, or wheels for other platforms).
    func whyNoTarget(_ dist: PythonDist, findings: Set<String>) async throws -> String {
        guard let project = try await index.project(dist.key) else { return "the index has no project \(dist.name)" }
        let installable = Set(try await releases(dist.key).map(\.version))
        var fixing: [String] = []
        for f in project.files where !f.yanked {
            guard let v = Self.fileVersion(f.filename, project: dist.key), pep440.compare(v, dist.version) > 0,
                PEP440Version.parse(v)?.isPrerelease == false, findings.isDisjoint(with: affected(dist.key, v)),
                !fixing.contains(v)
            else { continue }
            fixing.append(v)
        }
        fixing.sort { pep440.compare($0, $1) < 0 }
        guard let first = fixing.first else { return "no release on the index fixes it" }
        if !fixing.contains(where: { allowed(from: dist.version, to: $0) }) {
            return "the fix (\(first)) is outside --library-patch-level \(level?.rawValue ?? "")"
        }
        if !fixing.contains(where: installable.contains) {
            return "the fixing releases (\(first)…) have no wheel for CPython \(env.target.major).\(env.target.minor) "
                + "on this platform (only sdists, which harden does not build, or wheels for others)"
        }
        return "no fixing release fits"
    }

    /// The version a distribution file's name carries (`name-1.2.tar.gz`, a wheel's second field).
    static func fileVersion(_ filename: String, project: String) -> String? {
        if let w = WheelName.parse(filename) { return canonical(w.version) }
        for ext in [".tar.gz", ".zip", ".tar.bz2"] where filename.hasSuffix(ext) {
            let stem = filename.dropLast(ext.count)
            guard let dash = stem.lastIndex(of: "-") else { return nil }
            let name = PythonRequirement.normalize(String(stem[..<dash]))
            return name == project ? String(stem[stem.index(after: dash)...]) : nil
        }
        return nil
    }

    /// Makes every requirement hold over the installed distributions plus `roots`; refuses the roots it cannot.
    func resolve(_ roots: [PythonChoice]) async throws -> (chosen: [PythonChoice], refused: [PythonRefusal]) {
        var refused: [PythonRefusal] = []
        var active = roots
        while true {
            switch try await attempt(active) {
            case .success(let chosen): return (chosen.sorted { $0.key < $1.key }, refused)
            case .failure(let blocked, let reason):
                let drop = active.filter { !blocked.isDisjoint(with: $0.roots) }
                guard !drop.isEmpty else { return ([], refused + [PythonRefusal(key: "*", reason: reason)]) }
                refused += drop.map { PythonRefusal(key: $0.key, reason: reason) }
                active.removeAll { !blocked.isDisjoint(with: $0.roots) }
            }
        }
    }

    enum Attempt {
        case success([PythonChoice])
        case failure(blocked: Set<String>, reason: String)
    }

    /// One pass to a fixed point over `roots`.
    func attempt(_ roots: [PythonChoice]) async throws -> Attempt {
        var chosen = Dictionary(roots.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let installed = Dictionary(env.dists.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        for _ in 0..<200 {
            var changed = false
            // The world: every installed distribution, the chosen ones replacing theirs.
            var world: [(key: String, version: String, requires: [PythonRequirement], chosen: Bool)] = []
            for d in installed.values where chosen[d.key] == nil { world.append((d.key, d.version, d.requires, false)) }
            for c in chosen.values { world.append((c.key, c.release.version, c.requires, true)) }
            func version(_ key: String) -> String? { chosen[key]?.release.version ?? installed[key]?.version }
            func constraints(_ key: String) -> [PythonSpecifier] {
                world.flatMap { w in
                    w.requires.filter { $0.key == key && $0.applies(in: markerEnvironment) }.map(\.specifier)
                }
            }
            for w in world.sorted(by: { $0.key < $1.key }) {
                for req in w.requires where req.applies(in: markerEnvironment) && req.url == nil {
                    let roots = chosen[w.key]?.roots ?? []
                    if let have = version(req.key), req.specifier.contains(have, prereleases: true) { continue }
                    if !w.chosen && chosen[req.key] == nil { continue }  // the image's own state, not ours
                    let step = try await repair(
                        req, dependent: w.key, dependentChosen: w.chosen, roots: roots, chosen: chosen,
                        installed: installed, constraints: constraints(req.key))
                    switch step {
                    case .choose(let c):
                        chosen[c.key] = c
                        changed = true
                    case .fail(let blocked, let reason): return .failure(blocked: blocked, reason: reason)
                    }
                    break
                }
                if changed { break }
            }
            if !changed { return .success(Array(chosen.values)) }
        }
        return .failure(blocked: Set(roots.map(\.key)), reason: "the requirements did not settle")
    }

    enum Repair {
        case choose(PythonChoice)
        case fail(Set<String>, String)
    }

    /// One unmet requirement `req` of `dependent`: install or upgrade the dependency, or upgrade the dependent.
    func repair(
        _ req: PythonRequirement, dependent: String, dependentChosen: Bool, roots: Set<String>,
        chosen: [String: PythonChoice], installed: [String: PythonDist], constraints: [PythonSpecifier]
    ) async throws -> Repair {
        let depRoots = chosen[req.key]?.roots ?? []
        let blame = roots.union(depRoots)
        let have = chosen[req.key]?.release.version ?? installed[req.key]?.version
        let what =
            "\(dependent) requires \(req.name)\(req.specifier.description.isEmpty ? "" : " " + req.specifier.description)"
        // The dependent was upgraded (or is new): move the dependency to a release every dependent accepts.
        if dependentChosen, installed[req.key].map(\.isPatchable) ?? true, chosen[req.key] == nil {
            let candidates = try await releases(req.key).filter { r in
                constraints.allSatisfy { $0.contains(r.version) }
                    && (have.map { pep440.compare(r.version, $0) > 0 } ?? true)
            }
            // A missing dependency: the newest such release (as pip would); an installed one: the smallest move.
            guard let pick = have == nil ? candidates.last : candidates.first else {
                return .fail(blame, "\(what): no release on the index satisfies every dependent")
            }
            return .choose(
                PythonChoice(
                    key: req.key, name: req.name, from: installed[req.key]?.version, release: pick,
                    requires: try await requires(pick), roots: roots,
                    reason: have == nil ? "new dependency of \(dependent)" : "required by \(dependent)", fixes: []))
        }
        // The dependency was upgraded and the dependent pins the old one: the smallest newer dependent that accepts it.
        guard let dep = installed[dependent], dep.isPatchable, chosen[dependent] == nil, let have else {
            return .fail(blame, "\(what), and \(req.name) \(have ?? "(absent)") does not satisfy it")
        }
        for r in try await releases(dependent) where pep440.compare(r.version, dep.version) > 0 {
            let reqs = try await requires(r)
            let on = reqs.filter { $0.key == req.key && $0.applies(in: markerEnvironment) }
            if on.allSatisfy({ $0.specifier.contains(have, prereleases: true) }) {
                return .choose(
                    PythonChoice(
                        key: dependent, name: dep.name, from: dep.version, release: r, requires: reqs, roots: depRoots,
                        reason: "accepts \(req.name) \(have)", fixes: []))
            }
        }
        return .fail(blame, "\(what); no release of \(dep.name) accepts \(req.name) \(have)")
    }

    /// PEP 440's normal form of a version string as wheel names spell it (`1.26.18`, `2.0.0rc1`).
    static func canonical(_ v: String) -> String { v.replacingAll("_", with: "-") }
}

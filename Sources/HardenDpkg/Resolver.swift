// harden — choosing what to upgrade: the candidate of each installed package (the highest version the repositories
// offer, as apt's default pins choose), the packages of the same source upgraded together, and the dependencies,
// breaks and conflicts of the new versions satisfied from the same repositories. Never removes a package.
import HardenCore
import HardenPackages

/// A package as the image's dpkg database records it.
public struct InstalledPackage: Sendable {
    public var name: String
    public var version: String
    public var architecture: String
    public var source: String
    public var sourceVersion: String
    public var depends: [[Relation]]
    public var provides: [Relation]
    public var breaks: [[Relation]]
    public var conflicts: [[Relation]]
    /// The stanza as it is in the status file.
    public var stanza: Deb822Stanza

    public init(stanza s: Deb822Stanza) throws {
        guard let name = s["Package"], let version = s["Version"] else {
            throw HardenError(.corrupt, "a dpkg stanza without Package or Version")
        }
        self.name = name
        self.version = version
        architecture = s["Architecture"] ?? "all"
        (source, sourceVersion) = BinaryPackage.source(s["Source"], name: name, version: version)
        depends = Relation.parseList(s["Pre-Depends"]) + Relation.parseList(s["Depends"])
        provides = Relation.parseList(s["Provides"]).map { $0[0] }
        breaks = Relation.parseList(s["Breaks"])
        conflicts = Relation.parseList(s["Conflicts"])
        stanza = s
    }

    public static func isInstalled(_ s: Deb822Stanza) -> Bool {
        (s["Status"] ?? "").split(separator: " ").last == "installed"
    }
}

public struct PlannedPackage: Sendable {
    public var package: BinaryPackage
    /// The installed version it replaces; nil for a new package.
    public var installed: InstalledPackage?
    public var reasons: [String]
}

public struct Resolver {
    let installed: [String: InstalledPackage]
    /// The repositories' indexes, in priority order for equal versions.
    let indexes: [PackageIndex]
    let architecture: String
    let dpkg = DpkgVersion()
    private let cache = VersionCache()

    /// Versions by name, highest first, looked up once.
    final class VersionCache: @unchecked Sendable {
        // @unchecked: used by one resolver on one task.
        var versions: [String: [BinaryPackage]] = [:]
    }

    public init(installed: [InstalledPackage], indexes: [PackageIndex], architecture: String) {
        self.installed = Dictionary(installed.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.indexes = indexes
        self.architecture = architecture
    }

    /// Every version the repositories offer for `name`, highest first (the first repository's on a tie).
    func available(_ name: String) throws -> [BinaryPackage] {
        if let v = cache.versions[name] { return v }
        let all = try indexes.flatMap { try $0.packages(named: name) }
        let cmp = dpkg
        let sorted = all.enumerated().sorted { a, b in
            let c = cmp.compare(a.element.version, b.element.version)
            return c != 0 ? c > 0 : a.offset < b.offset
        }.map(\.element)
        cache.versions[name] = sorted
        return sorted
    }

    /// The candidate for `name`: its highest available version of a matching architecture.
    public func candidate(_ name: String, installedArch: String? = nil) -> BinaryPackage? {
        (try? available(name))?.first { p in
            guard let a = installedArch else { return p.architecture == architecture || p.architecture == "all" }
            return p.architecture == a || p.architecture == "all" || (a == "all" && p.architecture == architecture)
        }
    }

    /// The installed packages with a newer candidate (`--all`, like `apt-get upgrade`).
    public func upgradable() -> [String] {
        installed.values.filter { p in
            candidate(p.name, installedArch: p.architecture).map { dpkg.compare($0.version, p.version) > 0 } ?? false
        }
        .map(\.name).sorted()
    }

    /// The plan for upgrading `wanted` (name → why), with what they need.
    public func plan(_ wanted: [String: String]) throws -> [String: PlannedPackage] {
        var plan: [String: PlannedPackage] = [:]
        func version(_ name: String) -> (String, String, [Relation])? {
            if let p = plan[name] { return (p.package.version, p.package.architecture, p.package.provides) }
            if let i = installed[name] { return (i.version, i.architecture, i.provides) }
            return nil
        }
        func satisfied(_ clause: [Relation], before: Bool = false) -> Bool {
            let look: (String) -> (String, String, [Relation])? =
                before ? { n in self.installed[n].map { ($0.version, $0.architecture, $0.provides) } } : version
            return clause.contains { r in
                if let (v, _, _) = look(r.name), r.accepts(v) { return true }
                // A virtual name: any present package providing it (versioned provides satisfy versioned relations).
                for name in (before ? Set<String>() : Set(plan.keys)).union(installed.keys) {
                    guard let (_, _, provides) = look(name) else { continue }
                    for p in provides where p.name == r.name {
                        if r.op == nil { return true }
                        if let pv = p.version, p.op == .eq, r.accepts(pv) { return true }
                    }
                }
                return false
            }
        }
        func add(_ name: String, why: String) throws -> Bool {
            if let p = plan[name] {
                if !p.reasons.contains(why) { plan[name]?.reasons.append(why) }
                return false
            }
            let inst = installed[name]
            guard let c = candidate(name, installedArch: inst?.architecture) else {
                throw HardenError(.notFound, "\(name): no version in the repositories (\(why))")
            }
            if let inst, dpkg.compare(c.version, inst.version) <= 0 { return false }
            plan[name] = PlannedPackage(package: c, installed: inst, reasons: [why])
            return true
        }
        for (name, why) in wanted.sorted(by: { $0.key < $1.key }) { _ = try add(name, why: why) }
        var changed = true
        var rounds = 0
        while changed {
            changed = false
            rounds += 1
            if rounds > 1000 { throw HardenError(.internalError, "dependency resolution does not settle") }
            // What the new versions need.
            for p in plan.values.sorted(by: { $0.package.name < $1.package.name }) {
                for clause in p.package.preDepends + p.package.depends where !satisfied(clause) {
                    guard
                        let pick = clause.first(where: { r in
                            candidate(r.name, installedArch: installed[r.name]?.architecture).map {
                                r.accepts($0.version)
                            } ?? false
                        })
                    else {
                        // A virtual package some candidate provides.
                        if let provider = try clause.lazy.compactMap({ r in
                            try self.indexes.lazy.compactMap { try $0.providers(of: r.name).first }.first
                        }).first {
                            changed =
                                try add(
                                    provider.name,
                                    why: "provides what \(p.package.name) \(p.package.version) depends on") || changed
                            continue
                        }
                        throw HardenError(
                            .notFound,
                            "\(p.package.name) \(p.package.version) depends on \(clause.map(\.description).joined(separator: " | ")), which the repositories cannot satisfy"
                        )
                    }
                    changed =
                        try add(pick.name, why: "\(p.package.name) \(p.package.version) depends on \(pick)") || changed
                }
            }
            // Installed packages whose dependencies the new versions no longer satisfy (an exact-version sibling).
            for q in installed.values.sorted(by: { $0.name < $1.name }) where plan[q.name] == nil {
                for clause in q.depends where !satisfied(clause) && satisfied(clause, before: true) {
                    changed =
                        try add(
                            q.name,
                            why:
                                "its dependency \(clause.map(\.description).joined(separator: " | ")) needs the new versions"
                        )
                        || changed
                }
            }
            // Breaks and Conflicts, both ways.
            for p in plan.values.sorted(by: { $0.package.name < $1.package.name }) {
                for r in (p.package.breaks + p.package.conflicts).flatMap({ $0 }) where r.name != p.package.name {
                    if plan[r.name] == nil, let q = installed[r.name], r.accepts(q.version) {
                        changed = try add(q.name, why: "\(p.package.name) \(p.package.version) breaks \(r)") || changed
                    }
                }
            }
            for q in installed.values.sorted(by: { $0.name < $1.name }) where plan[q.name] == nil {
                for r in (q.breaks + q.conflicts).flatMap({ $0 }) {
                    if let p = plan[r.name], r.accepts(p.package.version) {
                        changed =
                            try add(q.name, why: "its \(r) excludes \(p.package.name) \(p.package.version)") || changed
                    }
                }
            }
        }
        // What still conflicts cannot be done without removing a package, which patch never does.
        for p in plan.values {
            for r in (p.package.breaks + p.package.conflicts).flatMap({ $0 }) where r.name != p.package.name {
                if let (v, _, _) = version(r.name), r.accepts(v) {
                    throw HardenError(
                        .unsupported,
                        "\(p.package.name) \(p.package.version) breaks \(r.name) \(v), and patch never removes packages"
                    )
                }
            }
        }
        return plan
    }
}

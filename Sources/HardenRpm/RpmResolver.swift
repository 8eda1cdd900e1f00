// harden — choosing rpm upgrades as dnf does for `upgrade`: for each package, the newest EVR of its name among
// the enabled repositories (same architecture, or noarch), then every requirement of the result satisfied (by
// package or virtual provides, sonames, files, rich dependencies), upgrades pulled in for requirements an upgrade
// would break, new packages installed for new requirements, obsoleted packages replaced, conflicts refused.
// Nothing is ever removed except what an upgrade obsoletes.
import HardenCore
import HardenPackages

/// A package of the image's rpm database.
public struct RpmInstalledPackage: Sendable {
    public var header: RpmHeader
    /// Its row in `Packages`.
    public var hnum: Int64
    public var name: String
    public var arch: String
    public var evr: String
    public var provides: [RpmRelation]
    public var requires: [RpmRelation]
    public var conflicts: [RpmRelation]
    public var files: Set<String>

    public init(header: RpmHeader, hnum: Int64) {
        self.header = header
        self.hnum = hnum
        name = header.name
        arch = header.arch
        evr = header.evr
        provides = header.provides
        requires = header.requires
        conflicts = header.conflicts
        files = Set(header.files.map(\.path))
    }
}

/// A package chosen from a repository, and what it replaces.
public struct RpmPlanned: Sendable {
    public var package: RpmRepoPackage
    public var repository: Int
    /// The installed package of the same name, if any (an upgrade), and those it obsoletes.
    public var replaces: [RpmInstalledPackage]
    public var reasons: [String]
}

public struct RpmResolver: Sendable {
    public let installed: [RpmInstalledPackage]
    /// Each repository's packages, in configuration order.
    public let repositories: [[RpmRepoPackage]]
    let byName: [String: [(RpmRepoPackage, Int)]]
    let installedByName: [String: RpmInstalledPackage]
    static let versions = RpmVersion()

    public init(installed: [RpmInstalledPackage], repositories: [[RpmRepoPackage]]) {
        self.installed = installed
        self.repositories = repositories
        var byName: [String: [(RpmRepoPackage, Int)]] = [:]
        for (i, packages) in repositories.enumerated() {
            for p in packages where p.arch != "src" { byName[p.name, default: []].append((p, i)) }
        }
        self.byName = byName
        installedByName = Dictionary(installed.map { ($0.name, $0) }) { a, _ in a }
    }

    static func compatible(_ candidate: String, with installed: String) -> Bool {
        candidate == installed || candidate == "noarch" || installed == "noarch"
    }

    /// The newest package called `name` an installed package of architecture `arch` may move to.
    public func candidate(_ name: String, arch: String? = nil) -> (package: RpmRepoPackage, repository: Int)? {
        let arch = arch ?? installedByName[name]?.arch
        return (byName[name] ?? []).filter { arch == nil || Self.compatible($0.0.arch, with: arch!) }
            .max { Self.versions.compare($0.0.evr, $1.0.evr) < 0 }
            .map { ($0.0, $0.1) }
    }

    /// Installed packages a newer version of exists for, and repository packages that obsolete an installed one.
    public func upgradable() -> [String] {
        var out = installed.compactMap { i -> String? in
            guard let c = candidate(i.name), Self.versions.compare(c.package.evr, i.evr) > 0 else { return nil }
            return i.name
        }
        for (name, packages) in byName where installedByName[name] == nil {
            if let newest = candidate(name), obsoleted(by: newest.package).count > 0,
                packages.contains(where: { $0.0.evr == newest.package.evr })
            {
                out.append(name)
            }
        }
        return out.sorted()
    }

    /// The installed packages `p` obsoletes (never itself).
    func obsoleted(by p: RpmRepoPackage) -> [RpmInstalledPackage] {
        p.obsoletes.flatMap { o in
            installed.filter { i in
                i.name == o.name && i.name != p.name && Self.matches(provided: .init(name: i.name, evr: i.evr), o)
            }
        }
    }

    /// Plans `wanted` (name → reason) and everything their requirements pull in.
    public func plan(_ wanted: [String: String]) throws -> [String: RpmPlanned] {
        var plan: [String: RpmPlanned] = [:]
        func add(_ name: String, _ reason: String) throws {
            if plan[name] != nil {
                plan[name]?.reasons.append(reason)
                return
            }
            guard let c = candidate(name) else {
                throw HardenError(.notFound, "no repository has \(name)")
            }
            var replaces = installedByName[name].map { [$0] } ?? []
            replaces += obsoleted(by: c.package).filter { o in !replaces.contains { $0.name == o.name } }
            plan[name] = RpmPlanned(package: c.package, repository: c.repository, replaces: replaces, reasons: [reason])
        }
        for (name, reason) in wanted.sorted(by: { $0.key < $1.key }) { try add(name, reason) }
        var changed = true
        var rounds = 0
        while changed {
            changed = false
            rounds += 1
            guard rounds < 1000 else { throw HardenError(.internalError, "rpm dependency resolution does not settle") }
            let world = World(installed: installed, plan: plan)
            // The planned packages' own requirements.
            for p in plan.values.sorted(by: { $0.package.name < $1.package.name }) {
                for r in p.package.requires where !world.satisfies(r) {
                    let provider = try provider(for: r, world: world, neededBy: p.package.nevra)
                    try add(provider, "required by \(p.package.name) (\(Self.describe(r)))")
                    changed = true
                }
            }
            // Installed packages an upgrade would break.
            for i in installed where world.isKept(i) {
                for r in i.requires where !r.name.hasPrefix("rpmlib(") && !world.satisfies(r) {
                    guard let c = candidate(i.name), Self.versions.compare(c.package.evr, i.evr) > 0 else {
                        throw HardenError(
                            .unsupported,
                            "upgrading would break \(i.name)-\(i.evr): it requires \(Self.describe(r)), and no newer \(i.name) exists"
                        )
                    }
                    try add(i.name, "its requirement \(Self.describe(r)) changed")
                    changed = true
                }
            }
            if !changed { try world.checkConflicts() }
        }
        return plan
    }

    /// The package to install or upgrade so that `r` holds: an installed package's newer version, else the newest
    /// repository package providing it.
    func provider(for r: RpmRelation, world: World, neededBy: String) throws -> String {
        let providers = byName.values.flatMap { $0 }.filter { p, _ in
            p.provides.contains { Self.matches(provided: $0, r) } || p.files.contains(r.name)
                || p.name == r.name
                    && Self.matches(provided: .init(name: p.name, evr: p.evr), r)
        }
        if let up = providers.first(where: { installedByName[$0.0.name] != nil }) { return up.0.name }
        guard let best = providers.max(by: { Self.versions.compare($0.0.evr, $1.0.evr) < 0 }) else {
            throw HardenError(.notFound, "\(neededBy) requires \(Self.describe(r)), which no repository provides")
        }
        return best.0.name
    }

    static func describe(_ r: RpmRelation) -> String {
        r.name + (r.flag.map { " \($0.symbol) " + (r.evr ?? "") } ?? "")
    }

    /// Whether a provide (or a package's own name-EVR) meets a requirement: names equal, and when both carry
    /// versions, the provided EVR within the required range (a release missing on either side is not compared).
    public static func matches(provided p: RpmRelation, _ r: RpmRelation) -> Bool {
        guard p.name == r.name else { return false }
        guard let rf = r.flag, let rv = r.evr else { return true }
        guard let pv = p.evr, p.flag == nil || p.flag == .eq else { return true }
        let c = compareEVR(pv, rv)
        switch rf {
        case .eq: return c == 0
        case .lt: return c < 0
        case .le: return c <= 0
        case .gt: return c > 0
        case .ge: return c >= 0
        }
    }

    public static func compareEVR(_ a: String, _ b: String) -> Int {
        let hasRelease = { (s: String) in s.split(separator: ":").last?.contains("-") ?? false }
        if hasRelease(a) && hasRelease(b) { return versions.compare(a, b) }
        func strip(_ s: String) -> String {
            guard hasRelease(s), let d = s.lastIndex(of: "-") else { return s }
            return String(s[..<d])
        }
        return versions.compare(strip(a), strip(b))
    }
}

extension RpmRelation {
    init(name: String, evr: String) {
        self.init(name: name, flag: .eq)
        var rest = Substring(evr)
        if let c = rest.firstIndex(of: ":") {
            epoch = String(rest[..<c])
            rest = rest[rest.index(after: c)...]
        }
        if let d = rest.lastIndex(of: "-") {
            version = String(rest[..<d])
            release = String(rest[rest.index(after: d)...])
        } else {
            version = String(rest)
        }
    }
}

extension RpmRelation.Flag {
    var symbol: String {
        switch self {
        case .eq: return "="
        case .lt: return "<"
        case .le: return "<="
        case .gt: return ">"
        case .ge: return ">="
        }
    }
}

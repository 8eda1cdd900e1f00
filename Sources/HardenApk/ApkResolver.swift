// harden — apk's upgrade choice: the newest version of each package the image's world allows (pinned versions and
// `@tag` repositories respected), with every dependency (`D:` names, `so:`/`cmd:` provides) met by what is installed
// or by new packages, `install_if` packages added when their conditions hold, and nothing removed.
import HardenCore
import HardenPackages

/// A repository's verified index.
public struct ApkIndex: Sendable {
    public var repository: ApkRepository
    public var records: [ApkRecord]
    public var description: String?

    public init(repository: ApkRepository, records: [ApkRecord], description: String?) {
        self.repository = repository
        self.records = records
        self.description = description
    }
}

/// One package the plan installs: a new version of an installed package, or a new package.
public struct ApkPlanned: Sendable {
    public var record: ApkRecord
    /// Index into the resolver's repositories.
    public var repository: Int
    /// The installed record it replaces; nil for a new package.
    public var installed: ApkRecord?
    public var reasons: [String]
}

public struct ApkResolver: Sendable {
    public let installed: [String: ApkRecord]
    public let world: [String: ApkDependency]
    public let indexes: [ApkIndex]
    private let byName: [String: [(record: ApkRecord, repository: Int)]]
    private let versions = ApkVersion()

    public init(installed: [ApkRecord], world: [ApkDependency], indexes: [ApkIndex]) {
        self.installed = Dictionary(installed.map { ($0.name, $0) }) { a, _ in a }
        self.world = Dictionary(world.filter { !$0.conflict }.map { ($0.name, $0) }) { a, _ in a }
        self.indexes = indexes
        var byName: [String: [(ApkRecord, Int)]] = [:]
        for (i, index) in indexes.enumerated() {
            for r in index.records { byName[r.name, default: []].append((r, i)) }
        }
        self.byName = byName
    }

    /// Whether a repository may give `name`: untagged ones always, a tagged one only when the world asks for
    /// `name@tag`.
    func allowed(_ name: String, repository: Int) -> Bool {
        guard let tag = indexes[repository].repository.tag else { return true }
        return world[name]?.tag == tag
    }

    /// The newest version of `name` the world's constraint and `extra` allow (first repository wins a tie).
    public func candidate(
        _ name: String, satisfying extra: ApkDependency? = nil
    ) -> (record: ApkRecord, repository: Int)? {
        var best: (record: ApkRecord, repository: Int)?
        for c in byName[name] ?? [] where allowed(name, repository: c.repository) {
            if let w = world[name], !w.accepts(c.record.version) { continue }
            if let extra, !extra.accepts(c.record.version) { continue }
            if best == nil || versions.compare(c.record.version, best!.record.version) > 0 { best = c }
        }
        return best
    }

    /// Installed packages a newer allowed version exists for (`--all`).
    public func upgradable() -> [String] {
        installed.keys.sorted().filter { name in
            candidate(name).map { versions.compare($0.record.version, installed[name]!.version) > 0 } ?? false
        }
    }

    /// The packages to install for `wanted` (name → reason), with every dependency met. Throws when a dependency
    /// cannot be met or a new package conflicts with an installed one.
    public func plan(_ wanted: [String: String]) throws -> [String: ApkPlanned] {
        var planned: [String: ApkPlanned] = [:]
        var queue: [(String, String)] = wanted.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        while true {
            while !queue.isEmpty {
                let (name, reason) = queue.removeFirst()
                if planned[name] != nil {
                    planned[name]!.reasons.append(reason)
                    continue
                }
                guard let c = candidate(name) else { continue }
                if let old = installed[name], versions.compare(c.record.version, old.version) <= 0 { continue }
                planned[name] = ApkPlanned(
                    record: c.record, repository: c.repository, installed: installed[name], reasons: [reason])
                queue += try unmet(c.record, planned: planned).map { ($0, "dependency of \(name)") }
            }
            let extra = installIf(planned: planned)
            if extra.isEmpty { break }
            queue = extra.map { ($0, "install_if (its conditions are installed)") }
        }
        return planned
    }

    /// The final set: installed packages with planned versions over them.
    func finalSet(_ planned: [String: ApkPlanned]) -> [String: ApkRecord] {
        var out = installed
        for (n, p) in planned { out[n] = p.record }
        return out
    }

    /// Whether `dependency` is met by `set` (a package of that name, or one providing it, at an accepted version).
    func satisfied(_ d: ApkDependency, by set: [String: ApkRecord]) -> Bool {
        if let r = set[d.name], d.accepts(r.version) { return true }
        return set.values.contains { r in r.provides.contains { $0.name == d.name && d.accepts($0.version) } }
    }

    /// The names to install so that `record`'s dependencies hold; throws when one cannot be met.
    func unmet(_ record: ApkRecord, planned: [String: ApkPlanned]) throws -> [String] {
        let set = finalSet(planned)
        var out: [String] = []
        for d in record.dependencies {
            if d.conflict {
                if let r = set[d.name], d.accepts(r.version) {
                    throw HardenError(
                        .unsupported,
                        "\(record.name) \(record.version) conflicts with the installed \(r.name) \(r.version) "
                            + "(harden never removes packages)")
                }
                continue
            }
            if satisfied(d, by: set) { continue }
            if installed[d.name] != nil || byName[d.name] != nil {
                guard let c = candidate(d.name, satisfying: d),
                    installed[d.name].map({ versions.compare(c.record.version, $0.version) > 0 }) ?? true
                else {
                    throw HardenError(
                        .notFound, "\(record.name) \(record.version) needs \(d): no repository has a version that fits")
                }
                out.append(d.name)
            } else if let provider = provider(of: d) {
                out.append(provider)
            } else {
                throw HardenError(
                    .notFound, "\(record.name) \(record.version) needs \(d): nothing in the repositories provides it")
            }
        }
        return out
    }

    /// The package that provides `d` (highest `k:` priority, then name), among allowed repositories.
    func provider(of d: ApkDependency) -> String? {
        var best: ApkRecord?
        for (name, list) in byName {
            for c in list where allowed(name, repository: c.repository) {
                guard c.record.provides.contains(where: { $0.name == d.name && d.accepts($0.version) }) else {
                    continue
                }
                if best == nil || c.record.providerPriority > best!.providerPriority
                    || (c.record.providerPriority == best!.providerPriority && c.record.name < best!.name)
                {
                    best = c.record
                }
            }
        }
        return best?.name
    }

    /// Packages not installed whose `install_if` conditions the planned set meets and the image did not.
    func installIf(planned: [String: ApkPlanned]) -> [String] {
        let set = finalSet(planned)
        var out: [String] = []
        for (name, list) in byName.sorted(by: { $0.key < $1.key }) where set[name] == nil {
            guard let c = candidate(name), list.contains(where: { $0.record.version == c.record.version }) else {
                continue
            }
            let conditions = c.record.installIf
            if !conditions.isEmpty, conditions.allSatisfy({ satisfied($0, by: set) }),
                !conditions.allSatisfy({ satisfied($0, by: installed) })
            {
                out.append(name)
            }
        }
        return out
    }
}

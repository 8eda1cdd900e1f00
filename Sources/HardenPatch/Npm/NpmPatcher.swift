// harden — `harden patch --libraries npm`: every installed copy of a package in a `node_modules` tree (nested or
// hoisted) with a fixable finding moves to the smallest release that fixes it and that every package resolving to
// that copy accepts (its semver range), as long as the new release's own dependencies resolve to installed
// versions it accepts; otherwise the upgrade is refused and reported. The tarball is checked against its integrity
// and installed in place (old files whited out, the copy's own node_modules kept); package-lock.json (v2/v3
// `packages`, v1/v2 `dependencies`) and node_modules/.package-lock.json get the new version, resolved and integrity.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenVulnDB
import Logging

/// One installed copy of a package.
struct NpmCopy {
    var name: String
    var version: String
    /// Its directory (tree path): `app/node_modules/a/node_modules/b`.
    var dir: RawPath
    var dependencies: [String: String]
    var package: SoftwarePackage
}

public struct NpmPatcher {
    let logger: Logger
    public init(logger: Logger = .harden) { self.logger = logger }

    public func plan(
        _ image: Image, context: CatalogContext, packages: [SoftwarePackage], findings: [Finding]?,
        options: LibraryPatchOptions, database: VulnerabilityDatabase?, client: AptClient
    ) async throws -> LibraryPlan {
        var plan = LibraryPlan()
        let copies = Self.copies(context, packages: packages)
        guard !copies.isEmpty else { return plan }
        let apps = try Self.appFiles(image, copies: copies, tree: context.tree)
        let registry = NpmRegistry(url: options.npmRegistry, client: client, cache: options.cache)
        let tree = NpmTree(copies: copies, apps: apps.manifests)
        var byCopy: [RawPath: [Finding]] = [:]
        for f in findings ?? [] where f.package.type == "npm" && f.fixState == .fixed && f.suppressed == nil {
            for loc in f.package.locations {
                if let c = copies.first(where: { $0.package.locations.contains(loc) }) {
                    byCopy[c.dir, default: []].append(f)
                }
            }
        }
        var chosen: [(copy: NpmCopy, to: NpmManifest, fixes: [String])] = []
        for copy in copies.sorted(by: { $0.dir < $1.dir }) {
            let fs = byCopy[copy.dir] ?? []
            guard !fs.isEmpty || options.all, !options.exclude.contains("npm:" + copy.name) else { continue }
            let advisories = try Self.advisories(copy.package, database: database)
            switch try await target(
                copy, findings: fs, advisories: advisories, tree: tree, registry: registry, options: options)
            {
            case .upgrade(let m, let fixed): chosen.append((copy, m, fixed))
            case .refused(let reason):
                plan.report.refused.append(
                    .init(
                        ecosystem: .npm, name: copy.name, version: copy.version,
                        reason: "\(copy.dir.absoluteDescription): \(reason)", vulnerabilities: fs.map(\.id)))
            case .none:
                plan.report.unfixed += fs.map {
                    .init(
                        vulnerability: $0.id, package: copy.name, version: copy.version, fixedIn: $0.fixedVersions,
                        level: options.level,
                        reason: "no release on the registry within --library-patch-level fixes it")
                }
            }
        }
        guard !chosen.isEmpty else { return plan }
        try await install(chosen, into: &plan, registry: registry, tree: context.tree, apps: apps)
        return plan
    }

    enum Target {
        case upgrade(NpmManifest, fixed: [String])
        case refused(String)
        case none
    }

    /// The smallest release above the copy's (within the level) that no advisory affects — else that fixes every
    /// finding — and that every dependent accepts and whose dependencies resolve to versions it accepts.
    func target(
        _ copy: NpmCopy, findings: [Finding], advisories: [VulnerabilityDatabase.AffectedRow], tree: NpmTree,
        registry: NpmRegistry, options: LibraryPatchOptions
    ) async throws -> Target {
        guard let current = NpmVersion.parse(copy.version), let all = try await registry.versions(copy.name) else {
            return .none
        }
        let semver = SemanticVersion()
        func affected(_ v: String) -> Set<String> {
            Set(advisories.filter { Matcher.isAffected(v, $0.package, comparator: semver) }.map(\.vulnID))
        }
        let ids = Set(findings.flatMap { [$0.id] + $0.ids })
        let newer = all.filter { m in
            guard let v = NpmVersion.parse(m.version), v > current, v.pre.isEmpty, !m.deprecated else { return false }
            return Self.allowed(from: current, to: v, level: options.level)
        }
        let fixing =
            options.all && findings.isEmpty
            ? Array(newer.suffix(1))
            : newer.filter { affected($0.version).isEmpty }
                + newer.filter {
                    !affected($0.version).isEmpty && affected($0.version).isDisjoint(with: ids)
                }
        guard !fixing.isEmpty else { return .none }
        let dependents = tree.dependents(of: copy)
        var blocked: String?
        for m in fixing {
            if let d = dependents.first(where: { !(NpmRange.parse($0.range)?.contains(m.version) ?? false) }) {
                blocked = blocked ?? "\(d.who) requires \(copy.name)@\(d.range); the fix is in \(m.version)"
                continue
            }
            if let missing = tree.unmet(m.dependencies, from: copy.dir) {
                blocked = blocked ?? "\(copy.name)@\(m.version) needs \(missing)"
                continue
            }
            let still = affected(m.version)
            return .upgrade(m, fixed: findings.filter { still.isDisjoint(with: [$0.id] + $0.ids) }.map(\.id).sorted())
        }
        return .refused(blocked ?? "no release fits")
    }

    static func allowed(from a: NpmVersion, to b: NpmVersion, level: LibraryPatchLevel?) -> Bool {
        switch level {
        case nil, .major?: return true
        case .minor?: return a.core[0] == b.core[0]
        case .patch?: return a.core[0] == b.core[0] && a.core[1] == b.core[1]
        }
    }

    static func advisories(
        _ p: SoftwarePackage, database: VulnerabilityDatabase?
    ) throws
        -> [VulnerabilityDatabase.AffectedRow]
    {
        guard let database else { return [] }
        return try Matcher.lookupKeys(for: p, os: nil).flatMap {
            try database.affected(ecosystem: $0.ecosystem, package: $0.name)
        }
    }

    /// Every copy under a `node_modules` that no OS package owns (Debian's /usr/share/nodejs are the OS patcher's).
    static func copies(_ context: CatalogContext, packages: [SoftwarePackage]) -> [NpmCopy] {
        packages.compactMap { p -> NpmCopy? in
            guard p.type == .npm, p.ownedBy == nil, let loc = p.locations.first, loc.contains("/node_modules/"),
                let bytes = context.content(RawPath(String(loc.dropFirst()))),
                let json = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
            else { return nil }
            var deps = (json["dependencies"] as? [String: String]) ?? [:]
            deps.merge((json["optionalDependencies"] as? [String: String]) ?? [:]) { a, _ in a }
            return NpmCopy(
                name: p.name, version: p.version, dir: RawPath(String(loc.dropFirst())).parent ?? .root,
                dependencies: deps, package: p)
        }
    }
}

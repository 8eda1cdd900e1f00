// harden — `harden patch --libraries python`: the image's pip-installed distributions with a published fix upgraded
// to wheels from the package index (hashes verified), their requirements kept consistent, installed natively as one
// layer over the image: the new files, whiteouts for the old ones, RECORD/INSTALLER written as pip would.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenSystem
import HardenVulnDB
import Logging

/// The vulnerabilities of a Python release, from the database (every alias of each advisory).
public struct PythonAdvisories: Sendable {
    let rows: [String: [VulnerabilityDatabase.AffectedRow]]

    /// Loads the rows of every installed distribution's lookup keys.
    public init(database: VulnerabilityDatabase?, packages: [SoftwarePackage]) throws {
        var rows: [String: [VulnerabilityDatabase.AffectedRow]] = [:]
        if let database {
            for p in packages where p.type == .python {
                let key = PythonRequirement.normalize(p.name)
                guard rows[key] == nil else { continue }
                rows[key] = try Matcher.lookupKeys(for: p, os: nil).flatMap {
                    try database.affected(ecosystem: $0.ecosystem, package: $0.name)
                }
            }
        }
        self.rows = rows
    }

    /// The advisory ids (with aliases, as the database stores them) affecting `version` of `key`.
    public func affecting(_ key: String, _ version: String) -> [String] {
        let c = PEP440Version()
        return (rows[key] ?? []).filter { Matcher.isAffected(version, $0.package, comparator: c) }.map(\.vulnID)
    }
}

public struct PythonPatcher {
    let logger: Logger

    public init(logger: Logger = .harden) { self.logger = logger }

    /// Plans, downloads and writes the upgrades; returns the image with the layer (or unchanged) and the report.
    /// Plans the upgrades and makes their files (wheels downloaded and checked); the facade writes the layer.
    public func plan(
        _ image: Image, context: CatalogContext, packages: [SoftwarePackage], findings: [Finding]?,
        options: LibraryPatchOptions, advisories: PythonAdvisories, client: AptClient
    ) async throws -> LibraryPlan {
        var plan = LibraryPlan()
        guard
            let env = PythonEnvironment.read(
                context, packages: packages, architecture: image.config.architecture)
        else { return plan }
        let index = PythonIndex(url: options.pythonIndex, client: client, cache: options.cache)
        let resolver = PythonResolver(
            env: env, index: index, level: options.level, affected: advisories.affecting)
        let (roots, unfixed, skipped) = try await self.roots(
            env, findings: findings, options: options, resolver: resolver)
        plan.report.unfixed = unfixed
        plan.report.notes += skipped
        let kept = roots.filter { !options.exclude.contains($0.key) }
        let (chosen, refusals) = try await resolver.resolve(kept)
        plan.report.refused = refusals.map { r in
            let ids = roots.first { $0.key == r.key }?.fixes ?? []
            let dist = env.dists.first { $0.key == r.key }
            return .init(
                ecosystem: .python, name: dist?.name ?? r.key, version: dist?.version ?? "", reason: r.reason,
                vulnerabilities: ids)
        }
        guard !chosen.isEmpty else { return plan }
        let written = try await files(chosen, env: env, tree: context.tree, index: index)
        plan.files = written.files
        plan.whiteouts = written.removed
        plan.report.packages = written.packages
        if !written.notCompiled.isEmpty {
            plan.report.notes.append(
                "python: \(written.notCompiled.joined(separator: ", ")) not byte-compiled (the host has no Python "
                    + "\(env.target.major).\(env.target.minor)); the interpreter compiles them on first import")
        }
        plan.labels = chosen.map { "pypi:\($0.key)=\($0.release.version)" }
        plan.roots = kept.map(\.key).filter { k in chosen.contains { $0.roots.contains(k) } }
        return plan
    }

    /// The upgrades asked for: each patchable distribution with a fixable finding (or every outdated one, `all`).
    func roots(
        _ env: PythonEnvironment, findings: [Finding]?, options: LibraryPatchOptions, resolver: PythonResolver
    ) async throws -> ([PythonChoice], [LibraryPatchReport.Unfixed], [String]) {
        var byDist: [String: [Finding]] = [:]
        for f in findings ?? [] where f.package.type == "python" && f.fixState == .fixed && f.suppressed == nil {
            byDist[PythonRequirement.normalize(f.package.name), default: []].append(f)
        }
        // The index pages of every distribution to look at, fetched side by side.
        let wanted = env.dists.filter { $0.isPatchable && (options.all || byDist[$0.key] != nil) }.map(\.key)
        let index = resolver.index
        _ = try await ConcurrentMap.map(wanted, limit: 8) { try await index.project($0) != nil }
        var roots: [PythonChoice] = []
        var unfixed: [LibraryPatchReport.Unfixed] = []
        var notes: [String] = []
        for d in env.dists {
            let fs = byDist[d.key] ?? []
            guard !fs.isEmpty || options.all else { continue }
            guard d.isPatchable else {
                if !fs.isEmpty && d.osOwner == nil {
                    notes.append("python: \(d.name) \(d.version) is not a pip-style install (no RECORD): not patched")
                }
                continue
            }
            let ids = Set(fs.flatMap { [$0.id] + $0.ids })
            guard let r = try await resolver.target(for: d, findings: ids, all: fs.isEmpty) else {
                let why = try await resolver.whyNoTarget(d, findings: ids)
                unfixed += fs.map {
                    .init(
                        vulnerability: $0.id, package: d.name, version: d.version, fixedIn: $0.fixedVersions,
                        level: options.level, reason: why)
                }
                continue
            }
            let still = Set(resolver.affected(d.key, r.version))
            let fixed = fs.filter { f in still.isDisjoint(with: [f.id] + f.ids) }.map(\.id)
            roots.append(
                PythonChoice(
                    key: d.key, name: d.name, from: d.version, release: r, requires: try await resolver.requires(r),
                    roots: [d.key],
                    reason: fs.isEmpty ? "newer version (--all)" : "fixes \(fixed.sorted().joined(separator: " "))",
                    fixes: fixed.sorted()))
        }
        return (roots, unfixed, notes)
    }

    struct Written {
        var files: [LayerFile]
        var packages: [LibraryPatchReport.Package]
        var removed: [RawPath]
        /// Distributions the image had compiled that the host could not compile for (another Python X.Y).
        var notCompiled: [String]
    }

    /// Downloads the wheels (four at a time, each checked against the index's SHA-256) and makes their files.
    func files(
        _ chosen: [PythonChoice], env: PythonEnvironment, tree: FileTree, index: PythonIndex
    ) async throws
        -> Written
    {
        let paths = try await ConcurrentMap.map(chosen, limit: 4) { try await index.download($0.release.file) }
        let dists = Dictionary(env.dists.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let defaultSite = Self.mostCommonSite(env)
        var files: [LayerFile] = []
        var replaced: [PythonDist] = []
        var packages: [LibraryPatchReport.Package] = []
        var notCompiled: [String] = []
        for (c, path) in zip(chosen, paths) {
            let old = dists[c.key]
            let scheme = PythonScheme.of(old?.site ?? defaultSite, target: env.target, tree: tree)
            let (installed, compiled) = try Self.install(
                c, wheelPath: path, scheme: scheme, requested: old?.requested ?? false,
                compile: old?.hadBytecode == true, cache: index.cache)
            if old?.hadBytecode == true && !compiled { notCompiled.append(c.name) }
            files += installed
            if let old { replaced.append(old) }
            let added = installed.reduce(0) { (n: Int, f: LayerFile) in n + f.bytes.count }
            let row = LibraryPatchReport.Package(
                ecosystem: .python, name: c.name, from: c.from, to: c.release.version, fixes: c.fixes,
                reason: c.reason, url: c.release.file.url, sha256: c.release.file.hashes["sha256"],
                location: scheme.site.absoluteDescription, bytesAdded: Int64(added), root: c.key)
            packages.append(row)
        }
        let removed = LibraryLayer.removals(
            replaced.map { d in (d.site, d.record) }, written: Set(files.map(\.path)), tree: tree)
        return Written(files: files, packages: packages, removed: removed, notCompiled: notCompiled)
    }

    /// One wheel's files under `scheme`, compiled as the image had it (pip compiles at install) when the host's
    /// CPython is the image's X.Y; whether it was compiled.
    /// Installs already made in this run (a verified-upgrade bisection installs the same wheels again at each step)
    /// are kept in `cache` by wheel hash, site, REQUESTED and bytecode.
    static func install(
        _ c: PythonChoice, wheelPath: String, scheme: PythonScheme, requested: Bool, compile: Bool,
        cache: LibraryPatchCache
    ) throws -> ([LayerFile], Bool) {
        let key = [c.release.file.hashes["sha256"] ?? wheelPath, scheme.site.description, "\(requested)", "\(compile)"]
            .joined(separator: " ")
        if let done = cache.get("wheel-install " + key, as: ([LayerFile], Bool).self) { return done }
        var files = try WheelInstaller.files(
            wheel: try HostFS.readFile(wheelPath, limit: 1 << 30), name: c.release.file.filename, scheme: scheme,
            requested: requested)
        var compiled = false
        if compile, let pyc = try PythonBytecode.compile(files, site: scheme.site, version: scheme.pythonVersion) {
            files = WheelInstaller.adding(pyc, to: files, site: scheme.site)
            compiled = true
        }
        cache.set("wheel-install " + key, (files, compiled))
        return (files, compiled)
    }

    /// The site directory most pip-installed distributions live in (new dependencies go there).
    static func mostCommonSite(_ env: PythonEnvironment) -> RawPath {
        let counts = Dictionary(grouping: env.dists.filter(\.isPatchable), by: \.site).mapValues(\.count)
        return counts.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key ?? env.dists[0].site
    }
}

// harden — `harden patch --libraries maven`: a Java library with a fixable finding, as a jar file (`lib/`,
// `WEB-INF/lib/` of an exploded war) or as a jar nested in a Spring Boot jar (`BOOT-INF/lib/`) or a war
// (`WEB-INF/lib/`), moves to the smallest release of the same flavour (`-jre`, `.Final`) that fixes it, as long as the
// dependencies the new release adds are in the image; the jar comes from the Maven repository, checked against its
// published checksum and its own pom.properties. A file name carrying the old version gets the new one (the old name
// left as a link to it); a nested jar is replaced and renamed inside its archive (stored, every other entry kept,
// Spring Boot's classpath.idx and layers.idx naming the new entry).
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenVulnDB
import Logging

/// A jar that is one artifact's own (not a shaded bundle of several): a file, or an entry of an archive file.
struct MavenJar {
    var file: RawPath
    /// The entry inside `file`, nil for the file itself.
    var entry: String?
    var coordinates: MavenCoordinates
    var version: String
    var size: Int

    /// `/app/app.jar!/BOOT-INF/lib/x.jar`, as Java names a nested jar.
    var location: String { file.absoluteDescription + (entry.map { "!/" + $0 } ?? "") }
}

public struct MavenPatcher {
    let logger: Logger
    public init(logger: Logger = .harden) { self.logger = logger }

    public func plan(
        _ image: Image, context: CatalogContext, packages: [SoftwarePackage], findings: [Finding]?,
        options: LibraryPatchOptions, database: VulnerabilityDatabase?, client: AptClient
    ) async throws -> LibraryPlan {
        var plan = LibraryPlan()
        let files = Set(
            packages.filter { $0.type == .javaArchive && $0.ownedBy == nil }.compactMap(\.locations.first))
        guard !files.isEmpty else { return plan }
        var scan = Self.jars(files.sorted(), context: context)
        plan.report.notes += scan.notes
        let present = Set(
            packages.filter { $0.type == .javaArchive }.compactMap { p in
                p.sourceName.map { MavenCoordinates(group: $0, artifact: p.name) }
            })
        let byKey = Self.findingsByArtifact(findings, all: options.all, jars: scan.jars)
        let repository = MavenRepository(url: options.mavenRepository, client: client, cache: options.cache)
        var chosen: [String: (to: String, fixes: [String])] = [:]
        for key in byKey.keys.sorted() {
            guard let (c, version, fs) = byKey[key] else { continue }
            let ids = Set(fs.map(\.id)).sorted()
            guard !options.exclude.contains("maven:\(c)") else { continue }
            for (bundle, reason) in scan.shaded where reason.coordinates == c && reason.version == version {
                plan.report.refused.append(
                    .init(
                        ecosystem: .maven, name: c.description, version: version,
                        reason: "\(bundle): shaded into a bundle of several artifacts; upgrade the bundle",
                        vulnerabilities: ids))
            }
            guard scan.jars.contains(where: { $0.coordinates == c && $0.version == version }) else { continue }
            let advisories = try Self.advisories(c, database: database)
            switch try await target(
                c, version: version, findings: fs, advisories: advisories, present: present, repository: repository,
                options: options)
            {
            case .upgrade(let to, let fixed): chosen[key] = (to, fixed)
            case .refused(let reason):
                plan.report.refused.append(
                    .init(
                        ecosystem: .maven, name: c.description, version: version, reason: reason,
                        vulnerabilities: ids))
            case .none(let reason):
                plan.report.unfixed += fs.map {
                    .init(
                        vulnerability: $0.id, package: c.description, version: version, fixedIn: $0.fixedVersions,
                        level: options.level, reason: reason)
                }
            }
        }
        scan.jars.removeAll { chosen["\($0.coordinates)@\($0.version)"] == nil }
        try await install(scan.jars, chosen: chosen, into: &plan, repository: repository, context: context)
        return plan
    }

    /// The findings to fix, by `group:artifact@version` (every outdated jar with `all`).
    static func findingsByArtifact(
        _ findings: [Finding]?, all: Bool, jars: [MavenJar]
    ) -> [String: (MavenCoordinates, String, [Finding])] {
        var out: [String: (MavenCoordinates, String, [Finding])] = [:]
        for f in findings ?? []
        where f.package.type == "java-archive" && f.fixState == .fixed && f.suppressed == nil {
            guard let c = MavenCoordinates(purl: f.package.purl) else { continue }
            let key = "\(c)@\(f.package.version)"
            out[key, default: (c, f.package.version, [])].2.append(f)
        }
        if all {
            for j in jars where out["\(j.coordinates)@\(j.version)"] == nil {
                out["\(j.coordinates)@\(j.version)"] = (j.coordinates, j.version, [])
            }
        }
        return out
    }

    enum Target {
        case upgrade(String, fixed: [String])
        case refused(String)
        case none(String)
    }

    /// The smallest newer release of the same flavour within the level that no advisory affects (else that fixes
    /// every finding), whose new runtime dependencies are all in the image.
    func target(
        _ c: MavenCoordinates, version: String, findings: [Finding], advisories: [VulnerabilityDatabase.AffectedRow],
        present: Set<MavenCoordinates>, repository: MavenRepository, options: LibraryPatchOptions
    ) async throws -> Target {
        guard c.isValid else { return .none("\(c): not valid Maven coordinates") }
        guard let all = try await repository.versions(c) else {
            return .none("\(c) is not in the Maven repository")
        }
        let order = MavenVersion()
        func affected(_ v: String) -> Set<String> {
            Set(advisories.filter { Matcher.isAffected(v, $0.package, comparator: order) }.map(\.vulnID))
        }
        let newer = all.filter {
            order.compare($0, version) > 0 && !MavenVersion.isPreRelease($0)
                && MavenVersion.flavour($0) == MavenVersion.flavour(version)
        }.sorted { order.compare($0, $1) < 0 }
        let inLevel = newer.filter { MavenVersion.allowed(from: version, to: $0, level: options.level) }
        let ids = Set(findings.flatMap { [$0.id] + $0.ids })
        let fixing =
            options.all && findings.isEmpty
            ? Array(inLevel.suffix(1))
            : inLevel.filter { affected($0).isEmpty }
                + inLevel.filter { !affected($0).isEmpty && affected($0).isDisjoint(with: ids) }
        guard !fixing.isEmpty else {
            let outside = newer.contains { affected($0).isDisjoint(with: ids) }
            return .none(
                outside
                    ? "the fixing release is outside --library-patch-level"
                    : "no release of the same flavour in the repository fixes it")
        }
        let before = Set((try await repository.dependencies(c, version) ?? []).filter(\.isRuntime).map(\.coordinates))
        var blocked: String?
        for v in fixing {
            let deps = (try await repository.dependencies(c, v) ?? []).filter(\.isRuntime).map(\.coordinates)
            if let missing = deps.first(where: { !before.contains($0) && !present.contains($0) }) {
                blocked = blocked ?? "\(c):\(v) needs \(missing), which is not in the image"
                continue
            }
            let still = affected(v)
            return .upgrade(
                v, fixed: Set(findings.filter { still.isDisjoint(with: [$0.id] + $0.ids) }.map(\.id)).sorted())
        }
        return .refused(blocked ?? "no release fits")
    }

    static func advisories(
        _ c: MavenCoordinates, database: VulnerabilityDatabase?
    ) throws -> [VulnerabilityDatabase.AffectedRow] {
        try database?.affected(ecosystem: "Maven", package: c.description) ?? []
    }
}

extension MavenVersion {
    /// Whether `to` is within `level` of `from` (same major for minor, same major.minor for patch).
    static func allowed(from: String, to: String, level: LibraryPatchLevel?) -> Bool {
        let a = numbers(from) + [0, 0], b = numbers(to) + [0, 0]
        switch level {
        case nil, .major?: return true
        case .minor?: return a[0] == b[0]
        case .patch?: return a[0] == b[0] && a[1] == b[1]
        }
    }
}

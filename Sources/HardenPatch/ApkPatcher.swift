// harden — apk's patcher (Alpine, Wolfi, Chainguard): the image's repositories and keys, each APKINDEX's signature
// verified, the upgrades resolved, every package's signature, control checksum and data hash checked, and one layer
// with the new files and apk's database rewritten (installed, scripts.tar, triggers). Nothing runs in the image.
import Foundation
import HardenApk
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenSBOM
import HardenSystem
import HardenVulnDB
import Logging

public final class ApkPatcher: PackagePatcher {
    let logger: Logger

    public init(logger: Logger = .harden) { self.logger = logger }

    public var ecosystem: String { "apk" }

    /// What the image says about apk: its database, repositories, world, architecture and trusted keys.
    struct Setup {
        var installed: [ApkRecord]
        var installedBytes: [UInt8]
        var repositories: [ApkRepository]
        var world: [ApkDependency]
        var arch: String
        var keys: [String: [UInt8]]
        var protectedRules: [String]
    }

    public func patch(_ request: PatchRequest, progress: @escaping (String) -> Void) async throws -> PatchResult {
        try await AptClient.using(cacheDirectory: request.options.cacheDirectory) { client in
            try await patch(request, client: client, progress: progress)
        }
    }

    static func setup(_ context: CatalogContext, image: Image, options: PatchOptions) throws -> Setup {
        guard let installedBytes = context.content("lib/apk/db/installed") else {
            throw HardenError(.notFound, "the image has no /lib/apk/db/installed")
        }
        let installed = try ApkRecord.parse(installedBytes, source: "/lib/apk/db/installed")
        let repositories = ApkConfiguration.repositories(
            context.content("etc/apk/repositories") ?? [], mirror: options.mirror)
        guard !repositories.isEmpty else {
            throw HardenError(.notFound, "/etc/apk/repositories names no repository: nothing to upgrade from")
        }
        let archFile = context.content("etc/apk/arch").map { String(decoding: $0, as: UTF8.self).trimming(" \n") }
        let arch =
            archFile.flatMap { $0.isEmpty ? nil : $0 }
            ?? ApkConfiguration.architecture(
                ociArchitecture: image.config.architecture, variant: image.config.variant)
        var keys: [String: [UInt8]] = [:]
        for child in context.tree.children(of: "etc/apk/keys") {
            if let bytes = context.content(child) { keys[String(decoding: child.lastComponent, as: UTF8.self)] = bytes }
        }
        for path in options.keyrings {
            keys[String(path.split(separator: "/").last ?? "")] = try HostFS.readFile(path, limit: 1 << 20)
        }
        let rules = ApkConfiguration.protectedRules(
            context.tree.children(of: "etc/apk/protected_paths.d").compactMap { p in
                context.content(p).map { (String(decoding: p.lastComponent, as: UTF8.self), $0) }
            })
        return Setup(
            installed: installed, installedBytes: installedBytes, repositories: repositories,
            world: ApkConfiguration.world(context.content("etc/apk/world") ?? []), arch: arch, keys: keys,
            protectedRules: rules)
    }

    private func patch(
        _ request: PatchRequest, client: AptClient, progress: @escaping (String) -> Void
    ) async throws -> PatchResult {
        let (image, context, options) = (request.image, request.context, request.options)
        let setup = try Self.setup(context, image: image, options: options)
        guard !setup.keys.isEmpty else {
            throw HardenError(.notFound, "/etc/apk/keys holds no key: no repository index can be verified")
        }
        progress("patch: fetching \(setup.repositories.count) apk indexes")
        let indexes = try await Self.fetchIndexes(setup, client: client)
        let resolver = ApkResolver(installed: setup.installed, world: setup.world, indexes: indexes)
        var (wanted, fixes, unfixed) = Self.upgradesFixing(request.findings ?? [], resolver: resolver)
        if options.all {
            for name in resolver.upgradable() where wanted[name] == nil { wanted[name] = "newer version (--all)" }
        }
        let plan = try resolver.plan(wanted).values.sorted { $0.record.name < $1.record.name }
        var report = PatchReport(image: request.reference, mode: options.all ? .all : .vulnerable)
        report.ecosystem = ecosystem
        let newest = indexes.flatMap(\.records).compactMap { $0["t"].flatMap { Int64($0) } }.max() ?? 0
        report.repositories = indexes.map {
            PatchReport.Repository(
                url: $0.repository.url, suite: $0.repository.tag.map { "@" + $0 } ?? "", date: Self.rfc2822(newest),
                origin: $0.description ?? "", packages: $0.records.count)
        }
        report.noFixAvailable = unfixed.sorted { ($0.package, $0.vulnerability) < ($1.package, $1.vulnerability) }
        let osID = context.os?.id ?? "alpine"
        guard !plan.isEmpty else {
            return PatchResult(
                image: image, report: report, vex: try AptPatcher.vex(report, image: image, osID: osID),
                changed: false)
        }
        progress("patch: downloading \(plan.count) apk packages")
        let files = try await Self.download(plan, indexes: indexes, arch: setup.arch, keys: setup.keys, client: client)
        let current = try Self.protectedContent(plan, setup: setup, context: context, image: image)
        progress("patch: writing the layer")
        let store = DirectoryBlobStore(root: try HostFS.makeTemporaryDirectory(prefix: "harden-patch"), owned: true)
        let mtime = plan.compactMap { $0.record["t"].flatMap { Int64($0) } }.max() ?? newest
        let layer = try ApkLayerSession.write(
            plan: plan, files: files, setup: setup, context: context, current: current, mtime: mtime, store: store)
        report.packages = plan.map { p in
            PatchReport.Package(
                name: p.record.name, architecture: p.record["A"] ?? setup.arch, from: p.installed?.version,
                to: p.record.version, source: p.record.origin, sourceVersion: p.record.version,
                fixes: (fixes[p.record.name] ?? []).sorted(), reasons: p.reasons,
                bytesAdded: layer.bytesAdded[p.record.name] ?? 0, scriptsNotRun: layer.scripts[p.record.name] ?? [],
                url: indexes[p.repository].repository.packageURL(
                    arch: setup.arch, name: p.record.name, version: p.record.version),
                sha256: files[p.record.name].map { Digest.sha256(of: $0.bytes).encoded })
        }
        report.conffilesKept = layer.conffilesKept.sorted()
        report.removedFiles = layer.whiteouts.sorted()
        report.layer = layer.descriptor
        report.ldconfig = layer.ldconfig
        report.caCertificates = layer.caCertificates
        report.notes += layer.notes
        let patched = try AptPatcher.assemble(image, layer: layer, report: report, mtime: mtime, store: store)
        return PatchResult(
            image: patched, report: report, vex: try AptPatcher.vex(report, image: patched, osID: osID), changed: true)
    }

    /// Every repository's APKINDEX for the image's architecture, signature verified, in repository order.
    static func fetchIndexes(_ setup: Setup, client: AptClient) async throws -> [ApkIndex] {
        try await withThrowingTaskGroup(of: (Int, ApkIndex).self) { group in
            for (i, repo) in setup.repositories.enumerated() {
                group.addTask {
                    let url = repo.indexURL(arch: setup.arch)
                    let (records, description) = try ApkIndexFile.read(
                        try await client.get(url, limit: 512 << 20), keys: setup.keys, url: url)
                    return (i, ApkIndex(repository: repo, records: records, description: description))
                }
            }
            var out: [(Int, ApkIndex)] = []
            for try await r in group { out.append(r) }
            return out.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// The packages to upgrade for the fixable apk findings (every package of the same origin moves with it), the
    /// vulnerabilities each fixes, and the findings no candidate fixes.
    static func upgradesFixing(
        _ findings: [Finding], resolver: ApkResolver
    ) -> (wanted: [String: String], fixes: [String: Set<String>], unfixed: [PatchReport.Unfixed]) {
        var wanted: [String: String] = [:]
        var fixes: [String: Set<String>] = [:]
        var unfixed: [PatchReport.Unfixed] = []
        let apk = ApkVersion()
        let byOrigin = Dictionary(grouping: resolver.installed.values, by: \.origin)
        for f in findings where f.package.type == "apk" && f.fixState == .fixed && f.suppressed == nil {
            guard let inst = resolver.installed[f.package.name] else { continue }
            let c = resolver.candidate(inst.name)
            let needed = f.fixedVersions.min { apk.compare($0, $1) < 0 }
            guard let c, let needed, apk.compare(c.record.version, needed) >= 0,
                apk.compare(c.record.version, inst.version) > 0
            else {
                unfixed.append(
                    .init(
                        vulnerability: f.id, package: f.package.name, version: f.package.version,
                        fixedIn: f.fixedVersions, candidate: c?.record.version))
                continue
            }
            for sibling in byOrigin[inst.origin] ?? [] {
                if let sc = resolver.candidate(sibling.name), sc.record.origin == c.record.origin,
                    sc.record.version == c.record.version, apk.compare(sc.record.version, sibling.version) > 0
                {
                    wanted[sibling.name] = wanted[sibling.name] ?? "fixes \(f.id)"
                    fixes[sibling.name, default: []].insert(f.id)
                }
            }
        }
        return (wanted, fixes, unfixed)
    }

    /// Downloads the planned packages four at a time (cached by their control checksum), each checked as apk does:
    /// size, control checksum against the signed index, signature, data hash.
    static func download(
        _ plan: [ApkPlanned], indexes: [ApkIndex], arch: String, keys: [String: [UInt8]], client: AptClient
    ) async throws -> [String: ApkPackageFile] {
        try await withThrowingTaskGroup(of: (String, ApkPackageFile).self) { group in
            var out: [String: ApkPackageFile] = [:]
            for (i, p) in plan.enumerated() {
                if i >= 4, let done = try await group.next() { out[done.0] = done.1 }
                let url = indexes[p.repository].repository.packageURL(
                    arch: arch, name: p.record.name, version: p.record.version)
                group.addTask {
                    let bytes = try await fetchPackage(url, record: p.record, client: client)
                    let file = try ApkPackageFile.read(bytes, name: url)
                    try file.verify(keys: keys, indexChecksum: p.record.checksum)
                    return (p.record.name, file)
                }
            }
            for try await done in group { out[done.0] = done.1 }
            return out
        }
    }

    static func fetchPackage(_ url: String, record: ApkRecord, client: AptClient) async throws -> [UInt8] {
        let key = Hex.encode(Array((record.checksum ?? url).utf8)).prefix(120)
        let path = client.cacheDirectory + "/apk/\(record.name)-\(record.version).\(key).apk"
        if HostFS.isRegularFile(path), let bytes = try? HostFS.readFile(path, limit: 4 << 30) { return bytes }
        let size = record["S"].flatMap { Int($0) }
        let bytes = try await client.get(url, limit: (size ?? (1 << 30)) + 1)
        if let size, bytes.count != size {
            throw HardenError(.corrupt, "\(url): \(bytes.count) bytes, the signed index says \(size)")
        }
        try HostFS.makeDirectories(client.cacheDirectory + "/apk")
        try HostFS.writeFileAtomically(path, bytes)
        return bytes
    }

    /// The image's current bytes of the protected files (/etc) the upgraded packages own: an upgrade keeps a changed
    /// one and writes the new version beside it.
    static func protectedContent(
        _ plan: [ApkPlanned], setup: Setup, context: CatalogContext, image: Image
    ) throws -> [RawPath: [UInt8]] {
        var paths = Set<RawPath>()
        for p in plan {
            for f in p.installed.map(ApkDatabaseWriter.files) ?? []
            where ApkConfiguration.isProtected(String(f.path.dropFirst()), rules: setup.protectedRules) {
                paths.insert(context.tree.resolveParents(RawPath(String(f.path.dropFirst())).normalized))
            }
        }
        var out: [RawPath: [UInt8]] = [:]
        for p in paths { out[p] = context.content(p) }
        out.merge(
            try ImageContent.read(
                image, located: ImageContent.locate(context.tree, paths: paths.filter { out[$0] == nil }))
        ) { a, _ in a }
        return out
    }

    /// A date as APT's Release files write it (what the report's repository dates and OpenVEX's timestamp use).
    static func rfc2822(_ seconds: Int64) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}

// harden — rpm's patcher (RHEL/UBI, Rocky, AlmaLinux, Fedora, Amazon Linux, Azure Linux, openSUSE): the image's
// repositories and keys, repomd.xml's signature verified, primary.xml checked against it, the upgrades resolved as
// dnf resolves them, every package's header signature and digests checked, and one layer with the new files and
// the rpm database rewritten as rpm writes it. Nothing runs in the image.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenRpm
import HardenSBOM
import HardenSystem
import HardenVulnDB
import Logging

public final class RpmPatcher: PackagePatcher {
    let logger: Logger

    public init(logger: Logger = .harden) { self.logger = logger }

    public var ecosystem: String { "rpm" }

    /// What the image says about rpm: its database, repositories, architecture, keys and accounts.
    struct Setup {
        var databasePath: RawPath
        var databaseBytes: [UInt8]
        var installed: [RpmInstalledPackage]
        var repositories: [YumRepository]
        var arch: String
        /// Key files of the image by path (`/etc/pki/rpm-gpg/…`), and the keys rpm imported (gpg-pubkey headers).
        var imageKeys: [String: [UInt8]]
        var importedKeys: [[UInt8]]
        var operatorKeys: [[UInt8]]
        var users: [String: UInt32]
        var groups: [String: UInt32]
        /// dnf's `tsflags=nodocs`: documentation files are not installed.
        var noDocs: Bool
        /// /etc/dnf/modules.d: each module's stream and state.
        var moduleStates: [String: (stream: String?, state: String)]
    }

    public func patch(_ request: PatchRequest, progress: @escaping (String) -> Void) async throws -> PatchResult {
        try await AptClient.using(cacheDirectory: request.options.cacheDirectory) { client in
            try await patch(request, client: client, progress: progress)
        }
    }

    private func patch(
        _ request: PatchRequest, client: AptClient, progress: @escaping (String) -> Void
    ) async throws -> PatchResult {
        let (image, context, options) = (request.image, request.context, request.options)
        let setup = try Self.setup(context, image: image, options: options)
        progress("patch: fetching \(setup.repositories.count) rpm repositories")
        let repos = try await Self.fetchRepositories(setup, client: client)
        let resolver = RpmResolver(installed: setup.installed, repositories: repos.map(\.packages))
        var (wanted, fixes, unfixed) = Self.upgradesFixing(request.findings ?? [], resolver: resolver)
        if options.all {
            for name in resolver.upgradable() where wanted[name] == nil { wanted[name] = "newer version (--all)" }
        }
        let plan = try resolver.plan(wanted).values.sorted { $0.package.name < $1.package.name }
        var report = PatchReport(image: request.reference, mode: options.all ? .all : .vulnerable)
        report.ecosystem = ecosystem
        report.repositories = repos.map {
            PatchReport.Repository(
                url: $0.base, suite: $0.repository.id, date: $0.revision.flatMap(Int64.init).map(ApkPatcher.rfc2822),
                origin: $0.repository.name ?? $0.repository.id, packages: $0.packages.count)
        }
        report.noFixAvailable = unfixed.sorted { ($0.package, $0.vulnerability) < ($1.package, $1.vulnerability) }
        let osID = context.os?.id ?? "redhat"
        guard !plan.isEmpty else {
            return PatchResult(
                image: image, report: report, vex: try AptPatcher.vex(report, image: image, osID: osID),
                changed: false)
        }
        progress("patch: downloading \(plan.count) rpm packages")
        let files = try await Self.download(plan, repos: repos, client: client)
        let current = try Self.configContent(plan, context: context, image: image)
        progress("patch: writing the layer")
        let store = DirectoryBlobStore(root: try HostFS.makeTemporaryDirectory(prefix: "harden-patch"), owned: true)
        let mtime = plan.compactMap { files[$0.package.name]?.header.integers(1006).first }.max().map(Int64.init) ?? 0
        let layer = try RpmLayerSession.write(
            plan: plan, files: files, setup: setup, current: current, tree: context.tree, mtime: mtime, store: store)
        report.packages = plan.map { p in
            let source = p.package.sourceRPM.map(RpmPatcher.sourceName) ?? p.package.name
            return PatchReport.Package(
                name: p.package.name, architecture: p.package.arch, from: p.replaces.first?.evr, to: p.package.evr,
                source: source, sourceVersion: p.package.evr, fixes: (fixes[p.package.name] ?? []).sorted(),
                reasons: p.reasons, bytesAdded: layer.bytesAdded[p.package.name] ?? 0,
                scriptsNotRun: layer.scripts[p.package.name] ?? [],
                url: repos[p.repository].base + "/" + p.package.location,
                sha256: p.package.checksumType == "sha256" ? p.package.checksum : nil)
        }
        report.conffilesKept = layer.conffilesKept.sorted()
        report.removedFiles = layer.whiteouts.sorted()
        report.layer = layer.descriptor
        report.ldconfig = layer.ldconfig
        report.notes += layer.notes
        let patched = try AptPatcher.assemble(image, layer: layer, report: report, mtime: mtime, store: store)
        return PatchResult(
            image: patched, report: report, vex: try AptPatcher.vex(report, image: patched, osID: osID), changed: true)
    }

    /// `name` of a source rpm file name `name-version-release.src.rpm`.
    static func sourceName(_ file: String) -> String {
        let parts = file.split(separator: "-")
        return parts.count >= 3 ? parts.dropLast(2).joined(separator: "-") : file
    }

    /// The packages to upgrade for the fixable rpm findings (every package of the same source rpm moves with it),
    /// the vulnerabilities each fixes, and the findings no candidate fixes.
    static func upgradesFixing(
        _ findings: [Finding], resolver: RpmResolver
    ) -> (wanted: [String: String], fixes: [String: Set<String>], unfixed: [PatchReport.Unfixed]) {
        var wanted: [String: String] = [:]
        var fixes: [String: Set<String>] = [:]
        var unfixed: [PatchReport.Unfixed] = []
        let rpm = RpmVersion()
        let bySource = Dictionary(grouping: resolver.installed) { i in
            i.header.string(RpmTag.sourceRPM).map(sourceName) ?? i.name
        }
        for f in findings where f.package.type == "rpm" && f.fixState == .fixed && f.suppressed == nil {
            guard let inst = resolver.installed.first(where: { $0.name == f.package.name }) else { continue }
            let c = resolver.candidate(inst.name)
            let needed = f.fixedVersions.min { rpm.compare($0, $1) < 0 }
            guard let c, let needed, RpmResolver.compareEVR(c.package.evr, needed) >= 0,
                rpm.compare(c.package.evr, inst.evr) > 0
            else {
                unfixed.append(
                    .init(
                        vulnerability: f.id, package: f.package.name, version: f.package.version,
                        fixedIn: f.fixedVersions, candidate: c?.package.evr))
                continue
            }
            let source = inst.header.string(RpmTag.sourceRPM).map(sourceName) ?? inst.name
            for sibling in bySource[source] ?? [] {
                guard let sc = resolver.candidate(sibling.name), sc.package.evr == c.package.evr,
                    rpm.compare(sc.package.evr, sibling.evr) > 0
                else { continue }
                wanted[sibling.name] = wanted[sibling.name] ?? "fixes \(f.id)"
                fixes[sibling.name, default: []].insert(f.id)
            }
        }
        return (wanted, fixes, unfixed)
    }

    /// The image's current bytes of the configuration files the upgraded (and obsoleted) packages own: a changed
    /// one is kept (`%config(noreplace)`, the new one beside it as `.rpmnew`) or saved as `.rpmsave`.
    static func configContent(
        _ plan: [RpmPlanned], context: CatalogContext, image: Image
    ) throws -> [RawPath: [UInt8]] {
        var paths: Set<RawPath> = [context.tree.resolveParents(RawPath("etc/ld.so.cache"))]  // the ldconfig trigger
        for p in plan {
            for old in p.replaces {
                for f in old.header.files where f.isConfig && f.isRegular {
                    paths.insert(context.tree.resolveParents(RawPath(String(f.path.dropFirst())).normalized))
                }
            }
        }
        return try ImageContent.read(image, located: ImageContent.locate(context.tree, paths: paths))
    }
}

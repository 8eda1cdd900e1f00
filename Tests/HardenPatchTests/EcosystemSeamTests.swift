// harden — a package ecosystem that exists only in this test plugs into the scan (capture rules, cataloger) and the
// patch stage (its patcher is chosen) without a line of the orchestrator, the SBOM builder or minify changing.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenPatch
import HardenSBOM
import HardenSystem
import HardenTestSupport
import Testing

/// "toy": one `NAME VERSION` line per package in /var/lib/toy/installed. Its packages borrow the `gem` SBOM type
/// (the type list is closed: a real ecosystem adds its own case).
struct ToyEcosystem: PackageEcosystem {
    var name: String { "toy" }
    var packageType: PackageType { .gem }
    var versions: any VersionComparator { SemanticVersion() }
    var cataloger: any Cataloger { ToyCataloger() }

    func capture(_ path: RawPath, entry: TarEntry) -> CaptureKind? {
        path == "var/lib/toy/installed" ? .whole(limit: 1 << 20) : nil
    }

    func isInstalled(in context: CatalogContext) -> Bool { context.exists("var/lib/toy/installed") }

    func databaseFiles(in fs: any ImageFileSystem, tree: FileTree, kept: [SoftwarePackage]) -> [DatabaseFile] {
        let names = Set(kept.map(\.name))
        return [
            DatabaseFile(path: "/var/lib/toy/installed", reason: "toy database") { bytes, _ in
                let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
                return Array(
                    lines.filter { names.contains(String($0.prefix { $0 != " " })) }.joined(separator: "\n").utf8)
            }
        ]
    }
}

struct ToyCataloger: Cataloger {
    var name: String { "toy" }
    func catalog(_ context: CatalogContext) -> [SoftwarePackage] {
        guard let bytes = context.content("var/lib/toy/installed") else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 2 else { return nil }
            let (name, version) = (String(parts[0]), String(parts[1]))
            return SoftwarePackage(
                id: "toy:\(name)@\(version)", type: .gem, name: name, version: version, architecture: nil,
                sourceName: nil, sourceVersion: nil, licenses: [], purl: "pkg:generic/\(name)@\(version)", layer: nil,
                locations: ["/var/lib/toy/installed"], files: [], ownedBy: nil, maintainer: nil, installedSize: nil,
                foundBy: "toy", metadata: nil)
        }
    }
}

/// Records what it was asked and upgrades nothing.
final class ToyPatcher: PackagePatcher, @unchecked Sendable {
    var asked: [String] = []
    var ecosystem: String { "toy" }
    func patch(_ request: PatchRequest, progress: @escaping (String) -> Void) async throws -> PatchResult {
        asked.append(request.reference)
        var report = PatchReport(image: request.reference, mode: request.options.all ? .all : .vulnerable)
        report.notes = ["toy: nothing to upgrade"]
        return PatchResult(image: request.image, report: report, vex: nil, changed: false)
    }
}

@Suite struct EcosystemSeamTests {
    @Test func aTestEcosystemIsScannedAndPatchedThroughTheSeams() async throws {
        try await withTemporaryDirectory { dir in
            let layer = try Fixtures.layer([
                .dir("var/lib/toy"), .file("var/lib/toy/installed", "widget 1.2.0\ngadget 0.9.1\n"),
            ])
            try Fixtures.ociLayout(at: dir, images: [(tag: "t", layers: [layer], config: nil)])
            let image = try ImageLoader.open(.ociLayout(path: dir, tag: "t"))

            // The scan: its capture rule and cataloger, registered with the builder only.
            let (sbom, context) = try SBOMBuilder(cache: nil, ecosystems: [ToyEcosystem()]).catalog(
                image, reference: "toy-image")
            #expect(sbom.packages.map(\.id).sorted() == ["toy:gadget@0.9.1", "toy:widget@1.2.0"])
            // The standard ecosystems do not capture its database, so nothing is found without it.
            let standard = try SBOMBuilder(cache: nil).catalog(image, reference: "toy-image")
            #expect(standard.sbom.packages.isEmpty)

            // The patch stage: the orchestrator picks its patcher because the image holds its database.
            let toy = ToyPatcher()
            var options = PatchOptions()
            options.all = true
            let result = try await Patcher(ecosystems: Ecosystems.standard + [ToyEcosystem()], patchers: [toy]).patch(
                image, reference: "toy-image", context: context, findings: nil, options: options)
            #expect(toy.asked == ["toy-image"])
            #expect(result.report.ecosystem == "toy")
            #expect(!result.changed)

            // Without a patcher for it, the orchestrator says which ecosystem the image uses and which it can patch.
            #expect {
                try Patcher(ecosystems: [ToyEcosystem()]).backend(for: context)
            } throws: { error in
                "\(error)".contains("managed by toy") && "\(error)".contains("dpkg")
            }
        }
    }
}

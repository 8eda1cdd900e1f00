// harden — the flags of library patching (`patch --libraries`, `run --patch-libraries`) and its table.
import ArgumentParser
import HardenCore
import HardenPatch
import HardenReport

public struct LibraryPatchFlags: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Also upgrade the application's own libraries of these ecosystems (comma-separated: python, npm, maven).",
            valueName: "LIST"))
    public var libraries: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "How far a library may move: patch (same X.Y), minor (same X), major (default: the smallest version that fixes every finding).",
            valueName: "LEVEL"))
    public var libraryPatchLevel: String?

    @Option(
        name: .long,
        help: ArgumentHelp("The Python package index (PEP 691 JSON Simple API).", valueName: "URL"))
    public var pythonIndex: String = PythonIndex.pypi

    @Option(name: .long, help: ArgumentHelp("The npm registry.", valueName: "URL"))
    public var npmRegistry: String = NpmRegistry.npmjs

    @Option(
        name: [.customLong("maven-repository"), .customLong("maven-repo")],
        help: ArgumentHelp("The Maven repository (Maven Central's layout).", valueName: "URL"))
    public var mavenRepository: String = MavenRepository.central

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Credentials for private indexes, registries and repositories: HOST[:PORT] USER:PASS or HOST[:PORT] Bearer TOKEN lines, each sent only to its host over HTTPS.",
            valueName: "FILE"))
    public var libraryCredsFile: String?

    @Flag(name: .long, help: "Patch only the libraries (--libraries), not the OS packages.")
    public var onlyLibraries = false

    public init() {}

    /// The ecosystems `--libraries` names.
    public static func ecosystems(_ list: String) throws -> Set<LibraryEcosystem> {
        var out = Set<LibraryEcosystem>()
        for item in list.split(separator: ",") {
            let name = item.trimming(" ")
            guard let e = LibraryEcosystem(rawValue: name) else {
                let known = LibraryEcosystem.allCases.map(\.rawValue).joined(separator: ", ")
                throw HardenError(
                    .invalidArgument, "--libraries: \(name) is not a library ecosystem harden patches (\(known))")
            }
            out.insert(e)
        }
        return out
    }

    public func apply(to options: inout PatchOptions, all: Bool) throws {
        if let libraries { options.libraries.ecosystems = try Self.ecosystems(libraries) }
        if let l = libraryPatchLevel {
            guard let level = LibraryPatchLevel(rawValue: l) else {
                throw HardenError(.invalidArgument, "--library-patch-level: \(l) is not patch, minor or major")
            }
            options.libraries.level = level
        }
        guard onlyLibraries == false || !options.libraries.ecosystems.isEmpty else {
            throw HardenError(.invalidArgument, "--only-libraries needs --libraries")
        }
        options.osPackages = !onlyLibraries
        options.libraries.all = all
        options.libraries.pythonIndex = pythonIndex
        options.libraries.npmRegistry = npmRegistry
        options.libraries.mavenRepository = mavenRepository
        options.libraries.credentials = try libraryCredsFile.map { try IndexCredentials.read(file: $0) }
    }

    static func table(_ r: LibraryPatchReport) -> String {
        var t = TextTable(rows: [["LIBRARY", "OLD", "NEW", "FIXED VULNERABILITIES"]])
        for p in r.packages {
            let state = p.verification.map { $0.outcome == .reverted ? " (reverted)" : " (verified)" } ?? ""
            let fixes = p.fixes.isEmpty ? "(\(p.reason))" : p.fixes.prefix(6).joined(separator: " ")
            t.rows.append([p.name, p.from ?? "-", p.to + state, fixes])
        }
        var out = r.packages.isEmpty ? "no library to upgrade" : t.render()
        let kept = r.packages.filter { $0.verification?.outcome != .reverted }
        out += "\n\(kept.count) libraries upgraded, \(Set(kept.flatMap(\.fixes)).count) vulnerabilities fixed"
        for x in r.refused { out += "\nrefused: \(x.name) \(x.version): \(x.reason)" }
        if !r.unfixed.isEmpty {
            out += "\n\(Set(r.unfixed.map(\.vulnerability)).count) library vulnerabilities with no fix within reach"
        }
        return out
    }
}

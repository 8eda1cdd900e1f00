// harden — `harden fleet bench-populate` (hidden): the fleet benchmark's inventory — N synthetic images made from
// real SBOMs with varied package versions, matched and stored as workers would store them — and its re-match timer.
import ArgumentParser
import Crypto
import Foundation
import HardenCore
import HardenFleet
import HardenPackages
import HardenSBOM
import HardenSystem
import HardenVulnDB

extension Application {
    public struct FleetBenchPopulate: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "bench-populate", abstract: "Benchmark support: store synthetic images; time re-matches.",
            shouldDisplay: false)

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var fleetDatabase: FleetDatabaseOptions
        @OptionGroup public var database: DatabaseOptions
        @Option(name: .long, help: "How many images.") public var images = 10_000
        @Option(name: .long, help: "Share of packages whose version is varied per image.") public var vary = 0.25
        @Option(name: .long, help: "populate, rematch (changed keys only) or rematch-all.") public var step = "populate"
        @Argument(help: "harden JSON SBOMs to build the images from.") public var sboms: [String] = []
        public init() {}

        public func run() async throws {
            let logger = global.makeLogger()
            let url = try fleetDatabase.resolved()
            let dbPath = database.path
            let digest = Digest256.hex(try HostFS.readFile(dbPath, limit: 1 << 34))
            switch step {
            case "rematch", "rematch-all":
                let everything = step == "rematch-all"
                let r = try await FleetStore.with(url: url, logger: logger) { store in
                    try await store.rematch(
                        database: try VulnerabilityDatabase(readingAt: dbPath), databaseDigest: digest, rule: nil,
                        everything: everything)
                }
                print(
                    "rematch\(everything ? "-all" : ""): \(r.changedKeys) changed keys, \(r.images) images, \(r.packages) packages, +\(r.newFindings) -\(r.resolvedFindings) findings, \(String(format: "%.3f", r.seconds)) s"
                )
            case "populate":
                let templates = try sboms.map { path in
                    try JSONDecoder().decode(SBOM.self, from: Data(try HostFS.readFile(path, limit: 1 << 30)))
                }
                guard !templates.isEmpty else {
                    throw HardenError(.invalidArgument, "give harden JSON SBOMs to build images from")
                }
                let n = images
                let vary = self.vary
                let started = ContinuousClock.now
                try await FleetStore.with(url: url, connections: 6, logger: logger) { store in
                    // The baseline fingerprints first: these images are matched against this database.
                    _ = try await store.rematch(
                        database: try VulnerabilityDatabase(readingAt: dbPath), databaseDigest: digest, rule: nil)
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        let lanes = 4
                        for lane in 0..<lanes {
                            group.addTask {
                                let matcher = SharedMatcher(database: try VulnerabilityDatabase(readingAt: dbPath))
                                var batch: [ImageResult] = []
                                for i in stride(from: lane, to: n, by: lanes) {
                                    let sbom = Self.variant(templates[i % templates.count], index: i, vary: vary)
                                    let findings = try matcher.match(os: sbom.os, packages: sbom.packages)
                                    batch.append(
                                        ImageResult(
                                            digest: sbom.source.manifestDigest, configDigest: sbom.source.configDigest,
                                            references: [sbom.source.reference], labels: ["team": "team-\(i % 37)"],
                                            platform: sbom.source.platform,
                                            os: sbom.os, packages: sbom.packages, findings: findings))
                                    if batch.count == 25 {
                                        try await store.importImages(batch)
                                        batch = []
                                    }
                                }
                                try await store.importImages(batch)
                            }
                        }
                        try await group.waitForAll()
                    }
                    let t = try await store.totals()
                    let d = ContinuousClock.now - started
                    print(
                        "populate: \(t.images) images, \(t.packages) package rows, \(t.activeFindings) findings in \(d.components.seconds) s"
                    )
                }
            default:
                throw HardenError(.invalidArgument, "--step: populate, rematch or rematch-all")
            }
        }

        /// Image `index` from a template: a new digest and reference, and a share of its packages at other versions
        /// (older Debian revisions, earlier upstream patch releases), chosen by a hash so every run is the same.
        static func variant(_ template: SBOM, index: Int, vary: Double) -> SBOM {
            var s = template
            let id = Digest256.hex(Array("bench-image-\(index)".utf8))
            s.source.manifestDigest = id
            s.source.configDigest = id
            s.source.reference = "registry.example/team-\(index % 37)/app-\(index):v\(index % 11)"
            for k in s.packages.indices {
                let h = Digest256.bytes(Array("\(index)/\(s.packages[k].id)".utf8))
                guard Double(h[0]) / 256 < vary else { continue }
                let old = s.packages[k].version
                let new = old + "~b\(h[1] % 4)"
                s.packages[k].version = new
                if s.packages[k].sourceVersion == old { s.packages[k].sourceVersion = new }
                s.packages[k].files = []
            }
            return s
        }
    }
}

enum Digest256 {
    static func bytes(_ data: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: data)) }
    static func hex(_ data: [UInt8]) -> String { "sha256:" + Hex.encode(bytes(data)) }
}

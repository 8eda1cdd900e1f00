// harden — `harden db import|status`.
import ArgumentParser
import Foundation
import HardenCore
import HardenFeeds
import HardenOCI
import HardenPackages
import HardenReport
import HardenSystem
import HardenVulnDB
import Logging

/// `--db PATH` (env HARDEN_DB).
public struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "Vulnerability database [environment: HARDEN_DB; default: $XDG_CACHE_HOME/harden/vulnerabilities.sqlite]."
    )
    public var db: String?

    public init() {}

    public var path: String { db ?? VulnerabilityDatabase.defaultPath() }
}

extension Application {
    public struct DB: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "db", abstract: "Manage the vulnerability database.",
            subcommands: [DBImport.self, DBUpdate.self, DBStatus.self])
        public init() {}
    }

    public struct DBImport: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "import",
            abstract:
                "Import feeds: OSV (JSON file, directory, all.zip), Debian security tracker JSON, Alpine secdb JSON.",
            discussion:
                "The format is detected from the content. The import is atomic: the database is replaced only when every feed imported."
        )

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var database: DatabaseOptions

        @Argument(help: "Feed files or directories.")
        public var feeds: [String]

        public init() {}

        public func validate() throws {
            if feeds.isEmpty { throw ValidationError("name at least one feed file or directory") }
        }

        /// `imported SOURCE: 120 advisories, 300 affected packages` (or CVE records, KEV entries, EPSS scores).
        static func describe(_ s: VulnerabilityDatabase.ImportSummary) -> String {
            var parts = ["\(s.advisories) advisories", "\(s.affected) affected packages"]
            if s.kev > 0 {
                parts = ["\(s.kev) known exploited vulnerabilities"]
            } else if s.epss > 0 {
                parts = ["\(s.epss) EPSS scores"]
            } else if s.affected == 0 && s.advisories > 0 {
                parts = ["\(s.advisories) CVE records"]
            }
            return "imported \(s.source): \(parts.joined(separator: ", "))"
        }

        public func run() async throws {
            let logger = global.makeLogger()
            var parsed: [ParsedFeed] = []
            for f in feeds { parsed += try FeedParser.load(f) }
            let summaries = try VulnerabilityDatabase.importFeeds(parsed, into: database.path)
            for s in summaries {
                logger.info("Imported feed", metadata: ["source": "\(s.source)", "advisories": "\(s.advisories)"])
                if !global.quiet {
                    writeStandardError(DBImport.describe(s) + "\n")
                }
            }
        }
    }

    public struct DBUpdate: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "update",
            abstract: "Download the public feeds (or --source NAME=URL ones) and import them atomically.",
            discussion: """
                Defaults: the Debian security tracker JSON, Alpine secdb (main and community) for recent branches, and OSV                 all.zip exports for PyPI, npm, Go, Maven, crates.io, RubyGems, Packagist, NuGet, Debian, Alpine and Ubuntu.                 Downloads are cached next to the database and revalidated with ETag / If-Modified-Since.
                """)

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var database: DatabaseOptions

        @Option(name: .long, help: "A feed to download instead of the defaults: NAME=URL (repeatable).")
        public var source: [String] = []

        public init() {}

        public func run() async throws {
            let logger = global.makeLogger()
            let sources = source.isEmpty ? FeedSource.defaults : try source.map { try FeedSource(parsing: $0) }
            let quiet = global.quiet
            let summaries = try await FeedUpdate.run(database: database.path, sources: sources, logger: logger) {
                if !quiet { writeStandardError("update: \($0)\n") }
            }
            if !quiet {
                for s in summaries { writeStandardError(DBImport.describe(s) + "\n") }
            }
        }
    }

    public struct DBStatus: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "status", abstract: "Show the database's feeds, record counts and age.")

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var database: DatabaseOptions

        @Option(name: .long, help: "Output format: table or json.")
        public var format: OutputFormat = .table

        public init() {}

        struct Status: Codable {
            var path: String
            var schemaVersion: Int
            var vulnerabilities: Int
            var affectedPackages: Int
            var sources: [VulnerabilityDatabase.SourceStatus]
            var oldestImportAgeDays: Double?
            var warnings: [String]
        }

        public func run() async throws {
            _ = global.makeLogger()
            let db = try VulnerabilityDatabase(readingAt: database.path)
            let sources = try db.sources()
            let formatter = ISO8601DateFormatter()
            let ages = sources.compactMap {
                formatter.date(from: $0.importedAt).map { Date().timeIntervalSince($0) / 86400 }
            }
            let oldest = ages.max()
            var warnings: [String] = []
            if let oldest, oldest > 5 {
                warnings.append("the oldest feed was imported \(Int(oldest)) days ago; run `harden db update`")
            }
            let status = Status(
                path: db.path, schemaVersion: VulnerabilityDatabase.schemaVersion,
                vulnerabilities: try db.count("vulnerabilities"),
                affectedPackages: try db.count("affected"), sources: sources, oldestImportAgeDays: oldest,
                warnings: warnings)
            switch format {
            case .json:
                print(String(decoding: try JSONCoding.encode(status, pretty: true), as: UTF8.self))
            case .table:
                var rows = [["SOURCE", "FORMAT", "RECORDS", "IMPORTED", "DATA DATE"]]
                for s in sources { rows.append([s.name, s.format, "\(s.records)", s.importedAt, s.dataDate ?? "-"]) }
                print(
                    "Database: \(db.path) (schema \(VulnerabilityDatabase.schemaVersion)), \(status.vulnerabilities) vulnerabilities, \(status.affectedPackages) affected packages\n"
                )
                print(TextTable(rows: rows).render())
                for w in warnings { print("warning: \(w)") }
            }
        }
    }
}

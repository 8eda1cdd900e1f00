// harden — downloading feeds with conditional requests, then importing them atomically (`harden db update`).
import AsyncHTTPClient
import Foundation
import HardenArchive
import HardenCore
import HardenPackages
import HardenSBOM
import HardenSystem
import HardenVulnDB
import Logging
import NIOCore
import NIOHTTP1

/// A named feed location.
public struct FeedSource: Sendable, Hashable {
    public var name: String
    public var url: String

    public init(name: String, url: String) {
        self.name = name
        self.url = url
    }

    /// Parses `NAME=URL`.
    public init(parsing text: String) throws {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw HardenError(.invalidArgument, "--source \(text): expected NAME=URL")
        }
        let name = String(text[..<eq])
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
            throw HardenError(.invalidArgument, "--source \(text): the name may use letters, digits, '-', '_' and '.'")
        }
        self.init(name: name, url: String(text[text.index(after: eq)...]))
    }

    /// The public feeds harden imports by default.
    public static let defaults: [FeedSource] = {
        var out = [FeedSource(name: "debian-tracker", url: "https://security-tracker.debian.org/tracker/data/json")]
        for branch in ["v3.18", "v3.19", "v3.20", "v3.21", "v3.22"] {
            for repo in ["main", "community"] {
                out.append(
                    FeedSource(
                        name: "alpine-\(branch)-\(repo)", url: "https://secdb.alpinelinux.org/\(branch)/\(repo).json"))
            }
        }
        for eco in [
            "PyPI", "npm", "Go", "Maven", "crates.io", "RubyGems", "Packagist", "NuGet", "Debian", "Alpine", "Ubuntu",
        ] {
            out.append(
                FeedSource(name: "osv-\(eco)", url: "https://osv-vulnerabilities.storage.googleapis.com/\(eco)/all.zip")
            )
        }
        // Severities when the vendor has none, known exploitation, exploit probability.
        let year = Calendar(identifier: .gregorian).component(.year, from: Date())
        for y in 2002...max(2002, year) {
            out.append(
                FeedSource(name: "nvd-\(y)", url: "https://nvd.nist.gov/feeds/json/cve/2.0/nvdcve-2.0-\(y).json.gz"))
        }
        out.append(
            FeedSource(name: "nvd-modified", url: "https://nvd.nist.gov/feeds/json/cve/2.0/nvdcve-2.0-modified.json.gz")
        )
        out.append(
            FeedSource(
                name: "cisa-kev",
                url: "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"))
        out.append(FeedSource(name: "first-epss", url: "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"))
        return out
    }()
}

/// Downloads feeds into a cache directory, sending If-None-Match / If-Modified-Since from the last download.
public struct FeedDownloader {
    public struct Result: Sendable {
        public var source: FeedSource
        public var path: String
        public var notModified: Bool
        public var bytes: Int64
    }

    public let cacheDirectory: String
    public var logger: Logger

    public init(cacheDirectory: String, logger: Logger = .harden) {
        self.cacheDirectory = cacheDirectory
        self.logger = logger
    }

    public static func defaultCacheDirectory() -> String {
        let db = VulnerabilityDatabase.defaultPath()
        return HostFS.split(db).0 + "/feeds"
    }

    struct Meta: Codable {
        var etag: String?
        var lastModified: String?
        var url: String
    }

    public func download(
        _ sources: [FeedSource], progress: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws -> [Result] {
        try HostFS.makeDirectories(cacheDirectory)
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        var results: [Result] = []
        do {
            for source in sources {
                results.append(try await fetch(source, client: client, progress: progress))
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
        return results
    }

    private func fetch(
        _ source: FeedSource, client: HTTPClient, progress: @escaping @Sendable (String) -> Void
    ) async throws -> Result {
        let path = cacheDirectory + "/" + source.name
        let metaPath = path + ".meta.json"
        let meta = (try? HostFS.readFile(metaPath)).flatMap { try? JSONDecoder().decode(Meta.self, from: Data($0)) }
        var request = HTTPClientRequest(url: source.url)
        request.headers.add(name: "User-Agent", value: "harden/\(hardenToolVersion)")
        if let meta, meta.url == source.url, HostFS.isRegularFile(path) {
            if let e = meta.etag { request.headers.add(name: "If-None-Match", value: e) }
            if let m = meta.lastModified { request.headers.add(name: "If-Modified-Since", value: m) }
        }
        return try await HTTPRetry.run(source.url) { attempt in
            let response = try await client.execute(request, timeout: .seconds(600))
            if response.status == .notModified {
                progress("\(source.name): not modified")
                return Result(source: source, path: path, notModified: true, bytes: (try? HostFS.fileSize(path)) ?? 0)
            }
            if (response.status == .tooManyRequests || response.status.code >= 500) && attempt < 4 {
                throw HTTPRetry.Again()
            }
            guard response.status == .ok else {
                throw HardenError(
                    response.status == .notFound ? .notFound : .io,
                    "\(source.url): HTTP \(response.status.code) \(response.status.reasonPhrase)")
            }
            let tmp = HostFS.temporarySibling(of: path)
            let out = FileWriter(descriptor: try FileDescriptor.create(tmp, mode: 0o644, exclusive: true))
            var total: Int64 = 0
            do {
                for try await chunk in response.body {
                    try chunk.withUnsafeReadableBytes { try out.write($0) }
                    total += Int64(chunk.readableBytes)
                    if total > 4 << 30 { throw HardenError(.limitExceeded, "\(source.url): more than 4 GiB") }
                }
                try out.finish()
                try out.fd.sync()
                try HostFS.rename(tmp, path)
            } catch {
                unlink(tmp)
                throw error
            }
            let newMeta = Meta(
                etag: response.headers.first(name: "ETag"), lastModified: response.headers.first(name: "Last-Modified"),
                url: source.url
            )
            try HostFS.writeFileAtomically(metaPath, Array(try JSONEncoder().encode(newMeta)))
            progress("\(source.name): downloaded \(total) bytes")
            return Result(source: source, path: path, notModified: false, bytes: total)
        }
    }
}

/// `harden db update` and the fleet server's feed updater: download the feeds (cached next to the database,
/// revalidated), parse them and import them into the database atomically.
public enum FeedUpdate {
    public static func run(
        database path: String, sources: [FeedSource] = FeedSource.defaults, logger: Logger,
        onLine: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws -> [VulnerabilityDatabase.ImportSummary] {
        let cache = HostFS.split(HostFS.absolute(path)).0 + "/feeds"
        let results = try await FeedDownloader(cacheDirectory: cache, logger: logger).download(
            sources, progress: onLine)
        var parsed: [ParsedFeed] = []
        for r in results { parsed += try FeedParser.load(r.path) }
        return try VulnerabilityDatabase.importFeeds(parsed, into: path)
    }
}

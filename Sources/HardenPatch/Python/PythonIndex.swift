// harden — a Python package index through its JSON Simple API (PEP 691, sizes and versions from PEP 700, core
// metadata from PEP 658/714): the releases of a project, their files and hashes, and a wheel's METADATA without
// downloading the wheel.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenSystem

/// One file a project's index page lists.
public struct PythonIndexFile: Sendable, Decodable {
    public var filename: String
    public var url: String
    public var hashes: [String: String]
    public var requiresPython: String?
    public var yanked: Bool
    public var size: Int64?
    /// The SHA-256 of the file's core metadata when the index serves it at `url + ".metadata"`.
    public var metadataSHA256: String?
    public var hasMetadata: Bool

    enum CodingKeys: String, CodingKey {
        case filename, url, hashes, size, yanked
        case requiresPython = "requires-python"
        case coreMetadata = "core-metadata"
        case distInfoMetadata = "data-dist-info-metadata"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        filename = try c.decode(String.self, forKey: .filename)
        url = try c.decode(String.self, forKey: .url)
        hashes = (try? c.decode([String: String].self, forKey: .hashes)) ?? [:]
        requiresPython = try? c.decodeIfPresent(String.self, forKey: .requiresPython)
        size = try? c.decodeIfPresent(Int64.self, forKey: .size)
        // `yanked` is false or a reason string.
        yanked = (try? c.decode(Bool.self, forKey: .yanked)) ?? ((try? c.decode(String.self, forKey: .yanked)) != nil)
        var meta: [String: String]?
        var flag = false
        for key in [CodingKeys.coreMetadata, .distInfoMetadata] where meta == nil && !flag {
            if let m = try? c.decode([String: String].self, forKey: key) {
                meta = m
            } else if let b = try? c.decode(Bool.self, forKey: key) {
                flag = b
            }
        }
        metadataSHA256 = meta?["sha256"]
        hasMetadata = meta != nil || flag
    }
}

/// A project's index page.
public struct PythonProject: Sendable, Decodable {
    public var name: String
    public var files: [PythonIndexFile]
    public var versions: [String]?
}

/// Reads projects and files from one index (`https://pypi.org/simple` by default); pages and metadata are kept for
/// the client's life, wheels go to the shared download cache by their SHA-256.
public final class PythonIndex: @unchecked Sendable {
    public static let pypi = "https://pypi.org/simple"
    let base: String
    let client: AptClient
    /// Pages and metadata, kept for the run (a verified-upgrade bisection patches the same image several times).
    let cache: LibraryPatchCache

    public init(url: String = PythonIndex.pypi, client: AptClient, cache: LibraryPatchCache = LibraryPatchCache()) {
        base = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.client = client
        self.cache = cache
    }

    /// The project's page (nil when the index does not have it).
    public func project(_ name: String) async throws -> PythonProject? {
        let key = base + "/" + PythonRequirement.normalize(name)
        if let p = cache.get("pypi-project " + key, as: PythonProject.self) { return p }
        let url = key + "/"
        let bytes: [UInt8]
        do {
            bytes = try await client.get(
                url, limit: 64 << 20, headers: [("Accept", "application/vnd.pypi.simple.v1+json")])
        } catch let e as HardenError where e.code == .notFound {
            return nil
        }
        var project: PythonProject
        do {
            project = try JSONDecoder().decode(PythonProject.self, from: Data(bytes))
        } catch {
            throw HardenError(.corrupt, "\(url): not a PEP 691 JSON project page (\(error))")
        }
        for i in project.files.indices { project.files[i].url = Self.resolve(project.files[i].url, against: url) }
        cache.set("pypi-project " + key, project)
        return project
    }

    /// A file's METADATA (PEP 658), its hash checked when the index gives one.
    public func metadata(of file: PythonIndexFile) async throws -> [UInt8] {
        if let m = cache.get("pypi-metadata " + file.url, as: [UInt8].self) { return m }
        guard file.hasMetadata else {
            // No PEP 658 file: the wheel itself (verified, cached), its .dist-info/METADATA.
            let zip = try ZipArchive(try HostFS.readFile(try await download(file), limit: 1 << 30))
            guard
                let entry = zip.entries.first(where: {
                    let parts = $0.name.split(separator: "/")
                    return parts.count == 2 && parts[0].hasSuffix(".dist-info") && parts[1] == "METADATA"
                })
            else { throw HardenError(.corrupt, "\(file.filename): no .dist-info/METADATA in the wheel") }
            let bytes = try zip.read(entry, budget: InflationBudget(limit: 16 << 20))
            cache.set("pypi-metadata " + file.url, bytes)
            return bytes
        }
        let url = file.url + ".metadata"
        let bytes = try await client.get(url, limit: 16 << 20)
        if let want = file.metadataSHA256, Digest.sha256(of: bytes).encoded != want.lowercased() {
            throw HardenError(.corrupt, "\(url): SHA256 differs from the index's core-metadata hash")
        }
        cache.set("pypi-metadata " + file.url, bytes)
        return bytes
    }

    /// Downloads a file into the cache, checked against the index's SHA-256 (and size when given); its path.
    public func download(_ file: PythonIndexFile) async throws -> String {
        guard let sha = file.hashes["sha256"]?.lowercased() else {
            throw HardenError(.unsupported, "\(file.url): the index gives no SHA-256 for \(file.filename)")
        }
        if let size = file.size { return try await client.fetchVerified(file.url, sha256: sha, size: size) }
        let path = client.cacheDirectory + "/by-hash/" + sha
        if HostFS.isRegularFile(path) { return path }
        let bytes = try await client.get(file.url, limit: 1 << 30)
        let got = Digest.sha256(of: bytes).encoded
        guard got == sha else { throw HardenError(.corrupt, "\(file.url): SHA256 \(got), the index says \(sha)") }
        try HostFS.makeDirectories(client.cacheDirectory + "/by-hash")
        try HostFS.writeFileAtomically(path, bytes)
        return path
    }

    /// An absolute URL for `href` found on the page at `page`.
    static func resolve(_ href: String, against page: String) -> String {
        if href.contains("://") { return href }
        guard let schemeEnd = page.range(of: "://") else { return href }
        if href.hasPrefix("/") {
            let hostEnd = page[schemeEnd.upperBound...].firstIndex(of: "/") ?? page.endIndex
            return String(page[..<hostEnd]) + href
        }
        let dir = page.hasSuffix("/") ? page : String(page[...(page.lastIndex(of: "/") ?? page.endIndex)])
        var parts = dir.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        parts.removeLast()
        for seg in href.split(separator: "/", omittingEmptySubsequences: false) {
            if seg == ".." {
                if parts.count > 3 { parts.removeLast() }
            } else if seg != "." {
                parts.append(String(seg))
            }
        }
        return parts.joined(separator: "/")
    }
}

// harden — a Maven repository (Maven Central's layout): an artifact's versions from maven-metadata.xml, its jar
// checked against the repository's published checksum (.sha512, else .sha256, else .sha1; MD5 alone is refused), and
// the direct dependencies its pom declares.
import Crypto
import Foundation
import HardenCore
import HardenPackages

/// `group:artifact` coordinates.
public struct MavenCoordinates: Hashable, Sendable, CustomStringConvertible {
    public var group: String
    public var artifact: String
    public init(group: String, artifact: String) {
        self.group = group
        self.artifact = artifact
    }
    public var description: String { group + ":" + artifact }

    /// From `pkg:maven/GROUP/ARTIFACT@VERSION` (percent-encoding decoded); nil for other purls.
    public init?(purl: String) {
        guard purl.hasPrefix("pkg:maven/") else { return nil }
        var rest = purl.dropFirst("pkg:maven/".count)
        if let q = rest.firstIndex(where: { $0 == "@" || $0 == "?" || $0 == "#" }) { rest = rest[..<q] }
        let parts = rest.split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) }
        guard parts.count == 2 else { return nil }
        self.init(group: parts[0], artifact: parts[1])
    }
    /// `org/apache/commons/commons-text`: where the repository keeps it.
    var path: String { group.split(separator: ".").joined(separator: "/") + "/" + artifact }

    /// Ids Maven accepts (letters, digits, `.`, `-`, `_`): nothing else reaches a URL.
    public var isValid: Bool {
        func ok(_ s: String) -> Bool {
            !s.isEmpty && !s.hasPrefix(".") && !s.contains("..")
                && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") }
        }
        return ok(group) && ok(artifact)
    }
}

/// A dependency a pom declares.
public struct MavenDependency: Equatable, Sendable {
    public var coordinates: MavenCoordinates
    public var scope: String
    public var optional: Bool
    /// Needed at run time: compile or runtime scope, not optional.
    public var isRuntime: Bool { !optional && (scope == "compile" || scope == "runtime") }
}

public final class MavenRepository: @unchecked Sendable {
    public static let central = "https://repo.maven.apache.org/maven2"
    let base: String
    let client: AptClient
    let cache: LibraryPatchCache

    public init(
        url: String = MavenRepository.central, client: AptClient, cache: LibraryPatchCache = LibraryPatchCache()
    ) {
        base = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.client = client
        self.cache = cache
    }

    /// `url`'s bytes, checked by `verify` when given, fetched once per run.
    func fetch(_ url: String, limit: Int, verified: Bool) async throws -> [UInt8] {
        if let b = cache.get("maven " + url, as: [UInt8].self) { return b }
        let bytes = try await client.get(url, limit: limit)
        if verified { try await verify(bytes, url: url) }
        cache.set("maven " + url, bytes)
        return bytes
    }

    func url(_ c: MavenCoordinates, _ version: String, _ ext: String) -> String {
        "\(base)/\(c.path)/\(version)/\(c.artifact)-\(version).\(ext)"
    }

    /// Every release the repository lists for `c` (nil when it has no such artifact).
    public func versions(_ c: MavenCoordinates) async throws -> [String]? {
        let url = "\(base)/\(c.path)/maven-metadata.xml"
        do {
            return try Self.parseMetadata(try await fetch(url, limit: 32 << 20, verified: false), source: url)
        } catch let e as HardenError where e.code == .notFound {
            return nil
        }
    }

    /// `/metadata/versioning/versions/version`, in document order, well-formed versions only.
    public static func parseMetadata(_ bytes: [UInt8], source: String) throws -> [String] {
        var out: [String] = []
        let complete = try elements(bytes, source: source) { path, text in
            guard path == ["metadata", "versioning", "versions", "version"] else { return }
            let v = text.trimming(" \t\r\n")
            if !v.isEmpty, !v.contains("/"), !v.contains(".."), v.allSatisfy({ !$0.isWhitespace }) { out.append(v) }
        }
        guard complete else { throw HardenError(.corrupt, "\(source): not Maven metadata") }
        return out
    }

    /// Calls `element` with each element's path and text as it ends; whether every element ended.
    static func elements(
        _ bytes: [UInt8], source: String, _ element: ([String], String) -> Void
    ) throws -> Bool {
        var path: [String] = []
        var text = ""
        try XMLReader.read(bytes, source: source) { event in
            switch event {
            case .start(let name, _, let selfClosing):
                if !selfClosing { path.append(name) }
                text = ""
            case .text(let t): text += t
            case .end:
                element(path, text)
                path.removeLast()
                text = ""
            }
        }
        return path.isEmpty
    }

    /// The jar of `c` at `version`, checked against the strongest checksum the repository publishes.
    public func jar(_ c: MavenCoordinates, _ version: String) async throws -> (bytes: [UInt8], url: String) {
        let url = url(c, version, "jar")
        return (try await fetch(url, limit: 512 << 20, verified: true), url)
    }

    /// Checks `bytes` against `url.sha512`, `.sha256` or `.sha1`, the first the repository has.
    func verify(_ bytes: [UInt8], url: String) async throws {
        for ext in ["sha512", "sha256", "sha1"] {
            let sum: [UInt8]
            do {
                sum = try await client.get(url + "." + ext, limit: 4096)
            } catch let e as HardenError where e.code == .notFound {
                continue
            }
            let want = String(decoding: sum, as: UTF8.self).split(whereSeparator: \.isWhitespace).first
                .map { $0.lowercased() }
            let got: String
            switch ext {
            case "sha512": got = Hex.encode(SHA512.hash(data: bytes))
            case "sha256": got = Hex.encode(SHA256.hash(data: bytes))
            default: got = Hex.encode(Insecure.SHA1.hash(data: bytes))
            }
            guard want == got else {
                throw HardenError(.corrupt, "\(url): does not match its published \(ext) \(want ?? "(empty)")")
            }
            return
        }
        throw HardenError(.unsupported, "\(url): the repository publishes no SHA-1, SHA-256 or SHA-512 checksum")
    }

    /// The dependencies the pom of `c` at `version` declares (nil when it has none published).
    public func dependencies(_ c: MavenCoordinates, _ version: String) async throws -> [MavenDependency]? {
        let url = url(c, version, "pom")
        do {
            return try Self.parseDependencies(
                try await fetch(url, limit: 16 << 20, verified: true), project: c, source: url)
        } catch let e as HardenError where e.code == .notFound {
            return nil
        }
    }

    /// `/project/dependencies/dependency` (not those under dependencyManagement or profiles); `${project.groupId}`
    /// and friends resolved to `project`'s group; a dependency whose ids stay unresolved is left out.
    public static func parseDependencies(
        _ bytes: [UInt8], project: MavenCoordinates, source: String
    ) throws -> [MavenDependency] {
        var current: [String: String] = [:]
        var out: [MavenDependency] = []
        func resolve(_ s: String?) -> String? {
            switch s {
            case "${project.groupId}", "${pom.groupId}", "${groupId}": return project.group
            case let v? where !v.contains("${") && !v.isEmpty: return v
            default: return nil
            }
        }
        _ = try elements(bytes, source: source) { path, text in
            if path.count == 4 && path.prefix(3) == ["project", "dependencies", "dependency"] {
                current[path[3]] = text.trimming(" \t\r\n")
            }
            guard path == ["project", "dependencies", "dependency"] else { return }
            if let g = resolve(current["groupId"]), let a = resolve(current["artifactId"]) {
                out.append(
                    MavenDependency(
                        coordinates: MavenCoordinates(group: g, artifact: a),
                        scope: current["scope"].flatMap { $0.isEmpty ? nil : $0 } ?? "compile",
                        optional: current["optional"] == "true"))
            }
            current = [:]
        }
        return out
    }
}

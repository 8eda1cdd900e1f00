// harden — registry image references: `HOST[:PORT]/REPO[:TAG|@DIGEST]`, with Docker Hub's defaults.
import HardenCore
import HardenOCI

public struct RegistryReference: Sendable, Hashable, CustomStringConvertible {
    /// The registry host as used in URLs (`registry-1.docker.io` for Docker Hub).
    public var host: String
    public var repository: String
    public var tag: String?
    public var digest: Digest?

    /// The tag or digest to ask for (`latest` when neither is given).
    public var reference: String { digest?.description ?? tag ?? "latest" }

    public var description: String {
        "\(host)/\(repository)" + (tag.map { ":\($0)" } ?? "") + (digest.map { "@\($0)" } ?? "")
    }

    public init(host: String, repository: String, tag: String?, digest: Digest?) {
        self.host = host
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    public static func parse(_ text: String) throws -> RegistryReference {
        var rest = Substring(text)
        var digest: Digest?
        if let at = rest.firstIndex(of: "@") {
            digest = try Digest(parsing: String(rest[rest.index(after: at)...]))
            rest = rest[..<at]
        }
        var tag: String?
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            tag = String(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
        }
        let parts = rest.split(separator: "/", maxSplits: 1).map(String.init)
        var host = "registry-1.docker.io"
        var repo = String(rest)
        if parts.count == 2, parts[0].contains(".") || parts[0].contains(":") || parts[0] == "localhost" {
            host = parts[0]
            repo = parts[1]
        }
        if host == "docker.io" || host == "index.docker.io" { host = "registry-1.docker.io" }
        if host == "registry-1.docker.io" && !repo.contains("/") { repo = "library/" + repo }
        guard !repo.isEmpty, repo.allSatisfy({ $0.isLowercase || $0.isNumber || "._-/".contains($0) }) else {
            throw HardenError(
                .invalidArgument,
                "docker://\(text): invalid repository name \"\(repo)\" (lower-case letters, digits, . _ - /)")
        }
        if let tag, tag.isEmpty || tag.count > 128 {
            throw HardenError(.invalidArgument, "docker://\(text): invalid tag")
        }
        return RegistryReference(host: host, repository: repo, tag: tag, digest: digest)
    }
}

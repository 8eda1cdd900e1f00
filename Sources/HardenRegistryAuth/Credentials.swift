// harden — registry credentials: --creds, environment, ~/.docker/config.json.
import Foundation
import HardenCore
import HardenSystem

#if canImport(Glibc)
import Glibc
#endif

public struct Credentials: Sendable, Hashable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// `USER:PASS`.
    public init(parsing text: String) throws {
        guard let colon = text.firstIndex(of: ":") else {
            throw HardenError(.invalidArgument, "--creds: expected USER:PASS")
        }
        self.init(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
    }

    /// A credentials file (see `RegistryCredentials.parse`), or standard input for `-`.
    public static func read(file: String) throws -> RegistryCredentials {
        var bytes: [UInt8]
        if file == "-" {
            bytes = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while bytes.count <= 64 << 10 {
                let n = Glibc.read(0, &buffer, buffer.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                bytes += buffer[0..<n]
            }
        } else {
            bytes = try HostFS.readFile(file, limit: 64 << 10)
        }
        return try RegistryCredentials.parse(bytes, source: file == "-" ? "standard input" : file)
    }

    public var basicHeader: String { "Basic " + Data("\(username):\(password)".utf8).base64EncodedString() }

    /// `auths` of `$DOCKER_CONFIG/config.json` or `~/.docker/config.json` for `host` (per host by construction).
    public static func dockerConfig(host: String) -> Credentials? {
        let dir =
            getenv("DOCKER_CONFIG").map { String(cString: $0) }
            ?? ((getenv("HOME").map { String(cString: $0) } ?? "/root") + "/.docker")
        guard let bytes = try? HostFS.readFile(dir + "/config.json", limit: 1 << 20) else { return nil }
        return RegistryCredentials.fromDockerConfig(bytes)?[RegistryCredentials.normalize(host)]
    }
}

/// Which credentials go to which registry. Credentials are bound to a host: a `HOST[:PORT] USER:PASS` line, a
/// `config.json` entry, or `HARDEN_REGISTRY_HOST` with `HARDEN_REGISTRY_USER`/`PASSWORD`. Only the CLI's own
/// `--creds USER:PASS` (or a one-line `USER:PASS` file, or the user/password variables without a host) applies to
/// whichever registry that command talks to — the registries its user named on the command line; a worker
/// (`hostScopedOnly`) refuses those, since its jobs name the registries.
public struct RegistryCredentials: Sendable, Hashable {
    public var byHost: [String: Credentials] = [:]
    public var anyHost: Credentials?
    /// Also look in the environment and the docker config file.
    public var ambient = true
    public var hostScopedOnly = false

    public init(
        byHost: [String: Credentials] = [:], anyHost: Credentials? = nil, ambient: Bool = true,
        hostScopedOnly: Bool = false
    ) {
        self.byHost = byHost
        self.anyHost = anyHost
        self.ambient = ambient
        self.hostScopedOnly = hostScopedOnly
    }

    /// A registry host as references resolve it: lower case, Docker Hub's aliases as `registry-1.docker.io`.
    public static func normalize(_ host: String) -> String {
        var h = host.lowercased()
        for prefix in ["https://", "http://"] where h.hasPrefix(prefix) { h.removeFirst(prefix.count) }
        if let slash = h.firstIndex(of: "/") { h = String(h[..<slash]) }
        if h == "docker.io" || h == "index.docker.io" { h = "registry-1.docker.io" }
        return h
    }

    /// The credentials for `host`, or nil: never another host's.
    public func credentials(for host: String) -> Credentials? {
        let h = Self.normalize(host)
        if let c = byHost[h] { return c }
        if !hostScopedOnly, let anyHost { return anyHost }
        guard ambient else { return nil }
        let env = ProcessInfo.processInfo.environment
        if let u = env["HARDEN_REGISTRY_USER"], let p = env["HARDEN_REGISTRY_PASSWORD"] {
            if let scoped = env["HARDEN_REGISTRY_HOST"] {
                if Self.normalize(scoped) == h { return Credentials(username: u, password: p) }
            } else if !hostScopedOnly {
                return Credentials(username: u, password: p)
            }
        }
        return Credentials.dockerConfig(host: h)
    }

    /// A credentials file: `HOST[:PORT] USER:PASS` lines (`#` comments), a docker `config.json`, or — for the CLI —
    /// one `USER:PASS` line that applies to the command's own registries.
    public static func parse(_ bytes: [UInt8], source: String) throws -> RegistryCredentials {
        if bytes.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) == UInt8(ascii: "{") {
            guard let byHost = fromDockerConfig(bytes) else {
                throw HardenError(.corrupt, "\(source): not a docker config.json with \"auths\"")
            }
            return RegistryCredentials(byHost: byHost)
        }
        let lines = String(decoding: bytes, as: UTF8.self).textLines().map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        if lines.count == 1, !lines[0].contains(" "), !lines[0].contains("\t") {
            guard let c = try? Credentials(parsing: lines[0]) else {
                throw HardenError(.invalidArgument, "\(source): expected USER:PASS or HOST USER:PASS lines")
            }
            return RegistryCredentials(anyHost: c)
        }
        var out = RegistryCredentials()
        for (n, line) in lines.enumerated() {
            let parts = line.split(maxSplits: 1, whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard parts.count == 2, let c = try? Credentials(parsing: parts[1].trimmingCharacters(in: .whitespaces))
            else {
                throw HardenError(.invalidArgument, "\(source): line \(n + 1): expected HOST[:PORT] USER:PASS")
            }
            out.byHost[normalize(parts[0])] = c
        }
        return out
    }

    /// `auths` of a docker `config.json`: host → credentials (`auth` base64 or `username`/`password`).
    static func fromDockerConfig(_ bytes: [UInt8]) -> [String: Credentials]? {
        guard let json = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let auths = json["auths"] as? [String: Any]
        else { return nil }
        var out: [String: Credentials] = [:]
        for (key, value) in auths {
            guard let entry = value as? [String: Any] else { continue }
            let host = key == "https://index.docker.io/v1/" ? "registry-1.docker.io" : normalize(key)
            if let auth = entry["auth"] as? String, let data = Data(base64Encoded: auth),
                let text = String(data: data, encoding: .utf8),
                let c = try? Credentials(parsing: text)
            {
                out[host] = c
            } else if let u = entry["username"] as? String, let p = entry["password"] as? String {
                out[host] = Credentials(username: u, password: p)
            }
        }
        return out
    }
}

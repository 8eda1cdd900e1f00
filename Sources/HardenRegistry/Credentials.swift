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
        guard let colon = text.firstIndex(of: ":") else { throw HardenError(.invalidArgument, "--creds: expected USER:PASS") }
        self.init(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
    }

    /// `USER:PASS` from a file, or from standard input for `-` (the first line; a trailing newline is ignored).
    public static func read(file: String) throws -> Credentials {
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
        let line = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).first ?? []
        var text = String(decoding: line, as: UTF8.self)
        if text.hasSuffix("\r") { text.removeLast() }
        do { return try Credentials(parsing: text) } catch {
            throw HardenError(
                .invalidArgument, "\(file == "-" ? "standard input" : file): --creds-file: expected USER:PASS on the first line")
        }
    }

    var basicHeader: String { "Basic " + Data("\(username):\(password)".utf8).base64EncodedString() }

    /// Credentials for `host`: `HARDEN_REGISTRY_USER`/`HARDEN_REGISTRY_PASSWORD`, else `auths` in
    /// `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
    public static func lookup(host: String) -> Credentials? {
        if let u = getenv("HARDEN_REGISTRY_USER"), let p = getenv("HARDEN_REGISTRY_PASSWORD") {
            return Credentials(username: String(cString: u), password: String(cString: p))
        }
        let dir =
            getenv("DOCKER_CONFIG").map { String(cString: $0) } ?? ((getenv("HOME").map { String(cString: $0) } ?? "/root") + "/.docker")
        guard let bytes = try? HostFS.readFile(dir + "/config.json", limit: 1 << 20),
            let json = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let auths = json["auths"] as? [String: Any]
        else { return nil }
        let keys = [host, "https://\(host)", "http://\(host)", host == "registry-1.docker.io" ? "https://index.docker.io/v1/" : host]
        for k in keys {
            guard let entry = auths[k] as? [String: Any] else { continue }
            if let auth = entry["auth"] as? String, let data = Data(base64Encoded: auth), let text = String(data: data, encoding: .utf8),
                let c = try? Credentials(parsing: text)
            {
                return c
            }
            if let u = entry["username"] as? String, let p = entry["password"] as? String { return Credentials(username: u, password: p) }
        }
        return nil
    }
}

// harden — credentials for private package indexes (`--library-creds-file`): `HOST[:PORT] USER:PASS` lines (Basic)
// or `HOST[:PORT] Bearer TOKEN` lines, `#` comments. Each goes only to its own host and port (the scheme's default
// port when none is named), over HTTPS — plain HTTP only to a loopback address — never to a URL with user
// information; the operator names the file, nothing is read from the environment.
import Foundation
import HardenCore
import HardenRegistryAuth
import HardenSystem

public struct IndexCredentials: Sendable, Hashable {
    /// `host` or `host:port` (lower case) → the Authorization header's value.
    var byEndpoint: [String: String] = [:]

    public init(parsing bytes: [UInt8], source: String) throws {
        let lines = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
        for (n, raw) in lines.enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            let value: String
            if parts.count == 3, parts[1].lowercased() == "bearer", !parts[2].isEmpty {
                value = "Bearer " + parts[2]
            } else if parts.count == 2, let colon = parts[1].firstIndex(of: ":"), colon != parts[1].startIndex {
                value = "Basic " + Data(parts[1].utf8).base64EncodedString()
            } else {
                throw HardenError(
                    .invalidArgument,
                    "\(source): line \(n + 1): expected HOST[:PORT] USER:PASS or HOST[:PORT] Bearer TOKEN")
            }
            let endpoint = parts[0].lowercased()
            guard !endpoint.contains("/"), !endpoint.contains("@"), !endpoint.isEmpty else {
                throw HardenError(.invalidArgument, "\(source): line \(n + 1): \(parts[0]) is not HOST[:PORT]")
            }
            byEndpoint[endpoint] = value
        }
    }

    /// A credentials file (at most 64 KiB).
    public static func read(file: String) throws -> IndexCredentials {
        try IndexCredentials(parsing: try HostFS.readFile(file, limit: 64 << 10), source: file)
    }

    /// The Authorization header for `url`, nil when no credentials are bound to its origin; throws when some are but
    /// the URL would carry them in the clear.
    public func authorization(for url: String) throws -> String? {
        guard let o = URLOrigin.parse(url), !o.hasUserInfo else { return nil }
        let defaultPort = o.scheme == "https" ? 443 : 80
        let value = byEndpoint["\(o.host):\(o.port)"] ?? (o.port == defaultPort ? byEndpoint[o.host] : nil)
        guard let value else { return nil }
        let loopback = ["127.0.0.1", "localhost", "[::1]", "::1"].contains(o.host)
        guard o.scheme == "https" || loopback else {
            throw HardenError(
                .invalidArgument, "\(url): credentials for \(o.host) are sent over HTTPS only, not plain HTTP")
        }
        return value
    }
}

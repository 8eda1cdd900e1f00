// harden — `postgres://user:password@host:port/database?sslmode=…` (or `?host=/socket/dir`) → a client configuration.
import Foundation
import HardenCore
import HardenPackages
import NIOSSL
import PostgresNIO

public enum PostgresURL {
    /// Parses a libpq-style URL. `sslmode`: disable, prefer (default), require. A `host` query parameter naming a
    /// directory selects the Unix socket `DIR/.s.PGSQL.PORT`.
    public static func configuration(_ url: String) throws -> PostgresClient.Configuration {
        guard let c = URLComponents(string: url), c.scheme == "postgres" || c.scheme == "postgresql" else {
            throw HardenError(.invalidArgument, "--database: not a postgres:// URL: \(redacted(url))")
        }
        let query = Dictionary((c.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, b in b })
        let user =
            c.user?.removingPercentEncoding ?? query["user"] ?? ProcessInfo.processInfo.environment["PGUSER"]
            ?? "postgres"
        let password =
            c.password?.removingPercentEncoding ?? query["password"]
            ?? ProcessInfo.processInfo.environment["PGPASSWORD"]
        var database = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        if database.isEmpty { database = user }
        let port = c.port ?? Int(query["port"] ?? "") ?? 5432
        if let dir = query["host"], dir.hasPrefix("/") {
            return PostgresClient.Configuration(
                unixSocketPath: "\(dir)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        }
        let tls: PostgresClient.Configuration.TLS
        switch query["sslmode"] ?? "prefer" {
        case "disable": tls = .disable
        case "prefer", "allow": tls = .prefer(.makeClientConfiguration())
        case "require", "verify-ca", "verify-full": tls = .require(.makeClientConfiguration())
        case let other:
            throw HardenError(.invalidArgument, "--database: sslmode \(other) is not one of disable, prefer, require")
        }
        return PostgresClient.Configuration(
            host: c.host?.isEmpty == false ? c.host! : "localhost", port: port, username: user, password: password,
            database: database, tls: tls)
    }

    /// The URL with its password replaced, for messages.
    public static func redacted(_ url: String) -> String {
        guard var c = URLComponents(string: url), c.password != nil else { return url }
        c.password = "***"
        return c.string ?? url
    }
}

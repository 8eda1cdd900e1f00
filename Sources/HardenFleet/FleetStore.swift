// harden — the fleet's one shared store and queue: PostgreSQL through PostgresNIO.
import Crypto
import Foundation
import HardenCore
import HardenPackages
import HardenSBOM
import HardenVulnDB
import Logging
import PostgresNIO

/// The store: images, packages (indexed by the matcher's lookup keys), findings with history, jobs, tokens.
/// Every method is one statement or one transaction; the class holds no state beyond the connection pool.
public final class FleetStore: Sendable {
    public let client: PostgresClient
    public let logger: Logger

    init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Connects (a pool of `connections`), applies pending migrations, runs `body`, then closes the pool.
    /// `firstAnswer`: how long the first query may take (the pool retries a refused connection for ever).
    public static func with<T: Sendable>(
        url: String, connections: Int = 8, logger: Logger, migrate: Bool = true, firstAnswer: Duration = .seconds(15),
        _ body: @Sendable (FleetStore) async throws -> T
    ) async throws -> T {
        var configuration = try PostgresURL.configuration(url)
        configuration.options.maximumConnections = max(1, connections)
        configuration.options.connectTimeout = .seconds(10)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let store = FleetStore(client: client, logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            do {
                try await store.ping(url: url, within: firstAnswer)
                if migrate { try await store.migrate() }
                return try await body(store)
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }

    func ping(url: String, within limit: Duration) async throws {
        do {
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    _ = try await self.client.query("SELECT 1", logger: self.logger).collect()
                    return true
                }
                group.addTask {
                    try await Task.sleep(for: limit)
                    return false
                }
                let answered = try await group.next() ?? false
                group.cancelAll()
                if !answered { throw HardenError(.io, "no answer in \(limit.components.seconds) s") }
            }
        } catch {
            throw HardenError(
                .io, "\(PostgresURL.redacted(url)): cannot connect to PostgreSQL: \(Self.describe(error))", cause: error
            )
        }
    }

    /// A PostgreSQL error as one line: the server's message when there is one.
    /// A transaction whose closure's own error is what the caller sees (not PostgresNIO's wrapper).
    public func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger) { c in try await body(c) }
        } catch let e as PostgresTransactionError {
            throw e.closureError ?? e
        }
    }

    public static func describe(_ error: any Error) -> String {
        if let e = error as? HardenError { return e.message }
        if let e = error as? PSQLError {
            if let m = e.serverInfo?[.message] { return m }
            return String(describing: e.code)
        }
        if let e = error as? PostgresTransactionError {
            return describe(e.closureError ?? e.commitError ?? e.beginError ?? e.rollbackError ?? error)
        }
        return String(describing: error)
    }

    // MARK: migrations

    /// Applies the migrations not yet applied, each in its own transaction, under an advisory lock so that servers
    /// and workers starting together apply each once.
    public func migrate() async throws {
        try await transaction { c in
            try await c.query("SELECT pg_advisory_xact_lock(7311001)", logger: self.logger)
            try await c.query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                logger: self.logger)
            var applied = Set<Int>()
            for try await v in try await c.query("SELECT version FROM schema_migrations", logger: self.logger).decode(
                Int.self)
            {
                applied.insert(v)
            }
            if let newest = applied.max(), newest > (FleetSchema.migrations.last?.version ?? 0) {
                throw HardenError(
                    .unsupported,
                    "the fleet database has schema version \(newest); this harden knows up to \(FleetSchema.migrations.last?.version ?? 0)"
                )
            }
            for m in FleetSchema.migrations where !applied.contains(m.version) {
                for s in m.statements { try await c.query(PostgresQuery(unsafeSQL: s), logger: self.logger) }
                try await c.query("INSERT INTO schema_migrations (version) VALUES (\(m.version))", logger: self.logger)
                self.logger.info("fleet database: migration \(m.version) applied")
            }
        }
    }

    public func schemaVersion() async throws -> Int {
        var v = 0
        for try await n in try await client.query(
            "SELECT coalesce(max(version), 0) FROM schema_migrations", logger: logger
        ).decode(
            Int.self)
        {
            v = n
        }
        return v
    }

    // MARK: tokens

    public static func hash(token: String) -> String {
        Hex.encode(SHA256.hash(data: Data(token.utf8)))
    }

    /// Stores tokens (hashed) with their scopes; an existing token gets the new scope.
    /// Stores the tokens of the token file. With `replace`, the file is the whole truth: tokens it seeded before
    /// and no longer lists are removed (revoked).
    public func seedTokens(
        _ tokens: [(scope: TokenScope, token: String, name: String)], replace: Bool = false
    ) async throws {
        for t in tokens {
            let h = Self.hash(token: t.token)
            try await client.query(
                """
                INSERT INTO tokens (hash, scope, name, source) VALUES (\(h), \(t.scope.rawValue), \(t.name), 'file')
                ON CONFLICT (hash) DO UPDATE SET scope = EXCLUDED.scope, name = EXCLUDED.name
                """, logger: logger)
        }
        if replace {
            let keep = tokens.map { Self.hash(token: $0.token) }
            try await client.query(
                "DELETE FROM tokens WHERE source = 'file' AND NOT (hash = ANY(\(keep)::text[]))", logger: logger)
        }
    }

    /// The stored tokens: names, scopes, a short prefix of their hashes (never the tokens).
    public func listTokens() async throws -> [TokenInfo] {
        var out: [TokenInfo] = []
        let rows = try await client.query(
            "SELECT name, scope, hash, created_at FROM tokens ORDER BY name, hash", logger: logger)
        for try await (name, scope, hash, created) in rows.decode((String, String, String, Date).self) {
            out.append(TokenInfo(name: name, scope: scope, hashPrefix: String(hash.prefix(12)), createdAt: created))
        }
        return out
    }

    /// Removes the tokens named `name` (or whose hash starts with it, 12 characters at least); returns how many.
    public func revokeToken(named name: String) async throws -> Int {
        var n = 0
        let prefix = name.count >= 12 && name.allSatisfy(\.isHexDigit) ? name + "%" : ""
        let rows = try await client.query(
            "DELETE FROM tokens WHERE name = \(name) OR (\(prefix) <> '' AND hash LIKE \(prefix)) RETURNING hash",
            logger: logger)
        for try await _ in rows.decode(String.self) { n += 1 }
        return n
    }

    public func scope(ofTokenHash hash: String) async throws -> TokenScope? {
        for try await s in try await client.query("SELECT scope FROM tokens WHERE hash = \(hash)", logger: logger)
            .decode(String.self)
        {
            return TokenScope(rawValue: s)
        }
        return nil
    }

    public func tokenCount() async throws -> Int {
        try await count("SELECT count(*) FROM tokens")
    }

    func count(_ sql: String) async throws -> Int {
        for try await n in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self) {
            return n
        }
        return 0
    }

    // MARK: settings shared by server and workers

    /// The webhook rule, written by the server at start; workers read it when they record a rescan.
    public func setWebhookRule(_ rule: WebhookRule?) async throws {
        try await client.query(
            "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)", logger: logger)
        if let rule {
            try await client.query(
                "INSERT INTO settings VALUES ('webhook_rule', \(rule.description)) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                logger: logger)
        } else {
            try await client.query("DELETE FROM settings WHERE key = 'webhook_rule'", logger: logger)
        }
    }

    func webhookRule(_ c: PostgresConnection) async throws -> WebhookRule? {
        let exists = try await c.query("SELECT to_regclass('settings') IS NOT NULL", logger: logger).decode(Bool.self)
        for try await e in exists where !e { return nil }
        for try await v in try await c.query("SELECT value FROM settings WHERE key = 'webhook_rule'", logger: logger)
            .decode(String.self)
        {
            return try? WebhookRule(parsing: v)
        }
        return nil
    }
}

/// What a token may do: read < submit < admin.
public enum TokenScope: String, Codable, Sendable, CaseIterable, Comparable {
    case read, submit, admin

    public static func < (a: TokenScope, b: TokenScope) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// A token file: one `SCOPE TOKEN [NAME]` a line; `#` comments and blank lines skipped.
    public static func parseTokenFile(
        _ text: String, path: String
    ) throws -> [(scope: TokenScope, token: String, name: String)] {
        var out: [(scope: TokenScope, token: String, name: String)] = []
        for (n, line) in text.textLines().enumerated() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if fields.isEmpty || fields[0].hasPrefix("#") { continue }
            guard fields.count >= 2, let scope = TokenScope(rawValue: fields[0].lowercased()) else {
                throw HardenError(.corrupt, "\(path):\(n + 1): expected SCOPE TOKEN, with SCOPE read, submit or admin")
            }
            guard fields[1].count >= 16 else {
                throw HardenError(.invalidArgument, "\(path):\(n + 1): a token must have at least 16 characters")
            }
            out.append((scope, fields[1], fields.count > 2 ? fields[2...].joined(separator: " ") : "line \(n + 1)"))
        }
        return out
    }
}

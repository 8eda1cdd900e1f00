// harden — `harden serve`: the fleet's HTTP API, the vulnerability database's publisher and re-matcher, the
// lease reaper and the webhook sender. Stateless apart from PostgreSQL and the SQLite file it publishes.
import AsyncHTTPClient
import Foundation
import HardenCore
import HardenOCI
import HardenPackages
import HardenSystem
import HardenVulnDB
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO

public struct FleetServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// The vulnerability database the server publishes to workers and re-matches with.
    public var databasePath: String
    /// Run the feed update this often (nil: never; the file may be updated by someone else — it is watched).
    public var updateInterval: Duration?
    /// How often the file is checked for a new import.
    public var pollInterval: Duration = .seconds(10)
    public var webhook: String?
    public var webhookRule = WebhookRule(minimumSeverity: .critical, knownExploited: true)
    public var maxBody = 1 << 20
    /// How often expired leases are taken back.
    public var reapInterval: Duration = .seconds(5)
    /// A connection idle this long, or whose request takes longer than this to arrive, is closed.
    public var idleTimeout: Duration = .seconds(60)
    /// Jobs one token may have queued or running at once.
    public var submitQuota = 10_000

    public init(databasePath: String) { self.databasePath = databasePath }
}

/// The published vulnerability database: its bytes (one consistent copy) and its ETag.
actor Publication {
    var etag = ""
    var bytes: ByteBuffer?
    var stamp = ""
    var lastRematch: RematchResult?

    func set(etag: String, bytes: ByteBuffer, stamp: String, rematch: RematchResult?) {
        self.etag = etag
        self.bytes = bytes
        self.stamp = stamp
        if let rematch { lastRematch = rematch }
    }
}

/// Answers computed at a findings generation: valid until the generation moves (or 30 s, in case a writer died
/// between its commit and advancing the generation). Bounded by the bytes of the answers it holds: past
/// `maxBytes` the oldest entries go.
public actor AnswerCache {
    struct Entry {
        var generation: Int64
        var at: ContinuousClock.Instant
        var response: HTTPResponse
        var bytes: Int
    }
    var entries: [String: Entry] = [:]
    var bytes = 0
    let maxBytes: Int

    public init(maxBytes: Int = 32 << 20) { self.maxBytes = maxBytes }

    public func get(_ key: String, generation: Int64) -> HTTPResponse? {
        guard let e = entries[key], e.generation == generation, ContinuousClock.now - e.at < .seconds(30) else {
            return nil
        }
        return e.response
    }

    public func put(_ key: String, generation: Int64, _ response: HTTPResponse) {
        let size = response.body.readableBytes + key.utf8.count + 64
        guard size <= maxBytes / 4 else { return }
        if let old = entries.removeValue(forKey: key) { bytes -= old.bytes }
        while bytes + size > maxBytes, let oldest = entries.min(by: { $0.value.at < $1.value.at }) {
            bytes -= oldest.value.bytes
            entries.removeValue(forKey: oldest.key)
        }
        entries[key] = Entry(generation: generation, at: .now, response: response, bytes: size)
        bytes += size
    }

    /// The bytes held (`harden_answer_cache_bytes`).
    public var heldBytes: Int { bytes }
}

/// Token hashes → scopes, cached for 10 s (a token revoked on another server stops working within that).
actor TokenCache {
    var entries: [String: (TokenScope?, ContinuousClock.Instant)] = [:]

    func clear() { entries.removeAll() }

    func scope(_ hash: String, store: FleetStore) async throws -> TokenScope? {
        if let (s, at) = entries[hash], ContinuousClock.now - at < .seconds(10) { return s }
        let s = try await store.scope(ofTokenHash: hash)
        if entries.count > 10_000 { entries.removeAll() }
        entries[hash] = (s, .now)
        return s
    }
}

public final class FleetServer: Sendable {
    public let store: FleetStore
    public let configuration: FleetServerConfiguration
    let publication = Publication()
    let tokens = TokenCache()
    let answers = AnswerCache()
    let updater: (@Sendable () async throws -> Void)?
    let logger: Logger

    /// `updater` downloads and imports the feeds into `configuration.databasePath` (`harden db update`).
    public init(
        store: FleetStore, configuration: FleetServerConfiguration, updater: (@Sendable () async throws -> Void)?,
        logger: Logger
    ) {
        self.store = store
        self.configuration = configuration
        self.updater = updater
        self.logger = logger
    }

    /// Binds, publishes the database, then serves until cancelled. `ready` receives the bound port.
    public func run(ready: @Sendable (Int) -> Void = { _ in }) async throws {
        try await store.setWebhookRule(configuration.webhook == nil ? nil : configuration.webhookRule)
        try await refreshDatabase()
        let idle = configuration.idleTimeout.components
        let http = try await HTTPServer.bind(
            host: configuration.host, port: configuration.port,
            idleTimeout: .nanoseconds(idle.seconds * 1_000_000_000 + idle.attoseconds / 1_000_000_000))
        logger.info("harden serve: listening on \(configuration.host):\(http.port)")
        ready(http.port)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await http.serve(maxBody: self.configuration.maxBody, logger: self.logger) {
                    await self.respond($0)
                }
            }
            group.addTask {
                await self.every(self.configuration.reapInterval) { _ = try await self.store.requeueExpired() }
            }
            group.addTask { await self.every(self.configuration.pollInterval) { try await self.refreshDatabase() } }
            if let interval = configuration.updateInterval, let updater {
                group.addTask {
                    await self.every(interval) {
                        try await updater()
                        try await self.refreshDatabase()
                    }
                }
            }
            if let url = configuration.webhook {
                group.addTask { await self.every(.seconds(1)) { try await self.deliverWebhooks(url) } }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    func every(_ interval: Duration, _ body: @Sendable () async throws -> Void) async {
        while !Task.isCancelled {
            do { try await body() } catch is CancellationError { return } catch {
                logger.error("harden serve: \(FleetStore.describe(error))")
            }
            try? await Task.sleep(for: interval)
        }
    }

    // MARK: the vulnerability database

    /// Publishes the database file when it changed (size, mtime) and re-matches the stored packages its new
    /// advisories name. Returns the re-match, if one ran.
    @discardableResult
    public func refreshDatabase(force: Bool = false, everything: Bool = false) async throws -> RematchResult? {
        let path = configuration.databasePath
        guard let stamp = HostFS.changeStamp(path) else {
            if await publication.bytes == nil {
                logger.warning("harden serve: no vulnerability database at \(path) yet")
            }
            return nil
        }
        if !force, await publication.stamp == stamp { return nil }
        let bytes = try HostFS.readFile(path, limit: 1 << 34)
        let etag = Digest.sha256(of: bytes).description
        if !force, await publication.etag == etag {
            await publication.set(etag: etag, bytes: ByteBuffer(bytes: bytes), stamp: stamp, rematch: nil)
            return nil
        }
        // Re-match against the same bytes that are published: a copy, so a concurrent import cannot change them.
        let copy = path + ".published"
        try HostFS.writeFileAtomically(copy, bytes)
        let database = try VulnerabilityDatabase(readingAt: copy)
        let result = try await store.rematch(
            database: database, databaseDigest: etag,
            rule: configuration.webhook == nil ? nil : configuration.webhookRule,
            everything: everything)
        await publication.set(etag: etag, bytes: ByteBuffer(bytes: bytes), stamp: stamp, rematch: result)
        logger.info(
            "harden serve: database \(etag.prefix(19)) published; \(result.baseline ? "baseline" : "re-matched"): \(result.changedKeys) changed key(s), \(result.images) image(s), +\(result.newFindings) −\(result.resolvedFindings) finding(s) in \(String(format: "%.2f", result.seconds)) s"
        )
        return result
    }

    // MARK: webhooks

    /// Sends pending events, each once, retried with exponential backoff (1 s … 1 h), oldest first.
    func deliverWebhooks(_ url: String) async throws {
        let rows = try await store.client.query(
            """
            SELECT id, payload::text, attempts FROM webhook_events WHERE delivered_at IS NULL AND next_attempt <= now()
            ORDER BY id LIMIT 100
            """, logger: logger)
        var pending: [(Int64, String, Int)] = []
        for try await r in rows.decode((Int64, String, Int).self) { pending.append(r) }
        guard !pending.isEmpty else { return }
        for (id, payload, attempts) in pending {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "X-Harden-Event", value: "finding.new")
            request.headers.add(name: "X-Harden-Delivery", value: String(id))
            request.body = .bytes(ByteBuffer(string: payload))
            var failure: String?
            do {
                // Redirects are not followed (FleetHTTP.webhooks): a 3xx is a failed delivery, never a request elsewhere.
                let response = try await FleetHTTP.webhooks.execute(request, timeout: .seconds(10))
                if (300..<400).contains(Int(response.status.code)) {
                    failure = "HTTP \(response.status.code) (redirects are not followed)"
                } else if !(200..<300).contains(Int(response.status.code)) {
                    failure = "HTTP \(response.status.code)"
                }
                _ = try? await response.body.collect(upTo: 1 << 16)
            } catch {
                failure = String(describing: error)
            }
            if let failure {
                let delay = min(3600.0, pow(2.0, Double(attempts)))
                try await store.client.query(
                    """
                    UPDATE webhook_events SET attempts = attempts + 1, last_error = \(failure),
                        next_attempt = now() + make_interval(secs => \(delay)) WHERE id = \(id)
                    """, logger: logger)
                logger.warning("webhook \(url): event \(id) not delivered (\(failure)); retry in \(Int(delay)) s")
            } else {
                try await store.client.query(
                    "UPDATE webhook_events SET attempts = attempts + 1, delivered_at = now() WHERE id = \(id)",
                    logger: logger)
            }
        }
    }

    // MARK: requests

    func respond(_ request: HTTPRequest) async -> HTTPResponse {
        do {
            return try await route(request)
        } catch let e as HardenError {
            let status: HTTPResponseStatus =
                switch e.code {
                case .invalidArgument, .corrupt: .badRequest
                case .notFound: .notFound
                case .limitExceeded: .payloadTooLarge
                default: .internalServerError
                }
            return .error(status, e.message)
        } catch {
            logger.error("harden serve: \(request.method) \(request.path): \(FleetStore.describe(error))")
            return .error(.internalServerError, "internal error (see the server's log)")
        }
    }

    /// The caller: its token's hash and scope.
    struct Caller {
        var hash: String
        var scope: TokenScope
    }

    /// The caller's token: a bearer token, or for the dashboard the `harden_token` cookie.
    func caller(of request: HTTPRequest) async throws -> Caller? {
        var token: String?
        if let auth = request.headers.first(name: "Authorization"), auth.lowercased().hasPrefix("bearer ") {
            token = String(auth.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        } else if request.method == .GET,
            !["v1", "metrics"].contains(request.path.split(separator: "/").first.map(String.init) ?? ""),
            let cookie = request.headers.first(name: "Cookie")
        {
            // The cookie is for the dashboard's pages only: the API takes bearer tokens, so no page elsewhere can make
            // a browser submit jobs with it.
            for part in cookie.split(separator: ";") {
                let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1).map(String.init)
                if kv.count == 2 && kv[0] == "harden_token" { token = kv[1].removingPercentEncoding }
            }
        }
        guard let token, !token.isEmpty else { return nil }
        let hash = FleetStore.hash(token: token)
        return try await tokens.scope(hash, store: store).map { Caller(hash: hash, scope: $0) }
    }

    func route(_ request: HTTPRequest) async throws -> HTTPResponse {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if parts == ["healthz"] { return .text(.ok, "ok\n") }
        // The dashboard takes a token once in its URL and keeps it in a cookie — a valid one only.
        if let token = request.query["token"], request.method == .GET, parts.first != "v1" {
            guard try await tokens.scope(FleetStore.hash(token: token), store: store) != nil else {
                return .text(.unauthorized, "unknown token\n")
            }
            var r = HTTPResponse(status: .seeOther)
            var location = URLComponents()
            location.path = request.path.isEmpty ? "/" : request.path
            let rest = request.query.filter { $0.key != "token" }.sorted { $0.key < $1.key }
            if !rest.isEmpty { location.queryItems = rest.map { URLQueryItem(name: $0.key, value: $0.value) } }
            r.headers.add(name: "Location", value: location.string ?? "/")
            let secure = request.headers.first(name: "X-Forwarded-Proto")?.lowercased() == "https" ? "; Secure" : ""
            r.headers.add(
                name: "Set-Cookie",
                value:
                    "harden_token=\(token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""); Path=/; HttpOnly; SameSite=Strict\(secure)"
            )
            return r
        }
        guard let caller = try await caller(of: request) else {
            var r = HTTPResponse.error(.unauthorized, "a bearer token is required (Authorization: Bearer TOKEN)")
            r.headers.add(name: "WWW-Authenticate", value: "Bearer realm=\"harden\"")
            return r
        }
        let scope = caller.scope
        func need(_ s: TokenScope) throws {
            guard scope >= s else { throw Forbidden(needed: s, has: scope) }
        }
        do {
            switch (request.method, parts) {
            case (.GET, ["metrics"]):
                try need(.read)
                return .text(.ok, try await metrics(), type: "text/plain; version=0.0.4")
            case (.GET, ["v1", "db"]), (.HEAD, ["v1", "db"]):
                try need(.read)
                let etag = await publication.etag
                guard let bytes = await publication.bytes else {
                    return .error(.serviceUnavailable, "no vulnerability database yet")
                }
                let quoted = "\"\(etag)\""
                if request.headers.first(name: "If-None-Match") == quoted {
                    return HTTPResponse(status: .notModified, headers: ["ETag": quoted])
                }
                return HTTPResponse(
                    status: .ok, headers: ["ETag": quoted, "Content-Type": "application/vnd.sqlite3"], body: bytes)
            case (.POST, ["v1", "db", "refresh"]):
                try need(.admin)
                let everything = request.query["everything"] == "true"
                let r = try await refreshDatabase(
                    force: everything || request.query["force"] == "true", everything: everything)
                return .json(RefreshAnswer(etag: await publication.etag, rematch: r))
            case (.POST, ["v1", "jobs"]):
                try need(.submit)
                return try await submit(request, caller: caller)
            case (.GET, ["v1", "jobs"]):
                try need(.read)
                let state = try request.query["state"].map { s in
                    guard let st = JobState(rawValue: s) else {
                        throw HardenError(.invalidArgument, "state: \(s) is not a job state")
                    }
                    return st
                }
                let jobs = try await store.jobs(state: state, limit: Int(request.query["limit"] ?? "") ?? 100)
                return .json(scope >= .submit ? jobs : jobs.map(\.redacted))
            case (.GET, let p) where p.count == 3 && p[0] == "v1" && p[1] == "jobs":
                try need(.read)
                guard let id = Int64(p[2]), let job = try await store.job(id) else {
                    return .error(.notFound, "no job \(p[2])")
                }
                return .json(scope >= .submit ? job : job.redacted)
            case (.GET, ["v1", "tokens"]):
                try need(.admin)
                return .json(try await store.listTokens())
            case (.DELETE, let p) where p.count == 3 && p[0] == "v1" && p[1] == "tokens":
                try need(.admin)
                let removed = try await store.revokeToken(named: p[2])
                await tokens.clear()
                guard removed > 0 else { return .error(.notFound, "no token named \(p[2])") }
                return .json(RevokeAnswer(revoked: removed))
            case (.GET, ["v1", "images"]):
                try need(.read)
                return .json(
                    try await store.images(
                        fails: request.query["fails"], minimumSeverity: request.query["severity"],
                        search: request.query["q"], eol: try Self.flag(request.query["eol"], "eol"),
                        limit: Int(request.query["limit"] ?? "") ?? 1000))
            case (.GET, let p) where p.count == 3 && p[0] == "v1" && p[1] == "images":
                try need(.read)
                guard let detail = try await store.image(digest: p[2]) else {
                    return .error(.notFound, "no image \(p[2])")
                }
                return .json(detail)
            case (.GET, let p) where p.count == 4 && p[0] == "v1" && p[1] == "vulnerabilities" && p[3] == "images":
                try need(.read)
                let limit = Int(request.query["limit"] ?? "") ?? 100
                let after = request.query["after"]
                let key = "affected\u{1}\(p[2])\u{1}\(limit)\u{1}\(after ?? "")"
                let generation = try await store.generation()
                if let cached = await answers.get(key, generation: generation) { return cached }
                let answer = HTTPResponse.json(
                    try await store.affected(vulnerability: p[2], limit: limit, after: after))
                if answer.status == .ok { await answers.put(key, generation: generation, answer) }
                return answer
            case (.GET, let p) where p.isEmpty || p[0] == "images" || p[0] == "vulnerabilities":
                try need(.read)
                return try await Dashboard(store: store).page(request, parts: p)
            default:
                return .error(.notFound, "no route \(request.method) \(request.path)")
            }
        } catch let f as Forbidden {
            return .error(.forbidden, "this token has scope \(f.has.rawValue); \(f.needed.rawValue) is needed")
        } catch let e as DecodingError {
            return .error(.badRequest, "request body: \(e)")
        }
    }

    /// `POST /v1/jobs`: every image reference checked (grammar; no control characters), the token's quota of queued
    /// and running jobs kept.
    func submit(_ request: HTTPRequest, caller: Caller) async throws -> HTTPResponse {
        let submission = try JSONDecoder().decode(JobSubmission.self, from: Data(request.body))
        guard !submission.images.isEmpty, submission.images.count <= 10_000 else {
            return .error(.badRequest, "images: give 1 to 10000 images")
        }
        for image in submission.images { _ = try ImageReference.parseUntrusted(image) }
        if submission.scheduled == true, caller.scope < .admin { throw Forbidden(needed: .admin, has: caller.scope) }
        let pending = try await store.pendingJobs(submittedBy: caller.hash)
        if pending + submission.images.count > configuration.submitQuota {
            return .error(
                .tooManyRequests,
                "this token has \(pending) job(s) queued or running; its quota is \(configuration.submitQuota) (wait for some to finish)"
            )
        }
        let ids = try await store.submit(
            action: submission.action, images: submission.images, options: submission.options ?? JobOptions(),
            scheduled: submission.scheduled ?? false, maxAttempts: min(10, max(1, submission.maxAttempts ?? 3)),
            submittedBy: caller.hash)
        return .json(SubmissionAnswer(jobs: ids), status: .accepted)
    }

    struct Forbidden: Error {
        var needed: TokenScope
        var has: TokenScope
    }

    /// Prometheus text format.
    func metrics() async throws -> String {
        let (counts, age) = try await store.queueStats()
        var out = "# HELP harden_jobs Jobs by state and action.\n# TYPE harden_jobs gauge\n"
        for state in JobState.allCases {
            for action in JobAction.allCases {
                out +=
                    "harden_jobs{state=\"\(state.rawValue)\",action=\"\(action.rawValue)\"} \(counts[state.rawValue]?[action.rawValue] ?? 0)\n"
            }
        }
        out +=
            "# HELP harden_queue_oldest_seconds Age of the oldest queued job.\n# TYPE harden_queue_oldest_seconds gauge\n"
        out += "harden_queue_oldest_seconds \(age)\n"
        let totals = try await store.totals()
        out +=
            "# HELP harden_answer_cache_bytes Bytes of cached answers (bounded).\n# TYPE harden_answer_cache_bytes gauge\n"
        out += "harden_answer_cache_bytes \(await answers.heldBytes)\n"
        out += "# HELP harden_images Stored images.\n# TYPE harden_images gauge\nharden_images \(totals.images)\n"
        out += "# HELP harden_findings Active findings by severity.\n# TYPE harden_findings gauge\n"
        for s in Severity.descending {
            out += "harden_findings{severity=\"\(s.rawValue)\"} \(totals.bySeverity[s.rawValue] ?? 0)\n"
        }
        if let last = try await store.lastImport() {
            out += "# HELP harden_rematch_seconds Duration of the last re-match.\n# TYPE harden_rematch_seconds gauge\n"
            out += "harden_rematch_seconds \(last.seconds)\n"
            out +=
                "# HELP harden_rematch_changed_keys Advisory keys changed by the last import.\n# TYPE harden_rematch_changed_keys gauge\n"
            out += "harden_rematch_changed_keys \(last.changedKeys)\n"
            out += "# HELP harden_db_imported_timestamp_seconds When the database was last published.\n"
            out +=
                "# TYPE harden_db_imported_timestamp_seconds gauge\nharden_db_imported_timestamp_seconds \(Int(last.at.timeIntervalSince1970))\n"
        }
        return out
    }
}

/// `POST /v1/jobs`.
public struct JobSubmission: Codable, Sendable {
    public var action: JobAction
    public var images: [String]
    public var options: JobOptions?
    public var scheduled: Bool?
    public var maxAttempts: Int?

    public init(
        action: JobAction, images: [String], options: JobOptions? = nil, scheduled: Bool? = nil, maxAttempts: Int? = nil
    ) {
        self.action = action
        self.images = images
        self.options = options
        self.scheduled = scheduled
        self.maxAttempts = maxAttempts
    }
}

public struct SubmissionAnswer: Codable, Sendable {
    public var jobs: [Int64]
}

public struct RevokeAnswer: Codable, Sendable {
    public var revoked: Int
}

public struct RefreshAnswer: Codable, Sendable {
    public var etag: String
    public var rematch: RematchResult?
}

extension FleetServer {
    /// A boolean query parameter: `true`, `false` or absent; anything else is a bad request naming it.
    static func flag(_ value: String?, _ name: String) throws -> Bool? {
        switch value {
        case nil: return nil
        case "true": return true
        case "false": return false
        case let v?: throw HardenError(.invalidArgument, "\(name): \(v) is not true or false")
        }
    }
}

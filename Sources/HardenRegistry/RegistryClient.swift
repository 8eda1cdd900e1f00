// harden — an OCI distribution client: manifests and blobs, anonymous/basic/bearer auth, retries.
import AsyncHTTPClient
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenRegistryAuth
import HardenSystem
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// How requests reach the registry: the HTTP client, or a stub in tests.
public protocol RegistryTransport: Sendable {
    func perform(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> HTTPClientResponse
    func shutdown() async throws
}

extension HTTPClient: RegistryTransport {
    public func perform(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> HTTPClientResponse {
        try await execute(request, timeout: timeout)
    }
}

/// Talks to one registry for one repository. Safe to use from concurrent tasks (its little state is locked).
public final class RegistryClient: Sendable {
    public let reference: RegistryReference
    let http: any RegistryTransport
    let credentials: Credentials?
    let tlsVerify: Bool
    let logger: Logger
    /// Where the credentials (and the token they buy) may go.
    let authScope: AuthScope
    /// The longest wait for the next bytes of an answer (connect, headers, body).
    let idleTimeout: Duration
    private struct State {
        var scheme = "https"
        var authorization: String?
        var probe: Task<Void, Never>?
    }
    private let state = Mutex(State())
    var scheme: String { state.withLock { $0.scheme } }
    var authorization: String? {
        state.withLock { $0.authorization }
    }
    func setAuthorization(_ a: String) { state.withLock { $0.authorization = a } }

    public init(
        reference: RegistryReference, credentials: Credentials?, tlsVerify: Bool = true,
        idleTimeout: Duration = .seconds(60),
        logger: Logger = .harden, transport: (any RegistryTransport)? = nil
    ) {
        self.reference = reference
        self.credentials = credentials
        self.tlsVerify = tlsVerify
        self.logger = logger
        self.authScope = AuthScope(registryHost: reference.host, plainHTTPAllowed: !tlsVerify)
        self.idleTimeout = idleTimeout
        var config = HTTPClient.Configuration()
        let idle = TimeAmount.nanoseconds(
            Int64(idleTimeout.components.seconds) * 1_000_000_000 + idleTimeout.components.attoseconds / 1_000_000_000)
        config.timeout = HTTPClient.Configuration.Timeout(connect: idle, read: idle)
        if !tlsVerify {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            config.tlsConfiguration = tls
        }
        // Redirects are followed by hand, for blob downloads only (send's `followRedirects`): a manifest, token or
        // upload answer that redirects elsewhere is an error, not a request to wherever it points.
        config.redirectConfiguration = .disallow
        // A refused or failed connection fails the request at once (send retries it, 4 times with a back-off); the
        // client's own retries would go on until the request's deadline (ten idle periods: 10 minutes by default).
        config.connectionPool.retryConnectionEstablishment = false
        self.http = transport ?? HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    var base: String { "\(scheme)://\(reference.host)/v2/\(reference.repository)" }
    var name: String { "\(reference.host)/\(reference.repository)" }

    /// Decides the scheme: HTTPS, or plain HTTP when TLS verification is off and HTTPS does not answer.
    /// Decides the scheme once; concurrent first requests all wait for that one decision (none goes ahead over
    /// HTTPS while the plain-HTTP probe is still out).
    func probe() async throws {
        guard !tlsVerify else { return }
        let task = state.withLock { s -> Task<Void, Never> in
            if let t = s.probe { return t }
            let t = Task { await self.probeScheme() }
            s.probe = t
            return t
        }
        await task.value
    }

    /// With verification off (the user's choice), a registry that answers the API over plain HTTP is used over HTTP;
    /// an HTTPS-only one answers plain HTTP with an error, and HTTPS (unverified) is kept.
    private func probeScheme() async {
        if let r = try? await http.perform(
            HTTPClientRequest(url: "http://\(reference.host)/v2/"), timeout: .seconds(5)),
            r.headers.first(name: "Docker-Distribution-API-Version") != nil || r.status == .ok
                || r.status == .unauthorized
        {
            state.withLock { $0.scheme = "http" }
        }
    }

    // MARK: requests with auth and retries

    /// The longest a whole request may take: its answer may stall at most `idleTimeout` at a time, and all of it
    /// must arrive within this (ten idle periods, plus the time `bytes` take at 32 KiB/s).
    func totalTimeout(bytes: Int64 = 0) -> TimeAmount {
        .seconds(Int64(idleTimeout.components.seconds) * 10 + bytes / 32_768 + 1)
    }

    /// Sends a request (rebuilt by `make` on each attempt), answering auth challenges and retrying on 429/5xx.
    /// The `Authorization` header goes only where `scope` allows (the registry itself, never another host).
    /// With `followRedirects` (blob downloads), a 3xx answer's `Location` is followed — up to 5 times, only to HTTPS
    /// (or to the registry's own host over plain HTTP when that is allowed), with credentials only where
    /// `mayAuthorize` says (never another host).
    func send(
        _ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], scopeActions: String = "pull",
        body: (() -> HTTPClientRequest.Body)? = nil, expect: Set<UInt> = [200], bytes: Int64 = 0,
        followRedirects: Bool = false
    ) async throws -> HTTPClientResponse {
        try await probe()
        var attempt = 0
        var challenged = false
        var redirects = 0
        var target = url.hasPrefix("http") ? url : base + url
        var authorize = authScope.mayAuthorize(target)
        while true {
            attempt += 1
            var request = HTTPClientRequest(url: target)
            request.method = method
            request.headers.add(name: "User-Agent", value: "harden")
            for (k, v) in headers { request.headers.add(name: k, value: v) }
            if authorize, let authorization {
                request.headers.replaceOrAdd(name: "Authorization", value: authorization)
            }
            if let body { request.body = body() }
            let response: HTTPClientResponse
            do {
                response = try await http.perform(request, timeout: totalTimeout(bytes: bytes))
            } catch {
                logger.debug("\(name): \(method.rawValue) \(target): \(String(reflecting: error))")
                if attempt < 4
                    && Self.networkFailure(error).map({ !$0.contains("DNS") && !$0.hasPrefix("TLS") }) ?? true
                {
                    try await Task.sleep(nanoseconds: UInt64(attempt) * 300_000_000)
                    continue
                }
                if let failure = Self.networkFailure(error, idle: idleTimeout) {
                    throw HardenError(.io, "\(reference.host): \(failure)")
                }
                throw HardenError(
                    .io,
                    "\(name): \(method.rawValue) \(url.split(separator: "?").first ?? ""): \(Self.describe(error, idle: idleTimeout))"
                )
            }
            if (300..<400).contains(response.status.code) && response.status != .notModified {
                guard followRedirects, redirects < 5, let location = response.headers.first(name: "Location"),
                    let next = AuthScope.resolveLocation(location, base: target), authScope.mayFollowRedirect(to: next)
                else {
                    throw HardenError(
                        .io,
                        "\(name): \(method.rawValue) \(url.split(separator: "?").first ?? ""): HTTP \(response.status.code) redirect refused (\(followRedirects ? "only to HTTPS, at most 5" : "not followed for this request"))"
                    )
                }
                redirects += 1
                target = next
                authorize = authScope.mayAuthorize(target)
                attempt = 0
                continue
            }
            if response.status == .unauthorized && !challenged && authorize {
                challenged = true
                try await authenticate(response.headers.first(name: "WWW-Authenticate") ?? "", actions: scopeActions)
                continue
            }
            if response.status == .unauthorized || response.status == .forbidden {
                throw HardenError(
                    .invalidArgument,
                    "\(reference.host): unauthorized for repository \(reference.repository) (HTTP \(response.status.code)); check --creds"
                )
            }
            if (response.status == .tooManyRequests || response.status.code >= 500) && attempt < 4 {
                try await Task.sleep(nanoseconds: UInt64(attempt) * 500_000_000)
                continue
            }
            if !expect.contains(response.status.code) {
                if response.status == .notFound {
                    throw HardenError(
                        .notFound,
                        "docker://\(reference): not found (\(method.rawValue) \(url.split(separator: "?").first ?? ""))"
                    )
                }
                // The answer's body is not quoted: it is the remote's text (an internal service's answer, were the
                // registry a relay), and an error is shown to whoever sent the job.
                _ = try? await response.body.collect(upTo: 64 * 1024)
                throw HardenError(
                    .io,
                    "\(name): \(method.rawValue) \(url.split(separator: "?").first ?? ""): HTTP \(response.status.code)"
                )
            }
            return response
        }
    }

    /// Handles a `WWW-Authenticate` challenge: Basic uses the credentials; Bearer fetches a token from the realm.
    func authenticate(_ challenge: String, actions: String) async throws {
        let lower = challenge.lowercased()
        if lower.hasPrefix("basic") {
            guard let credentials else {
                throw HardenError(
                    .invalidArgument,
                    "\(reference.host): unauthorized for repository \(reference.repository) (credentials required; use --creds USER:PASS)"
                )
            }
            setAuthorization(credentials.basicHeader)
            return
        }
        guard lower.hasPrefix("bearer") else {
            throw HardenError(
                .invalidArgument,
                "\(reference.host): unauthorized for repository \(reference.repository) (unsupported challenge \(challenge.prefix(40)))"
            )
        }
        let params = RegistryHeaders.parseChallenge(String(challenge.dropFirst("bearer".count)))
        guard let realm = params["realm"] else {
            throw HardenError(.corrupt, "\(reference.host): bearer challenge without a realm")
        }
        guard URLOrigin.parse(realm) != nil else {
            throw HardenError(.corrupt, "\(reference.host): bearer challenge with a realm that is not an http(s) URL")
        }
        guard authScope.mayAskRealm(realm) else {
            throw HardenError(
                .invalidArgument,
                "\(reference.host): bearer realm \(URLOrigin.parse(realm)?.description ?? "") refused: a token server must be HTTPS, or the registry's own host"
            )
        }
        var query: [String] = []
        if let service = params["service"] { query.append("service=\(Self.escape(service))") }
        let scope = params["scope"] ?? "repository:\(reference.repository):\(actions)"
        query.append("scope=\(Self.escape(scope))")
        var request = HTTPClientRequest(url: realm + (realm.contains("?") ? "&" : "?") + query.joined(separator: "&"))
        if let credentials {
            if authScope.maySendCredentials(toRealm: realm) {
                request.headers.add(name: "Authorization", value: credentials.basicHeader)
            } else {
                logger.warning(
                    "\(reference.host): not sending credentials to the token server \(URLOrigin.parse(realm)?.description ?? realm) (plain HTTP on another host); asking for an anonymous token"
                )
            }
        }
        let response: HTTPClientResponse
        do {
            response = try await http.perform(request, timeout: totalTimeout())
        } catch {
            throw HardenError(
                .io,
                "\(reference.host): token server \(URLOrigin.parse(realm)?.description ?? realm): \(Self.describe(error, idle: idleTimeout))"
            )
        }
        guard response.status == .ok else {
            throw HardenError(
                .invalidArgument,
                "\(reference.host): unauthorized for repository \(reference.repository) (token endpoint answered HTTP \(response.status.code))"
            )
        }
        let body: ByteBuffer
        do { body = try await response.body.collect(upTo: 1 << 20) } catch {
            throw HardenError(.io, "\(reference.host): token server answer: \(Self.describe(error, idle: idleTimeout))")
        }
        guard let json = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
            let token = (json["token"] as? String) ?? (json["access_token"] as? String)
        else {
            throw HardenError(.corrupt, "\(reference.host): token endpoint returned no token")
        }
        setAuthorization("Bearer \(token)")
    }

    /// One line for a transport error, instead of the HTTP client's debug description (logged at debug level).
    static func describe(_ error: any Error, idle: Duration) -> String {
        if let e = error as? HTTPClientError {
            if e == .readTimeout { return "no data for \(idle.components.seconds) s (idle timeout; see --timeout)" }
            if e == .connectTimeout { return "cannot connect (timed out after \(idle.components.seconds) s)" }
            if e == .deadlineExceeded { return "took longer than the time allowed for the transfer" }
            if e == .remoteConnectionClosed { return "the registry closed the connection" }
        }
        return networkFailure(error, idle: idle)
            ?? String("\(error)".prefix(160)).replacingOccurrences(of: "\n", with: " ")
    }

    /// The failures of the connection itself, each as one line a person can act on; nil for anything else.
    public static func networkFailure(_ error: any Error, idle: Duration? = nil) -> String? {
        let within = idle.map { " after \($0.components.seconds) s" } ?? ""
        if let e = error as? HTTPClientError {
            if e == .connectTimeout { return "cannot connect (timed out\(within))" }
            if e == .tlsHandshakeTimeout { return "cannot connect (no answer to the TLS handshake\(within))" }
        }
        let text = String(reflecting: error)
        func has(_ needles: String...) -> Bool { needles.contains { text.localizedCaseInsensitiveContains($0) } }
        if has("UnknownHost", "Name or service not known", "nodename nor servname", "No address associated") {
            return "cannot resolve the host name (DNS)"
        }
        if has("Temporary failure in name resolution") {
            return "cannot resolve the host name (DNS server unreachable)"
        }
        if has("connection refused", "connectionRefused", "ECONNREFUSED") {
            return "cannot connect (connection refused)"
        }
        if has("network is unreachable", "No route to host", "ENETUNREACH", "EHOSTUNREACH") {
            return "cannot connect (network unreachable)"
        }
        if has("connection reset", "ECONNRESET") { return "the connection was reset" }
        if has("connectTimeout", "timed out", "ETIMEDOUT") { return "cannot connect (timed out)" }
        if has("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "unexpectedEOF") && has("ssl", "tls") {
            return
                "TLS handshake failed (the server does not speak TLS on this port; for a plain-HTTP registry give --tls-verify=false)"
        }
        if has("failedToValidateHostname") { return "TLS failed: the certificate is not for this host name" }
        if has(
            "CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "unable to get local issuer", "self signed",
            "self-signed")
        {
            return "TLS failed: the certificate is not trusted (add its CA to the system's, or give --tls-verify=false)"
        }
        if has("certificate has expired", "CERTIFICATE_EXPIRED") { return "TLS failed: the certificate has expired" }
        if has("handshakeFailed", "NIOSSL", "BoringSSL") { return "TLS handshake failed" }
        if has("SingleConnectionFailure", "NIOConnectionError") { return "cannot connect" }
        return nil
    }

    static func escape(_ s: String) -> String {
        s.addingPercentEncoding(
            withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+:/"))) ?? s
    }

    // MARK: manifests

    static let manifestAccept = [
        MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest,
    ].joined(
        separator: ", ")

    /// Fetches a manifest or index by tag or digest; returns its bytes and media type. Verifies a digest reference.
    public func manifest(_ ref: String) async throws -> (bytes: [UInt8], mediaType: String) {
        let response = try await send(.GET, "/manifests/\(ref)", headers: [("Accept", Self.manifestAccept)])
        let body: ByteBuffer
        do { body = try await response.body.collect(upTo: 16 << 20) } catch {
            throw HardenError(.io, "\(name): manifest \(ref): \(Self.describe(error, idle: idleTimeout))")
        }
        let bytes = Array(buffer: body)
        if ref.hasPrefix("sha256:"), let want = try? Digest(parsing: ref), Digest.sha256(of: bytes) != want {
            throw HardenError(.corrupt, "\(name): manifest \(ref) has digest \(Digest.sha256(of: bytes))")
        }
        var type = response.headers.first(name: "Content-Type") ?? ""
        if let semi = type.firstIndex(of: ";") { type = String(type[..<semi]) }
        if let json = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let mt = json["mediaType"] as? String
        {
            type = mt
        }
        return (bytes, type)
    }

    public func putManifest(_ ref: String, bytes: [UInt8], mediaType: String) async throws {
        _ = try await send(
            .PUT, "/manifests/\(ref)", headers: [("Content-Type", mediaType)], scopeActions: "pull,push",
            body: { .bytes(ByteBuffer(bytes: bytes)) }, expect: [201, 200])
    }

    // MARK: blobs

    public func blobExists(_ digest: Digest) async throws -> Bool {
        do {
            _ = try await send(.HEAD, "/blobs/\(digest)", scopeActions: "pull,push")
            return true
        } catch let e as HardenError where e.code == .notFound {
            return false
        }
    }

    /// Downloads a blob into `path`, verifying its size and digest; resumes with Range after a broken transfer.
    public func downloadBlob(_ descriptor: Descriptor, to path: String) async throws {
        let out = try FileDescriptor.create(path, mode: 0o644, exclusive: false)
        var hasher = StreamHasher(descriptor.digest.algorithm)
        var have: Int64 = 0
        var attempt = 0
        while true {
            attempt += 1
            let haveBefore = have
            do {
                let headers = have > 0 ? [("Range", "bytes=\(have)-")] : []
                let response = try await send(
                    .GET, "/blobs/\(descriptor.digest)", headers: headers, expect: have > 0 ? [206, 200] : [200],
                    bytes: descriptor.size - have, followRedirects: true)
                let resumedAt = response.headers.first(name: "Content-Range").flatMap(RegistryHeaders.contentRangeStart)
                if have > 0 && (response.status == .ok || resumedAt != have) {
                    // The server ignored the range (or answered another one): start over.
                    have = 0
                    hasher = StreamHasher(descriptor.digest.algorithm)
                    _ = ftruncate(out.raw, 0)
                    _ = lseek(out.raw, 0, SEEK_SET)
                }
                for try await chunk in response.body {
                    try chunk.withUnsafeReadableBytes { buf in
                        hasher.update(buf)
                        try out.writeAll(buf)
                    }
                    have += Int64(chunk.readableBytes)
                    if have > descriptor.size {
                        throw HardenError(
                            .corrupt,
                            "\(name): blob \(descriptor.digest) is larger than the \(descriptor.size) bytes its descriptor declares"
                        )
                    }
                }
                break
            } catch let e as HardenError {
                throw e
            } catch {
                // A broken or stalled body: try again, resuming where it broke — unless this attempt was itself
                // a retry that brought no new byte (a registry that stopped sending: a further resume would stall too).
                if attempt > 1 && have == haveBefore {
                    throw HardenError(
                        .io,
                        "\(name): blob \(descriptor.digest): \(Self.describe(error, idle: idleTimeout)); the resumed "
                            + "download brought no new byte after \(have) of \(descriptor.size), so it is not retried again"
                    )
                }
                if attempt < 4 {
                    logger.info(
                        "\(name): blob \(descriptor.digest): \(Self.describe(error, idle: idleTimeout)); resuming at byte \(have)"
                    )
                    continue
                }
                throw HardenError(
                    .io,
                    "\(name): blob \(descriptor.digest): \(Self.describe(error, idle: idleTimeout)) (after \(attempt) attempts)"
                )
            }
        }
        guard have == descriptor.size else {
            throw HardenError(
                .corrupt, "\(name): blob \(descriptor.digest) is \(have) bytes, expected \(descriptor.size)")
        }
        let hex = hasher.finalizeHex()
        guard hex == descriptor.digest.encoded else {
            throw HardenError(
                .corrupt, "\(name): blob \(descriptor.digest) has digest \(descriptor.digest.algorithm.rawValue):\(hex)"
            )
        }
        try out.sync()
    }

    /// Uploads a blob unless the registry has it; tries a cross-repository mount first when `mountFrom` is given.
    /// Blobs up to `chunkSize` go in one PUT, larger ones in PATCH chunks.
    public func uploadBlob(
        _ descriptor: Descriptor, mountFrom: String?, chunkSize: Int = 16 << 20,
        open: () throws -> any ByteReader
    ) async throws -> Bool {
        if try await blobExists(descriptor.digest) { return false }
        if let from = mountFrom {
            let r = try await send(
                .POST, "/blobs/uploads/?mount=\(descriptor.digest)&from=\(from)", scopeActions: "pull,push",
                expect: [201, 202])
            if r.status == .created { return false }
        }
        let start = try await send(.POST, "/blobs/uploads/", scopeActions: "pull,push", expect: [202])
        guard
            var location = start.headers.first(name: "Location").flatMap({ AuthScope.resolveLocation($0, base: base) })
        else {
            throw HardenError(.corrupt, "\(name): upload answered without a usable Location")
        }
        let reader = try open()
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        var offset: Int64 = 0
        func sep(_ l: String) -> String { l.contains("?") ? "&" : "?" }
        if descriptor.size <= Int64(chunkSize) {
            let bytes = try reader.readAll(limit: chunkSize, name: "blob \(descriptor.digest)")
            _ = try await send(
                .PUT, location + sep(location) + "digest=\(descriptor.digest)",
                headers: [("Content-Type", "application/octet-stream")],
                scopeActions: "pull,push", body: { .bytes(ByteBuffer(bytes: bytes)) }, expect: [201],
                bytes: Int64(bytes.count))
            return true
        }
        while true {
            var filled = 0
            while filled < chunkSize {
                let n = try buffer.withUnsafeMutableBytes {
                    try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...]))
                }
                if n == 0 { break }
                filled += n
            }
            if filled == 0 { break }
            let chunk = Array(buffer[0..<filled])
            let r = try await send(
                .PATCH, location,
                headers: [
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Range", "\(offset)-\(offset + Int64(filled) - 1)"),
                ],
                scopeActions: "pull,push", body: { .bytes(ByteBuffer(bytes: chunk)) }, expect: [202],
                bytes: Int64(filled))
            offset += Int64(filled)
            if let next = r.headers.first(name: "Location") {
                guard let resolved = AuthScope.resolveLocation(next, base: location) else {
                    throw HardenError(.corrupt, "\(name): upload answered with an unusable Location")
                }
                location = resolved
            }
        }
        guard offset == descriptor.size else {
            throw HardenError(.corrupt, "blob \(descriptor.digest): read \(offset) bytes, expected \(descriptor.size)")
        }
        _ = try await send(
            .PUT, location + sep(location) + "digest=\(descriptor.digest)", scopeActions: "pull,push", expect: [201])
        return true
    }

    /// Uploads a small blob held in memory without asking first: a monolithic POST with its digest (one request),
    /// or, where the registry opens a session instead (202), one PUT to finish it. For blobs that are new by
    /// construction (signatures, attestations); uploading one the registry has is harmless.
    public func putSmallBlob(_ descriptor: Descriptor, bytes: [UInt8]) async throws {
        let body: @Sendable () -> HTTPClientRequest.Body = { .bytes(ByteBuffer(bytes: bytes)) }
        let r = try await send(
            .POST, "/blobs/uploads/?digest=\(descriptor.digest)",
            headers: [("Content-Type", "application/octet-stream")], scopeActions: "pull,push", body: body,
            expect: [201, 202], bytes: Int64(bytes.count))
        if r.status == .created { return }
        guard let location = r.headers.first(name: "Location").flatMap({ AuthScope.resolveLocation($0, base: base) })
        else {
            throw HardenError(.corrupt, "\(name): upload answered without a usable Location")
        }
        _ = try await send(
            .PUT, location + (location.contains("?") ? "&" : "?") + "digest=\(descriptor.digest)",
            headers: [("Content-Type", "application/octet-stream")], scopeActions: "pull,push", body: body,
            expect: [201], bytes: Int64(bytes.count))
    }
}

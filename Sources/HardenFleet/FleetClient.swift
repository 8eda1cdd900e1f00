// harden — the CLI's client for the fleet API (`harden fleet …`).
import AsyncHTTPClient
import Foundation
import HardenCore
import HardenPackages
import NIOCore
import NIOHTTP1

public struct FleetClient: Sendable {
    public var server: String
    public var token: String?
    public var timeout: Duration = .seconds(60)

    public init(server: String, token: String?) {
        self.server = server.trimmingSuffix("/")
        self.token = token
    }

    public func get<T: Decodable>(_ path: String, as: T.Type = T.self) async throws -> T {
        try decode(try await send(.GET, path, body: nil), path: path)
    }

    public func post<T: Decodable, B: Encodable>(_ path: String, _ body: B, as: T.Type = T.self) async throws -> T {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try decode(try await send(.POST, path, body: try encoder.encode(body)), path: path)
    }

    public func delete<T: Decodable>(_ path: String, as: T.Type = T.self) async throws -> T {
        try decode(try await send(.DELETE, path, body: nil), path: path)
    }

    /// The raw answer of a GET (text endpoints: /metrics, dashboard pages).
    public func text(_ path: String) async throws -> String {
        String(decoding: try await send(.GET, path, body: nil), as: UTF8.self)
    }

    func decode<T: Decodable>(_ bytes: [UInt8], path: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(T.self, from: Data(bytes))
        } catch {
            throw HardenError(.corrupt, "\(server)\(path): unexpected answer: \(error)")
        }
    }

    func send(_ method: HTTPMethod, _ path: String, body: Data?) async throws -> [UInt8] {
        var request = HTTPClientRequest(url: server + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response: HTTPClientResponse
        do {
            response = try await FleetHTTP.client.execute(request, timeout: .init(timeout))
        } catch {
            throw HardenError(.io, "\(server): cannot reach the fleet server: \(error)", cause: error)
        }
        let bytes = Array(try await response.body.collect(upTo: 256 << 20).readableBytesView)
        guard (200..<300).contains(Int(response.status.code)) else {
            struct Problem: Decodable { var error: String }
            let message =
                (try? JSONDecoder().decode(Problem.self, from: Data(bytes)))?.error
                ?? String(decoding: bytes.prefix(200), as: UTF8.self)
            let code: HardenError.Code =
                response.status == .notFound ? .notFound : (response.status.code < 500 ? .invalidArgument : .io)
            throw HardenError(code, "\(server)\(path): HTTP \(response.status.code): \(message)")
        }
        return bytes
    }
}

/// Runs blocking work (catalogue, match: CPU and file reads) on its own thread, so that lease renewals and I/O on
/// the cooperative pool keep running.
public func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try work() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// The fleet's HTTP client (API calls, database downloads, webhooks): a refused connection fails at once instead of
/// being retried until the request's deadline; callers retry where it makes sense (jobs, webhook backoff).
public enum FleetHTTP {
    public static let client: HTTPClient = {
        var config = HTTPClient.Configuration()
        config.timeout = HTTPClient.Configuration.Timeout(connect: .seconds(10), read: .seconds(300))
        config.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }()

    /// For webhook deliveries: redirects are never followed (a hook that redirects would make the server send its
    /// events, or requests, anywhere).
    public static let webhooks: HTTPClient = {
        var config = HTTPClient.Configuration()
        config.timeout = HTTPClient.Configuration.Timeout(connect: .seconds(10), read: .seconds(30))
        config.connectionPool.retryConnectionEstablishment = false
        config.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }()
}

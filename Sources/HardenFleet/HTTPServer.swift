// harden — a small HTTP/1.1 server on SwiftNIO: one async handler per request, bodies capped, keep-alive.
import Foundation
import HardenCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    public var path: String
    public var query: [String: String]
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(method: HTTPMethod, uri: String, headers: HTTPHeaders, body: [UInt8]) {
        self.method = method
        self.headers = headers
        self.body = body
        let c = URLComponents(string: uri)
        path = c?.percentEncodedPath.removingPercentEncoding ?? uri
        query = Dictionary((c?.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, b in b })
    }
}

public struct HTTPResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: ByteBuffer

    public init(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func text(_ status: HTTPResponseStatus, _ text: String, type: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": type], body: ByteBuffer(string: text))
    }

    public static func json<T: Encodable>(_ value: T, status: HTTPResponseStatus = .ok) -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        guard let data = try? encoder.encode(value) else { return .error(.internalServerError, "cannot encode the response") }
        return HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: ByteBuffer(bytes: data))
    }

    /// `{"error": "…"}` with the status.
    public static func error(_ status: HTTPResponseStatus, _ message: String) -> HTTPResponse {
        let body = "{\"error\":\(String(decoding: (try? JSONEncoder().encode(message)) ?? Data("\"\"".utf8), as: UTF8.self))}"
        return HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: ByteBuffer(string: body))
    }
}

/// Listens on `host:port`, hands every complete request to `handler`. Requests with a body over `maxBody` get 413
/// and the connection is closed; header size is NIO's default limit (80 KiB).
public final class HTTPServer: Sendable {
    let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    public let port: Int
    public let host: String

    public static func bind(host: String, port: Int) async throws -> HTTPServer {
        do {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 512)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .bind(host: host, port: port) { child in
                    child.eventLoop.makeCompletedFuture {
                        // A connection that sends nothing for 60 s (or trickles a request) is closed.
                        try child.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(60)))
                        try child.pipeline.syncOperations.addHandler(CloseWhenIdle())
                        try child.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: child)
                    }
                }
            return HTTPServer(channel: channel, host: host, port: channel.channel.localAddress?.port ?? port)
        } catch {
            throw HardenError(.io, "cannot listen on \(host):\(port): \(error)", cause: error)
        }
    }

    init(channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>, host: String, port: Int) {
        self.channel = channel
        self.host = host
        self.port = port
    }

    /// Serves until the task is cancelled.
    public func serve(maxBody: Int, logger: Logger, handler: @escaping @Sendable (HTTPRequest) async -> HTTPResponse) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await channel.executeThenClose { inbound in
                for try await connection in inbound {
                    group.addTask {
                        do {
                            try await Self.handle(connection, maxBody: maxBody, handler: handler)
                        } catch {
                            logger.debug("http: connection ended: \(error)")
                        }
                    }
                }
            }
        }
    }

    static func handle(
        _ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, maxBody: Int,
        handler: @Sendable (HTTPRequest) async -> HTTPResponse
    ) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body: [UInt8] = []
            var tooLarge = false
            for try await part in inbound {
                switch part {
                case .head(let h):
                    head = h
                    body = []
                    tooLarge = false
                    if let length = h.headers.first(name: "Content-Length").flatMap(Int.init), length > maxBody { tooLarge = true }
                case .body(let b):
                    if body.count + b.readableBytes > maxBody { tooLarge = true }
                    if !tooLarge { body += b.readableBytesView }
                case .end:
                    guard let h = head else { continue }
                    var response: HTTPResponse
                    if tooLarge {
                        response = .error(.payloadTooLarge, "request body over \(maxBody) bytes")
                    } else {
                        response = await handler(HTTPRequest(method: h.method, uri: h.uri, headers: h.headers, body: body))
                    }
                    let keepAlive = h.isKeepAlive && !tooLarge
                    response.headers.replaceOrAdd(name: "Content-Length", value: String(response.body.readableBytes))
                    response.headers.replaceOrAdd(name: "Connection", value: keepAlive ? "keep-alive" : "close")
                    try await outbound.write(
                        .head(HTTPResponseHead(version: h.version, status: response.status, headers: response.headers)))
                    if h.method != .HEAD && response.body.readableBytes > 0 { try await outbound.write(.body(.byteBuffer(response.body))) }
                    try await outbound.write(.end(nil))
                    if !keepAlive { return }
                    head = nil
                    body = []
                }
            }
        }
    }
}

/// Closes a connection when IdleStateHandler reports no read within its timeout.
final class CloseWhenIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}

// harden — a small HTTP/1.1 server on SwiftNIO: one async handler per request, bodies capped, keep-alive.
import Foundation
import HardenCore
import HardenPackages
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

    /// Why the request line cannot be served (NUL, invalid UTF-8 after percent-decoding, not a path): answered 400.
    public var invalid: String?

    public init(method: HTTPMethod, uri: String, headers: HTTPHeaders, body: [UInt8]) {
        self.method = method
        self.headers = headers
        self.body = body
        path = "/"
        query = [:]
        guard let c = URLComponents(string: uri), uri.hasPrefix("/") else {
            invalid = "the request target is not a path"
            return
        }
        // Decoded text only when it is valid UTF-8 without NUL: never the raw URI as a fallback.
        guard let decodedPath = Self.decode(c.percentEncodedPath) else {
            invalid = "the path is not valid UTF-8 or holds NUL"
            return
        }
        var items: [String: String] = [:]
        for item in c.percentEncodedQueryItems ?? [] {
            guard let name = Self.decode(item.name), let value = Self.decode(item.value ?? "")
            else {
                invalid = "a query parameter is not valid UTF-8 or holds NUL"
                return
            }
            items[name] = value
        }
        path = decodedPath
        query = items
    }

    /// Percent-decoded text, or nil when it does not decode to valid UTF-8 or holds NUL.
    static func decode(_ encoded: String) -> String? {
        guard let text = encoded.removingPercentEncoding, !text.utf8.contains(0) else { return nil }
        return text
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

    /// Sent with every answer: nothing a page shows can run script, load from elsewhere, be framed or leak its URL.
    public static let securityHeaders: [(String, String)] = [
        (
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Cache-Control", "no-store"),
    ]

    public static func text(
        _ status: HTTPResponseStatus, _ text: String, type: String = "text/plain; charset=utf-8"
    ) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": type], body: ByteBuffer(string: text))
    }

    public static func json<T: Encodable>(_ value: T, status: HTTPResponseStatus = .ok) -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        guard let data = try? encoder.encode(value) else {
            return .error(.internalServerError, "cannot encode the response")
        }
        return HTTPResponse(
            status: status, headers: ["Content-Type": "application/json"], body: ByteBuffer(bytes: data))
    }

    /// `{"error": "…"}` with the status.
    public static func error(_ status: HTTPResponseStatus, _ message: String) -> HTTPResponse {
        let body =
            "{\"error\":\(String(decoding: (try? JSONEncoder().encode(message)) ?? Data("\"\"".utf8), as: UTF8.self))}"
        return HTTPResponse(
            status: status, headers: ["Content-Type": "application/json"], body: ByteBuffer(string: body))
    }
}

/// Listens on `host:port`, hands every complete request to `handler`. Requests with a body over `maxBody` get 413
/// and the connection is closed; header size is NIO's default limit (80 KiB).
public final class HTTPServer: Sendable {
    let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    public let port: Int
    public let host: String

    /// - Parameter idleTimeout: a connection that sends nothing for this long is closed, and so is one whose request
    ///   (head and body) takes longer than this to arrive, however slowly its bytes trickle.
    public static func bind(host: String, port: Int, idleTimeout: TimeAmount = .seconds(60)) async throws -> HTTPServer
    {
        do {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 512)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .bind(host: host, port: port) { child in
                    child.eventLoop.makeCompletedFuture {
                        // A connection that sends nothing for the idle timeout is closed; so is one that trickles a
                        // request's head or body for longer than that.
                        let deadline = RequestDeadline(timeout: idleTimeout)
                        try child.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                        try child.pipeline.syncOperations.addHandler(CloseWhenIdle())
                        try child.pipeline.syncOperations.addHandler(RequestDeadline.RawBytes(deadline))
                        try child.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try child.pipeline.syncOperations.addHandler(RequestDeadline.Parts(deadline))
                        return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                            wrappingChannelSynchronously: child)
                    }
                }
            return HTTPServer(channel: channel, host: host, port: channel.channel.localAddress?.port ?? port)
        } catch {
            throw HardenError(.io, "cannot listen on \(host):\(port): \(error)", cause: error)
        }
    }

    init(
        channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>, host: String,
        port: Int
    ) {
        self.channel = channel
        self.host = host
        self.port = port
    }

    /// Serves until the task is cancelled.
    public func serve(
        maxBody: Int, logger: Logger, handler: @escaping @Sendable (HTTPRequest) async -> HTTPResponse
    ) async throws {
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
                    if let length = h.headers.first(name: "Content-Length").flatMap(Int.init), length > maxBody {
                        tooLarge = true
                    }
                case .body(let b):
                    if body.count + b.readableBytes > maxBody { tooLarge = true }
                    if !tooLarge { body += b.readableBytesView }
                case .end:
                    guard let h = head else { continue }
                    var response: HTTPResponse
                    let request = HTTPRequest(method: h.method, uri: h.uri, headers: h.headers, body: body)
                    if tooLarge {
                        response = .error(.payloadTooLarge, "request body over \(maxBody) bytes")
                    } else if let invalid = request.invalid {
                        response = .error(.badRequest, invalid)
                    } else {
                        response = await handler(request)
                    }
                    for (name, value) in HTTPResponse.securityHeaders where !response.headers.contains(name: name) {
                        response.headers.add(name: name, value: value)
                    }
                    let keepAlive = h.isKeepAlive && !tooLarge
                    response.headers.replaceOrAdd(name: "Content-Length", value: String(response.body.readableBytes))
                    response.headers.replaceOrAdd(name: "Connection", value: keepAlive ? "keep-alive" : "close")
                    try await outbound.write(
                        .head(HTTPResponseHead(version: h.version, status: response.status, headers: response.headers)))
                    if h.method != .HEAD && response.body.readableBytes > 0 {
                        try await outbound.write(.body(.byteBuffer(response.body)))
                    }
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

/// The longest a request may take to arrive, head and body, from its first byte: a client that trickles bytes (one
/// a second keeps a read-idle timer happy forever) is closed when it runs out. `RawBytes` sits before the HTTP
/// decoder and starts the clock at a request's first byte; `Parts` sits after it and stops the clock at the request's
/// end. Both run on the connection's event loop only.
final class RequestDeadline: @unchecked Sendable {
    let timeout: TimeAmount
    var receiving = false
    var scheduled: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func start(_ context: ChannelHandlerContext) {
        guard !receiving else { return }
        receiving = true
        let channel = context.channel
        scheduled = context.eventLoop.scheduleTask(in: timeout) { [weak self] in
            guard let self, self.receiving else { return }
            channel.close(promise: nil)
        }
    }

    func stop() {
        receiving = false
        scheduled?.cancel()
        scheduled = nil
    }

    final class RawBytes: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        let deadline: RequestDeadline
        init(_ deadline: RequestDeadline) { self.deadline = deadline }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            deadline.start(context)
            context.fireChannelRead(data)
        }

        func channelInactive(context: ChannelHandlerContext) {
            deadline.stop()
            context.fireChannelInactive()
        }
    }

    final class Parts: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias InboundOut = HTTPServerRequestPart
        let deadline: RequestDeadline
        init(_ deadline: RequestDeadline) { self.deadline = deadline }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .end = unwrapInboundIn(data) { deadline.stop() }
            context.fireChannelRead(data)
        }
    }
}

// harden — the registry client's auth flow against a stub transport: challenge, token request, retry, and where
// the credentials and the token go.
import AsyncHTTPClient
import Foundation
import HardenCore
import HardenRegistry
import HardenRegistryAuth
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// Answers requests from a script and records what was asked.
final class StubTransport: RegistryTransport {
    struct Sent: Sendable {
        var url: String
        var authorization: String?
    }
    private let log = Mutex<[Sent]>([])
    private let answer: @Sendable (HTTPClientRequest) -> (HTTPResponseStatus, [(String, String)], String)

    init(_ answer: @escaping @Sendable (HTTPClientRequest) -> (HTTPResponseStatus, [(String, String)], String)) {
        self.answer = answer
    }

    var sent: [Sent] { log.withLock { $0 } }

    func perform(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> HTTPClientResponse {
        log.withLock { $0.append(Sent(url: request.url, authorization: request.headers.first(name: "Authorization"))) }
        let (status, headers, body) = answer(request)
        return HTTPClientResponse(
            status: status, headers: HTTPHeaders(headers), body: .bytes(ByteBuffer(string: body)))
    }

    func shutdown() async throws {}
}

@Suite struct TokenFlowTests {
    static let manifest = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#

    /// A registry that wants a bearer token from `realm`, and a token server that hands out "tok" for Basic alice:pw.
    static func bearerRegistry(realm: String) -> StubTransport {
        StubTransport { request in
            let auth = request.headers.first(name: "Authorization")
            if request.url.hasPrefix(realm) {
                let basic = "Basic " + Data("alice:pw".utf8).base64EncodedString()
                guard auth == basic else { return (.ok, [], #"{"token":"anonymous"}"#) }
                #expect(
                    request.url.contains("scope=repository%3Aapp%3Apull")
                        || request.url.contains("scope=repository:app:pull"))
                #expect(request.url.contains("service=reg"))
                return (.ok, [], #"{"token":"tok"}"#)
            }
            guard auth == "Bearer tok" else {
                return (
                    .unauthorized,
                    [("WWW-Authenticate", #"Bearer realm="\#(realm)",service="reg",scope="repository:app:pull""#)], ""
                )
            }
            return (.ok, [("Content-Type", "application/vnd.oci.image.manifest.v1+json")], manifest)
        }
    }

    @Test func aBearerChallengeIsAnsweredWithATokenBoughtWithTheCredentials() async throws {
        let stub = Self.bearerRegistry(realm: "https://auth.example/token")
        let client = RegistryClient(
            reference: RegistryReference(host: "registry.example", repository: "app", tag: "1", digest: nil),
            credentials: Credentials(username: "alice", password: "pw"), transport: stub)
        let (bytes, type) = try await client.manifest("1")
        #expect(String(decoding: bytes, as: UTF8.self) == Self.manifest)
        #expect(type == "application/vnd.oci.image.manifest.v1+json")
        let sent = stub.sent
        #expect(sent.count == 3)  // challenged, token, retried
        #expect(sent[0].url == "https://registry.example/v2/app/manifests/1" && sent[0].authorization == nil)
        #expect(
            sent[1].url.hasPrefix("https://auth.example/token?") && sent[1].authorization?.hasPrefix("Basic ") == true)
        #expect(sent[2].authorization == "Bearer tok")
        // The token is kept: the next request does not ask again.
        _ = try await client.manifest("1")
        #expect(stub.sent.count == 4)
    }

    @Test func credentialsAreNotSentToAPlainHTTPRealmOnAnotherHost() async throws {
        let stub = Self.bearerRegistry(realm: "http://auth.example/token")
        let client = RegistryClient(
            reference: RegistryReference(host: "registry.example", repository: "app", tag: "1", digest: nil),
            credentials: Credentials(username: "alice", password: "pw"), transport: stub)
        await #expect(throws: HardenError.self) { _ = try await client.manifest("1") }
        // A plain-HTTP realm on another host is not asked at all (issue 30: no requests elsewhere for a registry).
        #expect(!stub.sent.contains { $0.url.hasPrefix("http://auth.example/") })
    }

    /// A registry that challenges for a bearer token, and a token server that answers `status` and `body`.
    static func expectTokenError(_ status: HTTPResponseStatus, _ body: String, saying text: String) async {
        let stub = StubTransport { request in
            if request.url.hasPrefix("https://auth.example/") { return (status, [], body) }
            return (.unauthorized, [("WWW-Authenticate", #"Bearer realm="https://auth.example/token""#)], "")
        }
        let client = RegistryClient(
            reference: RegistryReference(host: "registry.example", repository: "app", tag: "1", digest: nil),
            credentials: nil,
            transport: stub)
        do {
            _ = try await client.manifest("1")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains(text), "\(error)")
        }
    }

    @Test func aRefusedTokenIsOneClearError() async {
        await Self.expectTokenError(.forbidden, "no", saying: "token endpoint answered HTTP 403")
    }

    @Test func aTokenAnswerWithoutATokenIsCorrupt() async {
        await Self.expectTokenError(.ok, #"{"nothing":1}"#, saying: "returned no token")
    }

    @Test func aManifestWhoseDigestDiffersFromItsReferenceIsRefused() async throws {
        let stub = StubTransport { _ in (.ok, [], Self.manifest) }
        let client = RegistryClient(
            reference: RegistryReference(host: "registry.example", repository: "app", tag: nil, digest: nil),
            credentials: nil,
            transport: stub)
        let wrong = "sha256:" + String(repeating: "0", count: 64)
        await #expect(throws: HardenError.self) { _ = try await client.manifest(wrong) }
    }
}

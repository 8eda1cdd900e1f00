// harden — where a registry's credentials may go: pure rules over URLs, so they can be tested and fuzzed alone.
//
// The rules (as Docker's clients apply them, and stricter where a hostile registry could abuse them):
// - the `Authorization` header (Basic credentials or the bearer token they bought) goes only to the registry's own
//   host and port, over HTTPS — or over plain HTTP when the user allowed plain HTTP for that registry
//   (`--tls-verify=false`). Upload `Location`s and redirects to any other host get no credentials;
// - Basic credentials go to a bearer challenge's `realm` (the token server, often another host, as with Docker
//   Hub) only over HTTPS, or over plain HTTP on the registry's own host (any port: a token server beside the
//   registry) when plain HTTP is allowed for it;
// - a URL with user information (`https://registry@evil/`) or a scheme other than http/https never gets any.
import HardenCore

/// The parts of an absolute http(s) URL that decide where credentials may go.
public struct URLOrigin: Sendable, Hashable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int
    /// The URL named user information before its host.
    public var hasUserInfo: Bool

    public var description: String { "\(scheme)://\(host):\(port)" }

    public init(scheme: String, host: String, port: Int, hasUserInfo: Bool) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.hasUserInfo = hasUserInfo
    }

    /// Parses `scheme://[userinfo@]host[:port][/...]`; nil for anything else (relative URLs, other schemes, bad ports).
    public static func parse(_ url: String) -> URLOrigin? {
        let bytes = Array(url.utf8)
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")),
            bytes.count >= colon + 3, bytes[colon + 1] == UInt8(ascii: "/"), bytes[colon + 2] == UInt8(ascii: "/")
        else { return nil }
        let scheme = String(decoding: bytes[..<colon], as: UTF8.self).lowercased()
        guard scheme == "http" || scheme == "https" else { return nil }
        var end = colon + 3
        while end < bytes.count, !"/?#\\".utf8.contains(bytes[end]) { end += 1 }
        var authority = bytes[(colon + 3)..<end]
        var userInfo = false
        if let at = authority.lastIndex(of: UInt8(ascii: "@")) {
            userInfo = true
            authority = authority[(at + 1)...]
        }
        var host = authority
        var port = scheme == "https" ? 443 : 80
        if authority.first == UInt8(ascii: "[") {
            // [IPv6]:port
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            host = authority[authority.startIndex...close]
            let rest = authority[(close + 1)...]
            if !rest.isEmpty {
                guard rest.first == UInt8(ascii: ":"), let p = Int(String(decoding: rest.dropFirst(), as: UTF8.self)),
                    (1...65535).contains(p)
                else { return nil }
                port = p
            }
        } else if let c = authority.lastIndex(of: UInt8(ascii: ":")) {
            host = authority[..<c]
            let text = String(decoding: authority[(c + 1)...], as: UTF8.self)
            if !text.isEmpty {
                guard let p = Int(text), (1...65535).contains(p) else { return nil }
                port = p
            }
        }
        guard !host.isEmpty else { return nil }
        return URLOrigin(
            scheme: scheme, host: String(decoding: host, as: UTF8.self).lowercased(), port: port, hasUserInfo: userInfo)
    }

    /// The same host and port (the scheme is judged separately).
    func sameEndpoint(_ other: URLOrigin) -> Bool { host == other.host && port == other.port }
}

/// Decides, for one registry, which URLs may carry its credentials.
public struct AuthScope: Sendable {
    /// The registry as the user named it: `HOST[:PORT]`.
    public let registryHost: String
    /// Plain HTTP was allowed for this registry (`--tls-verify=false`).
    public let plainHTTPAllowed: Bool

    public init(registryHost: String, plainHTTPAllowed: Bool) {
        self.registryHost = registryHost
        self.plainHTTPAllowed = plainHTTPAllowed
    }

    /// The registry's host and port for `scheme` (the default port when the user named none).
    func registryOrigin(scheme: String) -> URLOrigin? {
        URLOrigin.parse("\(scheme)://\(registryHost)/")
    }

    /// May the `Authorization` header (Basic credentials, or the registry's bearer token) go with a request to `url`?
    public func mayAuthorize(_ url: String) -> Bool {
        guard let target = URLOrigin.parse(url), !target.hasUserInfo,
            let registry = registryOrigin(scheme: target.scheme), target.sameEndpoint(registry)
        else { return false }
        return target.scheme == "https" || plainHTTPAllowed
    }

    /// May Basic credentials go to a bearer challenge's token `realm`?
    public func maySendCredentials(toRealm realm: String) -> Bool {
        guard let target = URLOrigin.parse(realm), !target.hasUserInfo else { return false }
        if target.scheme == "https" { return true }
        guard plainHTTPAllowed, let registry = registryOrigin(scheme: target.scheme) else { return false }
        return target.host == registry.host
    }

    /// May a bearer challenge's `realm` be asked at all? HTTPS anywhere, or the registry's own host (any port) over
    /// plain HTTP when plain HTTP is allowed for it — never a plain-HTTP address elsewhere (a registry must not make
    /// harden fetch internal services for it).
    public func mayAskRealm(_ realm: String) -> Bool {
        guard let target = URLOrigin.parse(realm), !target.hasUserInfo else { return false }
        if target.scheme == "https" { return true }
        guard plainHTTPAllowed, let registry = registryOrigin(scheme: target.scheme) else { return false }
        return target.host == registry.host
    }

    /// May a blob download follow a redirect to `url`? HTTPS anywhere (object stores, CDNs), plain HTTP only to the
    /// registry's own host and port when plain HTTP is allowed for it.
    public func mayFollowRedirect(to url: String) -> Bool {
        guard let target = URLOrigin.parse(url), !target.hasUserInfo else { return false }
        if target.scheme == "https" { return true }
        guard plainHTTPAllowed, let registry = registryOrigin(scheme: target.scheme) else { return false }
        return target.sameEndpoint(registry)
    }

    /// Resolves an upload `Location` (absolute, or a path on the registry) against the URL in use; nil when it is
    /// neither (another scheme, a relative path without a slash, control characters).
    public static func resolveLocation(_ location: String, base: String) -> String? {
        if location.utf8.contains(where: { $0 < 0x21 || $0 == 0x7F }) { return nil }
        if location.hasPrefix("/") && !location.hasPrefix("//") {
            guard let origin = URLOrigin.parse(base), !origin.hasUserInfo else { return nil }
            let defaultPort = origin.scheme == "https" ? 443 : 80
            let host = origin.host.contains(":") && !origin.host.hasPrefix("[") ? "[\(origin.host)]" : origin.host
            return "\(origin.scheme)://\(host)\(origin.port == defaultPort ? "" : ":\(origin.port)")\(location)"
        }
        return URLOrigin.parse(location) == nil ? nil : location
    }
}

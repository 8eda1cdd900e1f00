// harden — coverage probes: HTTP(S) requests, commands run inside the container, and user scripts on the host.
import AsyncHTTPClient
import HardenCore
import HardenSystem
import NIOCore
import NIOHTTP1
import NIOSSL

#if canImport(Glibc)
import Glibc
#endif

/// One `--http-probe [http|https:]PORT[:METHOD:PATH]`.
public struct HTTPProbe: Sendable, Equatable {
    public var https: Bool
    public var port: Int
    public var method: String
    public var path: String
    public var spec: String

    public init(parsing spec: String) throws {
        self.spec = spec
        var rest = Substring(spec)
        https = false
        if rest.hasPrefix("https:") { https = true; rest = rest.dropFirst(6) } else if rest.hasPrefix("http:") { rest = rest.dropFirst(5) }
        let portText = rest.prefix { $0 != ":" }
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw HardenError(.invalidArgument, "--http-probe \(spec): expected [http|https:]PORT[:METHOD:PATH] with a port in 1-65535")
        }
        self.port = port
        rest = rest.dropFirst(portText.count)
        method = "GET"
        path = "/"
        if rest.hasPrefix(":") {
            rest = rest.dropFirst()
            if rest.hasPrefix("/") {
                path = String(rest)
            } else {
                let m = rest.prefix { $0 != ":" }
                guard !m.isEmpty, m.allSatisfy({ $0.isLetter && $0.isASCII }) else {
                    throw HardenError(.invalidArgument, "--http-probe \(spec): \"\(m)\" is not an HTTP method")
                }
                method = m.uppercased()
                let p = rest.dropFirst(m.count).drop { $0 == ":" }
                path = p.isEmpty ? "/" : (p.hasPrefix("/") ? String(p) : "/" + p)
            }
        }
    }
}

/// Splits a command line into words the way a POSIX shell does for quotes and backslashes (no expansions),
/// so `--exec-probe 'cat /etc/os-release'` runs without needing a shell in the image.
public func splitCommandLine(_ s: String) throws -> [String] {
    var words: [String] = []
    var current = ""
    var inWord = false
    var quote: Character?
    var escape = false
    for c in s {
        if escape { current.append(c); escape = false; inWord = true; continue }
        if let q = quote {
            if c == q { quote = nil } else if c == "\\" && q == "\"" { escape = true } else { current.append(c) }
            continue
        }
        switch c {
        case "\\": escape = true; inWord = true
        case "'", "\"": quote = c; inWord = true
        case " ", "\t", "\n":
            if inWord { words.append(current); current = ""; inWord = false }
        default: current.append(c); inWord = true
        }
    }
    guard quote == nil, !escape else { throw HardenError(.invalidArgument, "\(s): unterminated quote or escape") }
    if inWord { words.append(current) }
    guard !words.isEmpty else { throw HardenError(.invalidArgument, "empty command") }
    return words
}

/// Sockets a container listens on, from its `/proc/PID/net/{tcp,tcp6,udp,udp6}`.
public enum ListeningSockets {
    /// Parses one of those tables. TCP sockets in LISTEN (0A) and bound UDP sockets (07) count.
    public static func parse(_ bytes: [UInt8], protocolName: String) -> [RuntimeProfile.Port] {
        var out: [RuntimeProfile.Port] = []
        let udp = protocolName.hasPrefix("udp")
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count > 3 else { continue }
            let state = f[3]
            guard state == (udp ? "07" : "0A") else { continue }
            let local = f[1].split(separator: ":")
            guard local.count == 2, let port = Int(local[1], radix: 16), let address = decodeAddress(local[0]) else { continue }
            out.append(RuntimeProfile.Port(protocolName: udp ? "udp" : "tcp", port: port, address: address))
        }
        return out
    }

    /// The kernel prints addresses as host-order 32-bit words in hex.
    static func decodeAddress(_ hex: Substring) -> String? {
        let bytes = stride(from: 0, to: hex.count, by: 2).compactMap { i -> UInt8? in
            let s = hex.index(hex.startIndex, offsetBy: i)
            return UInt8(hex[s..<hex.index(s, offsetBy: 2)], radix: 16)
        }
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        var ordered: [UInt8] = []
        for word in stride(from: 0, to: bytes.count, by: 4) { ordered += bytes[word..<(word + 4)].reversed() }
        if ordered.count == 4 { return ordered.map { "\($0)" }.joined(separator: ".") }
        if ordered.allSatisfy({ $0 == 0 }) { return "::" }
        var groups: [String] = []
        for i in stride(from: 0, to: 16, by: 2) { groups.append(String(UInt16(ordered[i]) << 8 | UInt16(ordered[i + 1]), radix: 16)) }
        return groups.joined(separator: ":")
    }

    /// Everything `pid`'s network namespace listens on.
    public static func of(pid: Int32) -> [RuntimeProfile.Port] {
        var out = Set<RuntimeProfile.Port>()
        for proto in ["tcp", "tcp6", "udp", "udp6"] {
            if let b = try? HostFS.readFile("/proc/\(pid)/net/\(proto)", limit: 8 << 20) { out.formUnion(parse(b, protocolName: proto)) }
        }
        return out.sorted()
    }
}

/// Runs HTTP probes against the container's address.
public final class HTTPProber: Sendable {
    private let client: HTTPClient

    public init() {
        var config = HTTPClient.Configuration()
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none  // test containers use self-signed certificates
        config.tlsConfiguration = tls
        config.redirectConfiguration = .disallow
        config.timeout = HTTPClient.Configuration.Timeout(connect: .seconds(2), read: .seconds(30))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    public func shutdown() async { try? await client.shutdown() }

    /// Waits until the port accepts connections (or `alive` turns false, or the deadline passes), then sends the
    /// request, retrying connection failures with backoff. Status < 400 is success.
    public func probe(_ p: HTTPProbe, host: String, waitSeconds: Double, alive: @Sendable () -> Bool) async -> RuntimeProfile.ProbeResult {
        let deadline = MonotonicClock.now + waitSeconds
        var attempts = 0
        var delay = 0.05
        var lastError = "port \(p.port) never accepted a connection"
        while MonotonicClock.now < deadline {
            attempts += 1
            if TCPPort.isOpen(host: host, port: p.port, timeout: 0.5) {
                let url = "\(p.https ? "https" : "http")://\(host.contains(":") ? "[\(host)]" : host):\(p.port)\(p.path)"
                var request = HTTPClientRequest(url: url)
                request.method = HTTPMethod(rawValue: p.method)
                request.headers.add(name: "User-Agent", value: "harden-probe")
                let start = MonotonicClock.now
                do {
                    let response = try await client.execute(request, timeout: .seconds(30))
                    let body = try await response.body.collect(upTo: 64 << 20)
                    let latency = (MonotonicClock.now - start) * 1000
                    let status = Int(response.status.code)
                    return RuntimeProfile.ProbeResult(
                        kind: p.https ? .https : .http, spec: p.spec, ok: status < 400, status: status,
                        latencyMs: (latency * 10).rounded() / 10, bytes: body.readableBytes, attempts: attempts,
                        error: status < 400 ? nil : "HTTP \(status)")
                } catch {
                    lastError = "\(p.method) \(p.path): \(error)"
                }
            } else if !alive() {
                lastError = "the container exited before port \(p.port) opened"
                break
            }
            try? await Task.sleep(nanoseconds: UInt64(delay * 1e9))
            delay = min(delay * 2, 1.0)
        }
        return RuntimeProfile.ProbeResult(kind: p.https ? .https : .http, spec: p.spec, ok: false, attempts: attempts, error: lastError)
    }
}

/// A TCP connect check with a timeout.
public enum TCPPort {
    public static func isOpen(host: String, port: Int, timeout: Double) -> Bool {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { return false }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if r == 0 { return true }
        guard errno == EINPROGRESS else { return false }
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&pfd, 1, Int32(timeout * 1000)) == 1 else { return false }
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
        return err == 0
    }
}

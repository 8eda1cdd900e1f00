// harden — coverage probes: HTTP(S) requests, commands run inside the container, and user scripts on the host.
import AsyncHTTPClient
import HardenCore
import HardenProfile
import HardenSystem
import NIOCore
import NIOHTTP1
import NIOSSL

#if canImport(Glibc)
import Glibc
#endif

extension ListeningSockets {
    /// Everything `pid`'s network namespace listens on; with `ownedInPIDNamespace`, only the sockets that processes of
    /// that PID namespace hold (the target's own, when services share its network namespace).
    public static func of(pid: Int32, ownedInPIDNamespace: String? = nil) -> [RuntimeProfile.Port] {
        let inodes = ownedInPIDNamespace.map(socketInodes(inPIDNamespace:))
        var out = Set<RuntimeProfile.Port>()
        for proto in ["tcp", "tcp6", "udp", "udp6"] {
            if let b = try? HostFS.readFile("/proc/\(pid)/net/\(proto)", limit: 8 << 20) {
                out.formUnion(parse(b, protocolName: proto, inodes: inodes))
            }
        }
        return out.sorted()
    }

    /// The PID namespace of `pid` (`pid:[4026532…]`), nil when it cannot be read.
    public static func pidNamespace(of pid: Int32) -> String? { Tracer.readLink("/proc/\(pid)/ns/pid") }

    /// The socket inodes held by the processes of a PID namespace.
    static func socketInodes(inPIDNamespace ns: String) -> Set<String> {
        var out = Set<String>()
        for entry in (try? HostFS.listDirectory("/proc")) ?? [] where entry.first?.isNumber == true {
            guard Tracer.readLink("/proc/\(entry)/ns/pid") == ns else { continue }
            for fd in (try? HostFS.listDirectory("/proc/\(entry)/fd")) ?? [] {
                if let l = Tracer.readLink("/proc/\(entry)/fd/\(fd)"), l.hasPrefix("socket:[") {
                    out.insert(String(l.dropFirst(8).dropLast()))
                }
            }
        }
        return out
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

    /// Waits until the port accepts connections (looking every 20 ms; or until `alive` turns false, or the deadline
    /// passes), then sends the request, retrying failed requests with backoff. Status < 400 is success.
    public func probe(
        _ p: HTTPProbe, host: String, waitSeconds: Double, alive: @Sendable () -> Bool
    ) async -> RuntimeProfile.ProbeResult {
        let deadline = MonotonicClock.now + waitSeconds
        var attempts = 0
        var delay = 0.05
        var lastError = "port \(p.port) never accepted a connection"
        while MonotonicClock.now < deadline {
            attempts += 1
            if TCPPort.isOpen(host: host, port: p.port, timeout: 0.5) {
                let url =
                    "\(p.https ? "https" : "http")://\(host.contains(":") ? "[\(host)]" : host):\(p.port)\(p.path)"
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
            } else {
                // A closed port costs one refused connect: look again soon (the app is starting).
                try? await Task.sleep(nanoseconds: 20_000_000)
                continue
            }
            try? await Task.sleep(nanoseconds: UInt64(delay * 1e9))
            delay = min(delay * 2, 1.0)
        }
        return RuntimeProfile.ProbeResult(
            kind: p.https ? .https : .http, spec: p.spec, ok: false, attempts: attempts, error: lastError)
    }
}

/// A TCP connect check with a timeout.
public enum TCPPort {
    public static func isOpen(host: String, port: Int, timeout: Double) -> Bool {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { return false }
        let fd = socket(
            AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
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

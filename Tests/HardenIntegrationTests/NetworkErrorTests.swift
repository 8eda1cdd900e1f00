// harden — what a user reads when the network fails: one line per failure (refused, DNS, TLS, timeout), naming the
// registry; the transport's own description only at --log-level debug.
import Foundation
import HardenSystem
import HardenTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct NetworkErrorTests {
    /// A TCP server on a free port: `http` answers plain HTTP (so a TLS client fails its handshake), `silent`
    /// accepts and never answers.
    static func server(_ kind: String, _ body: (Int) throws -> Void) throws {
        let script = """
            import socket, sys, threading, time
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
            print(s.getsockname()[1], flush=True)
            held = []
            while True:
                c, _ = s.accept()
                if sys.argv[1] == "http":
                    c.recv(4096); c.sendall(b"HTTP/1.0 400 Bad Request\\r\\nContent-Length: 0\\r\\n\\r\\n"); c.close()
                else:
                    held.append(c)
            """
        try BackgroundServer.withPythonServer(script, arguments: [kind], body)
    }

    static func inspect(_ reference: String, _ extra: [String] = []) throws -> (Int32, String) {
        try runProcess([hardenBinary, "inspect", reference, "--timeout", "2"] + extra)
    }

    static func oneLine(_ out: String) -> String {
        out.split(separator: "\n").filter { $0.hasPrefix("harden:") }.joined(separator: "\n")
    }

    @Test func eachNetworkFailureIsOneLine() throws {
        // Connection refused: a port nothing listens on.
        var (s, o) = try Self.inspect("docker://127.0.0.1:1/repo:tag")
        #expect(s == 1 && Self.oneLine(o) == "harden: 127.0.0.1:1: cannot connect (connection refused)", "\(o)")
        // DNS: a name that cannot resolve (.invalid is reserved, RFC 2606).
        (s, o) = try Self.inspect("docker://registry.harden-test.invalid/repo:tag")
        #expect(
            s == 1 && Self.oneLine(o) == "harden: registry.harden-test.invalid: cannot resolve the host name (DNS)",
            "\(o)")
        // TLS: the server speaks plain HTTP.
        try Self.server("http") { port in
            let (s, o) = try Self.inspect("docker://127.0.0.1:\(port)/repo:tag")
            #expect(s == 1 && Self.oneLine(o).hasPrefix("harden: 127.0.0.1:\(port): TLS handshake failed"), "\(o)")
            #expect(Self.oneLine(o).contains("--tls-verify=false") && !o.contains("BoringSSL"), "\(o)")
        }
        // Timeout: the server accepts and never answers.
        try Self.server("silent") { port in
            let (s, o) = try Self.inspect("docker://127.0.0.1:\(port)/repo:tag")
            #expect(s == 1 && Self.oneLine(o).contains("127.0.0.1:\(port)") && Self.oneLine(o).contains("2 s"), "\(o)")
            #expect(o.split(separator: "\n").count == 1, "\(o)")
        }
        // The transport's own description is there at debug level.
        (s, o) = try Self.inspect("docker://127.0.0.1:1/repo:tag", ["--log-level", "debug"])
        #expect(s == 1 && o.contains("debug:") && o.lowercased().contains("refused"), "\(o)")
    }
}

// harden — a registry that stops sending a layer: the pull ends within two idle periods with one line (a resume that
// brings no new byte is not repeated), while a registry that is only slow still completes.
import Foundation
import HardenArchive
import HardenOCI
import HardenSystem
import HardenTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct StallingRegistryTests {
    /// A registry serving one image from an OCI layout; its layer (the largest blob) as `mode` says: `stall` sends
    /// the headers and 1,000 bytes, then nothing (a Range request gets its headers, then nothing); `slow` sends all
    /// but the last 30 bytes, then one byte per second (30 s).
    static func registry(_ layout: String, mode: String, _ body: (Int) throws -> Void) throws {
        let script = """
            import http.server, json, os, sys, time
            root, mode = sys.argv[1], sys.argv[2]
            index = json.load(open(root + "/index.json"))
            manifest_digest = index["manifests"][0]["digest"]
            blob = lambda d: open(root + "/blobs/sha256/" + d.split(":")[1], "rb").read()
            manifest = blob(manifest_digest)
            layer = max(json.loads(manifest)["layers"], key=lambda l: l["size"])["digest"]
            class H(http.server.BaseHTTPRequestHandler):
                protocol_version = "HTTP/1.1"
                def log_message(self, *a): pass
                def answer(self, status, body, headers=()):
                    self.send_response(status)
                    for k, v in headers: self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD": self.wfile.write(body)
                def do_HEAD(self): self.do_GET()
                def do_GET(self):
                    p = self.path
                    if p == "/v2/": return self.answer(200, b"{}")
                    if "/manifests/" in p:
                        return self.answer(200, manifest, [
                            ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
                            ("Docker-Content-Digest", manifest_digest)])
                    d = p.split("/blobs/")[-1]
                    data = blob(d)
                    if d != layer or self.command == "HEAD": return self.answer(200, data)
                    start = int(self.headers["Range"][6:-1]) if self.headers.get("Range") else 0
                    rest = data[start:]
                    self.send_response(206 if start else 200)
                    if start: self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
                    self.send_header("Content-Length", str(len(rest)))
                    self.end_headers()
                    if mode == "stall":
                        if not start: self.wfile.write(rest[:1000]); self.wfile.flush()
                        time.sleep(600)
                        return
                    self.wfile.write(rest[:-30]); self.wfile.flush()
                    for b in rest[-30:]:
                        time.sleep(1); self.wfile.write(bytes([b])); self.wfile.flush()
            s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
            s.daemon_threads = True
            print(s.server_address[1], flush=True)
            s.serve_forever()
            """
        try BackgroundServer.withPythonServer(script, arguments: [layout, mode], body)
    }

    /// An image whose layer is incompressible (so it is well over 1,000 bytes).
    static func image(_ dir: String) throws -> String {
        var noise = [UInt8](repeating: 0, count: 16 << 10)
        for i in noise.indices { noise[i] = UInt8.random(in: 0...255) }
        try Fixtures.ociLayout(
            at: dir + "/img",
            images: [(tag: "t", layers: [try Fixtures.layer([.file(raw: Array("noise".utf8), noise)])], config: nil)])
        return dir + "/img"
    }

    @Test func aRegistryThatStopsSendingEndsThePullWithinTwoIdlePeriods() throws {
        try withTemporaryDirectory { dir in
            try Self.registry(try Self.image(dir), mode: "stall") { port in
                let start = Date()
                let (s, o) = try runProcess([
                    hardenBinary, "convert", "--tls-verify=false", "--timeout", "5",
                    "docker://127.0.0.1:\(port)/repo:t", "oci:\(dir)/out:t",
                ])
                let took = Date().timeIntervalSince(start)
                #expect(s == 1, "\(o)")
                #expect(took < 15, "the pull took \(took) s")
                let lines = o.split(separator: "\n").filter { $0.hasPrefix("harden:") }
                #expect(lines.count == 1 && lines[0].contains("no new byte"), "\(o)")
            }
        }
    }

    @Test func aSlowRegistryStillCompletes() throws {
        try withTemporaryDirectory { dir in
            let layout = try Self.image(dir)
            try Self.registry(layout, mode: "slow") { port in
                let (s, o) = try runProcess([
                    hardenBinary, "convert", "--tls-verify=false", "--timeout", "5",
                    "docker://127.0.0.1:\(port)/repo:t", "oci:\(dir)/out:t",
                ])
                #expect(s == 0, "\(o)")
                let (ss, so) = try runProcess(["skopeo", "inspect", "--raw", "oci:\(dir)/out:t"])
                let (os, oo) = try runProcess(["skopeo", "inspect", "--raw", "oci:\(layout):t"])
                #expect(ss == 0 && os == 0 && so == oo)
            }
        }
    }
}

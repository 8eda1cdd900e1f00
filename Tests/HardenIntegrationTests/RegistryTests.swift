// harden — pulling and pushing against a real Distribution registry (Debian's docker-registry) on loopback.
import Foundation
import HardenCore
import HardenOCI
import HardenRegistry
import HardenRegistryAuth
import HardenSystem
import HardenTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A docker-registry process on 127.0.0.1, stopped when the value goes away.
final class RegistryServer {
    let port: Int
    let dir: String
    private let pidFile: String

    /// docker-registry cannot say which port it got for port 0: it is given a free one, and another when that was
    /// taken before it bound it.
    init(
        dir: String, htpasswd: (user: String, password: String)? = nil, tokenRealm: (url: String, cert: String)? = nil
    ) throws {
        try #require(haveProgram("docker-registry"), "docker-registry is not installed: run scripts/setup.sh")
        self.dir = dir
        self.pidFile = dir + "/registry.pid"
        try HostFS.makeDirectories(dir + "/data")
        var auth = ""
        if let h = htpasswd {
            try #require(haveProgram("htpasswd"), "htpasswd (apache2-utils) is not installed: run scripts/setup.sh")
            let (s, o) = try runProcess(["sh", "-c", "htpasswd -Bbn '\(h.user)' '\(h.password)' > '\(dir)/htpasswd'"])
            try #require(s == 0, "\(o)")
            auth = "auth:\n  htpasswd:\n    realm: harden-test\n    path: \(dir)/htpasswd\n"
        }
        if let t = tokenRealm {
            auth =
                "auth:\n  token:\n    realm: \(t.url)\n    service: harden-test-registry\n    issuer: harden-test-issuer\n    rootcertbundle: \(t.cert)\n"
        }
        for _ in 0..<3 {
            let port = freePort(host: "127.0.0.1")
            let config =
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: \(dir)/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:\(port)\n\(auth)"
            try HostFS.writeFileAtomically(dir + "/config.yml", Array(config.utf8))
            let (s, o) = try runProcess([
                "sh", "-c",
                "docker-registry serve '\(dir)/config.yml' > '\(dir)/registry.log' 2>&1 & echo $! > '\(pidFile)'",
            ])
            try #require(s == 0, "\(o)")
            // Wait until it answers (or has died: the port was taken).
            for _ in 0..<50 {
                if (try? runProcess(["curl", "-s", "-o", "/dev/null", "http://127.0.0.1:\(port)/v2/"]).status) == 0 {
                    self.port = port
                    return
                }
                if (try? runProcess(["sh", "-c", "kill -0 $(cat '\(pidFile)')"]).status) != 0 { break }
                usleep(100_000)
            }
            _ = try? runProcess(["sh", "-c", "kill $(cat '\(pidFile)') 2>/dev/null"])
        }
        self.port = 0
        Issue.record(
            "docker-registry did not start: \(String(decoding: (try? HostFS.readFile(dir + "/registry.log")) ?? [], as: UTF8.self))"
        )
    }

    deinit { _ = try? runProcess(["sh", "-c", "kill $(cat '\(pidFile)') 2>/dev/null"]) }

    var log: String {
        String(decoding: (try? HostFS.readFile(dir + "/registry.log", limit: 1 << 26)) ?? [], as: UTF8.self)
    }
}

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct RegistryTests {
    @Test func pushAndPullRoundTripMatchesSkopeo() throws {
        try TestImages.require()
        try TestImages.requireTools("skopeo")
        try #require(HostFS.exists(hardenBinary), "build harden first (swift build)")
        try withTemporaryDirectory { dir in
            let server = try RegistryServer(dir: dir + "/reg")
            let host = "127.0.0.1:\(server.port)"
            // Push with harden, twice (the second push uploads nothing).
            let (s1, o1) = try runProcess([
                hardenBinary, "convert", "--tls-verify=false", "oci:\(TestImages.layout):nginx",
                "docker://\(host)/harden/nginx:1",
            ])
            #expect(s1 == 0, "\(o1)")
            let (s2, o2) = try runProcess([
                hardenBinary, "convert", "--tls-verify=false", "--log-level", "debug", "oci:\(TestImages.layout):nginx",
                "docker://\(host)/harden/nginx:1",
            ])
            #expect(s2 == 0 && !o2.contains("uploaded=true"), "second push must skip existing blobs: \(o2)")
            // skopeo reads what we pushed; the manifest digest is the source's.
            let local = try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: "nginx"))
            let (s3, o3) = try runProcess([
                "skopeo", "inspect", "--tls-verify=false", "docker://\(host)/harden/nginx:1",
            ])
            #expect(s3 == 0 && o3.contains(local.manifestDigest.description), "\(o3)")
            // Pull back with harden; same manifest, same layers.
            let (s4, o4) = try runProcess([
                hardenBinary, "convert", "--tls-verify=false", "docker://\(host)/harden/nginx:1", "oci:\(dir)/pulled:n",
            ])
            #expect(s4 == 0, "\(o4)")
            let pulled = try ImageLoader.open(.ociLayout(path: dir + "/pulled", tag: "n"))
            #expect(pulled.manifestDigest == local.manifestDigest)
            #expect(pulled.layers.map(\.diffID) == local.layers.map(\.diffID))
            // An image pushed by skopeo is pulled by harden, and skopeo reads harden's pull.
            let (s5, o5) = try runProcess([
                "skopeo", "copy", "-q", "--dest-tls-verify=false", "oci:\(TestImages.layout):flask",
                "docker://\(host)/skopeo/flask:2",
            ])
            #expect(s5 == 0, "\(o5)")
            let (s6, o6) = try runProcess([
                hardenBinary, "inspect", "--tls-verify=false", "--format", "json", "docker://\(host)/skopeo/flask:2",
            ])
            #expect(s6 == 0 && o6.contains("bookworm"), "\(o6.prefix(300))")
            // A name as people type it, without docker://, reaches the same registry.
            let (sn, on) = try runProcess([
                hardenBinary, "inspect", "--tls-verify=false", "--format", "json", "\(host)/skopeo/flask:2",
            ])
            #expect(sn == 0 && on == o6, "\(on.prefix(300))")
            let (s7, o7) = try runProcess(["skopeo", "copy", "-q", "oci:\(dir)/pulled:n", "oci:\(dir)/bySkopeo:n"])
            #expect(s7 == 0, "\(o7)")
            // Cross-repository mount on the same registry.
            let (s8, o8) = try runProcess([
                hardenBinary, "convert", "--tls-verify=false", "docker://\(host)/harden/nginx:1",
                "docker://\(host)/other/nginx:copy",
            ])
            #expect(s8 == 0, "\(o8)")
            #expect(
                server.log.contains("mount") || server.log.contains("from=harden"),
                "the copy should use a cross-repository mount")
            // A missing tag is "not found", exit 1, one line.
            let (s9, o9) = try runProcess([
                hardenBinary, "inspect", "--tls-verify=false", "docker://\(host)/harden/nginx:nope",
            ])
            #expect(
                s9 == 1 && o9.contains("not found") && o9.contains("nginx:nope")
                    && o9.split(separator: "\n").count == 1, "\(o9)")
        }
    }

    @Test func basicAuthAndWrongPasswords() throws {
        try TestImages.require()
        try #require(HostFS.exists(hardenBinary), "build harden first (swift build)")
        try withTemporaryDirectory { dir in
            let server = try RegistryServer(dir: dir + "/reg", htpasswd: ("alice", "s3cret"))
            let host = "127.0.0.1:\(server.port)"
            let (s1, o1) = try runProcess([
                hardenBinary, "convert", "--tls-verify=false", "--creds", "alice:s3cret",
                "oci:\(TestImages.layout):base",
                "docker://\(host)/team/base:1",
            ])
            #expect(s1 == 0, "\(o1)")
            let (s2, o2) = try runProcess([
                hardenBinary, "inspect", "--tls-verify=false", "--creds", "alice:wrong", "docker://\(host)/team/base:1",
            ])
            #expect(
                s2 == 1 && o2.contains("unauthorized") && o2.contains("127.0.0.1") && o2.contains("team/base"), "\(o2)")
            let (s3, o3) = try runProcess([
                hardenBinary, "inspect", "--tls-verify=false", "docker://\(host)/team/base:1",
            ])
            #expect(s3 == 1 && o3.contains("unauthorized"), "no credentials: \(o3)")
            // Credentials from the environment and from ~/.docker/config.json.
            let (s4, o4) = try runProcess(
                [hardenBinary, "inspect", "--tls-verify=false", "docker://\(host)/team/base:1"],
                environment: ["HARDEN_REGISTRY_USER": "alice", "HARDEN_REGISTRY_PASSWORD": "s3cret"])
            #expect(s4 == 0, "\(o4)")
            try HostFS.makeDirectories(dir + "/docker")
            let auth = Data("alice:s3cret".utf8).base64EncodedString()
            try HostFS.writeFileAtomically(
                dir + "/docker/config.json", Array(#"{"auths": {"\#(host)": {"auth": "\#(auth)"}}}"#.utf8))
            let (s5, o5) = try runProcess(
                [hardenBinary, "inspect", "--tls-verify=false", "docker://\(host)/team/base:1"],
                environment: ["DOCKER_CONFIG": dir + "/docker"])
            #expect(s5 == 0, "\(o5)")
        }
    }

    @Test func bearerTokenFlowWithATokenIssuer() throws {
        try TestImages.require()
        try #require(HostFS.exists(hardenBinary), "build harden first (swift build)")
        try #require(
            (try? runProcess(["python3", "-c", "import cryptography"]).status) == 0,
            "python cryptography is needed: run scripts/setup.sh")
        try withTemporaryDirectory { dir in
            let tokenPort =
                try BackgroundServer.startOnAnyPort(
                    "python3 -u '\(packageRoot)/Tests/Tools/token-issuer.py' 0 '\(dir)/issuer.pem' bob hunter2",
                    log: dir + "/issuer.log",
                    pidFile: dir + "/issuer.pid", pattern: "listening on port ([0-9]+)"
                ).first ?? 0
            defer { BackgroundServer.stop(pidFile: dir + "/issuer.pid") }
            try #require(
                HostFS.exists(dir + "/issuer.pem"),
                "the token issuer did not start: \(String(decoding: (try? HostFS.readFile(dir + "/issuer.log")) ?? [], as: UTF8.self))"
            )
            let server = try RegistryServer(
                dir: dir + "/reg", tokenRealm: ("http://127.0.0.1:\(tokenPort)/token", dir + "/issuer.pem"))
            let host = "127.0.0.1:\(server.port)"
            let (s1, o1) = try runProcess([
                hardenBinary, "convert", "--tls-verify=false", "--creds", "bob:hunter2",
                "oci:\(TestImages.layout):base",
                "docker://\(host)/team/base:1",
            ])
            #expect(s1 == 0, "push with a bearer token: \(o1) \(server.log.suffix(500))")
            let (s2, o2) = try runProcess([
                hardenBinary, "inspect", "--tls-verify=false", "--creds", "bob:hunter2", "docker://\(host)/team/base:1",
            ])
            #expect(s2 == 0 && o2.contains("Debian"), "\(o2)")
            let issued = String(decoding: (try? HostFS.readFile(dir + "/issuer.log")) ?? [], as: UTF8.self)
            #expect(issued.contains("GET /token"), "tokens came from the issuer")
            let (s3, o3) = try runProcess([
                hardenBinary, "inspect", "--tls-verify=false", "--creds", "bob:wrong", "docker://\(host)/team/base:1",
            ])
            #expect(s3 == 1 && o3.contains("unauthorized") && o3.contains("team/base"), "\(o3)")
        }
    }

    @Test func referencesAndChallengesParse() throws {
        let r = try RegistryReference.parse("nginx")
        #expect(r.host == "registry-1.docker.io" && r.repository == "library/nginx" && r.reference == "latest")
        let l = try RegistryReference.parse("localhost:5000/a/b:v1")
        #expect(l.host == "localhost:5000" && l.repository == "a/b" && l.tag == "v1")
        let d = try RegistryReference.parse("ghcr.io/x/y@sha256:" + String(repeating: "a", count: 64))
        #expect(d.digest != nil && d.tag == nil)
        #expect(throws: HardenError.self) { try RegistryReference.parse("Host.io/UPPER:1") }
    }
}

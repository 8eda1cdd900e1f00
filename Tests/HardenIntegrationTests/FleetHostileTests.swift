// harden — the fleet attacked as a `submit` token holder would (issue 30): `harden serve` and `harden worker` as real
// processes on a real PostgreSQL, a hostile registry on loopback, jobs sent straight to the API (the CLI's own
// checks bypassed). Each case failed on the code before the fix.
import AsyncHTTPClient
import Foundation
import HardenCore
import HardenFleet
import HardenPackages
import HardenSystem
import HardenTestSupport
import NIOCore
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A server (and workers run to completion) for one test, as real processes.
final class FleetProcesses {
    let dir: String
    let pg: ScratchPostgres
    let db: String
    var base = ""
    static let admin = "admin-token-0123456789"
    static let submit = "submit-token-0123456789"
    static let read = "read-token-0123456789"
    /// A secret only the worker's environment holds.
    static let workerSecret = "WORKER-SECRET-7f3a9c"

    init(dir: String, pg: ScratchPostgres, serveArgs: [String] = []) async throws {
        self.dir = dir
        self.pg = pg
        db = try FleetFixture.importTracker(dir, v2: false)
        try writeTokens("admin \(Self.admin) admin\nsubmit \(Self.submit) ci\nread \(Self.read) viewer\n")
        try await startServer(serveArgs)
    }

    func writeTokens(_ text: String) throws { try HostFS.writeFileAtomically(dir + "/tokens", Array(text.utf8)) }

    func startServer(_ extra: [String] = []) async throws {
        stopServer()
        _ = unlink(dir + "/port")
        let argv =
            [
                hardenBinary, "serve", "--database", pg.url, "--db", db, "--listen", "127.0.0.1:0", "--port-file",
                dir + "/port",
                "--token-file", dir + "/tokens",
            ] + extra
        let quoted = argv.map { "'\($0)'" }.joined(separator: " ")
        let (s, o) = try runProcess(["sh", "-c", "\(quoted) >>'\(dir)/serve.log' 2>&1 & echo $! >'\(dir)/serve.pid'"])
        try #require(s == 0, "\(o)")
        for _ in 0..<300 where !HostFS.exists(dir + "/port") { try await Task.sleep(for: .milliseconds(100)) }
        let port = String(decoding: try HostFS.readFile(dir + "/port"), as: UTF8.self).trimmingCharacters(
            in: .whitespacesAndNewlines)
        base = "http://127.0.0.1:\(port)"
    }

    func stopServer() {
        _ = try? runProcess(["sh", "-c", "kill -9 $(cat '\(dir)/serve.pid') 2>/dev/null; sleep 0.2"])
    }

    deinit { stopServer() }

    /// Sends jobs straight to the API; returns their ids.
    func submit(_ body: String, token: String = FleetProcesses.submit) async throws -> [Int64] {
        let (status, text) = try await FleetFixture.request(.POST, base + "/v1/jobs", token: token, body: body)
        try #require(status == 202, "submit: \(status) \(text)")
        return try JSONDecoder().decode(SubmissionAnswer.self, from: Data(text.utf8)).jobs
    }

    /// Runs a worker until it has done `jobs` jobs, with the worker's secret in its environment.
    func work(_ jobs: Int, _ extra: [String] = [], timeout: Double = 300) throws -> String {
        let argv =
            [
                "env", "HARDEN_WORKER_SECRET=\(Self.workerSecret)", "HARDEN_TOKEN=\(Self.admin)",
                "XDG_CACHE_HOME=\(dir)/cache",
                "timeout", String(Int(timeout)), hardenBinary, "worker", "--database", pg.url, "--server", base,
                "--max-jobs", String(jobs),
                "--cache", dir + "/wc",
            ] + extra
        let (s, o) = try runProcess(argv)
        #expect(s == 0, "worker: \(o)")
        return o
    }

    func job(_ id: Int64, token: String = FleetProcesses.admin) async throws -> FleetJob {
        let (s, text) = try await FleetFixture.request(.GET, base + "/v1/jobs/\(id)", token: token)
        try #require(s == 200, "\(text)")
        return try JSONDecoder.iso8601.decode(FleetJob.self, from: Data(text.utf8))
    }
}

/// Every start tag and attribute in a page, by Python's HTML parser.
func htmlElements(_ html: String, dir: String) throws -> [(tag: String, attributes: [String])] {
    try HostFS.writeFileAtomically(dir + "/page.html", Array(html.utf8))
    let script = """
        import json, sys
        from html.parser import HTMLParser
        out = []
        class P(HTMLParser):
            def handle_starttag(self, tag, attrs):
                out.append([tag, [k for k, _ in attrs]])
        P().feed(open(sys.argv[1], encoding="utf-8", errors="replace").read())
        print(json.dumps(out))
        """
    let (s, o) = try runProcess(["python3", "-c", script, dir + "/page.html"])
    try #require(s == 0, "\(o)")
    let rows = try JSONSerialization.jsonObject(with: Data(o.utf8)) as? [[Any]] ?? []
    return rows.map { (($0[0] as? String) ?? "", ($0[1] as? [String]) ?? []) }
}

/// No element or attribute that a page's template does not have: no img/script/svg/iframe, no event handler.
func expectNoInjectedMarkup(_ html: String, dir: String, _ context: String) throws {
    for e in try htmlElements(html, dir: dir) {
        #expect(
            !["img", "script", "svg", "iframe", "object", "embed"].contains(e.tag), "\(context): <\(e.tag)> from data")
        #expect(!e.attributes.contains { $0.hasPrefix("on") }, "\(context): event handler on <\(e.tag)>")
    }
}

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct FleetHostileTests {
    /// 1. The `..` volume and symlink escape: refused before anything runs, through the fleet and the CLI; and the
    /// run tree's writes are anchored so a planted symlink cannot redirect one.
    @Test func theDotDotVolumeEscapeWritesNothingOutsideTheRun() async throws {
        try await ScratchPostgres.with { pg in
            try await withTemporaryDirectory { dir in
                let fleet = try await FleetProcesses(dir: dir, pg: pg)
                let target = dir + "/host-etc"
                try HostFS.makeDirectories(target)
                let compose = """
                    services:
                      web:
                        image: registry.example.com/web:1
                        extra_hosts: ["evil:6.6.6.6"]
                        volumes:
                          - {type: volume, source: "..", target: /x}
                      helper:
                        image: registry.example.com/helper:1
                        command: ["sh", "-c", "ln -s \(target) /x/services/1"]
                        volumes:
                          - {type: volume, source: "..", target: /x}
                    """
                let options = try JSONEncoder().encode(
                    JobOptions(arguments: ["--service", "web", "--exec-probe", "true"], policy: nil))
                var optionsObject = try JSONSerialization.jsonObject(with: options) as? [String: Any] ?? [:]
                optionsObject["compose"] = compose
                let body = try JSONSerialization.data(
                    withJSONObject: [
                        "action": "run", "images": ["registry.example.com/web:1"], "options": optionsObject,
                    ])
                let ids = try await fleet.submit(String(decoding: body, as: UTF8.self))
                _ = try fleet.work(1)
                let job = try await fleet.job(ids[0])
                #expect(job.state == .failed && job.attempts == 1, "\(job)")
                #expect(job.error?.contains("not a volume name") == true, "\(job.error ?? "")")
                let written = try HostFS.listDirectory(target)
                #expect(written.isEmpty, "written into the target: \(written)")

                // The plain CLI: refused in one line, nothing written.
                try HostFS.writeFileAtomically(dir + "/compose.yaml", Array(compose.utf8))
                let (s, o) = try runProcess([
                    hardenBinary, "run", "--compose", dir + "/compose.yaml", "--service", "web", "--report-dir",
                    dir + "/r", "-o",
                    "oci:\(dir)/out",
                ])
                #expect(s == 1 && o.contains("not a volume name"), "\(o)")
                #expect(o.split(separator: "\n").filter { $0.hasPrefix("harden:") }.count == 1, "\(o)")
                #expect(try HostFS.listDirectory(target).isEmpty)

                // The anchored writer: a symlink planted where a run's directory goes is refused, never followed.
                try HostFS.makeDirectories(dir + "/run/services")
                #expect(symlink(target, dir + "/run/services/1") == 0)
                let tree = try AnchoredDirectory(hostPath: dir + "/run")
                #expect(throws: HardenError.self) {
                    try tree.writeFileAtomically(RawPath("services/1/hosts"), Array("x".utf8))
                }
                #expect(throws: HardenError.self) { try tree.makeDirectory(RawPath("services/1/upper"), mode: 0o755) }
                #expect(throws: HardenError.self) { _ = try tree.openDirectory(RawPath("services/1")) }
                #expect(try HostFS.listDirectory(target).isEmpty)
                // A symlink at the file itself is replaced, not followed.
                #expect(symlink(target + "/hosts", dir + "/run/hosts") == 0)
                try tree.writeFileAtomically(RawPath("hosts"), Array("127.0.0.1 localhost\n".utf8))
                #expect(!HostFS.exists(target + "/hosts"))
            }
        }
    }

    /// 2. A job's probe cannot read the worker's variables: `--env NAME`, bare Compose names and `${VAR}` are refused
    /// before the job runs, and nothing stored holds the secret in any encoding.
    @Test func aJobCannotReadTheWorkersEnvironment() async throws {
        try await ScratchPostgres.with { pg in
            try await withTemporaryDirectory { dir in
                let fleet = try await FleetProcesses(dir: dir, pg: pg)
                let probe = "--exec-probe=sh -c 'echo $HARDEN_WORKER_SECRET | rev; echo $HARDEN_WORKER_SECRET | base64'"
                let jobs: [[String: Any]] = [
                    ["arguments": ["--env", "HARDEN_WORKER_SECRET", probe]],
                    ["arguments": ["--env=HARDEN_TOKEN", probe]],
                    [
                        "arguments": ["--service", "web", probe],
                        "compose":
                            "services:\n  web:\n    image: registry.example.com/web:1\n    environment: [HARDEN_WORKER_SECRET]\n",
                    ],
                    [
                        "arguments": ["--service", "web", probe],
                        "compose":
                            "services:\n  web:\n    image: registry.example.com/web:1\n    environment:\n      S: \"${HARDEN_WORKER_SECRET}\"\n",
                    ],
                    ["arguments": ["--network", "host", probe]],
                    ["arguments": ["--duration", "100000"]],
                ]
                var ids: [Int64] = []
                for options in jobs {
                    let body = try JSONSerialization.data(
                        withJSONObject: ["action": "run", "images": ["registry.example.com/web:1"], "options": options])
                    ids += try await fleet.submit(String(decoding: body, as: UTF8.self))
                }
                let log = try fleet.work(jobs.count)
                let secret = FleetProcesses.workerSecret
                let encodings = [
                    secret, String(secret.reversed()), Data(secret.utf8).base64EncodedString().prefix(16).description,
                ]
                for id in ids {
                    let job = try await fleet.job(id)
                    #expect(job.state == .failed && job.attempts == 1, "\(id): \(job.state) \(job.error ?? "")")
                    #expect(job.startedAt != nil)
                    let text = String(decoding: try JSONEncoder().encode(job), as: UTF8.self)
                    for e in encodings { #expect(!text.contains(e), "job \(id) holds the secret") }
                }
                for e in encodings { #expect(!log.contains(e)) }
                let errors = try await ids.asyncMap { try await fleet.job($0).error ?? "" }
                #expect(errors[0].contains("has no value") && errors[1].contains("has no value"), "\(errors)")
                #expect(errors[2].contains("without a value") && errors[3].contains("variables"), "\(errors)")
                #expect(errors[4].contains("--allow-job-network") && errors[5].contains("at most"), "\(errors)")
            }
        }
    }

    /// 3. Stored and reflected XSS: the grapheme-cluster payloads render as text on every page; a reference with
    /// markup is refused before it is stored; security headers on every answer; `?token=` needs a real token.
    @Test func thePagesShowDataAsTextOnly() async throws {
        try await ScratchPostgres.with { pg in
            try await withTemporaryDirectory { dir in
                let fleet = try await FleetProcesses(dir: dir, pg: pg)
                let payload = "\u{0600}<img src=x onerror=alert(1)>\u{0301}"
                // A reference with markup never reaches the store.
                let bad = try JSONSerialization.data(withJSONObject: [
                    "action": "scan",
                    "images": ["docker://127.0.0.1:1/app:1\u{0600}<img src=x onerror=alert(3)>\u{0301}"],
                ])
                let (bs, bt) = try await FleetFixture.request(
                    .POST, fleet.base + "/v1/jobs", token: FleetProcesses.submit,
                    body: String(decoding: bad, as: UTF8.self))
                #expect(bs == 400 && bt.contains("only printable ASCII"), "\(bs) \(bt)")
                // Labels carry payloads and are stored: the front page shows them as text.
                let labelled = try JSONSerialization.data(withJSONObject: [
                    "action": "scan", "images": ["oci:\(TestImages.layout):base"],
                    "options": ["labels": ["team": payload, "x": ">\u{0301}<b>"]],
                ])
                _ = try await fleet.submit(String(decoding: labelled, as: UTF8.self))
                _ = try fleet.work(1, ["--allow-local-images", TestImages.directory])
                var pages = ["/", "/images", "/vulnerabilities?id=CVE-2099-0001"]
                pages.append("/vulnerabilities?id=%D8%80%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E%CC%81")
                pages.append("/?q=%D8%80%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E%CC%81")
                for page in pages {
                    var r = HTTPClientRequest(url: fleet.base + page)
                    r.headers.add(name: "Cookie", value: "harden_token=\(FleetProcesses.read)")
                    let response = try await HTTPClient.shared.execute(r, timeout: .seconds(30))
                    let html = String(buffer: try await response.body.collect(upTo: 16 << 20))
                    #expect(response.status == .ok || response.status == .notFound, "\(page): \(response.status)")
                    try expectNoInjectedMarkup(html, dir: dir, page)
                    #expect(
                        !html.contains("<b>\u{0301}") && !html.contains("\u{0600}<img"),
                        "\(page): a payload rendered as markup")
                    #expect(
                        response.headers.first(name: "Content-Security-Policy")?.contains("default-src 'none'") == true)
                    #expect(response.headers.first(name: "X-Content-Type-Options") == "nosniff")
                    #expect(response.headers.first(name: "X-Frame-Options") == "DENY")
                    #expect(response.headers.first(name: "Referrer-Policy") == "no-referrer")
                }
                // ?token= exchanges only a valid token for the cookie.
                let (ts, _) = try await FleetFixture.request(.GET, fleet.base + "/?token=bogus", token: nil)
                #expect(ts == 401)
                var r = HTTPClientRequest(url: fleet.base + "/?token=\(FleetProcesses.read)")
                r.headers.add(name: "X-Forwarded-Proto", value: "https")
                // A client that does not follow redirects.
                let ok = try await FleetHTTP.webhooks.execute(r, timeout: .seconds(30))
                #expect(ok.status == .seeOther)
                #expect(ok.headers.first(name: "Set-Cookie")?.contains("Secure") == true)
                // NUL and invalid UTF-8: 400; `\p` searches a literal backslash.
                for q in ["/v1/images?q=%00", "/v1/images?q=%FF", "/v1/images/%00"] {
                    let (s, _) = try await FleetFixture.request(.GET, fleet.base + q, token: FleetProcesses.read)
                    #expect(s == 400, "\(q): \(s)")
                }
                let (ls, lt) = try await FleetFixture.request(
                    .GET, fleet.base + "/v1/images?q=%5Cp", token: FleetProcesses.read)
                #expect(ls == 200 && lt == "[]", "\(lt.prefix(200))")
            }
        }
    }

    /// 4 and 5. A worker's credentials never leave for a registry a job names; realms and redirects to plain HTTP
    /// elsewhere are not followed; a remote body is never quoted in a job's error.
    @Test func aWorkersCredentialsAndNetworkStayItsOwn() async throws {
        try await ScratchPostgres.with { pg in
            try await withTemporaryDirectory { dir in
                let fleet = try await FleetProcesses(dir: dir, pg: pg)
                try HostFS.writeFileAtomically(
                    dir + "/creds", Array("registry.internal.example:5000 worker:hunter2\n".utf8))
                for mode in ["location-other-host", "realm-other-host", "redirect-other-host", "error-body"] {
                    try await withTemporaryDirectory { rdir in
                        let registry = try HostileRegistry(mode: mode, dir: rdir)
                        let body = try JSONSerialization.data(withJSONObject: [
                            "action": "scan", "images": ["127.0.0.1:\(registry.port)/team/app:v1"], "maxAttempts": 1,
                        ])
                        let ids = try await fleet.submit(String(decoding: body, as: UTF8.self))
                        _ = try fleet.work(
                            1, ["--creds-file", dir + "/creds", "--tls-verify=false", "--timeout", "10"])
                        let job = try await fleet.job(ids[0])
                        #expect(job.state == .failed, "\(mode): \(job.state) \(job.error ?? "")")
                        let requests = registry.requests
                        for r in requests {
                            #expect(
                                r["authorization"] is NSNull || r["authorization"] == nil,
                                "\(mode): credentials sent: \(r)")
                        }
                        #expect(
                            !requests.contains { $0["server"] as? String == "other" },
                            "\(mode): the other host was asked: \(requests)")
                        #expect(!(job.error ?? "").contains("INTERNAL-SECRET"), "\(mode): \(job.error ?? "")")
                    }
                }
                // A worker refuses credentials that do not name their registry.
                try HostFS.writeFileAtomically(dir + "/legacy", Array("worker:hunter2\n".utf8))
                let (s, o) = try runProcess([
                    hardenBinary, "worker", "--database", pg.url, "--server", fleet.base, "--creds-file",
                    dir + "/legacy", "--max-jobs",
                    "1",
                ])
                #expect(s == 1 && o.contains("must name their registry"), "\(o)")
            }
        }
    }

    /// 6. Local paths: refused from the text alone; under an allowed directory a FIFO is refused at once; a job stuck
    /// past its deadline fails and the next job runs.
    @Test func localPathsFIFOsAndDeadlines() async throws {
        try await ScratchPostgres.with { pg in
            try await withTemporaryDirectory { dir in
                let fleet = try await FleetProcesses(dir: dir, pg: pg)
                try HostFS.makeDirectories(dir + "/images")
                #expect(mkfifo(dir + "/images/wedge.tar", 0o600) == 0)
                let bodies = [
                    [
                        "action": "scan",
                        "images": ["/etc/shadow", "/proc/self/environ", "oci-archive:\(dir)/images/wedge.tar"],
                    ],
                    ["action": "scan", "images": ["oci:\(TestImages.layout):base"]],
                ]
                var ids: [Int64] = []
                for b in bodies {
                    let data = try JSONSerialization.data(withJSONObject: b)
                    let (s, t) = try await FleetFixture.request(
                        .POST, fleet.base + "/v1/jobs", token: FleetProcesses.submit,
                        body: String(decoding: data, as: UTF8.self))
                    if (b["images"] as? [String])?.first == "/etc/shadow" {
                        #expect(s == 400 && t.contains("local images need a transport"), "\(t)")
                        let only = try JSONSerialization.data(withJSONObject: [
                            "action": "scan",
                            "images": ["oci-archive:\(dir)/images/wedge.tar", "oci-archive:/etc/shadow"],
                        ])
                        ids += try await fleet.submit(String(decoding: only, as: UTF8.self))
                    } else {
                        try #require(s == 202, "\(t)")
                        ids += try JSONDecoder().decode(SubmissionAnswer.self, from: Data(t.utf8)).jobs
                    }
                }
                let started = Date()
                _ = try fleet.work(
                    3, ["--allow-local-images", dir + "/images", "--allow-local-images", TestImages.directory],
                    timeout: 120)
                #expect(Date().timeIntervalSince(started) < 60)
                let wedge = try await fleet.job(ids[0])
                #expect(
                    wedge.state == .failed && wedge.error?.contains("not a regular file") == true,
                    "\(wedge.error ?? "")")
                let outside = try await fleet.job(ids[1])
                #expect(
                    outside.state == .failed && outside.error?.contains("outside the directories") == true,
                    "\(outside.error ?? "")")
                #expect(try await fleet.job(ids[2]).state == .succeeded)

                // The deadline: a registry that never answers holds the job; past --job-timeout it fails, the next runs.
                try await withTemporaryDirectory { rdir in
                    let registry = try HostileRegistry(mode: "stall-headers", dir: rdir)
                    let stuck = try JSONSerialization.data(withJSONObject: [
                        "action": "scan",
                        "images": ["127.0.0.1:\(registry.port)/team/app:v1", "oci:\(TestImages.layout):base"],
                    ])
                    let more = try await fleet.submit(String(decoding: stuck, as: UTF8.self))
                    let t0 = Date()
                    _ = try fleet.work(
                        2,
                        [
                            "--job-timeout", "3s", "--tls-verify=false", "--timeout", "600", "--allow-local-images",
                            TestImages.directory,
                        ],
                        timeout: 120)
                    #expect(Date().timeIntervalSince(t0) < 60)
                    let first = try await fleet.job(more[0])
                    #expect(
                        first.state == .failed && first.error?.contains("deadline") == true, "\(first.error ?? "")")
                    #expect(try await fleet.job(more[1]).state == .succeeded)
                }
            }
        }
    }

    /// 7. Tokens: a token removed from the file is refused after a restart; `fleet tokens revoke` at once; read
    /// tokens see no job options; a submit quota; slow connections are closed after the idle timeout.
    @Test func tokensQuotasAndSlowClients() async throws {
        try await ScratchPostgres.with { pg in
            try await withTemporaryDirectory { dir in
                let fleet = try await FleetProcesses(
                    dir: dir, pg: pg, serveArgs: ["--submit-quota", "3", "--idle-timeout", "2s"])
                let options =
                    #"{"action": "run", "images": ["registry.example.com/a:1"], "options": {"arguments": ["--http-probe", "80:GET:/internal-admin"]}}"#
                let ids = try await fleet.submit(options)
                let (rs, rt) = try await FleetFixture.request(
                    .GET, fleet.base + "/v1/jobs/\(ids[0])", token: FleetProcesses.read)
                #expect(rs == 200 && !rt.contains("internal-admin") && rt.contains("\"redacted\":true"), "\(rt)")
                let (ls, lt) = try await FleetFixture.request(.GET, fleet.base + "/v1/jobs", token: FleetProcesses.read)
                #expect(ls == 200 && !lt.contains("internal-admin"))
                let (ss, st) = try await FleetFixture.request(
                    .GET, fleet.base + "/v1/jobs/\(ids[0])", token: FleetProcesses.submit)
                #expect(ss == 200 && st.contains("internal-admin"))
                // Quota: 3 pending per token.
                let three = #"{"action": "scan", "images": ["a.example/x:1", "a.example/x:2", "a.example/x:3"]}"#
                let (qs, qt) = try await FleetFixture.request(
                    .POST, fleet.base + "/v1/jobs", token: FleetProcesses.submit, body: three)
                #expect(qs == 429 && qt.contains("quota"), "\(qs) \(qt)")
                let (qa, _) = try await FleetFixture.request(
                    .POST, fleet.base + "/v1/jobs", token: FleetProcesses.admin, body: three)
                #expect(qa == 202, "another token has its own quota")

                // Slow clients: 40 connections trickling a request are closed after the 2 s idle timeout.
                let port = String(fleet.base.split(separator: ":").last ?? "")
                let (cs, co) = try runProcess([
                    "python3", packageRoot + "/Tests/Tools/slow-clients.py", "127.0.0.1", port, "40", "15",
                ])
                try #require(cs == 0, "\(co)")
                let slow = try JSONSerialization.jsonObject(with: Data(co.utf8)) as? [String: Any] ?? [:]
                #expect(slow["closed"] as? Int == 40 && slow["open"] as? Int == 0, "\(co)")
                #expect((slow["latest"] as? Double ?? 99) < 8, "\(co)")

                // Revocation at once, through the CLI.
                let env = ["HARDEN_SERVER": fleet.base, "HARDEN_TOKEN": FleetProcesses.admin]
                let (vs, vo) = try runProcess([hardenBinary, "fleet", "tokens", "revoke", "viewer"], environment: env)
                #expect(vs == 0, "\(vo)")
                let (gone, _) = try await FleetFixture.request(
                    .GET, fleet.base + "/v1/images", token: FleetProcesses.read)
                #expect(gone == 401)
                let (ts, to) = try runProcess(
                    [hardenBinary, "fleet", "tokens", "list", "--format", "json"], environment: env)
                #expect(
                    ts == 0 && to.contains("\"ci\"") && !to.contains("viewer") && !to.contains(FleetProcesses.submit),
                    "\(to)")
                // Removed from the file: refused after a restart (and the read token, seeded again, works again).
                try fleet.writeTokens("admin \(FleetProcesses.admin) admin\nread \(FleetProcesses.read) viewer\n")
                try await fleet.startServer()
                let (after, _) = try await FleetFixture.request(
                    .GET, fleet.base + "/v1/images", token: FleetProcesses.submit)
                #expect(after == 401, "a token removed from the file still works")
                let (back, _) = try await FleetFixture.request(
                    .GET, fleet.base + "/v1/images", token: FleetProcesses.read)
                #expect(back == 200)
            }
        }
    }
}

extension Array {
    func asyncMap<T>(_ body: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await body(e)) }
        return out
    }
}

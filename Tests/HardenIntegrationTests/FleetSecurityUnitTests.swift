// harden — the fleet's security rules as pure functions (issue 30): HTML escaping, reference grammar, what a job
// may ask for, Compose files of jobs, host-scoped credentials, where a registry client may go, request decoding,
// bounded caches. No root needed; FleetHostileTests proves the same against the real processes.
import Foundation
import HardenCommands
import HardenCompose
import HardenCore
import HardenFleet
import HardenOCI
import HardenPackages
import HardenRegistry
import HardenRegistryAuth
import HardenSystem
import HardenTestSupport
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct FleetSecurityUnitTests {
    static let payloads = [
        "\u{0600}<img src=x onerror=alert(1)>", ">\u{0301}<script>alert(2)</script>",
        "x\u{0600}<img src=x onerror=alert(1)>\u{0301}",
        "\"'><svg/onload=alert(3)>", "&lt;already&gt;", "a\u{200D}<b\u{FE0F}>", "\u{1F468}\u{200D}<i>",
    ]

    @Test func theEscaperLeavesNoMarkupWhateverTheGraphemeClusters() {
        for p in Self.payloads {
            let e = p.htmlEscaped
            #expect(
                !e.utf8.contains(UInt8(ascii: "<")) && !e.utf8.contains(UInt8(ascii: ">")),
                "\(p.debugDescription) → \(e)")
            #expect(!e.utf8.contains(UInt8(ascii: "\"")) && !e.utf8.contains(UInt8(ascii: "'")))
        }
        // Random Unicode (combining marks, Arabic number signs, ZWJ, emoji) around the five characters.
        var rng = SystemRandomNumberGenerator()
        let specials: [Character] = ["<", ">", "&", "\"", "'"]
        let around: [Unicode.Scalar] = [
            "\u{0600}", "\u{0301}", "\u{200D}", "\u{FE0F}", "\u{1F468}", "\u{0915}", "\u{094D}", "a", "\u{0}",
        ]
        for _ in 0..<5000 {
            var s = ""
            for _ in 0..<Int.random(in: 1...12, using: &rng) {
                if Bool.random(using: &rng) {
                    s.append(specials.randomElement(using: &rng)!)
                } else {
                    s.unicodeScalars.append(around.randomElement(using: &rng)!)
                }
            }
            let e = s.htmlEscaped
            for b in [UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "\""), UInt8(ascii: "'"), 0] {
                #expect(!e.utf8.contains(b), "\(s.debugDescription) → \(e.debugDescription)")
            }
            // Every '&' starts an entity harden wrote.
            let bytes = Array(e.utf8)
            for (i, b) in bytes.enumerated() where b == UInt8(ascii: "&") {
                let rest = bytes[i...]
                #expect(
                    ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].contains { rest.starts(with: Array($0.utf8)) },
                    "\(e.debugDescription)")
            }
        }
    }

    @Test func referencesFollowTheDistributionGrammar() {
        let valid = [
            "nginx", "nginx:1.27", "library/nginx:latest", "ghcr.io/org/app:v1.2-rc_3", "127.0.0.1:5000/team/app:1",
            "localhost/app", "registry.example.com/a/b/c@sha256:" + String(repeating: "a", count: 64),
            "a__b/c-d--e.f:T",
            "[::1]:5000/app:1",
        ]
        for r in valid { #expect(ReferenceGrammar.isValid(r), "\(r): \(ReferenceGrammar.problem(r) ?? "")") }
        let invalid = [
            "", "Nginx", "app:1\u{0600}<img src=x onerror=alert(3)>\u{0301}", "app:1<b>", "app:-x",
            "app:" + String(repeating: "a", count: 129),
            "a/../b", "a//b", "-a/b", "a_/b", "host:99999/a", "ex ample/a", "app@sha256:abc",
            "app@sha256:" + String(repeating: "g", count: 64),
            "a\u{0}b", "app:1\n", "ｎｇｉｎｘ",
        ]
        for r in invalid { #expect(!ReferenceGrammar.isValid(r), "\(r.debugDescription) passed") }
    }

    @Test func untrustedReferencesNeverTouchAFile() throws {
        // A bare path is refused from its text: the answer is the same whether the file exists, is a FIFO or not.
        try withTemporaryDirectory { dir in
            let fifo = dir + "/fifo"
            #expect(mkfifo(fifo, 0o600) == 0)
            var messages: [String] = []
            for path in ["/etc/shadow", fifo, dir + "/missing", "/proc/self/environ"] {
                do {
                    _ = try ImageReference.parseUntrusted(path)
                    Issue.record("\(path) accepted")
                } catch let e as HardenError {
                    messages.append(e.message.replacingOccurrences(of: path, with: "P"))
                }
            }
            #expect(Set(messages).count == 1, "\(messages)")
            #expect(try ImageReference.parseUntrusted("nginx:1.27") == .registry("nginx:1.27"))
            #expect(throws: HardenError.self) { try ImageReference.parseUntrusted("docker://app:1\u{0600}<img>") }
        }
    }

    @Test func aJobAsksOnlyForWhatTheWorkerAllows() throws {
        let limits = JobLimits()
        let refused: [[String]] = [
            ["--env", "HARDEN_TOKEN"], ["--env=HARDEN_DATABASE_URL"], ["--network", "host"], ["--network=open"],
            ["--duration", "601"],
            ["--memory", "5G"], ["--pids-limit", "100000"], ["--probe-timeout", "1e9"], ["--mount", "/:/host"],
            ["--env", "=x"],
            // The worker's signing key is the worker's: a job can neither name one nor pick where it comes from.
            ["--sign-key", "/etc/harden/worker.key"], ["--sign-key-password-file", "/etc/shadow"],
            ["--sign-scheme", "tags"],
        ]
        for args in refused {
            #expect(throws: HardenError.self, "\(args)") {
                try RunJob.validate(JobOptions(arguments: args), limits: limits)
            }
        }
        try RunJob.validate(
            JobOptions(arguments: [
                "--env", "A=b", "--network", "isolated", "--duration", "30", "--memory", "1G", "--pids-limit", "64",
            ]),
            limits: limits)
        var open = limits
        open.allowNetwork = true
        try RunJob.validate(JobOptions(arguments: ["--network", "host"]), limits: open)
    }

    @Test func localImagesOnlyUnderAllowedDirectoriesAndNeverAFIFO() throws {
        try withTemporaryDirectory { dir in
            try HostFS.makeDirectories(dir + "/allowed/layout")
            try HostFS.writeFileAtomically(dir + "/allowed/app.tar", Array("x".utf8))
            try HostFS.writeFileAtomically(dir + "/outside.tar", Array("x".utf8))
            #expect(mkfifo(dir + "/allowed/fifo.tar", 0o600) == 0)
            #expect(symlink(dir + "/outside.tar", dir + "/allowed/link.tar") == 0)
            let none = JobLimits()
            #expect(throws: HardenError.self) {
                try none.checkImage("oci-archive:\(dir)/allowed/app.tar", what: "the image")
            }
            let limits = JobLimits(localRoots: [HostFS.realPath(dir + "/allowed")!])
            let root = HostFS.realPath(dir + "/allowed")!
            try limits.checkImage("oci-archive:\(root)/app.tar", what: "the image")
            try limits.checkImage("oci:\(root)/layout", what: "the image")
            try limits.checkImage("registry.example.com/app:1", what: "the image")
            for bad in [
                "oci-archive:\(root)/fifo.tar", "oci-archive:\(root)/link.tar", "oci-archive:\(root)/../outside.tar",
                "oci-archive:\(HostFS.realPath(dir)!)/outside.tar", "docker-archive:/dev/zero", "oci:\(root)/app.tar",
                "/etc/shadow",
            ] {
                #expect(throws: HardenError.self, "\(bad)") { try limits.checkImage(bad, what: "the image") }
            }
        }
    }

    /// A job's policy names no VEX file: on the worker it would read the worker's files.
    @Test func aJobsPolicyCannotNameVEXFiles() throws {
        var o = JobOptions(arguments: [])
        o.policy = "vulnerabilities:\n  fail_on: high\n  vex: [/etc/shadow]\n"
        #expect(throws: HardenError.self) { try RunJob.validate(o, limits: JobLimits()) }
        o.policy = "vulnerabilities:\n  fail_on: high\n"
        try RunJob.validate(o, limits: JobLimits())
        #expect(throws: HardenError.self) { try RunJob.validate(JobOptions(arguments: ["--vex", "/etc"])) }
    }

    @Test func aJobsComposeFileHasNoVariablesNoBareNamesAndNoPathVolumes() throws {
        let refused = [
            "services:\n  web:\n    image: nginx\n    environment:\n      WHO: \"${HOME:-nobody}\"\n",
            "services:\n  web:\n    image: nginx\n    environment:\n      WHO: $HOME\n",
            "services:\n  web:\n    image: nginx\n    environment: [HARDEN_TOKEN]\n",
            "services:\n  web:\n    image: nginx\n    environment:\n      HARDEN_TOKEN:\n",
            "services:\n  web:\n    image: nginx\n    volumes:\n      - {type: volume, source: \"..\", target: /x}\n",
            "services:\n  web:\n    image: nginx\n    volumes:\n      - {type: volume, source: \"a/b\", target: /x}\n",
            "services:\n  web:\n    image: nginx\n    volumes: [\"..:/x\"]\n",
        ]
        for text in refused {
            let options = JobOptions(arguments: ["--service", "web"])
            var o = options
            o.compose = text
            #expect(throws: HardenError.self, "\(text)") { try RunJob.validate(o, limits: JobLimits()) }
        }
        // The `..` volume is refused for the CLI too (Docker's volume names), and `$$` stays a literal dollar in jobs.
        #expect(throws: HardenError.self) {
            try ComposeReader.parse(
                "services:\n  web:\n    image: nginx\n    volumes:\n      - {type: volume, source: \"..\", target: /x}\n",
                file: "c",
                directory: "/tmp", variables: [:])
        }
        let ok = try ComposeReader.parse(
            "services:\n  web:\n    image: nginx\n    environment:\n      PRICE: \"$$5\"\n    volumes: [\"data.1:/x\"]\n",
            file: "c",
            directory: "/tmp", variables: [:], untrusted: true)
        #expect(ok.services["web"]?.environment["PRICE"] == "$5")
    }

    @Test func credentialsGoOnlyToTheHostTheyName() throws {
        let file = "registry.example.com alice:s3cret\n# a comment\n127.0.0.1:5000 bob:pw\ndocker.io carol:pw\n"
        let c = try RegistryCredentials.parse(Array(file.utf8), source: "creds")
        var scoped = c
        scoped.ambient = false
        #expect(scoped.credentials(for: "registry.example.com")?.username == "alice")
        #expect(scoped.credentials(for: "127.0.0.1:5000")?.username == "bob")
        #expect(scoped.credentials(for: "registry-1.docker.io")?.username == "carol")
        #expect(scoped.credentials(for: "127.0.0.1:5001") == nil)
        #expect(scoped.credentials(for: "evil.example.com") == nil)
        // One USER:PASS line: the CLI's own registries; a worker refuses it.
        let legacy = try RegistryCredentials.parse(Array("u:p\n".utf8), source: "f")
        #expect(legacy.anyHost?.username == "u")
        var worker = legacy
        worker.hostScopedOnly = true
        worker.ambient = false
        #expect(worker.credentials(for: "anything.example") == nil)
        let config = #"{"auths": {"https://ghcr.io": {"auth": "\#(Data("gh:tok".utf8).base64EncodedString())"}}}"#
        let fromConfig = try RegistryCredentials.parse(Array(config.utf8), source: "config.json")
        #expect(fromConfig.byHost["ghcr.io"]?.password == "tok")
        #expect(throws: HardenError.self) { try RegistryCredentials.parse(Array("a b c\nd\n".utf8), source: "bad") }
    }

    @Test func aRegistryClientFollowsAndAsksOnlyWhereItMay() {
        let scope = AuthScope(registryHost: "127.0.0.1:5000", plainHTTPAllowed: true)
        #expect(scope.mayAskRealm("https://auth.example.com/token"))
        #expect(scope.mayAskRealm("http://127.0.0.1:5001/token"))
        #expect(!scope.mayAskRealm("http://127.0.0.2:5001/token"))
        #expect(!scope.mayAskRealm("http://169.254.169.254/latest/meta-data"))
        #expect(!scope.mayAskRealm("https://user@auth.example.com/token"))
        #expect(scope.mayFollowRedirect(to: "https://bucket.example.com/blob"))
        #expect(scope.mayFollowRedirect(to: "http://127.0.0.1:5000/v2/x/blobs/y"))
        #expect(!scope.mayFollowRedirect(to: "http://127.0.0.1:6379/"))
        #expect(!scope.mayFollowRedirect(to: "http://127.0.0.2:5000/"))
        #expect(!scope.mayFollowRedirect(to: "file:///etc/shadow"))
        let strict = AuthScope(registryHost: "registry.example.com", plainHTTPAllowed: false)
        #expect(!strict.mayAskRealm("http://registry.example.com:8080/token"))
        #expect(!strict.mayFollowRedirect(to: "http://registry.example.com/x"))
    }

    @Test func requestsWithNULOrInvalidUTF8AreRefused() {
        for uri in [
            "/vulnerabilities?id=%00", "/v1/images/%00x", "/v1/images?q=%FF%FE", "/%C3%28", "http://evil/x", "*",
        ] {
            #expect(HTTPRequest(method: .GET, uri: uri, headers: [:], body: []).invalid != nil, "\(uri)")
        }
        let ok = HTTPRequest(method: .GET, uri: "/v1/images?q=%5Cp&severity=high", headers: [:], body: [])
        #expect(ok.invalid == nil && ok.query["q"] == "\\p" && ok.path == "/v1/images")
    }
}

// harden — every image check against a fixture image that fails it and one that passes it, secrets by content,
// and the policy file: parsing, line-numbered errors and the gate.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenPolicy
import HardenProfile
import HardenSBOM
import HardenSystem
import HardenTestSupport
import HardenVulnDB
import Testing

/// A fixture image described by its parts; `good` passes every check that needs no profile or database.
struct FixtureImage {
    var entries: [FixtureEntry]
    var laterLayer: [FixtureEntry] = []
    var config: [String: Any]
    var history: [String]
    var tag: String? = "1.0"
    var ports: [Int] = [8080]
    var unusedPackage = false

    static var good: FixtureImage {
        FixtureImage(
            entries: [
                .dir("etc"),
                .file(
                    "etc/passwd",
                    "root:x:0:0:root:/root:/usr/sbin/nologin\napp:x:1000:1000::/home/app:/usr/sbin/nologin\n"),
                .file("etc/group", "root:x:0:\napp:x:1000:\n"),
                .file("etc/shadow", "root:*:19000:0:99999:7:::\napp:!:19000::::::\n", mode: 0o640),
                .dir("app"), .file("app/server", "\u{7f}ELF not really a binary but enough", mode: 0o755),
                .file("app/config.ini", "[server]\nport = 8080\nlog = info\n"),
                .dir("tmp", mode: 0o1777),
            ],
            config: [
                "User": "app", "Healthcheck": ["Test": ["CMD", "/app/server", "--health"]],
                "Env": ["PATH=/usr/bin", "GPG_KEY=ABCDEF0123"],
                "ExposedPorts": ["8080/tcp": [String: String]()], "Volumes": ["/data": [String: String]()],
                "Entrypoint": ["/app/server"],
            ],
            history: [
                "/bin/sh -c #(nop) ADD file:4b03b5f551e3fbdf47ec609712007327828f7530cc3455c43bbcdcaf449a75a9 in / ",
                "COPY app /app # buildkit",
                "RUN /bin/sh -c apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* # buildkit",
            ])
    }

    func build(in dir: String) throws -> (Image, ImageInspection) {
        var layers = [try Fixtures.layer(entries)]
        if !laterLayer.isEmpty { layers.append(try Fixtures.layer(laterLayer)) }
        let configJSON = try JSONSerialization.data(withJSONObject: config)
        let cfg: ContainerConfig = try JSONCoding.decode(Array(configJSON), source: "fixture", what: "config")
        // One history entry per layer; the rest are empty-layer instructions.
        let hist = history.enumerated().map { i, line in
            History(createdBy: line, emptyLayer: i < layers.count ? nil : true)
        }
        let (desc, _) = try Fixtures.writeImage(
            at: dir, layers: layers, config: cfg, platform: .defaultPlatform, history: hist)
        var d = desc
        d.annotations = [Descriptor.refNameAnnotation: tag ?? "untagged"]
        try HostFS.writeFileAtomically(dir + "/oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        try HostFS.writeFileAtomically(dir + "/index.json", try JSONCoding.encode(Index(manifests: [d])))
        let image = try ImageLoader.open(.ociLayout(path: dir, tag: tag ?? "untagged"), options: .init())
        return (image, try ImageInspection.inspect(image))
    }

    func profile(for image: Image) throws -> RuntimeProfile {
        let packages = """
            [{"id":"pkg:deb/debian/libfoo@1","type":"deb","name":"libfoo","version":"1","used":\(unusedPackage ? "false" : "true"),"files":3,"usedFiles":\(unusedPackage ? 0 : 1)}]
            """
        let uses: [RuntimeProfile.PackageUse] = try JSONCoding.decode(
            Array(packages.utf8), source: "fixture", what: "packages")
        return RuntimeProfile(
            image: .init(
                reference: "fixture", configDigest: Digest.sha256(of: image.configBytes).description,
                manifestDigest: image.manifestDigest.description, platform: "linux/amd64"),
            runs: [], files: [], executables: [],
            ports: ports.map { .init(protocolName: "tcp", port: $0, address: "0.0.0.0") },
            uids: [1000], gids: [1000], syscalls: [], packages: uses,
            summary: .init(
                files: 1, missingFiles: 0, executables: 1, packagesUsed: unusedPackage ? 0 : 1,
                packagesUnused: unusedPackage ? 1 : 0))
    }

    func results(withProfile: Bool = false) throws -> [CheckResult] {
        try withTemporaryDirectory { dir in
            let (image, inspection) = try build(in: dir)
            return ImageChecks.run(
                CheckInput(
                    image: image, reference: "oci:fixture", tag: tag, inspection: inspection,
                    profile: withProfile ? try profile(for: image) : nil, findings: nil,
                    packageIDs: ["pkg:deb/debian/libfoo@1"]))
        }
    }
}

@Suite struct CheckTests {
    /// How each check's failing fixture differs from the good image.
    static let failing: [(id: String, profile: Bool, change: @Sendable (inout FixtureImage) -> Void)] = [
        ("CIS-DI-0001", false, { $0.config["User"] = nil }),
        ("CIS-DI-0003", true, { $0.unusedPackage = true }),
        ("CIS-DI-0006", false, { $0.config["Healthcheck"] = nil }),
        ("CIS-DI-0007", false, { $0.history.append("RUN /bin/sh -c apt-get update # buildkit") }),
        (
            "CIS-DI-0008", false,
            { $0.entries += [.dir("usr"), .dir("usr/bin"), .file("usr/bin/helper", "x", mode: 0o4755)] }
        ),
        ("CIS-DI-0009", false, { $0.history.append("ADD https://example.com/app.tar.gz /opt/ # buildkit") }),
        ("CIS-DI-0010", false, { $0.config["Env"] = ["PATH=/usr/bin", "DB_PASSWORD=hunter2"] }),
        ("DKL-DI-0001", false, { $0.history.append("RUN /bin/sh -c sudo apt-get install -y curl # buildkit") }),
        ("DKL-DI-0002", false, { $0.config["Volumes"] = ["/proc": [String: String]()] }),
        (
            "DKL-DI-0003", false,
            { $0.history.append("/bin/sh -c apt-get update && apt-get dist-upgrade -y && apt-get install -y curl") }
        ),
        ("DKL-DI-0004", false, { $0.history.append("RUN |1 VERSION=3 /bin/sh -c apk add curl # buildkit") }),
        (
            "DKL-DI-0005", false,
            {
                $0.entries += [
                    .dir("var"), .dir("var/lib"), .dir("var/lib/apt"), .dir("var/lib/apt/lists"),
                    .file("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", "Origin: Debian\n"),
                ]
            }
        ),
        ("DKL-DI-0006", false, { $0.tag = "latest" }),
        (
            "DKL-LI-0001", false,
            { $0.entries[3] = .file("etc/shadow", "root::19000:0:99999:7:::\napp:!:19000::::::\n", mode: 0o640) }
        ),
        (
            "DKL-LI-0002", false,
            {
                $0.entries[1] = .file(
                    "etc/passwd",
                    "root:x:0:0:root:/root:/bin/sh\ntoor:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/false\n")
            }
        ),
        ("DKL-LI-0003", false, { $0.entries += [.dir("app/.git"), .file("app/.git/config", "[core]\n")] }),
        ("HDN-0001", false, { $0.entries += [.dir("bin"), .file("bin/sh", "\u{7f}ELF shell", mode: 0o755)] }),
        (
            "HDN-0002", false,
            { $0.entries += [.dir("usr"), .dir("usr/bin"), .file("usr/bin/dpkg", "\u{7f}ELF dpkg", mode: 0o755)] }
        ),
        ("HDN-0003", false, { $0.entries += [.file("app/shared.txt", "anyone may write this", mode: 0o666)] }),
        ("HDN-0004", true, { $0.ports = [] }),
    ]

    @Test func theGoodImagePassesEveryCheck() throws {
        let results = try FixtureImage.good.results(withProfile: true)
        let notPassing = results.filter { $0.status != .pass && $0.id != "CIS-DI-0004" }
        #expect(notPassing.isEmpty, "\(notPassing.map { "\($0.id): \($0.findings)" })")
        #expect(results.first { $0.id == "CIS-DI-0004" }?.status == .skip)
        // Every check of the catalogue has a failing fixture here (CIS-DI-0004 needs a database: VulnScan/Check CLI tests).
        #expect(Set(ImageChecks.ids).subtracting(Self.failing.map(\.id)) == ["CIS-DI-0004"])
    }

    @Test(arguments: CheckTests.failing.map(\.id))
    func eachCheckFailsOnItsFixture(id: String) throws {
        let c = try #require(Self.failing.first { $0.id == id })
        var image = FixtureImage.good
        c.change(&image)
        let results = try image.results(withProfile: c.profile)
        let result = try #require(results.first { $0.id == id })
        #expect(result.status == .fail, "\(id) should fail: \(result)")
        #expect(!result.findings.isEmpty && !result.remediation.isEmpty)
        // Only this check changed its verdict.
        let others = results.filter { $0.id != id && $0.status == .fail }
        #expect(others.isEmpty, "\(id)'s fixture also failed \(others.map(\.id))")
    }

    @Test func checksThatNeedAProfileSkipWithoutOne() throws {
        let results = try FixtureImage.good.results(withProfile: false)
        for id in ["CIS-DI-0003", "HDN-0004"] { #expect(results.first { $0.id == id }?.status == .skip) }
    }

    @Test func secretsAreFoundByNameExtensionAndContentEvenWhenALaterLayerDeletedThem() throws {
        var image = FixtureImage.good
        image.entries += [
            .dir("root"), .dir("root/.ssh"), .file("root/.ssh/id_ed25519", "key"),
            .file("app/cert.p12", "binary"),
            .file("app/deploy.conf", "region=eu\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"),
            .file("app/tls.pem", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----\n"),
        ]
        image.laterLayer = [.whiteout("app/tls.pem")]
        let result = try #require(try image.results().first { $0.id == "CIS-DI-0010" })
        #expect(result.status == .fail)
        let text = result.findings.joined(separator: "\n")
        #expect(text.contains("/root/.ssh/id_ed25519 (secret file name"))
        #expect(text.contains("/app/cert.p12 (secret file extension"))
        #expect(text.contains("/app/deploy.conf (aws-access-key-id"))
        #expect(
            text.contains("/app/tls.pem (private-key, layer 0, deleted by a later layer but still in the image)"),
            "\(text)")
        #expect(!text.contains("config.ini") && !text.contains("GPG_KEY"))
    }

    @Test func aPolicyAcceptsFindingsByPathDirectoryOrEnvName() throws {
        var image = FixtureImage.good
        image.entries += [
            .dir("root"), .dir("root/.ssh"), .file("root/.ssh/id_rsa", "key"), .dir("srv"), .file("srv/.env", "A=1"),
        ]
        image.config["Env"] = ["PATH=/usr/bin", "API_TOKEN=x"]
        var results = try image.results()
        let policy = try Policy.parse("checks:\n  accept: [/root/.ssh/, ENV API_TOKEN]\n", source: "p.yaml")
        policy.applyIgnores(&results)
        let r = try #require(results.first { $0.id == "CIS-DI-0010" })
        #expect(r.status == .fail && r.findings.count == 1 && r.findings[0].hasPrefix("/srv/.env "), "\(r)")
        #expect(r.note == "2 finding(s) accepted by the policy")
        var again = try image.results()
        try Policy.parse("checks:\n  accept: [/root/.ssh/id_rsa, /srv/.env, ENV API_TOKEN]\n", source: "p.yaml")
            .applyIgnores(&again)
        #expect(again.first { $0.id == "CIS-DI-0010" }?.status == .ignored)
        // A path is not a prefix of a longer name.
        var other = try image.results()
        try Policy.parse("checks:\n  accept: [/root/.ssh/id]\n", source: "p.yaml").applyIgnores(&other)
        #expect(other.first { $0.id == "CIS-DI-0010" }?.findings.count == 3)
    }

    @Test func contentRules() {
        func rule(_ s: String) -> String? { SecretRules.byContent(Array(s.utf8)) }
        #expect(rule("-----BEGIN RSA PRIVATE KEY-----\nabc") == "private-key")
        #expect(rule("-----BEGIN OPENSSH PRIVATE KEY-----\nabc") == "private-key")
        #expect(rule("-----BEGIN CERTIFICATE-----\nabc") == nil)
        #expect(rule("-----BEGIN PUBLIC KEY-----\nabc") == nil)
        #expect(rule("key=AKIAIOSFODNN7EXAMPLE;") == "aws-access-key-id")
        #expect(rule("XAKIAIOSFODNN7EXAMPLE") == nil)
        #expect(rule("AKIAIOSFODNN7EXAMPL") == nil)
        #expect(rule("token: ghp_" + String(repeating: "a1B2", count: 9)) == "github-token")
        #expect(rule("SLACK=xoxb-123456789012-abcdef") == "slack-token")
        #expect(rule("{\"type\": \"service_account\", \"private_key\": \"x\"}") == "gcp-service-account-key")
        #expect(rule("sk_live_" + String(repeating: "Ab1", count: 8)) == "stripe-live-key")
        #expect(rule("\u{7f}ELF-----BEGIN RSA PRIVATE KEY-----") == nil)
        #expect(rule("plain configuration text, nothing secret here") == nil)
        // Arbitrary bytes never crash the scanner.
        var g = SeededGenerator(for: "contentRules")
        for _ in 0..<200 {
            let bytes = (0..<Int.random(in: 0..<300, using: &g)).map { _ in
                [
                    UInt8(ascii: "-"), UInt8(ascii: "A"), UInt8(ascii: "x"), UInt8(ascii: "\""),
                    UInt8.random(in: 0...255, using: &g),
                ]
                .randomElement(using: &g)!
            }
            _ = SecretRules.byContent(bytes)
        }
    }

    @Test func historyCommandsAreSplitIntoShellCommands() throws {
        var image = FixtureImage.good
        // `apt-get update` with the install in the same RUN is fine; in separate RUNs it is not.
        image.history.append("RUN /bin/sh -c apt-get update \\\n && apt-get install -y nginx # buildkit")
        #expect(try image.results().first { $0.id == "CIS-DI-0007" }?.status == .pass)
        image.history.append("/bin/sh -c apt update; echo done")
        let r = try #require(try image.results().first { $0.id == "CIS-DI-0007" })
        #expect(r.status == .fail && r.findings == ["/bin/sh -c apt update; echo done"])
    }
}

@Suite struct PolicyTests {
    static let example = """
        # the README's example
        vulnerabilities:
          fail_on: critical
          only_fixed: false
          max: {high: 5}
        packages:
          banned: [bash, curl]
        image:
          require_non_root: true
          allowed_bases: []
          max_size: 50MiB
        checks:
          ignore: [CIS-DI-0006]
        """

    @Test func theDocumentedExampleParses() throws {
        let p = try Policy.parse(Self.example, source: "policy.yaml")
        #expect(
            p.vulnerabilities.failOn == .critical && p.vulnerabilities.max == [.high: 5] && !p.vulnerabilities.onlyFixed
        )
        #expect(p.packages.banned == ["bash", "curl"] && p.image.requireNonRoot && p.image.maxSize == 50 << 20)
        #expect(p.checks.ignore == ["CIS-DI-0006"] && p.checks.failOn == .fatal && p.needsVulnerabilities)
        #expect(try Policy.parse("", source: "empty.yaml") == Policy())
    }

    @Test(arguments: [
        ("vulnerabilities:\n  fail_on: urgent\n", "p.yaml:2: vulnerabilities.fail_on: \"urgent\" is not one of"),
        (
            "packages:\n  banned: [bash]\nimage:\n  require_non_rot: true\n",
            "p.yaml:4: image: unknown key \"require_non_rot\""
        ),
        ("packges:\n  banned: [bash]\n", "p.yaml:1: policy: unknown key \"packges\""),
        ("checks:\n  ignore: [CIS-DI-9999]\n", "p.yaml:2: checks.ignore: unknown check id \"CIS-DI-9999\""),
        ("image:\n  max_size: huge\n", "p.yaml:2: image.max_size: must be a size"),
        ("vulnerabilities:\n  max:\n    high: -1\n", "p.yaml:3: vulnerabilities.max.high: must be a whole number"),
        ("image:\n  require_non_root: maybe\n", "p.yaml:2: image.require_non_root: must be true or false"),
        ("packages: [bash\n", "p.yaml: invalid YAML: line 2"),
        ("- just\n- a list\n", "p.yaml:1: policy: must be a mapping"),
        (
            "vulnerabilities:\n  unknown: sometimes\n",
            "p.yaml:2: vulnerabilities.unknown: must be one of fail, warn, ignore"
        ),
        ("vulnerabilities:\n  max_epss: 2\n", "p.yaml:2: vulnerabilities.max_epss: must be a probability"),
        (
            "vulnerabilities:\n  known_exploited: maybe\n",
            "p.yaml:2: vulnerabilities.known_exploited: must be fail or ignore"
        ),
    ])
    func invalidPoliciesNameTheLineAndKey(text: String, message: String) {
        do {
            _ = try Policy.parse(text, source: "p.yaml")
            Issue.record("accepted: \(text)")
        } catch let e as HardenError {
            #expect(e.message.hasPrefix(message), "\(e.message)")
        } catch {
            Issue.record("\(error)")
        }
    }

    /// "Billion laughs": nine levels of ten aliases stand for 10^9 nodes; refused before the YAML parser runs.
    @Test func aliasBombsAreRefusedAtOnce() throws {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1..<9 {
            text +=
                "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
                + "]\n"
        }
        text += "packages:\n  banned: *a8\n"
        let start = ContinuousClock.now
        do {
            _ = try Policy.parse(text, source: "bomb.yaml")
            Issue.record("the alias bomb was accepted")
        } catch let e as HardenError {
            #expect(e.code == .limitExceeded && e.message.hasPrefix("bomb.yaml: 81 YAML aliases"), "\(e.message)")
        }
        #expect(ContinuousClock.now - start < .seconds(1))
        // Aliases within the bound still work, and stars in quotes and comments are not aliases.
        let ok = try Policy.parse(
            """
            packages:
              banned: &banned [telnet]
            # *not *an *alias
            checks:
              accept: ["*.pem", '*.key']
            image:
              allowed_bases: *banned
            """, source: "ok.yaml")
        #expect(
            ok.packages.banned == ["telnet"] && ok.image.allowedBases == ["telnet"]
                && ok.checks.accept == ["*.pem", "*.key"])
        #expect(Policy.countAliases("a: *x\nb: '*y'\nc: \"*z\" # *w\n") == 1)
    }

    /// Mutated policies (bytes dropped, duplicated, replaced) never crash the parser: they parse or give a HardenError.
    @Test func mutatedPoliciesNeverCrash() {
        var rng = SeededGenerator(for: "mutatedPoliciesNeverCrash")
        let base = Array(Self.example.utf8)
        let alphabet = Array(":-[]{}#\n \"'*&!|>%@`0123456789abcdefghijklmnopqrstuvwxyz".utf8)
        for _ in 0..<2000 {
            var bytes = base
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                let i = Int.random(in: 0..<max(bytes.count, 1), using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: if !bytes.isEmpty { bytes.remove(at: i) }
                case 1: bytes.insert(alphabet.randomElement(using: &rng)!, at: min(i, bytes.count))
                default: if !bytes.isEmpty { bytes[i] = alphabet.randomElement(using: &rng)! }
                }
            }
            do {
                _ = try Policy.parse(String(decoding: bytes, as: UTF8.self), source: "fuzz.yaml")
            } catch let e as HardenError {
                #expect(e.message.hasPrefix("fuzz.yaml"), "\(e.message)")
            } catch {
                Issue.record("not a HardenError: \(error)")
            }
        }
    }

    func package(_ name: String) throws -> SoftwarePackage {
        let json =
            #"{"id":"pkg:deb/debian/\#(name)@1","type":"deb","name":"\#(name)","version":"1","licenses":[],"purl":"pkg:deb/debian/\#(name)@1","locations":["/var/lib/dpkg/status"],"files":[],"foundBy":"dpkg"}"#
        return try JSONCoding.decode(Array(json.utf8), source: "fixture", what: "package")
    }

    @Test func theGateNamesEachViolation() throws {
        let policy = try Policy.parse(
            """
            packages:
              banned: [bash, "lib*"]
            image:
              require_non_root: true
              require_healthcheck: true
              allowed_bases: ["debian:12"]
              max_size: 1KiB
            checks:
              fail_on: warn
              ignore: [CIS-DI-0006]
            """, source: "p.yaml")
        var checks = [
            CheckResult(
                id: "CIS-DI-0006", level: .info, title: "t", cis: nil, status: .fail, findings: ["x"], remediation: "r"),
            CheckResult(
                id: "HDN-0003", level: .warn, title: "World-writable", cis: nil, status: .fail, findings: ["/app/x"],
                remediation: "r"),
            CheckResult(
                id: "HDN-0001", level: .info, title: "Shell", cis: nil, status: .fail, findings: ["/bin/sh"],
                remediation: "r"),
        ]
        policy.applyIgnores(&checks)
        #expect(checks[0].status == .ignored)
        let os: OSInfo = try JSONCoding.decode(
            Array(#"{"id":"alpine","versionID":"3.19"}"#.utf8), source: "os", what: "os")
        let verdict = policy.evaluate(
            PolicyInput(
                reference: "img", config: ContainerConfig(), os: os,
                packages: [try package("bash"), try package("libssl3"), try package("nginx")],
                findings: nil, databaseAgeDays: nil, checks: checks, contentBytes: 4096))
        #expect(!verdict.passed)
        let rules = verdict.violations.map(\.rule)
        #expect(
            rules == [
                "packages.banned", "packages.banned", "image.require_non_root", "image.require_healthcheck",
                "image.allowed_bases",
                "image.max_size", "checks",
            ], "\(verdict.violations)")
        #expect(verdict.violations[0].message.contains("package bash 1 (deb) is banned"))
        #expect(verdict.violations[1].message.contains("libssl3"))
        #expect(verdict.violations[4].message.contains("alpine:3.19"))
        #expect(verdict.violations.last?.message.hasPrefix("HDN-0003") == true)
        // Nothing to object to: a passing verdict.
        let ok = try Policy.parse("packages:\n  banned: [curl]\n", source: "p.yaml").evaluate(
            PolicyInput(
                reference: "img", config: nil, os: nil, packages: [try package("bash")], findings: nil,
                databaseAgeDays: nil, checks: [],
                contentBytes: 1))
        #expect(ok.passed && ok.violations.isEmpty)
        // Vulnerability rules without a database are undecided, not passed silently.
        let undecided = try Policy.parse("vulnerabilities:\n  fail_on: high\n", source: "p.yaml").evaluate(
            PolicyInput(
                reference: "img", config: nil, os: nil, packages: [], findings: nil, databaseAgeDays: nil, checks: [],
                contentBytes: 1))
        #expect(undecided.undecided.count == 1)
        // max_db_age_days holds each feed's own data date too (a stale EPSS file in a freshly imported database).
        let aged = try Policy.parse("vulnerabilities:\n  max_db_age_days: 7\n  unknown: ignore\n", source: "p.yaml")
        #expect(aged.vulnerabilities.unknown == .ignore)
        var input = PolicyInput(
            reference: "img", config: nil, os: nil, packages: [], findings: [], databaseAgeDays: 1, checks: [],
            contentBytes: 1)
        input.feedAgeDays = ["first-epss": 30, "cisa-kev": 2]
        let agedVerdict = aged.evaluate(input)
        #expect(agedVerdict.violations.map(\.rule) == ["vulnerabilities.max_db_age_days"])
        #expect(
            agedVerdict.violations.first?.message.contains("first-epss is 30 days old") == true,
            "\(agedVerdict.violations)")
    }

    @Test func theEOLRuleFailsOrWarnsAndSaysWhenItHasNoData() throws {
        let ended = EOLStatus(
            subject: "os", name: "debian 10 (buster)", product: "debian", cycle: "10", eol: "2024-06-30",
            daysLeft: -890, state: .ended, extendedSupport: nil, source: "distro-info-data")
        let ending = EOLStatus(
            subject: "runtime", name: "node 20.10.0", product: "nodejs", cycle: "20", eol: "2026-12-31", daysLeft: 24,
            state: .ending, extendedSupport: nil, source: "eol:/d")
        func verdict(
            _ rule: String, _ eol: [EOLStatus]?, os: OSInfo? = OSInfo(id: "debian", versionID: "10")
        ) throws
            -> PolicyVerdict
        {
            let p = try Policy.parse("eol: \(rule)\n", source: "p.yaml")
            #expect(p.needsVulnerabilities && p.eol == EOLRule(rawValue: rule))
            var input = PolicyInput(
                reference: "img", config: nil, os: os, packages: [], findings: [], databaseAgeDays: nil, checks: [],
                contentBytes: 1)
            input.eol = eol
            return p.evaluate(input)
        }
        let failed = try verdict("fail", [ended, ending])
        #expect(!failed.passed && failed.violations.map(\.rule) == ["eol"])
        #expect(failed.violations[0].message.contains("reached its end of life on 2024-06-30"))
        #expect(failed.warnings.contains { $0.contains("24 days left") }, "\(failed.warnings)")
        let warned = try verdict("warn", [ended])
        #expect(warned.passed && warned.warnings.contains { $0.contains("debian 10 (buster)") })
        let unknown = try verdict("fail", [])
        #expect(unknown.passed && unknown.warnings.contains { $0.contains("no end-of-life data for debian 10") })
        #expect(throws: HardenError.self) { try Policy.parse("eol: maybe\n", source: "p.yaml") }
    }
}

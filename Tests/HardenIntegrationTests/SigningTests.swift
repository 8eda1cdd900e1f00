// harden — signatures and attestations against the real verifiers: cosign 2.5 and 3.1 accept what harden attaches
// to an image in a Distribution registry, and harden verifies what cosign attached; keys from cosign and openssl.
import Foundation
import HardenCommands
import HardenCore
import HardenOCI
import HardenPolicy
import HardenSign
import HardenSystem
import HardenTestSupport
import Testing

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration && Prerequisites.peers, "needs the test images, a registry and cosign"))
struct SigningTests {
    /// A registry on loopback with nginx pushed to it as `harden/nginx:1`, and a scratch directory.
    struct World {
        let dir: String
        let server: RegistryServer
        var host: String { "127.0.0.1:\(server.port)" }
        var image: String { "\(host)/harden/nginx:1" }
    }

    func withWorld(_ body: (World) throws -> Void) throws {
        try TestImages.require()
        try withTemporaryDirectory { dir in
            let world = World(dir: dir, server: try RegistryServer(dir: dir + "/reg"))
            let (s, o) = try runProcess([
                hardenBinary, "convert", "--tls-verify=false", "oci:\(TestImages.layout):nginx",
                "docker://\(world.image)",
            ])
            try #require(s == 0, "\(o)")
            try body(world)
        }
    }

    func harden(_ args: [String], _ env: [String: String] = [:]) throws -> (status: Int32, output: String) {
        try runProcess([hardenBinary] + args, environment: env)
    }

    func cosign(_ binary: String, _ args: [String], in dir: String) throws -> (status: Int32, output: String) {
        try runProcess(
            ["sh", "-c", "cd '\(dir)' && exec \"$@\"", "sh", binary] + args,
            environment: ["COSIGN_PASSWORD": "test-password", "HOME": dir])
    }

    /// The predicate of the first statement `cosign verify-attestation` printed.
    static func predicate(inCosignOutput output: String) throws -> Any {
        let line = try #require(
            output.split(separator: "\n").first { $0.hasPrefix("{") && $0.contains("\"payloadType\"") })
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let payload = try #require(Data(base64Encoded: envelope["payload"] as? String ?? ""))
        let statement = try #require(try JSONSerialization.jsonObject(with: payload) as? [String: Any])
        return try #require(statement["predicate"])
    }

    @Test func cosignTwoAndThreeAcceptHardensSignatureAndAttestations() throws {
        try withWorld { w in
            let gen = try cosign(Peers.cosign2, ["generate-key-pair"], in: w.dir)
            try #require(gen.status == 0, "\(gen.output)")
            let sbom = w.dir + "/sbom.cdx.json"
            let s = try harden(["sbom", "oci:\(TestImages.layout):nginx", "--format", "cyclonedx-json", "-o", sbom])
            try #require(s.status == 0, "\(s.output)")
            let vex = w.dir + "/vex.json"
            try HostFS.writeFileAtomically(
                vex,
                Array(
                    #"{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://harden.dev/vex/1","statements":[]}"#
                        .utf8))
            let env = ["COSIGN_PASSWORD": "test-password"]
            let key = ["--key", w.dir + "/cosign.key", "--tls-verify=false"]
            #expect(try harden(["sign", "docker://\(w.image)"] + key, env).status == 0)
            for (type, file) in [("cyclonedx", sbom), ("openvex", vex)] {
                let a = try harden(["attest", "docker://\(w.image)", "--type", type, "--predicate", file] + key, env)
                #expect(a.status == 0, "\(a.output)")
            }
            for binary in [Peers.cosign2, Peers.cosign3] {
                let v = try cosign(
                    binary,
                    ["verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", "--allow-http-registry", w.image],
                    in: w.dir)
                #expect(v.status == 0, "\(binary) verify: \(v.output)")
                for (type, file) in [("cyclonedx", sbom), ("openvex", vex)] {
                    let va = try cosign(
                        binary,
                        [
                            "verify-attestation", "--key", "cosign.pub", "--insecure-ignore-tlog=true",
                            "--allow-http-registry", "--type", type, w.image,
                        ], in: w.dir)
                    #expect(va.status == 0, "\(binary) verify-attestation \(type): \(va.output)")
                    if va.status == 0 {
                        let got = try Self.predicate(inCosignOutput: va.output) as? NSDictionary
                        let want =
                            try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(file))) as? NSDictionary
                        #expect(got != nil && got == want, "\(type): the predicate cosign read is not harden's file")
                    }
                }
                // A type harden did not attach is not there for cosign either.
                let none = try cosign(
                    binary,
                    [
                        "verify-attestation", "--key", "cosign.pub", "--insecure-ignore-tlog=true",
                        "--allow-http-registry", "--type", "slsaprovenance1", w.image,
                    ], in: w.dir)
                #expect(none.status != 0)
            }
            // oras lists the sigstore bundles harden attached as referrers (through the fallback tag).
            let oras = try runProcess([Peers.oras, "discover", "--plain-http", "--format", "json", w.image])
            #expect(oras.status == 0, "\(oras.output)")
            #expect(
                oras.output.components(separatedBy: "application/vnd.dev.sigstore.bundle.v0.3+json").count - 1 >= 3,
                "\(oras.output)")
        }
    }

    /// A supplier's OpenVEX attached by cosign 3 (a sigstore bundle referring to the image in the loopback
    /// registry): `scan --vex-key` verifies it and suppresses the finding it names; another key does not.
    @Test func vexAttachedByCosignSuppressesWhatItNames() throws {
        try SharedFeeds.require()
        try withWorld { w in
            let env = ["HARDEN_DB": w.dir + "/v.sqlite", "HARDEN_CACHE_DIR": w.dir + "/cache"]
            _ = try harden(["db", "import", SharedFeeds.directory + "/osv-PyPI-all.zip"], env)
            let image = "\(w.host)/harden/pyapp:1"
            let pushed = try harden([
                "convert", "--tls-verify=false", "oci:\(TestImages.layout):pyapp", "docker://\(image)",
            ])
            try #require(pushed.status == 0, "\(pushed.output)")
            let gen = try cosign(Peers.cosign2, ["generate-key-pair"], in: w.dir)
            try #require(gen.status == 0, "\(gen.output)")
            try opensslKeyPair(w.dir, "other")
            let vex = """
                {"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.invalid/vex/cosign", "author": "supplier",
                 "timestamp": "2026-01-01T00:00:00Z", "version": 1, "statements": [{"vulnerability": {"name": "CVE-2023-43804"},
                 "products": [{"@id": "pkg:pypi/urllib3@1.23"}], "status": "not_affected", "justification": "vulnerable_code_not_present"}]}
                """
            try HostFS.writeFileAtomically(w.dir + "/vex.json", Array(vex.utf8))
            let att = try cosign(
                Peers.cosign3,
                [
                    "attest", "--use-signing-config=false", "--tlog-upload=false", "--key", "cosign.key",
                    "--allow-http-registry", "--yes", "--type", "openvex", "--predicate", "vex.json", image,
                ], in: w.dir)
            try #require(att.status == 0, "\(att.output)")
            func source(_ key: String) throws -> String? {
                let (s, o) = try runProcess(
                    [
                        hardenBinary, "scan", "docker://\(image)", "--tls-verify=false", "--vex-key", w.dir + "/" + key,
                        "--format", "json", "-o", w.dir + "/r.json",
                    ], environment: env)
                try #require(s == 0, "\(o)")
                let report =
                    try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(w.dir + "/r.json", limit: 1 << 26)))
                    as? [String: Any]
                let f = ((report?["findings"] as? [[String: Any]]) ?? []).first {
                    $0["id"] as? String == "CVE-2023-43804"
                }
                return (f?["suppressed"] as? [String: Any])?["source"] as? String
            }
            let verified = try source("cosign.pub")
            #expect(
                verified?.contains("referrer") == true && verified?.contains("verified by") == true,
                "\(verified ?? "-")")
            #expect(try source("other.pub") == nil)
        }
    }

    @Test func hardenVerifiesWhatCosignSignedWithAnOpensslKey() throws {
        try withWorld { w in
            // An openssl P-256 key: harden signs with the PKCS #8 PEM; cosign imports the same key (cosign 3: the
            // Debian build of 2.5 refuses every EC key in import-key-pair, "unsupported public key type").
            try opensslKeyPair(w.dir, "ossl")
            try opensslKeyPair(w.dir, "other")
            let imp = try cosign(
                Peers.cosign3, ["import-key-pair", "-y", "--key", "ossl.pem", "--output-key-prefix", "imported"],
                in: w.dir)
            try #require(imp.status == 0, "\(imp.output)")
            try HostFS.writeFileAtomically(w.dir + "/pred.json", Array(#"{"built":"by cosign"}"#.utf8))
            let sign = try cosign(
                Peers.cosign2,
                ["sign", "--key", "imported.key", "--tlog-upload=false", "--allow-http-registry", "--yes", w.image],
                in: w.dir)
            try #require(sign.status == 0, "\(sign.output)")
            let att = try cosign(
                Peers.cosign2,
                [
                    "attest", "--key", "imported.key", "--tlog-upload=false", "--allow-http-registry", "--yes",
                    "--type", "custom", "--predicate", "pred.json", w.image,
                ], in: w.dir)
            try #require(att.status == 0, "\(att.output)")
            // cosign 3's own format: a sigstore bundle referring to the image (no transparency log offline).
            let att3 = try cosign(
                Peers.cosign3,
                [
                    "attest", "--use-signing-config=false", "--tlog-upload=false", "--key", "imported.key",
                    "--allow-http-registry", "--yes", "--type", "vuln", "--predicate", "pred.json", w.image,
                ], in: w.dir)
            try #require(att3.status == 0, "\(att3.output)")
            // harden verifies cosign's signature and attestations with the openssl public key.
            let v = try harden([
                "verify", "docker://\(w.image)", "--key", w.dir + "/ossl.pub", "--type", "custom", "--type", "vuln",
                "--tls-verify=false", "--format", "json",
            ])
            #expect(v.status == 0, "\(v.output)")
            #expect(v.output.contains("\"verified\" : true"), "\(v.output)")
            #expect(v.output.contains("\"location\" : \"referrer\""), "\(v.output)")
            // Required but absent, and another key: exit 2 with one line naming what is missing.
            let missing = try harden([
                "verify", "docker://\(w.image)", "--key", w.dir + "/ossl.pub", "--type", "slsaprovenance1",
                "--tls-verify=false",
            ])
            #expect(missing.status == 2 && missing.output.contains("no valid slsaprovenance1 attestation"))
            let wrong = try harden([
                "verify", "docker://\(w.image)", "--key", w.dir + "/other.pub", "--tls-verify=false",
            ])
            #expect(wrong.status == 2 && wrong.output.contains("INVALID"), "\(wrong.output)")
            // Unreadable key: exit 1.
            let bad = try harden(["verify", "docker://\(w.image)", "--key", w.dir + "/nope.pub", "--tls-verify=false"])
            #expect(bad.status == 1 && bad.output.contains("nope.pub"), "\(bad.output)")
            // harden signs with the openssl PEM itself; cosign verifies with openssl's public key.
            #expect(
                try harden(["sign", "docker://\(w.image)", "--key", w.dir + "/ossl.pem", "--tls-verify=false"]).status
                    == 0)
            let cv = try cosign(
                Peers.cosign2,
                ["verify", "--key", "ossl.pub", "--insecure-ignore-tlog=true", "--allow-http-registry", w.image],
                in: w.dir)
            #expect(cv.status == 0, "\(cv.output)")
        }
    }

    /// `harden run --sign-key`: the hardened image is signed and its five attestations attached; cosign 2 and 3
    /// accept each, the predicates are harden's report files, and the provenance names the input and the builder.
    @Test func runSignsTheHardenedImageAndAttachesItsEvidence() throws {
        try RuntimeTests.require()
        try PipelineFixtures.requireDatabase()
        try withWorld { w in
            let gen = try cosign(Peers.cosign2, ["generate-key-pair"], in: w.dir)
            try #require(gen.status == 0, "\(gen.output)")
            let out = "\(w.host)/harden/pyapp-hardened:1"
            let report = w.dir + "/report"
            try HostFS.writeFileAtomically(w.dir + "/password", Array("test-password\n".utf8))
            let run = try RuntimeTests.harden(
                [
                    "run", "oci:\(TestImages.layout):pyapp", "-o", "docker://\(out)", "--tls-verify=false", "--db",
                    PipelineFixtures.database, "--report-dir", report, "--sign-key", w.dir + "/cosign.key",
                    "--sign-key-password-file", w.dir + "/password",
                ], runDir: w.dir + "/run")
            try #require(run.status == 0, "\(run.output)")
            let files = [
                "cyclonedx": "sbom-after.cdx.json", "openvex": "vex.openvex.json", "vuln": nil,
                "slsaprovenance1": nil, PredicateType.hardenReportURI: nil,
            ]
            for binary in [Peers.cosign2, Peers.cosign3] {
                let v = try cosign(
                    binary,
                    ["verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", "--allow-http-registry", out],
                    in: w.dir)
                #expect(v.status == 0, "\(binary) verify: \(v.output)")
                for (type, file) in files {
                    let va = try cosign(
                        binary,
                        [
                            "verify-attestation", "--key", "cosign.pub", "--insecure-ignore-tlog=true",
                            "--allow-http-registry", "--type", type, out,
                        ], in: w.dir)
                    #expect(va.status == 0, "\(binary) verify-attestation \(type): \(va.output)")
                    guard va.status == 0, let file else { continue }
                    let got = try Self.predicate(inCosignOutput: va.output) as? NSDictionary
                    let want =
                        try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(report + "/" + file)))
                        as? NSDictionary
                    #expect(got != nil && got == want, "\(type): the predicate is not the report's \(file)")
                }
            }
            // The provenance: harden's builder and build type, the input image by digest among the dependencies.
            let pv = try cosign(
                Peers.cosign2,
                [
                    "verify-attestation", "--key", "cosign.pub", "--insecure-ignore-tlog=true", "--allow-http-registry",
                    "--type", "slsaprovenance1", out,
                ], in: w.dir)
            let provenance = try #require(try Self.predicate(inCosignOutput: pv.output) as? [String: Any])
            let build = try #require(provenance["buildDefinition"] as? [String: Any])
            #expect(build["buildType"] as? String == "https://harden.dev/buildtypes/harden/v1")
            let deps = try #require(build["resolvedDependencies"] as? [[String: Any]])
            let input = try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: "pyapp"))
            #expect(
                deps.contains { ($0["digest"] as? [String: String])?["sha256"] == input.manifestDigest.encoded },
                "\(deps)")
            let args = try #require(build["externalParameters"] as? [String: Any])["arguments"] as? [String]
            #expect(args?.contains("--sign-key") == true && args?.contains("test-password") == false)
            // harden verify requires all five and finds each in both places.
            let hv = try harden(
                [
                    "verify", "docker://\(out)", "--key", w.dir + "/cosign.pub", "--tls-verify=false", "--format",
                    "json",
                ] + ["cyclonedx", "openvex", "vuln", "slsaprovenance1", "harden"].flatMap { ["--type", $0] })
            #expect(hv.status == 0, "\(hv.output)")
            #expect(hv.output.components(separatedBy: "\"status\" : \"verified\"").count - 1 == 12, "\(hv.output)")
        }
    }

    /// A policy's `inputs:` rule: an unsigned input is refused (exit 2, nothing run); once signed and attested by the
    /// key, the run goes ahead and its provenance records what was verified.
    @Test func runRefusesAnInputThePolicySaysMustBeSigned() throws {
        try RuntimeTests.require()
        try withWorld { w in
            try opensslKeyPair(w.dir, "k")
            let input = "\(w.host)/harden/pyapp:1"
            #expect(
                try harden(["convert", "--tls-verify=false", "oci:\(TestImages.layout):pyapp", "docker://\(input)"])
                    .status == 0)
            try HostFS.writeFileAtomically(
                w.dir + "/policy.yaml",
                Array("inputs:\n  require_signature:\n    key: k.pub\n  require_attestations: [cyclonedx]\n".utf8))
            let args = [
                "run", "docker://\(input)", "--tls-verify=false", "-o", "oci:\(w.dir)/out:1", "--policy",
                w.dir + "/policy.yaml", "--report-dir", w.dir + "/report", "--sign-key", w.dir + "/k.pem",
            ]
            let refused = try RuntimeTests.harden(args, runDir: w.dir + "/run")
            #expect(refused.status == 2, "\(refused.output)")
            #expect(refused.output.contains("inputs rule fails: no valid signature, cyclonedx attestation"))
            #expect(!HostFS.exists(w.dir + "/out"))
            try HostFS.writeFileAtomically(w.dir + "/bom.json", Array(#"{"bomFormat":"CycloneDX"}"#.utf8))
            #expect(
                try harden(["sign", "docker://\(input)", "--tls-verify=false", "--key", w.dir + "/k.pem"]).status == 0)
            let attested = try harden([
                "attest", "docker://\(input)", "--tls-verify=false", "--key", w.dir + "/k.pem", "--type", "cyclonedx",
                "--predicate", w.dir + "/bom.json",
            ])
            #expect(attested.status == 0, "\(attested.output)")
            let accepted = try RuntimeTests.harden(args, runDir: w.dir + "/run")
            #expect(accepted.status == 0, "\(accepted.output)")
            // The output layout carries the provenance, which names the verified input key.
            let v = try harden([
                "verify", "oci:\(w.dir)/out:1", "--key", w.dir + "/k.pub", "--type", "slsaprovenance1", "--format",
                "json",
            ])
            #expect(v.status == 0, "\(v.output)")
            let report = String(decoding: try HostFS.readFile(w.dir + "/report/report.json"), as: UTF8.self)
            #expect(report.contains("\"signature\""), "report.json records the output's signature")
        }
    }

    /// oci: → registry → oci: keeps every attachment (tags and referrers); skopeo still reads each copy; cosign
    /// verifies the copy in the registry; --no-attachments leaves them behind.
    @Test func attachmentsTravelWithTheImageBetweenLayoutsAndRegistries() throws {
        try withWorld { w in
            let dir = w.dir
            let layout = dir + "/layout"
            #expect(try harden(["convert", "oci:\(TestImages.layout):base", "oci:\(layout):v1"]).status == 0)
            try opensslKeyPair(dir, "k")
            try HostFS.writeFileAtomically(dir + "/p.json", Array(#"{"k":"v"}"#.utf8))
            #expect(try harden(["sign", "oci:\(layout):v1", "--key", dir + "/k.pem"]).status == 0)
            let attest = try harden([
                "attest", "oci:\(layout):v1", "--key", dir + "/k.pem", "--type", "vuln", "--predicate", dir + "/p.json",
            ])
            #expect(attest.status == 0, "\(attest.output)")
            let verify = ["--key", dir + "/k.pub", "--type", "vuln", "--format", "json"]
            let v = try harden(["verify", "oci:\(layout):v1"] + verify)
            #expect(v.status == 0, "\(v.output)")
            #expect(v.output.components(separatedBy: "\"status\" : \"verified\"").count - 1 == 4, "\(v.output)")
            let (s1, o1) = try runProcess(["skopeo", "inspect", "oci:\(layout):v1"])
            #expect(s1 == 0, "\(o1)")
            // Into the registry, and back into a new layout.
            let remote = "\(w.host)/harden/base-signed:v1"
            let up = try harden(["convert", "--tls-verify=false", "oci:\(layout):v1", "docker://\(remote)"])
            #expect(up.status == 0, "\(up.output)")
            let vr = try harden(["verify", "docker://\(remote)", "--tls-verify=false"] + verify)
            #expect(vr.status == 0, "\(vr.output)")
            #expect(vr.output.components(separatedBy: "\"status\" : \"verified\"").count - 1 == 4, "\(vr.output)")
            let cv = try cosign(
                Peers.cosign2,
                ["verify", "--key", "k.pub", "--insecure-ignore-tlog=true", "--allow-http-registry", remote],
                in: dir)
            #expect(cv.status == 0, "\(cv.output)")
            let back = dir + "/back"
            let down = try harden(["convert", "--tls-verify=false", "docker://\(remote)", "oci:\(back):v1"])
            #expect(down.status == 0, "\(down.output)")
            let vb = try harden(["verify", "oci:\(back):v1"] + verify)
            #expect(vb.status == 0, "\(vb.output)")
            let (s2, o2) = try runProcess(["skopeo", "inspect", "oci:\(back):v1"])
            #expect(s2 == 0, "\(o2)")
            // Left behind on request.
            let bare = try harden([
                "convert", "--tls-verify=false", "--no-attachments", "oci:\(layout):v1",
                "docker://\(w.host)/harden/bare:v1",
            ])
            #expect(bare.status == 0, "\(bare.output)")
            let vn = try harden([
                "verify", "docker://\(w.host)/harden/bare:v1", "--tls-verify=false", "--key", dir + "/k.pub",
            ])
            #expect(vn.status == 2, "\(vn.output)")
        }
    }
}

/// A fresh P-256 key pair made by openssl: NAME.pem (PKCS #8) and NAME.pub in `dir`.
func opensslKeyPair(_ dir: String, _ name: String) throws {
    let (s, o) = try runProcess([
        "sh", "-c",
        "cd '\(dir)' && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out \(name).pem && openssl pkey -in \(name).pem -pubout -out \(name).pub",
    ])
    try #require(s == 0, "\(o)")
}

/// What provenance records of a command line: never a credential or a variable's value.
@Suite struct ProvenanceArgumentTests {
    @Test func credentialsAndVariableValuesAreLeftOut() {
        let got = SignOutputOptions.redacted([
            "IMAGE", "--creds", "alice:s3cret", "--env", "TOKEN=abc", "-e", "KEY=v=w", "--env=PASS=x", "--creds=bob:pw",
            "--http-probe", "80", "--sign-key", "k.pem",
        ])
        #expect(
            got == [
                "IMAGE", "--creds", "…", "--env", "TOKEN=…", "-e", "KEY=…", "--env=PASS=…", "--creds=…",
                "--http-probe", "80", "--sign-key", "k.pem",
            ])
        #expect(!got.joined().contains("s3cret") && !got.joined().contains("abc"))
    }
}

/// The policy's `inputs:` section.
@Suite struct PolicyInputsTests {
    @Test func inputsParseAndBadOnesAreOneLine() throws {
        let p = try Policy.parse(
            "inputs:\n  require_signature: {key: keys/k.pub}\n  require_attestations: [slsaprovenance1, vuln]\n",
            source: "p.yaml")
        #expect(
            p.inputs.requireSignatureKey == "keys/k.pub" && p.inputs.requireAttestations == ["slsaprovenance1", "vuln"])
        for (text, message) in [
            ("inputs:\n  require_attestations: [vuln]\n", "needs inputs.require_signature.key"),
            ("inputs:\n  require_signature: {}\n", "needs key"),
            ("inputs:\n  require_signed: true\n", "unknown key \"require_signed\""),
        ] {
            #expect(throws: HardenError.self) { _ = try Policy.parse(text, source: "p.yaml") }
            do { _ = try Policy.parse(text, source: "p.yaml") } catch let e as HardenError {
                #expect(e.message.hasPrefix("p.yaml:") && e.message.contains(message), "\(e.message)")
            }
        }
    }
}

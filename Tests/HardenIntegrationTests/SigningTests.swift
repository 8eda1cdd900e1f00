// harden — signatures and attestations against the real verifiers: cosign 2.5 and 3.1 accept what harden attaches
// to an image in a Distribution registry, and harden verifies what cosign attached; keys from cosign and openssl.
import Foundation
import HardenCore
import HardenOCI
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

    @Test func anOCILayoutKeepsItsSignaturesAndAttestations() throws {
        try withTemporaryDirectory { dir in
            try TestImages.require()
            let layout = dir + "/layout"
            #expect(try harden(["convert", "oci:\(TestImages.layout):base", "oci:\(layout):v1"]).status == 0)
            try opensslKeyPair(dir, "k")
            try HostFS.writeFileAtomically(dir + "/p.json", Array(#"{"k":"v"}"#.utf8))
            #expect(try harden(["sign", "oci:\(layout):v1", "--key", dir + "/k.pem"]).status == 0)
            #expect(
                try harden([
                    "attest", "oci:\(layout):v1", "--key", dir + "/k.pem", "--type", "vuln", "--predicate",
                    dir + "/p.json",
                ]).status == 0)
            let v = try harden(["verify", "oci:\(layout):v1", "--key", dir + "/k.pub", "--type", "vuln"])
            #expect(v.status == 0, "\(v.output)")
            // skopeo still reads the image in the layout.
            let (s, o) = try runProcess(["skopeo", "inspect", "oci:\(layout):v1"])
            #expect(s == 0, "\(o)")
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

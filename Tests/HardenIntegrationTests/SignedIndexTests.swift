// harden — `harden run --sign-key` of a multi-platform image: every platform's hardened manifest is signed and
// carries its own evidence (its SBOM, OpenVEX, scan, provenance, report), and the index itself is signed, so cosign
// verifies the tag and each platform by digest.
import Foundation
import HardenCore
import HardenOCI
import HardenSystem
import HardenTestSupport
import Testing

extension SigningTests {
    /// cosign verifies the tag `out` (the index's own signature); returns the index it names, checked to list the two
    /// platforms in order.
    func signedIndex(_ out: String, in dir: String) throws -> Index {
        let tag = try cosign(
            Peers.cosign3,
            ["verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", "--allow-http-registry", out], in: dir)
        #expect(tag.status == 0, "\(tag.output)")
        let (rs, raw) = try runProcess(["skopeo", "inspect", "--raw", "--tls-verify=false", "docker://\(out)"])
        try #require(rs == 0, "\(raw)")
        let index = try Index.parse(Array(raw.utf8), source: "index")
        #expect(index.manifests.map { $0.platform?.description } == ["linux/amd64", "linux/arm64"])
        return index
    }

    @Test func runOfAnIndexSignsEveryPlatformAndTheIndex() throws {
        try MultiPlatformRealTests.requireIndex()
        try withWorld { w in
            let gen = try cosign(Peers.cosign2, ["generate-key-pair"], in: w.dir)
            try #require(gen.status == 0, "\(gen.output)")
            let out = "\(w.host)/harden/nginx-multi:1"
            let (s, o) = try runProcess(
                [
                    hardenBinary, "run", MultiPlatformRealTests.image, "--http-probe", "80:GET:/", "-o",
                    "docker://\(out)", "--tls-verify=false", "--sign-key", w.dir + "/cosign.key", "--report-dir",
                    w.dir + "/report", "--db", w.dir + "/none.db",
                ],
                environment: [
                    "COSIGN_PASSWORD": "test-password", "HARDEN_RUN_DIR": w.dir + "/run",
                    "HARDEN_CACHE_DIR": RuntimeTests.cacheDirectory,
                ])
            try #require(s == 0, "\(o)")
            // The tag names the index, and the index is signed.
            let index = try signedIndex(out, in: w.dir)
            // Each platform by digest: signed, its five attestations, its own SBOM.
            for (entry, arch) in zip(index.manifests, ["amd64", "arm64"]) {
                let image = "\(w.host)/harden/nginx-multi@\(entry.digest)"
                // No database: the signature, the SBOM, the provenance and the report (no scan, no OpenVEX), each
                // as a tag and as a referrer.
                let hv = try harden(
                    [
                        "verify", "docker://\(image)", "--key", w.dir + "/cosign.pub", "--tls-verify=false",
                        "--format", "json",
                    ] + ["cyclonedx", "slsaprovenance1", "harden"].flatMap { ["--type", $0] })
                #expect(hv.status == 0, "\(hv.output)")
                #expect(hv.output.components(separatedBy: "\"status\" : \"verified\"").count - 1 == 8, "\(hv.output)")
                let bom = try attestedPredicate("cyclonedx", of: image, in: w.dir)
                let text = String(decoding: try JSONSerialization.data(withJSONObject: bom), as: UTF8.self)
                #expect(text.contains("arch=\(arch)"), "\(arch): the SBOM of another platform?")
                let report = try #require(
                    try JSONSerialization.jsonObject(
                        with: Data(
                            try HostFS.readFile(
                                w.dir + "/report/linux-\(entry.platform?.architecture ?? "")/report.json")))
                        as? [String: Any])
                #expect((report["output"] as? [String: Any])?["manifestDigest"] as? String == entry.digest.description)
                #expect(report["signature"] != nil, "\(report.keys.sorted())")
            }

            // harden sign --recursive of an index pushed whole: the index and every platform, as cosign verifies.
            let input = "\(w.host)/harden/multi-in:1"
            let (cs, co) = try runProcess([
                hardenBinary, "convert", "--tls-verify=false", MultiPlatformRealTests.image, "docker://\(input)",
            ])
            try #require(cs == 0, "\(co)")
            let signed = try harden(
                ["sign", "--recursive", "docker://\(input)", "--key", w.dir + "/cosign.key", "--tls-verify=false"],
                ["COSIGN_PASSWORD": "test-password"])
            try #require(signed.status == 0, "\(signed.output)")
            let (is2, raw2) = try runProcess(["skopeo", "inspect", "--raw", "--tls-verify=false", "docker://\(input)"])
            try #require(is2 == 0, "\(raw2)")
            let inputIndex = try Index.parse(Array(raw2.utf8), source: "index")
            let platforms = inputIndex.manifests.filter { $0.platform?.os == "linux" }
            #expect(platforms.count == 2)
            for ref in [input] + platforms.map({ "\(w.host)/harden/multi-in@\($0.digest)" }) {
                let v = try cosign(
                    Peers.cosign3,
                    ["verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", "--allow-http-registry", ref],
                    in: w.dir)
                #expect(v.status == 0, "\(ref): \(v.output)")
            }
            try attestIndexPlatforms(input, platforms: platforms, world: w)
            let one = try harden(
                ["sign", "--recursive", "docker://\(w.image)", "--key", w.dir + "/cosign.key", "--tls-verify=false"],
                ["COSIGN_PASSWORD": "test-password"])
            #expect(one.status == 1 && one.output.contains("this is one image"), "\(one.output)")
        }
    }

    /// harden attest of the index `input`: `--platform linux/arm64` attests that platform only; `--recursive` the
    /// index and both platforms — each verified by cosign (by digest) and by harden verify --platform.
    func attestIndexPlatforms(_ input: String, platforms: [Descriptor], world w: World) throws {
        try Data(#"{"note":"reviewed"}"#.utf8).write(to: URL(fileURLWithPath: w.dir + "/note.json"))
        let attest = { (extra: [String]) in
            try self.harden(
                [
                    "attest", "docker://\(input)", "--key", w.dir + "/cosign.key", "--tls-verify=false", "--type",
                    "custom",
                ]
                    + ["--predicate", w.dir + "/note.json"] + extra, ["COSIGN_PASSWORD": "test-password"])
        }
        let arm = try attest(["--platform", "linux/arm64"])
        try #require(arm.status == 0, "\(arm.output)")
        #expect(arm.output.components(separatedBy: "attested custom").count - 1 == 1, "\(arm.output)")
        let verify = { (platform: String) in
            try self.harden(
                [
                    "verify", "docker://\(input)", "--platform", platform, "--key", w.dir + "/cosign.pub",
                    "--tls-verify=false", "--type", "custom",
                ])
        }
        #expect(try verify("linux/arm64").status == 0)
        let amd = try verify("linux/amd64")
        #expect(amd.status == 2 && amd.output.contains("custom attestation"), "\(amd.output)")
        let all = try attest(["--recursive"])
        try #require(all.status == 0, "\(all.output)")
        #expect(all.output.components(separatedBy: "attested custom").count - 1 == 3, "\(all.output)")
        #expect(try verify("linux/amd64").status == 0)
        for ref in [input] + platforms.map({ "\(w.host)/harden/multi-in@\($0.digest)" }) {
            let v = try cosign(
                Peers.cosign3,
                [
                    "verify-attestation", "--key", "cosign.pub", "--type", "custom", "--insecure-ignore-tlog=true",
                    "--allow-http-registry", ref,
                ], in: w.dir)
            #expect(v.status == 0, "\(ref): \(v.output)")
        }
    }

    @Test func patchOfAnIndexSignsEveryPlatformWithItsOwnEvidenceAndTheIndex() throws {
        try MultiPlatformRealTests.requireIndex()
        try withWorld { w in
            let gen = try cosign(Peers.cosign2, ["generate-key-pair"], in: w.dir)
            try #require(gen.status == 0, "\(gen.output)")
            let out = "\(w.host)/harden/nginx-multi-patched:1"
            let (s, o) = try runProcess(
                [
                    hardenBinary, "patch", "--all", MultiPlatformRealTests.image, "-o", "docker://\(out)",
                    "--tls-verify=false", "--sign-key", w.dir + "/cosign.key", "--report", w.dir + "/report.json",
                ],
                environment: ["COSIGN_PASSWORD": "test-password", "HARDEN_CACHE_DIR": RuntimeTests.cacheDirectory])
            try #require(s == 0, "\(o)")
            let index = try signedIndex(out, in: w.dir)
            for (entry, arch) in zip(index.manifests, ["amd64", "arm64"]) {
                let image = "\(w.host)/harden/nginx-multi-patched@\(entry.digest)"
                let v = try cosign(
                    Peers.cosign3,
                    ["verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", "--allow-http-registry", image],
                    in: w.dir)
                #expect(v.status == 0, "\(arch): \(v.output)")
                let hv = try harden(
                    [
                        "verify", "docker://\(image)", "--key", w.dir + "/cosign.pub", "--tls-verify=false",
                        "--format", "json",
                    ] + ["cyclonedx", "slsaprovenance1", "harden"].flatMap { ["--type", $0] })
                #expect(hv.status == 0, "\(arch): \(hv.output)")
                // The platform's own SBOM, with the upgraded versions the report names for it.
                let bom = try attestedPredicate("cyclonedx", of: image, in: w.dir)
                let text = String(decoding: try JSONSerialization.data(withJSONObject: bom), as: UTF8.self)
                #expect(text.contains("arch=\(arch)"), "\(arch): the SBOM of another platform?")
                let provenance = try attestedPredicate("slsaprovenance1", of: image, in: w.dir)
                let pt = String(decoding: try JSONSerialization.data(withJSONObject: provenance), as: UTF8.self)
                #expect(pt.contains("_\(arch).deb"), "\(arch): provenance lacks the packages fetched")
            }
        }
    }
}

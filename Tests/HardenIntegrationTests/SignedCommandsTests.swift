// harden — `harden patch --sign-key` and `harden minify --sign-key`: the written image is signed and carries its own
// evidence (the patched or minified image's SBOM, the OpenVEX of what the command did, the scan, SLSA provenance
// naming what it was made from, the hardening report), which cosign verifies.
import Foundation
import HardenCore
import HardenFleet
import HardenOCI
import HardenProfile
import HardenSign
import HardenSystem
import HardenTestSupport
import Testing

extension SigningTests {
    /// The predicate of `type` on `image`, as cosign 2 verifies it.
    func attestedPredicate(_ type: String, of image: String, in dir: String) throws -> [String: Any] {
        let v = try cosign(
            Peers.cosign2,
            [
                "verify-attestation", "--key", "cosign.pub", "--insecure-ignore-tlog=true", "--allow-http-registry",
                "--type", type, image,
            ], in: dir)
        try #require(v.status == 0, "verify-attestation \(type): \(v.output)")
        return try #require(try Self.predicate(inCosignOutput: v.output) as? [String: Any])
    }

    /// harden verify finds the signature and all five attestations of `image`, in both places.
    func verifiesAllFive(_ image: String, in dir: String) throws {
        let hv = try harden(
            ["verify", "docker://\(image)", "--key", dir + "/cosign.pub", "--tls-verify=false", "--format", "json"]
                + ["cyclonedx", "openvex", "vuln", "slsaprovenance1", "harden"].flatMap { ["--type", $0] })
        #expect(hv.status == 0, "\(hv.output)")
        #expect(hv.output.components(separatedBy: "\"status\" : \"verified\"").count - 1 == 12, "\(hv.output)")
    }

    @Test func patchSignsThePatchedImageWithTheFetchedPackagesInItsProvenance() throws {
        try withWorld { w in
            let gen = try cosign(Peers.cosign2, ["generate-key-pair"], in: w.dir)
            try #require(gen.status == 0, "\(gen.output)")
            let p = w.dir + "/patch"
            try HostFS.makeDirectories(p)
            let (repo, image, db) = try PatchScenario.make(p)
            let out = "\(w.host)/harden/hello-patched:1"
            let patched = try runProcess(
                [
                    hardenBinary, "patch", image, "-o", "docker://\(out)", "--tls-verify=false", "--db", db,
                    "--sign-key", w.dir + "/cosign.key",
                ], environment: ["HARDEN_CACHE_DIR": p + "/cache", "COSIGN_PASSWORD": "test-password"])
            try #require(patched.status == 0, "\(patched.output)")
            _ = repo
            let signed = try cosign(
                Peers.cosign3,
                ["verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", "--allow-http-registry", out],
                in: w.dir)
            #expect(signed.status == 0, "\(signed.output)")
            try verifiesAllFive(out, in: w.dir)

            // The provenance: a patch of the input, and every package fetched with its URL and SHA-256.
            let provenance = try attestedPredicate("slsaprovenance1", of: out, in: w.dir)
            let build = try #require(provenance["buildDefinition"] as? [String: Any])
            #expect((build["externalParameters"] as? [String: Any])?["command"] as? String == "patch")
            let deps = try #require(build["resolvedDependencies"] as? [[String: Any]])
            for name in ["hello_1.1-1", "libhello1_1.1-1", "libnew"] {
                let dep = deps.first { ($0["name"] as? String)?.hasPrefix(name) == true }
                #expect(
                    dep?["uri"] as? String != nil && (dep?["digest"] as? [String: String])?["sha256"] != nil,
                    "\(name): \(deps)")
            }
            // The fetched .deb's digest is that of the repository's file.
            if let hello = deps.first(where: { ($0["name"] as? String)?.hasPrefix("hello_1.1-1") == true }),
                let uri = hello["uri"] as? String, let path = uri.split(separator: "/debian/").last
            {
                let deb = try HostFS.readFile(p + "/www/debian/" + path)
                #expect((hello["digest"] as? [String: String])?["sha256"] == Digest.sha256(of: deb).encoded)
            }
            // The OpenVEX: the vulnerability the upgrade fixed; the SBOM: the new version.
            let vex = try attestedPredicate("openvex", of: out, in: w.dir)
            let statements = try #require(vex["statements"] as? [[String: Any]])
            #expect(
                statements.contains {
                    ($0["vulnerability"] as? [String: Any])?["name"] as? String == "CVE-2099-0001"
                        && $0["status"] as? String == "fixed"
                }, "\(statements)")
            let bom = try attestedPredicate("cyclonedx", of: out, in: w.dir)
            let components = try #require(bom["components"] as? [[String: Any]])
            #expect(
                components.contains { $0["name"] as? String == "hello" && $0["version"] as? String == "1.1-1" },
                "\(components.map { "\($0["name"] ?? "") \($0["version"] ?? "")" })")
            let report = try attestedPredicate(PredicateType.hardenReportURI, of: out, in: w.dir)
            #expect((report["patchedPackages"] as? [String])?.contains("hello 1.0-1 → 1.1-1") == true, "\(report)")
        }
    }

    @Test func minifySignsTheResultWithTheProfileItWasMadeFrom() throws {
        try withWorld { w in
            try opensslKeyPair(w.dir, "k")
            try HostFS.writeFileAtomically(w.dir + "/cosign.pub", try HostFS.readFile(w.dir + "/k.pub"))
            let p = w.dir + "/patch"
            try HostFS.makeDirectories(p)
            let (repo, image, db) = try PatchScenario.make(p)
            _ = repo
            // The profile used only `other`: hello (vulnerable) goes, and the OpenVEX says why it no longer affects.
            let loaded = try ImageLoader.open(.ociLayout(path: p + "/img", tag: "t"))
            let profile = RuntimeProfile(
                image: .init(
                    reference: image, configDigest: loaded.configDigest.description,
                    manifestDigest: loaded.manifestDigest.description, platform: "linux/amd64"),
                runs: [],
                files: [
                    .init(
                        path: "/usr/bin/other", operations: ["exec"], count: 1, firstProcess: nil, type: .file,
                        target: nil, failures: nil)
                ],
                executables: [], ports: [], uids: [], gids: [], syscalls: [], packages: [],
                summary: .init(files: 1, missingFiles: 0, executables: 0, packagesUsed: 1, packagesUnused: 2))
            let profileBytes = try JSONCoding.encode(profile)
            try HostFS.writeFileAtomically(w.dir + "/p.json", profileBytes)
            let out = "\(w.host)/harden/hello-min:1"
            let minified = try RuntimeTests.harden(
                [
                    "minify", image, "--profile", w.dir + "/p.json", "--no-verify", "--db", db, "-o", "docker://\(out)",
                    "--tls-verify=false", "--sign-key", w.dir + "/k.pem",
                ], runDir: w.dir + "/run")
            try #require(minified.status == 0, "\(minified.output)")
            try verifiesAllFive(out, in: w.dir)

            let provenance = try attestedPredicate("slsaprovenance1", of: out, in: w.dir)
            let build = try #require(provenance["buildDefinition"] as? [String: Any])
            #expect((build["externalParameters"] as? [String: Any])?["command"] as? String == "minify")
            let deps = try #require(build["resolvedDependencies"] as? [[String: Any]])
            #expect(
                deps.contains {
                    $0["name"] as? String == "profile"
                        && ($0["digest"] as? [String: String])?["sha256"] == Digest.sha256(of: profileBytes).encoded
                }, "\(deps)")
            #expect(
                deps.contains {
                    ($0["digest"] as? [String: String])?["sha256"] == loaded.manifestDigest.encoded
                }, "the input image by digest: \(deps)")
            let vex = try attestedPredicate("openvex", of: out, in: w.dir)
            let statements = try #require(vex["statements"] as? [[String: Any]])
            #expect(
                statements.contains {
                    ($0["vulnerability"] as? [String: Any])?["name"] as? String == "CVE-2099-0001"
                        && ["not_affected", "fixed"].contains($0["status"] as? String ?? "")
                }, "\(statements)")
            let report = try attestedPredicate(PredicateType.hardenReportURI, of: out, in: w.dir)
            let m = try #require(report["minify"] as? [String: Any])
            #expect((m["packagesRemoved"] as? [String])?.contains("deb:hello@1.0-1:amd64") == true, "\(m)")
        }
    }
}

extension SigningTests {
    /// `harden worker --sign-key`: a run job that pushes its hardened image gets it signed with the worker's key and
    /// its evidence attached (the job itself cannot name a key); cosign and harden verify it.
    @Test func aFleetWorkerSignsTheImagesItsRunJobsPush() async throws {
        try RuntimeTests.require()
        try await ScratchPostgres.with { pg in
            try withWorld { w in
                try opensslKeyPair(w.dir, "k")
                try HostFS.writeFileAtomically(w.dir + "/cosign.pub", try HostFS.readFile(w.dir + "/k.pub"))
                let db = try FleetFixture.importTracker(w.dir, v2: false)
                try HostFS.writeFileAtomically(w.dir + "/tokens", Array("admin admin-token-0123456789 ci\n".utf8))
                defer { _ = try? runProcess(["sh", "-c", "kill -9 $(cat '\(w.dir)'/serve.pid) 2>/dev/null"]) }
                let started = try runProcess([
                    "sh", "-c",
                    "'\(hardenBinary)' serve --database '\(pg.url)' --db '\(db)' --listen 127.0.0.1:0 --port-file '\(w.dir)/port' --token-file '\(w.dir)/tokens' >'\(w.dir)/serve.log' 2>&1 & echo $! >'\(w.dir)/serve.pid'",
                ])
                try #require(started.status == 0, "\(started.output)")
                for _ in 0..<200 where !HostFS.exists(w.dir + "/port") { usleep(100_000) }
                let port = String(decoding: try HostFS.readFile(w.dir + "/port"), as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                let env = ["HARDEN_SERVER": "http://127.0.0.1:\(port)", "HARDEN_TOKEN": "admin-token-0123456789"]
                let out = "\(w.host)/harden/nginx-fleet:1"
                let submitted = try runProcess(
                    [
                        hardenBinary, "fleet", "submit", "--action", "run", "--push-to", "docker://\(out)",
                        "--run-arg", "--http-probe", "--run-arg", "80:GET:/", "--format", "json",
                        "oci:\(TestImages.layout):nginx",
                    ], environment: env)
                try #require(submitted.status == 0, "submit: \(submitted.output)")
                let worker = try runProcess(
                    [
                        hardenBinary, "worker", "--database", pg.url, "--server", env["HARDEN_SERVER"]!, "--max-jobs",
                        "1", "--cache", w.dir + "/wc", "--allow-local-images", TestImages.directory,
                        "--tls-verify=false", "--sign-key", w.dir + "/k.pem",
                    ], environment: env)
                try #require(worker.status == 0, "worker: \(worker.output)")
                let (_, jobs) = try runProcess([hardenBinary, "fleet", "jobs", "--format", "json"], environment: env)
                let job = try JSONDecoder.iso8601.decode([FleetJob].self, from: Data(jobs.utf8)).first
                #expect(job?.state == .succeeded, "\(jobs)")
                let signed = try cosign(
                    Peers.cosign2,
                    ["verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", "--allow-http-registry", out],
                    in: w.dir)
                #expect(signed.status == 0, "\(signed.output)")
                try verifiesAllFive(out, in: w.dir)
                let provenance = try attestedPredicate("slsaprovenance1", of: out, in: w.dir)
                let build = try #require(provenance["buildDefinition"] as? [String: Any])
                let args = (build["externalParameters"] as? [String: Any])?["arguments"] as? [String]
                #expect(args == ["--http-probe", "80:GET:/"], "\(args ?? [])")
            }
        }
    }
}

// harden — whole multi-platform images on the real two-platform test image (scripts/build-test-images.sh: nginx for
// linux/amd64 and linux/arm64, the arm64 root debootstrapped under qemu-user-static, plus a BuildKit-style
// attestation manifest): patched like apt would on each architecture, hardened with arm64 under emulation.
import Foundation
import HardenCore
import HardenOCI
import HardenProfile
import HardenSystem
import HardenTestSupport
import Testing

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct MultiPlatformRealTests {
    static var image: String { "oci:\(TestImages.directory)/multi:nginx" }

    static func requireIndex() throws {
        try RuntimeTests.require()
        try #require(
            HostFS.exists(TestImages.directory + "/multi/index.json"),
            "the two-platform image is missing: run scripts/build-test-images.sh (as root)")
        try #require(
            HostFS.exists("/proc/sys/fs/binfmt_misc/qemu-aarch64"),
            "no qemu-aarch64 binfmt_misc handler: run scripts/setup.sh (qemu-user-static, scripts/enable-binfmt.sh)")
    }

    @Test func patchAllUpgradesEachArchitectureLikeAptOnThatArchitecture() throws {
        try Self.requireIndex()
        try TestImages.requireTools("chroot", "dpkg", "skopeo")
        try withTemporaryDirectory { dir in
            let (s, o) = try RuntimeTests.harden(
                ["patch", "--all", Self.image, "-o", "oci:\(dir)/out:t", "--report", dir + "/report.json"],
                runDir: dir + "/run")
            try #require(s == 0, "\(o)")
            let out = try PatchScenario.index(inLayout: dir + "/out")
            #expect(out.manifests.map { $0.platform?.description } == ["linux/amd64", "linux/arm64"], "\(out)")
            let report = try #require(
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/report.json")))
                    as? [String: Any])
            #expect(report["droppedAttestations"] as? Int == 1)
            let rows = try #require(report["platforms"] as? [[String: Any]])
            for (i, platform) in ["linux/amd64", "linux/arm64"].enumerated() {
                let row = rows[i]
                #expect(row["platform"] as? String == platform)
                let packages = ((row["report"] as? [String: Any])?["packages"] as? [[String: Any]]) ?? []
                let ours = Dictionary(
                    uniqueKeysWithValues: packages.map {
                        ($0["name"] as! String, "\($0["from"] as? String ?? "-") \($0["to"] as! String)")
                    })
                // apt's own choice on that architecture: a chroot of the platform's root (arm64 under qemu-user).
                let slug = platform.replacingOccurrences(of: "/", with: "-")
                let before = try Self.rootfs(dir, Self.image, platform, "before-" + slug)
                let apt = try PatchMirrorTests.aptChoice(rootfs: before).mapValues { "\($0.0 ?? "-") \($0.1)" }
                #expect(!apt.isEmpty, "the mirror has no updates for \(platform)?")
                #expect(
                    ours == apt,
                    "\(platform): harden only: \(ours.filter { apt[$0.key] != $0.value }); apt only: \(apt.filter { ours[$0.key] != $0.value })"
                )
                let after = try Self.rootfs(dir, "oci:\(dir)/out:t", platform, "after-" + slug)
                let status = PatchScenario.text(after + "/var/lib/dpkg/status") ?? ""
                #expect(status.contains("Architecture: \(platform.split(separator: "/")[1])\n"))
                // The platform's own dpkg (arm64's under qemu-user): the host's takes arm64 for a foreign arch.
                let (_, verifyBefore) = try runProcess(["chroot", before, "dpkg", "--verify"])
                let (_, verifyAfter) = try runProcess(["chroot", after, "dpkg", "--verify"])
                let new = Set(verifyAfter.split(separator: "\n")).subtracting(verifyBefore.split(separator: "\n"))
                #expect(new.isEmpty, "\(platform): dpkg --verify: \(new.sorted().prefix(10))")
                let (_, audit) = try runProcess(["chroot", after, "dpkg", "--audit"])
                #expect(audit.isEmpty, "\(platform): \(audit)")
                print("patch \(platform): \(ours.count) packages upgraded, as apt chooses")
            }
            // An independent reader takes the whole index.
            let (cs, co) = try runProcess(["skopeo", "copy", "-q", "--all", "oci:\(dir)/out:t", "oci:\(dir)/copy:t"])
            #expect(cs == 0, "skopeo copy --all: \(co)")
        }
    }

    @Test func runHardensBothPlatformsTheForeignOneUnderEmulation() throws {
        try Self.requireIndex()
        try withTemporaryDirectory { dir in
            let input = try PatchScenario.index(inLayout: TestImages.directory + "/multi", tag: "nginx")
            let (s, o) = try RuntimeTests.harden(
                [
                    "run", Self.image, "--http-probe", "80:GET:/", "-o", "oci:\(dir)/out:t", "--report-dir",
                    dir + "/report", "--db", dir + "/none.db",
                ], runDir: dir + "/run")
            try #require(s == 0, "\(o)")
            let out = try PatchScenario.index(inLayout: dir + "/out")
            #expect(out.manifests.map { $0.platform?.description } == ["linux/amd64", "linux/arm64"], "\(out)")
            #expect(out.manifests[0].digest != input.manifests[0].digest)
            #expect(out.manifests[1].digest != input.manifests[1].digest)

            // Each platform's own report; the arm64 seccomp profile is arm64's, its profile free of the emulator.
            let summary = try #require(
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/report/report.json")))
                    as? [String: Any])
            let rows = try #require(summary["platforms"] as? [[String: Any]])
            #expect(rows.map { $0["outcome"] as? String } == ["hardened", "hardened"], "\(rows)")
            #expect(rows.map { $0["verification"] as? String } == ["passed", "passed"], "\(rows)")
            let seccomp = try #require(
                try JSONSerialization.jsonObject(
                    with: Data(try HostFS.readFile(dir + "/report/linux-arm64/seccomp.json"))) as? [String: Any])
            #expect((seccomp["architectures"] as? [String])?.first == "SCMP_ARCH_AARCH64", "\(seccomp)")
            let names = Set(
                ((seccomp["syscalls"] as? [[String: Any]])?.first?["names"] as? [String]) ?? [])
            #expect(names.contains("openat") && names.contains("mmap") && names.contains("epoll_pwait"))
            #expect(names.isDisjoint(with: ["open", "arch_prctl", "epoll_wait", "stat"]), "\(names.sorted())")
            let profile = try RuntimeTests.profile(dir + "/report/linux-arm64/profile.json")
            #expect(profile.image.platform == "linux/arm64")
            #expect(profile.files.contains { $0.path.hasPrefix("/usr/lib/aarch64-linux-gnu/") })
            #expect(!profile.files.contains { $0.path.contains("qemu") || $0.path.contains("x86_64-linux-gnu") })
            #expect(
                HostFS.exists(dir + "/report/report.html") && HostFS.exists(dir + "/report/linux-amd64/report.html"))

            // The hardened arm64 image serves its probe under runc (emulated) on its own.
            let (ps, po) = try RuntimeTests.harden(
                [
                    "profile", "--platform", "linux/arm64", "oci:\(dir)/out:t", "--http-probe", "80:GET:/", "-o",
                    dir + "/p.json",
                ], runDir: dir + "/run")
            #expect(ps == 0, "\(po)")

            // --profile-platform linux/amd64: arm64 is not profiled but gets amd64's profile mapped onto its own
            // paths; it keeps the same packages as when profiled itself, and still verifies under emulation.
            let (s3, o3) = try RuntimeTests.harden(
                [
                    "run", "--profile-platform", "linux/amd64", Self.image, "--http-probe", "80:GET:/", "-o",
                    "oci:\(dir)/mapped:t", "--report-dir", dir + "/report3", "--db", dir + "/none.db",
                ], runDir: dir + "/run")
            try #require(s3 == 0, "\(o3)")
            let mappedRows = try #require(
                (try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/report3/report.json")))
                    as? [String: Any])?["platforms"] as? [[String: Any]])
            #expect(mappedRows.map { $0["profileMappedFrom"] as? String } == [nil, "linux/amd64"], "\(mappedRows)")
            #expect(mappedRows.map { $0["verification"] as? String } == ["passed", "passed"], "\(mappedRows)")
            let mapped = try RuntimeTests.profile(dir + "/report3/linux-arm64/profile.json")
            #expect(mapped.mappedFrom?.platform == "linux/amd64" && mapped.image.platform == "linux/arm64")
            #expect(mapped.files.contains { $0.path == "/usr/lib/aarch64-linux-gnu/libc.so.6" })
            #expect(!mapped.files.contains { $0.path.contains("x86_64") }, "\(mapped.files.map(\.path))")
            #expect(
                try Self.components(dir + "/report3/linux-arm64/sbom-after.cdx.json")
                    == Self.components(dir + "/report/linux-arm64/sbom-after.cdx.json"))

            // --platform linux/arm64: only arm64 is hardened; amd64 is the input's manifest, byte for byte.
            let (s2, o2) = try RuntimeTests.harden(
                [
                    "run", "--platform", "linux/arm64", Self.image, "--http-probe", "80:GET:/", "-o",
                    "oci:\(dir)/one:t", "--report-dir", dir + "/report2", "--db", dir + "/none.db",
                ], runDir: dir + "/run")
            try #require(s2 == 0, "\(o2)")
            let one = try PatchScenario.index(inLayout: dir + "/one")
            #expect(one.manifests[0].digest == input.manifests[0].digest)
            #expect(one.manifests[1].digest != input.manifests[1].digest)
            #expect(o2.contains("copied"), "\(o2)")
            #expect(try RuntimeTests.leftovers(runDir: dir + "/run").isEmpty)
        }
    }

    @Test func minifyOfTheIndexAppliesOnePlatformsProfileToEveryPlatform() throws {
        try Self.requireIndex()
        try withTemporaryDirectory { dir in
            let (ps, po) = try RuntimeTests.harden(
                [
                    "profile", "--platform", "linux/amd64", Self.image, "--http-probe", "80:GET:/", "-o",
                    dir + "/amd64.json",
                ], runDir: dir + "/run")
            try #require(ps == 0, "\(po)")
            let (ks, ko) = try runProcess(
                [Peers.cosign2, "generate-key-pair", "--output-key-prefix", dir + "/k"],
                environment: ["COSIGN_PASSWORD": "pw"])
            try #require(ks == 0, "\(ko)")
            let (s, o) = try runProcess(
                [
                    hardenBinary, "minify", Self.image, "--profile", dir + "/amd64.json", "-o", "oci:\(dir)/out:t",
                    "--seccomp", dir + "/seccomp.json", "--db", dir + "/none.db", "--sign-key", dir + "/k.key",
                ],
                environment: [
                    "HARDEN_RUN_DIR": dir + "/run", "HARDEN_CACHE_DIR": RuntimeTests.cacheDirectory,
                    "COSIGN_PASSWORD": "pw",
                ])
            try #require(s == 0, "\(o)")
            let input = try PatchScenario.index(inLayout: TestImages.directory + "/multi", tag: "nginx")
            let out = try PatchScenario.index(inLayout: dir + "/out")
            #expect(out.manifests.map { $0.platform?.description } == ["linux/amd64", "linux/arm64"])
            #expect(zip(out.manifests, input.manifests).allSatisfy { $0.digest != $1.digest })
            #expect(o.contains("verification: passed"), "\(o)")
            // --sign-key: each platform signed by digest with its own SBOM, provenance and report.
            for (platform, arch) in [("linux/amd64", "amd64"), ("linux/arm64", "arm64")] {
                let (vs, vo) = try runProcess([
                    hardenBinary, "verify", "oci:\(dir)/out:t", "--platform", platform, "--key", dir + "/k.pub",
                    "--type", "cyclonedx", "--type", "slsaprovenance1", "--type", "harden", "--format", "json",
                ])
                #expect(vs == 0, "\(platform): \(vo)")
                let manifest = out.manifests.first { $0.platform?.architecture == arch }?.digest.description ?? "?"
                #expect(vo.contains("\"digest\" : \"\(manifest)\""), "\(platform): \(vo)")
            }
            // And the index itself.
            let (iv, io) = try runProcess([hardenBinary, "verify", "oci:\(dir)/out:t", "--key", dir + "/k.pub"])
            #expect(iv == 0, "\(io)")
            let seccomp = try #require(
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/seccomp.linux-arm64.json")))
                    as? [String: Any])
            #expect((seccomp["architectures"] as? [String])?.first == "SCMP_ARCH_AARCH64")
            #expect(HostFS.exists(dir + "/seccomp.linux-amd64.json"))

            // A profile of another image is refused before any work.
            let text = String(decoding: try HostFS.readFile(dir + "/amd64.json"), as: UTF8.self)
            let digest = try RuntimeTests.profile(dir + "/amd64.json").image.manifestDigest
            try HostFS.writeFileAtomically(
                dir + "/other.json",
                Array(text.replacingOccurrences(of: digest, with: "sha256:" + String(repeating: "0", count: 64)).utf8))
            let (ms, mo) = try RuntimeTests.harden(
                ["minify", Self.image, "--profile", dir + "/other.json", "-o", "oci:\(dir)/bad:t"], runDir: dir + "/run"
            )
            #expect(ms == 1 && mo.contains("not a platform of"), "\(mo)")
        }
    }

    @Test func checkWithPlatformAllCoversEveryPlatformAndItsGateNamesEach() throws {
        try Self.requireIndex()
        let (s, o) = try runProcess([hardenBinary, "check", "--platform", "all", Self.image, "--format", "json"])
        try #require(s == 0, "\(o)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(o.utf8)) as? [String: Any])
        let platforms = try #require(doc["platforms"] as? [[String: Any]])
        #expect(platforms.map { $0["platform"] as? String } == ["linux/amd64", "linux/arm64"])
        let digests = platforms.compactMap { ($0["report"] as? [String: Any])?["manifestDigest"] as? String }
        #expect(Set(digests).count == 2, "\(digests)")
        let (ss, so) = try runProcess([hardenBinary, "check", "--platform", "all", Self.image, "--format", "sarif"])
        try #require(ss == 0, "\(so)")
        let sarif = try #require(try JSONSerialization.jsonObject(with: Data(so.utf8)) as? [String: Any])
        #expect((sarif["runs"] as? [Any])?.count == 2)
        // The gate: runs as root (a failed check in both), so both platforms fail it and are named.
        try withTemporaryDirectory { dir in
            let (gs, go) = try runProcess([
                hardenBinary, "check", "-q", "--platform", "all", Self.image, "--fail-on", "info", "-o",
                dir + "/checks.txt",
            ])
            #expect(gs == 2, "\(go)")
            #expect(go.contains("linux/amd64: ") && go.contains("linux/arm64: "), "\(go)")
            #expect(PatchScenario.text(dir + "/checks.txt")?.contains("== linux/arm64") == true)
        }
    }

    /// Component names and versions of a CycloneDX SBOM.
    static func components(_ path: String) throws -> [String] {
        let doc = try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(path))) as? [String: Any]
        return ((doc?["components"] as? [[String: Any]]) ?? []).map {
            "\($0["name"] as? String ?? "") \($0["version"] as? String ?? "")"
        }.sorted()
    }

    static func rootfs(_ dir: String, _ image: String, _ platform: String, _ name: String) throws -> String {
        let (s, o) = try runProcess([hardenBinary, "convert", "--platform", platform, image, "dir:\(dir)/\(name)"])
        try #require(s == 0, "convert \(platform): \(o)")
        return dir + "/" + name
    }
}

// harden — `harden patch` of a multi-platform image: every platform patched with its own architecture's packages,
// one index out with the same platforms in the same order, BuildKit's attestation manifest dropped, a platform that
// cannot be patched kept unchanged (or refused with --strict-platforms), --platform limiting what is patched; the
// result read back by skopeo, in an OCI layout and in a registry.
import Foundation
import HardenCore
import HardenOCI
import HardenSystem
import HardenTestSupport
import Testing

extension PatchScenario {
    static let arm64 = Platform(os: "linux", architecture: "arm64")
    static let s390x = Platform(os: "linux", architecture: "s390x")

    /// The arm64 build of a scenario package: its programs say so.
    static func onArm64(_ p: DebFixture.Package) -> DebFixture.Package {
        var q = p
        q.architecture = "arm64"
        q.binaries = [:]
        for (path, content) in p.files where path.hasPrefix("usr/bin/") { q.files[path] = content + " (arm64)" }
        return q
    }

    /// The scenario as a three-platform index tagged `t`: linux/amd64 and linux/arm64 (each with its own packages,
    /// patchable from the repository's binary-amd64 and binary-arm64 indexes), linux/s390x without a dpkg database,
    /// and a BuildKit-style attestation manifest of the amd64 image.
    static func makeIndex(_ dir: String) throws -> (repo: LoopbackRepository, image: String, db: String) {
        let key = try DebFixture.makeKey(home: dir + "/gnupg")
        let root = dir + "/www/debian"
        let arches = ["amd64", "arm64"]
        try DebFixture.repository(
            root: root, suite: "bookworm", packages: installed + installed.map(onArm64), gpgHome: dir + "/gnupg")
        try DebFixture.repository(
            root: root, suite: "bookworm-security", packages: security + security.map(onArm64),
            gpgHome: dir + "/gnupg")
        try DebFixture.repository(
            root: root, suite: "bookworm-updates", packages: [], gpgHome: dir + "/gnupg", architectures: arches)
        let repo = try LoopbackRepository(root: dir + "/www")

        let img = dir + "/img"
        try HostFS.makeDirectories(img + "/blobs/sha256")
        func image(_ packages: [DebFixture.Package], _ platform: Platform) throws -> Descriptor {
            var entries = rootEntries(repo: repo, key: key, packages: packages, confChanged: true, distroless: false)
            entries.append(.file("var/lib/dpkg/status", packages.map(\.statusStanza).joined(separator: "\n")))
            // The host's dpkg (amd64), the oracle below, reads the arm64 root: arm64 is a foreign architecture to it.
            if platform.architecture != "amd64" {
                entries.append(.file("var/lib/dpkg/arch", "\(platform.architecture)\n"))
            }
            var (d, _) = try Fixtures.writeImage(
                at: img, layers: [try Fixtures.layer(entries)], config: nil, platform: platform)
            d.platform = platform
            return d
        }
        let amd = try image(installed, .defaultPlatform)
        let arm = try image(installed.map(onArm64), arm64)
        var (noDpkg, _) = try Fixtures.writeImage(
            at: img, layers: [try Fixtures.layer([.file("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n")])],
            config: nil, platform: s390x)
        noDpkg.platform = s390x
        let unknown = Platform(os: "unknown", architecture: "unknown")
        var (attestation, _) = try Fixtures.writeImage(
            at: img, layers: [try Fixtures.layer([.file("sbom.spdx.json", "{}")])], config: nil, platform: unknown)
        attestation.platform = unknown
        attestation.annotations = [
            "vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": "\(amd.digest)",
        ]
        let indexBytes = try JSONCoding.encode(Index(manifests: [amd, arm, noDpkg, attestation]))
        let indexDigest = try Fixtures.putBlob(img, indexBytes)
        let top = Descriptor(
            mediaType: MediaType.ociIndex, digest: indexDigest, size: Int64(indexBytes.count),
            annotations: [Descriptor.refNameAnnotation: "t"])
        try HostFS.writeFileAtomically(img + "/oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        try HostFS.writeFileAtomically(img + "/index.json", try JSONCoding.encode(Index(manifests: [top])))

        try HostFS.writeFileAtomically(dir + "/tracker.json", Array(tracker.utf8))
        let (s, o) = try runProcess([hardenBinary, "db", "import", dir + "/tracker.json", "--db", dir + "/db.sqlite"])
        try #require(s == 0, "db import: \(o)")
        return (repo, "oci:\(img):t", dir + "/db.sqlite")
    }

    /// The index an OCI layout's tag `t` names.
    static func index(inLayout dir: String, tag: String = "t") throws -> Index {
        let top = try Index.parse(try HostFS.readFile(dir + "/index.json"), source: "index.json")
        let entry = try #require(top.manifests.first { $0.refName == tag })
        #expect(entry.mediaType == MediaType.ociIndex)
        return try Index.parse(try HostFS.readFile(dir + "/blobs/sha256/" + entry.digest.encoded), source: "index")
    }
}

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct MultiPlatformPatchTests {
    @Test func everyPlatformIsPatchedWithItsOwnPackagesIntoOneIndex() throws {
        try withTemporaryDirectory { dir in
            let (repo, image, db) = try PatchScenario.makeIndex(dir)
            _ = repo
            let input = try PatchScenario.index(inLayout: dir + "/img")
            let (status, output) = try PatchScenario.patch(dir, image: image, db: db)
            try #require(status == 0, "\(output)")
            #expect(
                output.contains("linux/s390x kept unchanged") && output.contains("no package database"), "\(output)")

            // One index: the same platforms in the same order, the attestation manifest gone, s390x as it was.
            let out = try PatchScenario.index(inLayout: dir + "/out")
            #expect(
                out.manifests.map { $0.platform?.description } == ["linux/amd64", "linux/arm64", "linux/s390x"],
                "\(out.manifests)")
            #expect(out.manifests[2].digest == input.manifests[2].digest)
            #expect(out.manifests[0].digest != input.manifests[0].digest)

            // Each platform got its own architecture's packages.
            for (platform, suffix) in [("linux/amd64", ""), ("linux/arm64", " (arm64)")] {
                let root = dir + "/root-" + platform.replacingOccurrences(of: "/", with: "-")
                let (s, o) = try runProcess([
                    hardenBinary, "convert", "--platform", platform, "oci:\(dir)/out:t", "dir:\(root)",
                ])
                try #require(s == 0, "convert \(platform): \(o)")
                #expect(PatchScenario.text(root + "/usr/bin/hello") == "hello v1.1" + suffix, "\(platform)")
                let status = PatchScenario.text(root + "/var/lib/dpkg/status") ?? ""
                #expect(status.contains("Package: hello\n") && status.contains("Version: 1.1-1"))
                #expect(status.contains("Architecture: \(platform.split(separator: "/")[1])"), "\(platform)")
                let audit = try runProcess(["dpkg", "--root", root, "--audit"])
                #expect(audit.status == 0 && audit.output.isEmpty, "\(platform) dpkg --audit: \(audit.output)")
            }

            // The report says what happened to each platform.
            let report = try #require(
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/report.json")))
                    as? [String: Any])
            let platforms = try #require(report["platforms"] as? [[String: Any]])
            #expect(platforms.map { $0["outcome"] as? String } == ["patched", "patched", "kept"], "\(platforms)")
            #expect(report["droppedAttestations"] as? Int == 1)
            // One OpenVEX document: the fix on each patched platform, each naming that platform's image.
            let vex = try #require(
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/vex.json"))) as? [String: Any])
            let products = (vex["statements"] as? [[String: Any]] ?? []).flatMap {
                ($0["products"] as? [[String: Any]] ?? []).compactMap { $0["@id"] as? String }
            }
            for entry in out.manifests.prefix(2) {
                #expect(products.contains { $0.contains(entry.digest.encoded) }, "\(entry.digest): \(products)")
            }

            // skopeo reads the index and copies every platform.
            let copy = try runProcess(["skopeo", "copy", "--all", "oci:\(dir)/out:t", "oci:\(dir)/copy:t"])
            #expect(copy.status == 0, "skopeo copy --all: \(copy.output)")

            // --strict-platforms refuses the platform that cannot be patched.
            try? HostFS.removeTree(dir + "/out")
            let strict = try PatchScenario.patch(dir, image: image, db: db, extra: ["--strict-platforms"])
            #expect(strict.status != 0 && strict.output.contains("no package database"), "\(strict.output)")
        }
    }

    @Test func platformLimitsWhatIsPatchedAndAnIndexGoesToARegistryWhole() throws {
        try withTemporaryDirectory { dir in
            let (repo, image, db) = try PatchScenario.makeIndex(dir)
            _ = repo
            let input = try PatchScenario.index(inLayout: dir + "/img")
            let (status, output) = try PatchScenario.patch(
                dir, image: image, db: db, extra: ["--platform", "linux/arm64"])
            try #require(status == 0, "\(output)")
            let out = try PatchScenario.index(inLayout: dir + "/out")
            #expect(out.manifests[0].digest == input.manifests[0].digest, "amd64 copied unchanged")
            #expect(out.manifests[1].digest != input.manifests[1].digest, "arm64 patched")
            #expect(out.manifests[2].digest == input.manifests[2].digest)
            let unknown = try PatchScenario.patch(dir, image: image, db: db, extra: ["--platform", "linux/riscv64"])
            #expect(
                unknown.status != 0 && unknown.output.contains("available: linux/amd64, linux/arm64, linux/s390x"),
                "\(unknown.output)")

            // The whole index pushed to a registry, read back by skopeo.
            let server = try RegistryServer(dir: dir + "/reg")
            let ref = "127.0.0.1:\(server.port)/harden/hello:multi"
            let pushed = try runProcess(
                [
                    hardenBinary, "patch", image, "-o", "docker://\(ref)", "--tls-verify=false", "--db", db,
                ], environment: ["HARDEN_CACHE_DIR": dir + "/cache"])
            try #require(pushed.status == 0, "\(pushed.output)")
            let raw = try runProcess(["skopeo", "inspect", "--raw", "--tls-verify=false", "docker://\(ref)"])
            try #require(raw.status == 0, "\(raw.output)")
            let index = try Index.parse(Array(raw.output.utf8), source: "registry index")
            #expect(
                index.manifests.map { $0.platform?.description } == ["linux/amd64", "linux/arm64", "linux/s390x"])
            let back = try runProcess([
                "skopeo", "copy", "--all", "--src-tls-verify=false", "docker://\(ref)", "oci:\(dir)/back:t",
            ])
            #expect(back.status == 0, "skopeo copy --all: \(back.output)")

            // harden convert copies every platform by default, registry → layout and layout → layout, byte for byte.
            let pulled = try runProcess([
                hardenBinary, "convert", "--tls-verify=false", "docker://\(ref)", "oci:\(dir)/pulled:t",
            ])
            try #require(pulled.status == 0, "\(pulled.output)")
            #expect(try PatchScenario.index(inLayout: dir + "/pulled").manifests == index.manifests)
            let copied = try runProcess([hardenBinary, "convert", image, "oci:\(dir)/copied:t"])
            try #require(copied.status == 0, "\(copied.output)")
            #expect(copied.output.contains("1 attestation manifest(s) of the index not copied"), "\(copied.output)")
            #expect(
                try PatchScenario.index(inLayout: dir + "/copied").manifests.map(\.digest)
                    == input.manifests.prefix(3).map(\.digest))
            let one = try runProcess([
                hardenBinary, "convert", "--platform", "linux/arm64", image, "oci:\(dir)/one:t",
            ])
            #expect(one.status == 0 && !HostFS.exists(dir + "/one/blobs/sha256/" + input.manifests[0].digest.encoded))
        }
    }

    @Test func scanAndSBOMCoverEveryPlatformWithPlatformAll() throws {
        try withTemporaryDirectory { dir in
            let (repo, image, db) = try PatchScenario.makeIndex(dir)
            _ = repo
            // Default: one platform, and a note naming the others.
            let one = try runProcess([hardenBinary, "scan", image, "--db", db, "--format", "json"])
            #expect(one.status == 0, "\(one.output)")
            #expect(one.output.contains("is a multi-platform image (linux/amd64, linux/arm64, linux/s390x)"))

            let all = try runProcess([
                hardenBinary, "scan", image, "--db", db, "--platform", "all", "--format", "json", "-o",
                dir + "/scan.json",
            ])
            try #require(all.status == 0, "\(all.output)")
            let doc = try #require(
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/scan.json"))) as? [String: Any])
            let platforms = try #require(doc["platforms"] as? [[String: Any]])
            #expect(platforms.map { $0["platform"] as? String } == ["linux/amd64", "linux/arm64", "linux/s390x"])
            let ids = platforms.map { p in
                ((p["report"] as? [String: Any])?["findings"] as? [[String: Any]] ?? []).compactMap {
                    $0["id"] as? String
                }
            }
            #expect(ids[0].contains("CVE-2099-0001") && ids[1].contains("CVE-2099-0001") && ids[2].isEmpty, "\(ids)")

            // The gate fails when any platform fails it, and says which.
            let gated = try runProcess([
                hardenBinary, "scan", image, "--db", db, "--platform", "all", "--fail-on", "low", "-o", dir + "/t.txt",
            ])
            #expect(gated.status == 2, "\(gated.output)")
            #expect(gated.output.contains("(linux/amd64)") && gated.output.contains("(linux/arm64)"), "\(gated.output)")
            #expect(!gated.output.contains("(linux/s390x)"))

            // SARIF: one log, a run per platform.
            let sarif = try runProcess([
                hardenBinary, "scan", image, "--db", db, "--platform", "all", "--format", "sarif", "-o",
                dir + "/scan.sarif",
            ])
            try #require(sarif.status == 0, "\(sarif.output)")
            let log = try #require(
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/scan.sarif"))) as? [String: Any]
            )
            let runs = try #require(log["runs"] as? [[String: Any]])
            #expect(
                runs.map { ($0["properties"] as? [String: Any])?["platform"] as? String } == [
                    "linux/amd64", "linux/arm64", "linux/s390x",
                ])

            // Formats of one image per document: one file per platform, or a one-line error without -o.
            let bom = try runProcess([
                hardenBinary, "sbom", image, "--platform", "all", "--format", "spdx-json", "-o",
                dir + "/sbom.spdx.json",
            ])
            try #require(bom.status == 0, "\(bom.output)")
            for tag in ["linux-amd64", "linux-arm64", "linux-s390x"] {
                #expect(HostFS.exists(dir + "/sbom.\(tag).spdx.json"), "\(tag)")
            }
            let arm = String(decoding: try HostFS.readFile(dir + "/sbom.linux-arm64.spdx.json"), as: UTF8.self)
            #expect(arm.contains("arch=arm64"), "the arm64 SBOM names arm64 packages")
            let noFile = try runProcess([
                hardenBinary, "sbom", image, "--platform", "all", "--format", "cyclonedx-json",
            ])
            #expect(noFile.status != 0 && noFile.output.contains("give -o FILE"), "\(noFile.output)")
            let inspected = try runProcess([hardenBinary, "inspect", image, "--platform", "all", "--format", "json"])
            try #require(inspected.status == 0, "\(inspected.output)")
            let report = try #require(
                try JSONSerialization.jsonObject(with: Data(inspected.output.utf8)) as? [String: Any])
            #expect(
                (report["platforms"] as? [[String: Any]])?.map {
                    ($0["image"] as? [String: Any])?["platform"] as? String
                }
                    == ["linux/amd64", "linux/arm64", "linux/s390x"], "\(inspected.output.prefix(400))")
        }
    }
}

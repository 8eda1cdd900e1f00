// harden — the image core against real Debian images built by debootstrap + umoci + skopeo,
// with umoci and skopeo as independent readers of what harden writes.
import HardenArchive
import HardenCommands
import HardenCore
import HardenOCI
import HardenPackages
import HardenSystem
import HardenTestSupport
import Testing

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct RealImageTests {
    @Test(arguments: TestImages.tags)
    func squashedTreeEqualsUmociUnpack(tag: String) throws {
        try TestImages.require()
        try TestImages.requireTools("umoci")
        try withTemporaryDirectory { dir in
            let (status, out) = try runProcess([
                "umoci", "unpack", "--image", "\(TestImages.layout):\(tag)", dir + "/bundle",
            ])
            try #require(status == 0, "umoci unpack failed: \(out)")
            let image = try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: tag))
            let ours = summarize(try FileTree.build(from: image))
            let theirs = try summarize(directory: dir + "/bundle/rootfs")
            #expect(ours.count > 1000)
            let diff = differences(ours, theirs)
            #expect(diff.isEmpty, "\(diff.joined(separator: "\n"))")
        }
    }

    @Test(arguments: TestImages.tags)
    func everyTransportGivesTheSameImage(tag: String) throws {
        try TestImages.require()
        let oci = try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: tag))
        let archive = try ImageLoader.open(.ociArchive(path: "\(TestImages.directory)/\(tag).oci.tar", tag: nil))
        let docker = try ImageLoader.open(
            .dockerArchive(path: "\(TestImages.directory)/\(tag).docker.tar", repoTag: "harden/\(tag):latest"))
        #expect(archive.manifestDigest == oci.manifestDigest)
        #expect(docker.layers.map(\.diffID) == oci.layers.map(\.diffID))
        #expect(docker.config.config?.cmd == oci.config.config?.cmd)
        let a = summarize(try FileTree.build(from: oci))
        let b = summarize(try FileTree.build(from: docker))
        #expect(differences(a, b).isEmpty)
    }

    @Test func inspectReportsTheRealNginxImage() throws {
        try TestImages.require()
        let image = try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: "nginx"))
        let report = try Application.ImageInspect.inspect(image, reference: "nginx")
        #expect(report.os?.id == "debian" && report.os?.versionID == "12" && report.os?.codename == "bookworm")
        #expect(report.layers.count == 2)
        #expect(report.config.exposedPorts == ["80/tcp"])
        #expect(report.config.cmd?.first == "nginx")
        #expect(report.fileCount > 4000)
        #expect(report.layers[1].files > 50)
        #expect(report.uncompressedSize > report.compressedSize)
    }

    @Test func whatWeWriteIsReadBySkopeoAndUmoci() throws {
        try TestImages.require()
        try TestImages.requireTools("skopeo", "umoci")
        try withTemporaryDirectory { dir in
            let image = try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: "nginx"))
            _ = try ImageWriter.write(
                image, to: .ociLayout(path: dir + "/oci", tag: "out"), options: .init(compression: .gzip))
            // Debian's umoci cannot read zstd layers; skopeo can.
            _ = try ImageWriter.write(
                image, to: .ociLayout(path: dir + "/zstd", tag: "z"), options: .init(compression: .zstd))
            _ = try ImageWriter.write(image, to: .ociArchive(path: dir + "/out.oci.tar", tag: "out"))
            _ = try ImageWriter.write(image, to: .dockerArchive(path: dir + "/out.docker.tar", repoTag: "harden/out:1"))
            for ref in [
                "oci:\(dir)/oci:out", "oci:\(dir)/zstd:z", "oci-archive:\(dir)/out.oci.tar:out",
                "docker-archive:\(dir)/out.docker.tar",
            ] {
                let (s1, o1) = try runProcess(["skopeo", "inspect", ref])
                #expect(s1 == 0, "skopeo inspect \(ref): \(o1)")
                #expect(o1.contains(image.layers[0].diffID.encoded) || o1.contains("\"Layers\""), "\(o1)")
                let target = dir + "/copy-\(ref.prefix(while: { $0 != ":" }))"
                let (s2, o2) = try runProcess(["skopeo", "copy", "-q", ref, "oci:\(target):c"])
                #expect(s2 == 0, "skopeo copy \(ref): \(o2)")
            }
            let (s3, o3) = try runProcess(["umoci", "unpack", "--image", dir + "/oci:out", dir + "/bundle"])
            #expect(s3 == 0, "umoci unpack of our layout: \(o3)")
            let (s4, o4) = try runProcess([
                "umoci", "unpack", "--image", dir + "/copy-docker-archive:c", dir + "/bundle2",
            ])
            #expect(s4 == 0, "umoci unpack of skopeo's copy of our docker-archive: \(o4)")
            let ours = summarize(try FileTree.build(from: image))
            #expect(differences(ours, try summarize(directory: dir + "/bundle/rootfs")).isEmpty)
        }
    }

    @Test func roundTripThroughDockerArchiveKeepsDiffIDsAndIsByteIdentical() throws {
        try TestImages.require()
        try withTemporaryDirectory { dir in
            let image = try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: "flask"))
            _ = try ImageWriter.write(image, to: .dockerArchive(path: dir + "/1.tar", repoTag: "harden/flask:1"))
            _ = try ImageWriter.write(image, to: .dockerArchive(path: dir + "/2.tar", repoTag: "harden/flask:1"))
            let (s, o) = try runProcess(["cmp", dir + "/1.tar", dir + "/2.tar"])
            #expect(s == 0, "docker-archive output differs between two runs: \(o)")
            let docker = try ImageLoader.open(.dockerArchive(path: dir + "/1.tar", repoTag: nil))
            let w1 = try ImageWriter.write(
                docker, to: .ociLayout(path: dir + "/a", tag: "x"), options: .init(compression: .gzip))
            let w2 = try ImageWriter.write(
                docker, to: .ociLayout(path: dir + "/b", tag: "x"), options: .init(compression: .gzip))
            #expect(w1.manifestDigest == w2.manifestDigest)
            let back = try ImageLoader.open(.ociLayout(path: dir + "/a", tag: "x"))
            #expect(back.layers.map(\.diffID) == image.layers.map(\.diffID))
        }
    }

    @Test func extractedRootfsEqualsUmociUnpack() throws {
        try TestImages.require()
        try TestImages.requireTools("umoci")
        try withTemporaryDirectory { dir in
            let image = try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: "nginx"))
            _ = try ImageWriter.write(image, to: .rootfs(path: dir + "/ours"))
            let (status, out) = try runProcess([
                "umoci", "unpack", "--image", "\(TestImages.layout):nginx", dir + "/bundle",
            ])
            try #require(status == 0, "\(out)")
            var theirs = try summarize(directory: dir + "/bundle/rootfs")
            let ours = try summarize(directory: dir + "/ours")
            // umoci creates device nodes as root; harden skips them unless asked (--devices).
            theirs = theirs.filter { $0.value.type != "char" && $0.value.type != "block" }
            let diff = differences(ours, theirs)
            #expect(diff.isEmpty, "\(diff.joined(separator: "\n"))")
        }
    }
}

@Suite(.enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct CommandLineTests {
    @Test func corruptInputExitsOneWithOneLineNamingTheInput() throws {
        try #require(HostFS.exists(hardenBinary), "build harden first (swift build)")
        try withTemporaryDirectory { dir in
            try HostFS.writeFileAtomically(dir + "/junk.tar", Array(repeating: 0x41, count: 4096))
            let cases: [([String], String)] = [
                (["inspect", dir + "/missing"], "missing"),
                (["inspect", dir + "/junk.tar"], "junk.tar"),
                (["inspect", "oci:" + dir + "/missing-dir"], "missing-dir"),
                (["convert", dir + "/junk.tar", "oci:" + dir + "/out"], "junk.tar"),
            ]
            for (args, name) in cases {
                let (status, out) = try runProcess([hardenBinary] + args)
                #expect(status == 1, "\(args): \(out)")
                let lines = out.split(separator: "\n")
                #expect(lines.count == 1, "\(args): \(out)")
                #expect(out.hasPrefix("harden: ") && out.contains(name), "\(out)")
            }
            #expect(!HostFS.exists(dir + "/out"))
        }
    }

    @Test func inspectAndConvertRunEndToEnd() throws {
        try TestImages.require()
        try #require(HostFS.exists(hardenBinary), "build harden first (swift build)")
        try withTemporaryDirectory { dir in
            let (s1, o1) = try runProcess([
                hardenBinary, "inspect", "--format", "json", "\(TestImages.directory)/nginx.docker.tar",
            ])
            #expect(s1 == 0, "\(o1)")
            #expect(o1.contains("\"fileCount\"") && o1.contains("bookworm"))
            let (s2, o2) = try runProcess([
                hardenBinary, "convert", "--quiet", "oci:\(TestImages.layout):base", "oci-archive:\(dir)/b.tar:b",
            ])
            #expect(s2 == 0, "\(o2)")
            let (s3, o3) = try runProcess([hardenBinary, "inspect", "\(dir)/b.tar"])
            #expect(s3 == 0 && o3.contains("Debian GNU/Linux 12"), "\(o3)")
            let (s4, o4) = try runProcess([hardenBinary, "inspect", "--log-level", "nonsense", "\(dir)/b.tar"])
            #expect(s4 != 0 && s4 != 1 || o4.contains("log-level"), "\(o4)")
        }
    }
}

// harden — reading images: selection by tag and platform, and every kind of corrupt input.
import HardenArchive
import HardenCore
import HardenOCI
import HardenSystem
import HardenTestSupport
import Testing

private func expectError(_ fragment: String, code: HardenError.Code? = nil, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected an error containing \"\(fragment)\"")
    } catch let e as HardenError {
        #expect(e.message.contains(fragment), "\(e.message)")
        #expect(!e.message.contains("\n"))
        if let code { #expect(e.code == code, "\(e.code) \(e.message)") }
    } catch {
        Issue.record("unexpected error type: \(error)")
    }
}

/// Reads every layer of an image through the file tree (which verifies digests and DiffIDs).
private func readFully(_ ref: ImageReference) throws -> FileTree {
    try FileTree.build(from: try ImageLoader.open(ref))
}

@Suite struct ImageLoaderTests {
    @Test func digestsAreValidated() throws {
        #expect(throws: HardenError.self) { try Digest(parsing: "sha256:../../etc/passwd") }
        #expect(throws: HardenError.self) { try Digest(parsing: "sha256:ABCDEF") }
        #expect(throws: HardenError.self) { try Digest(parsing: "md5:d41d8cd98f00b204e9800998ecf8427e") }
        #expect(try Digest(parsing: "sha256:" + String(repeating: "a", count: 64)).encoded.count == 64)
    }

    @Test func severalTagsNeedATagAndTheErrorListsThem() throws {
        try withTemporaryDirectory { dir in
            let l = try Fixtures.layer([.file("a", "1")])
            try Fixtures.ociLayout(
                at: dir, images: [(tag: "one", layers: [l], config: nil), (tag: "two", layers: [l], config: nil)])
            expectError("tags: one, two") { _ = try ImageLoader.open(.ociLayout(path: dir, tag: nil)) }
            expectError("no image tagged \"three\"") { _ = try ImageLoader.open(.ociLayout(path: dir, tag: "three")) }
            #expect(try ImageLoader.open(.ociLayout(path: dir, tag: "two")).tag == "two")
        }
    }

    @Test func nestedMultiPlatformIndexSelectsThePlatform() throws {
        try withTemporaryDirectory { dir in
            let amd = try Fixtures.layer([.file("arch", "amd64")])
            let arm = try Fixtures.layer([.file("arch", "arm64")])
            var (amdDesc, _) = try Fixtures.writeImage(at: dir, layers: [amd], config: nil, platform: .defaultPlatform)
            var (armDesc, _) = try Fixtures.writeImage(
                at: dir, layers: [arm], config: nil, platform: Platform(os: "linux", architecture: "arm64"))
            amdDesc.platform = .defaultPlatform
            armDesc.platform = Platform(os: "linux", architecture: "arm64", variant: "v8")
            let inner = try JSONCoding.encode(Index(manifests: [armDesc, amdDesc]))
            let innerDigest = try Fixtures.putBlob(dir, inner)
            // An index pointing at an index pointing at the platform manifests.
            let middle = try JSONCoding.encode(
                Index(manifests: [
                    Descriptor(mediaType: MediaType.ociIndex, digest: innerDigest, size: Int64(inner.count))
                ]))
            let middleDigest = try Fixtures.putBlob(dir, middle)
            let top = Index(manifests: [
                Descriptor(
                    mediaType: MediaType.ociIndex, digest: middleDigest, size: Int64(middle.count),
                    annotations: [Descriptor.refNameAnnotation: "multi"])
            ])
            try HostFS.writeFileAtomically(dir + "/index.json", try JSONCoding.encode(top))
            try HostFS.writeFileAtomically(dir + "/oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
            let def = try ImageLoader.open(.ociLayout(path: dir, tag: nil))
            #expect(def.config.architecture == "amd64")
            let armImage = try ImageLoader.open(
                .ociLayout(path: dir, tag: "multi"),
                options: .init(platform: try Platform(parsing: "linux/aarch64"), platformExplicit: true))
            #expect(armImage.config.architecture == "arm64")
            expectError("no image for platform linux/s390x") {
                _ = try ImageLoader.open(
                    .ociLayout(path: dir, tag: nil),
                    options: .init(platform: try Platform(parsing: "linux/s390x"), platformExplicit: true))
            }
        }
    }

    /// Writes a one-image layout and lets `corrupt` damage it; returns the layout path.
    private func layout(
        _ dir: String, layers: [Fixtures.Layer]? = nil, corrupt: (String, Descriptor, [UInt8]) throws -> Void
    ) throws -> String {
        let l = try layers ?? [Fixtures.layer([.file("etc/hostname", "box\n")])]
        let (desc, manifestBytes) = try Fixtures.writeImage(at: dir, layers: l, config: nil, platform: .defaultPlatform)
        try HostFS.writeFileAtomically(dir + "/index.json", try JSONCoding.encode(Index(manifests: [desc])))
        try HostFS.writeFileAtomically(dir + "/oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        try corrupt(dir, desc, manifestBytes)
        return dir
    }

    @Test func wrongBlobDigestIsReported() throws {
        try withTemporaryDirectory { dir in
            let path = try layout(dir) { dir, _, manifestBytes in
                let m = try Manifest.parse(manifestBytes, source: "t")
                let blob = dir + "/" + m.layers[0].digest.blobPath
                var bytes = try HostFS.readFile(blob)
                bytes[bytes.count / 2] ^= 0xff
                try HostFS.writeFileAtomically(blob, bytes)
            }
            do {
                _ = try readFully(.ociLayout(path: path, tag: nil))
                Issue.record("corrupt blob accepted")
            } catch let e as HardenError {
                #expect(e.code == .corrupt)
                #expect(e.message.hasPrefix(path))
            }
        }
    }

    @Test func wrongDiffIDIsReported() throws {
        try withTemporaryDirectory { dir in
            var l = try Fixtures.layer([.file("a", "1")])
            l.diffID = Digest.sha256(of: [1, 2, 3])
            let path = try layout(dir, layers: [l]) { _, _, _ in }
            expectError("DiffID", code: .corrupt) { _ = try readFully(.ociLayout(path: path, tag: nil)) }
        }
    }

    @Test func truncatedGzipLayerIsReported() throws {
        try withTemporaryDirectory { dir in
            var l = try Fixtures.layer([.file("big", String(repeating: "abcdefgh", count: 50_000))])
            l.blob = Array(l.blob.prefix(l.blob.count / 2))
            let path = try layout(dir, layers: [l]) { _, _, _ in }
            expectError("truncated", code: .corrupt) { _ = try readFully(.ociLayout(path: path, tag: nil)) }
        }
    }

    @Test func malformedManifestJSONIsReported() throws {
        try withTemporaryDirectory { dir in
            let path = try layout(dir) { dir, desc, _ in
                let broken = Array(#"{"schemaVersion": 2, "config": {"#.utf8)
                let d = try Fixtures.putBlob(dir, broken)
                var index = Index(manifests: [
                    Descriptor(mediaType: MediaType.ociManifest, digest: d, size: Int64(broken.count))
                ])
                index.manifests[0].annotations = desc.annotations
                try HostFS.writeFileAtomically(dir + "/index.json", try JSONCoding.encode(index))
            }
            expectError("invalid manifest", code: .corrupt) {
                _ = try ImageLoader.open(.ociLayout(path: path, tag: nil))
            }
        }
    }

    @Test func malformedIndexAndLayoutFilesAreReported() throws {
        try withTemporaryDirectory { dir in
            let path = try layout(dir) { dir, _, _ in
                try HostFS.writeFileAtomically(dir + "/index.json", Array("[1,2".utf8))
            }
            expectError("index.json", code: .corrupt) { _ = try ImageLoader.open(.ociLayout(path: path, tag: nil)) }
        }
    }

    @Test func missingBlobIsReported() throws {
        try withTemporaryDirectory { dir in
            let path = try layout(dir) { dir, _, manifestBytes in
                let m = try Manifest.parse(manifestBytes, source: "t")
                try HostFS.removeTree(dir + "/" + m.layers[0].digest.blobPath)
            }
            expectError("missing", code: .notFound) { _ = try readFully(.ociLayout(path: path, tag: nil)) }
        }
    }

    @Test func digestThatClimbsOutOfTheLayoutIsRefused() throws {
        try withTemporaryDirectory { dir in
            let path = try layout(dir) { dir, _, _ in
                let evil =
                    #"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../../etc/passwd","size":10}]}"#
                try HostFS.writeFileAtomically(dir + "/index.json", Array(evil.utf8))
            }
            expectError("invalid", code: .corrupt) { _ = try ImageLoader.open(.ociLayout(path: path, tag: nil)) }
        }
    }

    @Test func gzipBombLayerIsRefusedQuickly() throws {
        try withTemporaryDirectory { dir in
            // A valid tar followed by 1 GiB of zeros, gzip-compressed to about a megabyte.
            let tarBytes = try Fixtures.tar([.file("a", "1")])
            let sink = MemoryWriter()
            let gz = try GzipWriter(sink, level: 9)
            try gz.write(tarBytes)
            let zeros = [UInt8](repeating: 0, count: 1 << 20)
            for _ in 0..<1024 { try gz.write(zeros) }
            try gz.finish()
            #expect(sink.bytes.count < 4 << 20)
            let l = Fixtures.Layer(blob: sink.bytes, diffID: Digest.sha256(of: [0]), compression: .gzip)
            let path = try layout(dir, layers: [l]) { _, _, _ in }
            expectError("bomb", code: .limitExceeded) { _ = try readFully(.ociLayout(path: path, tag: nil)) }
        }
    }

    @Test func layerCountMismatchIsReported() throws {
        try withTemporaryDirectory { dir in
            let path = try layout(dir) { dir, desc, manifestBytes in
                var m = try Manifest.parse(manifestBytes, source: "t")
                m.layers.append(m.layers[0])
                let bytes = try JSONCoding.encode(m)
                let d = try Fixtures.putBlob(dir, bytes)
                try HostFS.writeFileAtomically(
                    dir + "/index.json",
                    try JSONCoding.encode(
                        Index(manifests: [Descriptor(mediaType: desc.mediaType, digest: d, size: Int64(bytes.count))])))
            }
            expectError("diff_ids", code: .corrupt) { _ = try ImageLoader.open(.ociLayout(path: path, tag: nil)) }
        }
    }
}

@Suite struct ConversionTests {
    private func sourceLayout(_ dir: String) throws -> String {
        let layers = [
            try Fixtures.layer([
                .dir("etc"), .file("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n"), .file("etc/a", "a"),
                .dir("bin"),
                .file("bin/tool", "T", mode: 0o4755),
            ]),
            try Fixtures.layer(
                [.whiteout("etc/a"), .hardlink("bin/tool2", "bin/tool"), .symlink("bin/sh", "tool")], compression: .zstd
            ),
            try Fixtures.layer([.file("empty-layer-next", "")], compression: .none),
            try Fixtures.layer([], compression: .gzip),
        ]
        var config = ContainerConfig()
        config.cmd = ["/bin/tool"]
        try Fixtures.ociLayout(at: dir + "/src", images: [(tag: "v1", layers: layers, config: config)])
        return dir + "/src"
    }

    @Test func ociToDockerArchiveToOCIKeepsDiffIDsAndIsDeterministic() throws {
        try withTemporaryDirectory { dir in
            let src = try sourceLayout(dir)
            let original = try ImageLoader.open(.ociLayout(path: src, tag: "v1"))
            _ = try ImageWriter.write(original, to: .dockerArchive(path: dir + "/a.tar", repoTag: "test/img:v1"))
            _ = try ImageWriter.write(original, to: .dockerArchive(path: dir + "/b.tar", repoTag: "test/img:v1"))
            #expect(
                try HostFS.readFile(dir + "/a.tar", limit: 1 << 26) == HostFS.readFile(dir + "/b.tar", limit: 1 << 26))
            let docker = try ImageLoader.open(.dockerArchive(path: dir + "/a.tar", repoTag: nil))
            #expect(docker.tag == "test/img:v1")
            #expect(docker.layers.map(\.diffID) == original.layers.map(\.diffID))
            let w1 = try ImageWriter.write(docker, to: .ociLayout(path: dir + "/back1", tag: nil))
            let w2 = try ImageWriter.write(docker, to: .ociLayout(path: dir + "/back2", tag: nil))
            #expect(w1.manifestDigest == w2.manifestDigest)
            let back = try ImageLoader.open(.ociLayout(path: dir + "/back1", tag: nil))
            #expect(back.layers.map(\.diffID) == original.layers.map(\.diffID))
            #expect(back.configBytes == original.configBytes)
            // Same squashed tree all the way.
            let t1 = try FileTree.build(from: original)
            let t2 = try FileTree.build(from: back)
            #expect(t1.nodes.keys.sorted() == t2.nodes.keys.sorted())
            #expect(t1.nodes["etc/a"] == nil && t2.nodes["bin/tool2"]?.mode == 0o4755)
        }
    }

    @Test func copyingOCIKeepsTheManifestDigest() throws {
        try withTemporaryDirectory { dir in
            let src = try sourceLayout(dir)
            let original = try ImageLoader.open(.ociLayout(path: src, tag: "v1"))
            let w = try ImageWriter.write(original, to: .ociArchive(path: dir + "/x.oci.tar", tag: nil))
            #expect(w.manifestDigest == original.manifestDigest)
            let fromArchive = try ImageLoader.open(.ociArchive(path: dir + "/x.oci.tar", tag: "v1"))
            #expect(fromArchive.manifestDigest == original.manifestDigest)
            _ = try FileTree.build(from: fromArchive)
        }
    }

    @Test(arguments: [ImageWriter.LayerCompression.gzip, .zstd, .none])
    func recompressingKeepsDiffIDs(_ compression: ImageWriter.LayerCompression) throws {
        try withTemporaryDirectory { dir in
            let original = try ImageLoader.open(.ociLayout(path: try sourceLayout(dir), tag: "v1"))
            _ = try ImageWriter.write(
                original, to: .ociLayout(path: dir + "/out", tag: "r"), options: .init(compression: compression))
            let out = try ImageLoader.open(.ociLayout(path: dir + "/out", tag: "r"))
            #expect(out.layers.map(\.diffID) == original.layers.map(\.diffID))
            #expect(
                out.layers.allSatisfy {
                    $0.descriptor.mediaType == MediaType.ociLayer(Compression(rawValue: compression.rawValue) ?? .none)
                })
            _ = try FileTree.build(from: out)
        }
    }

    @Test func rootfsDirectoryRoundTrip() throws {
        try withTemporaryDirectory { dir in
            let original = try ImageLoader.open(.ociLayout(path: try sourceLayout(dir), tag: "v1"))
            _ = try ImageWriter.write(original, to: .rootfs(path: dir + "/rootfs"))
            let packed = try ImageLoader.open(.rootfs(path: dir + "/rootfs"))
            let t1 = try FileTree.build(from: original)
            let t2 = try FileTree.build(from: packed)
            #expect(t1.nodes.keys.sorted() == t2.nodes.keys.sorted())
            for (p, n) in t1.nodes where !p.isRoot {
                let m = try #require(t2.nodes[p])
                #expect(
                    m.type == n.type && m.mode == n.mode && m.size == n.size && m.linkTarget == n.linkTarget, "\(p)")
            }
            // Packing the same directory twice gives the same layer.
            let again = try ImageLoader.open(.rootfs(path: dir + "/rootfs"))
            #expect(again.layers[0].diffID == packed.layers[0].diffID)
        }
    }

    @Test func bareLayoutPathsAreDetected() throws {
        try withTemporaryDirectory { dir in
            let src = try sourceLayout(dir)
            #expect(try ImageReference.parse(src) == .ociLayout(path: src, tag: nil))
            let img = try ImageLoader.open(.ociLayout(path: src, tag: "v1"))
            _ = try ImageWriter.write(img, to: .dockerArchive(path: dir + "/d.tar", repoTag: nil))
            _ = try ImageWriter.write(img, to: .ociArchive(path: dir + "/o.tar", tag: nil))
            #expect(try ImageReference.parse(dir + "/d.tar") == .dockerArchive(path: dir + "/d.tar", repoTag: nil))
            #expect(try ImageReference.parse(dir + "/o.tar") == .ociArchive(path: dir + "/o.tar", tag: nil))
            #expect(throws: HardenError.self) { try ImageReference.parse(dir + "/nope") }
        }
    }

    @Test func bareNamesAreRegistryReferencesAndAnExistingPathWins() throws {
        let digest = "sha256:" + String(repeating: "ab", count: 32)
        for name in [
            "nginx", "nginx:1.27", "library/nginx:1.27-alpine", "ghcr.io/org/app@\(digest)", "127.0.0.1:5000/repo:tag",
            "localhost/team/app:v1.2.3", "registry.example.com:443/a/b/c:x_y",
        ] {
            #expect(try ImageReference.parse(name) == .registry(name), "\(name)")
        }
        for notName in [
            "./app.tar", "/tmp/nope-harden", "~/image", "image.tar", "Nginx:1", "nginx:", "a//b", "app@sha256:zz",
            "UPPER/x",
        ] {
            #expect(!ImageReference.isImageName(notName), "\(notName)")
        }
        // The list agrees with the parser: none is read as a bare name.
        for prefix in ImageReference.transportPrefixes {
            #expect(try ImageReference.parse(prefix + "x").description.hasSuffix("x"), "\(prefix)")
        }
        #expect { try ImageReference.parse("/nonexistent-harden/x") } throws: {
            ($0 as? HardenError)?.message.contains("no such file or directory") == true
        }
        // An existing path named like an image is read as a path: the package's `docs` directory (tests run from the
        // package root) is no OCI layout, and the error says so instead of pulling docker.io/library/docs.
        try #require(HostFS.isDirectory("docs") && ImageReference.isImageName("docs"))
        #expect { try ImageReference.parse("docs") } throws: {
            ($0 as? HardenError)?.message.contains("not an OCI image layout") == true
        }
    }
}

@Suite struct DockerArchiveFormatTests {
    /// A legacy `docker save` archive: `<id>/layer.tar` directories, `<hex>.json` config, a symlinked duplicate layer.
    @Test func readsLegacyPerLayerDirectories() throws {
        try withTemporaryDirectory { dir in
            let l0 = try Fixtures.tar([.dir("etc"), .file("etc/hostname", "legacy\n")])
            let l1 = try Fixtures.tar([.file("etc/motd", "hi\n")])
            var config = ImageConfiguration(
                architecture: "amd64", os: "linux", diffIDs: [Digest.sha256(of: l0), Digest.sha256(of: l1)])
            config.config = ContainerConfig()
            let cfg = try JSONCoding.encode(config)
            let cfgName = Digest.sha256(of: cfg).encoded + ".json"
            let manifest = try JSONCoding.encode([
                DockerArchiveManifestEntry(
                    config: cfgName, repoTags: ["legacy/app:1"], layers: ["aaa/layer.tar", "bbb/layer.tar"])
            ])
            let archive = try Fixtures.tar([
                .file("manifest.json", String(decoding: manifest, as: UTF8.self)),
                .file(cfgName, String(decoding: cfg, as: UTF8.self)),
                .dir("aaa"),
                FixtureEntry(entry: TarEntry(path: "aaa/layer.tar", type: .regular, mode: 0o644), body: l0),
                .dir("bbb"),
                FixtureEntry(entry: TarEntry(path: "ccc-layer.tar", type: .regular, mode: 0o644), body: l1),
                .symlink("bbb/layer.tar", "../ccc-layer.tar"),
            ])
            try HostFS.writeFileAtomically(dir + "/legacy.tar", archive)
            let image = try ImageLoader.open(.dockerArchive(path: dir + "/legacy.tar", repoTag: "legacy/app:1"))
            #expect(image.layers.count == 2)
            let tree = try FileTree.build(from: image)
            #expect(tree.nodes["etc/hostname"] != nil && tree.nodes["etc/motd"] != nil)
            // A gzip-compressed archive is read too.
            try HostFS.writeFileAtomically(dir + "/legacy.tar.gz", try Fixtures.compress(archive, .gzip))
            #expect(try ImageLoader.open(.dockerArchive(path: dir + "/legacy.tar.gz", repoTag: nil)).layers.count == 2)
            // A second image in the archive makes the tag necessary.
            #expect(ImageLoader.normalizeDockerTag("nginx") == "docker.io/library/nginx:latest")
            #expect(ImageLoader.normalizeDockerTag("localhost:5000/a/b:v") == "localhost:5000/a/b:v")
        }
    }

    @Test func wrongDiffIDInDockerArchiveIsReported() throws {
        try withTemporaryDirectory { dir in
            let l0 = try Fixtures.tar([.file("a", "1")])
            let config = ImageConfiguration(architecture: "amd64", os: "linux", diffIDs: [Digest.sha256(of: [9])])
            let cfg = try JSONCoding.encode(config)
            let manifest = try JSONCoding.encode([
                DockerArchiveManifestEntry(config: "c.json", repoTags: nil, layers: ["l.tar"])
            ])
            try HostFS.writeFileAtomically(
                dir + "/d.tar",
                try Fixtures.tar([
                    .file("manifest.json", String(decoding: manifest, as: UTF8.self)),
                    .file("c.json", String(decoding: cfg, as: UTF8.self)),
                    FixtureEntry(entry: TarEntry(path: "l.tar", type: .regular), body: l0),
                ]))
            let image = try ImageLoader.open(.dockerArchive(path: dir + "/d.tar", repoTag: nil))
            #expect { _ = try FileTree.build(from: image) } throws: { ($0 as? HardenError)?.code == .corrupt }
        }
    }
}

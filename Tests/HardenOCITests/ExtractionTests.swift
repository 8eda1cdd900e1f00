// harden — extracting hostile layers: nothing may be created outside the destination.
import HardenArchive
import HardenCore
import HardenOCI
import HardenSystem
import HardenTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Lists everything below `dir` (relative paths), not following symlinks.
func listTree(_ dir: String, prefix: String = "") throws -> [String] {
    var out: [String] = []
    for name in try HostFS.listDirectory(dir) {
        let rel = prefix.isEmpty ? name : prefix + "/" + name
        out.append(rel)
        var st = stat()
        if lstat(dir + "/" + name, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
            out += try listTree(dir + "/" + name, prefix: rel)
        }
    }
    return out
}

@Suite struct ExtractionTests {
    /// Builds an image from layers in `dir/layout`, extracts it to `dir/sandbox/out`, and returns what is in `dir/sandbox`.
    func extract(_ layers: [[FixtureEntry]], in dir: String) throws -> (RootfsExtractor.Result, [String]) {
        let fixtureLayers = try layers.map { try Fixtures.layer($0) }
        try Fixtures.ociLayout(at: dir + "/layout", images: [(tag: nil, layers: fixtureLayers, config: nil)])
        try HostFS.makeDirectories(dir + "/sandbox")
        let image = try ImageLoader.open(.ociLayout(path: dir + "/layout", tag: nil))
        let tree = try FileTree.build(from: image)
        let result = try RootfsExtractor.extract(image, tree: tree, to: dir + "/sandbox/out")
        return (result, try listTree(dir + "/sandbox"))
    }

    @Test func hostileCorpusStaysInsideTheDestination() throws {
        try withTemporaryDirectory { dir in
            let layers: [[FixtureEntry]] = [
                [
                    .file("../outside-1", "x"),
                    .file("/outside-2", "x"),
                    .symlink("escape", "../../.."),
                    .symlink("abs-escape", "/"),
                    .file("escape/outside-3", "written through a symlink"),
                    .file("abs-escape/outside-4", "written through an absolute symlink"),
                    .dir("d"),
                    .symlink("d/parent", "../.."),
                    .file("d/parent/outside-5", "x"),
                    .device("dev-sda", char: false, major: 8, minor: 0),
                    .file(String(repeating: "a/", count: 60) + String(repeating: "../", count: 61) + "outside-6", "x"),
                ],
                [
                    .symlink("later", "/tmp"),
                    .file("later/outside-7", "x"),
                    .file("../.wh.sandbox", ""),
                ],
            ]
            let (result, listing) = try extract(layers, in: dir)
            // Everything lies under out/; nothing named outside-* exists anywhere else.
            #expect(listing.allSatisfy { $0 == "out" || $0.hasPrefix("out/") }, "\(listing)")
            #expect(!HostFS.exists(dir + "/outside-1") && !HostFS.exists(dir + "/outside-2"))
            #expect(!HostFS.exists("/tmp/outside-7") && !HostFS.exists("/outside-2") && !HostFS.exists("/outside-4"))
            // Symlinks are created as links, never followed.
            #expect(listing.contains("out/escape"))
            #expect(result.skippedDevices == ["/dev-sda"])
            // Writes through symlinked parents were redirected inside the root, as a container runtime would.
            #expect(HostFS.exists(dir + "/sandbox/out/outside-3"))
            #expect(HostFS.exists(dir + "/sandbox/out/outside-6"))
        }
    }

    @Test func hardlinksAreExtractedAsLinks() throws {
        try withTemporaryDirectory { dir in
            let (result, listing) = try extract(
                [[.file("a", "shared")], [.hardlink("b", "a"), .hardlink("c", "../../../a")]], in: dir)
            #expect(result.hardlinks == 2)
            #expect(listing.contains("out/b") && listing.contains("out/c"))
            var st = stat()
            #expect(lstat(dir + "/sandbox/out/a", &st) == 0 && st.st_nlink == 3)
        }
    }

    @Test func setuidModesOwnersAndXattrsAreKept() throws {
        try withTemporaryDirectory { dir in
            var e = TarEntry(
                path: "usr/bin/su", type: .regular, mode: 0o4755, uid: 0, gid: 0, size: 2, mtime: 1_600_000_000)
            e.xattrs = ["user.harden": Array("yes".utf8)]
            _ = try extract(
                [
                    [
                        FixtureEntry(entry: e, body: Array("su".utf8)),
                        .file("home/u/f", "u", mode: 0o600, uid: 1000, gid: 1000),
                    ]
                ], in: dir)
            var st = stat()
            #expect(lstat(dir + "/sandbox/out/usr/bin/su", &st) == 0)
            #expect(st.st_mode & 0o7777 == 0o4755)
            #expect(st.st_mtim.tv_sec == 1_600_000_000)
            if geteuid() == 0 {
                #expect(lstat(dir + "/sandbox/out/home/u/f", &st) == 0 && st.st_uid == 1000 && st.st_gid == 1000)
            }
        }
    }

    @Test func destinationThatIsNotEmptyIsRefused() throws {
        try withTemporaryDirectory { dir in
            try HostFS.makeDirectories(dir + "/sandbox/out")
            try HostFS.writeFileAtomically(dir + "/sandbox/out/keep", [1])
            #expect(throws: HardenError.self) { try extract([[.file("a", "b")]], in: dir) }
            #expect(HostFS.exists(dir + "/sandbox/out/keep"))
        }
    }
}

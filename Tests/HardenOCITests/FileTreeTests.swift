// harden — squashing layers: whiteouts, opaque directories, hardlinks, hostile names.
import HardenArchive
import HardenCore
import HardenOCI
import HardenTestSupport
import Testing

/// Applies fixture layers to a new tree without going through an image.
func squash(_ layers: [[FixtureEntry]]) throws -> FileTree {
    let tree = FileTree()
    for (i, entries) in layers.enumerated() {
        tree.begin(layer: i)
        let tar = TarReader(MemoryReader(try Fixtures.tar(entries)), name: "layer\(i)")
        while let e = try tar.next() { try tree.add(e, body: tar) }
    }
    return tree
}

@Suite struct FileTreeTests {
    @Test func whiteoutRemovesLowerFileAndDirectory() throws {
        let t = try squash([
            [.dir("etc"), .file("etc/a", "1"), .file("etc/b", "2"), .dir("var/cache"), .file("var/cache/x", "x")],
            [.whiteout("etc/a"), .whiteout("var/cache")],
        ])
        #expect(t.nodes["etc/a"] == nil)
        #expect(t.nodes["etc/b"] != nil)
        #expect(t.nodes["var/cache"] == nil && t.nodes["var/cache/x"] == nil)
        #expect(t.nodes["var"] != nil)
    }

    @Test func opaqueDirectoryHidesOnlyLowerLayers() throws {
        // The marker comes after a same-layer entry: that entry must survive, lower ones must not.
        let t = try squash([
            [.dir("d"), .file("d/old", "o"), .dir("d/sub"), .file("d/sub/deep", "z")],
            [.dir("d"), .file("d/new-before", "n"), .opaque("d"), .file("d/new-after", "m")],
        ])
        #expect(t.nodes["d/old"] == nil)
        #expect(t.nodes["d/sub"] == nil && t.nodes["d/sub/deep"] == nil)
        #expect(t.nodes["d/new-before"] != nil)
        #expect(t.nodes["d/new-after"] != nil)
    }

    @Test func whiteoutDoesNotHideSameLayerEntry() throws {
        let t = try squash([[.file("f", "1"), .whiteout("f")]])
        #expect(t.nodes["f"] != nil)
    }

    @Test func hardlinkAcrossLayersSharesContent() throws {
        let t = try squash([
            [.dir("bin"), .file("bin/busybox", "BB", mode: 0o755)],
            [.hardlink("bin/sh", "bin/busybox")],
        ])
        let sh = try #require(t.nodes["bin/sh"])
        let bb = try #require(t.nodes["bin/busybox"])
        #expect(sh.type == .regular && sh.content == bb.content && sh.size == 2 && sh.mode == 0o755)
        #expect(t.contentSize == 2)
    }

    @Test func hardlinkToMissingTargetIsAnError() throws {
        #expect(throws: HardenError.self) { try squash([[.hardlink("a", "nowhere")]]) }
    }

    @Test func fileReplacesDirectoryAndViceVersa() throws {
        let t = try squash([
            [.dir("x"), .file("x/child", "c"), .file("y", "file")],
            [.file("x", "now a file"), .dir("y"), .file("y/inside", "i")],
        ])
        #expect(t.nodes["x"]?.type == .regular)
        #expect(t.nodes["x/child"] == nil)
        #expect(t.nodes["y"]?.type == .directory && t.nodes["y/inside"] != nil)
    }

    @Test func traversalAndAbsoluteNamesStayInside() throws {
        let t = try squash([[.file("../../etc/evil", "e"), .file("/abs/file", "a"), .file("./a/../b", "b")]])
        #expect(t.nodes["etc/evil"] != nil)
        #expect(t.nodes["abs/file"] != nil)
        #expect(t.nodes["b"] != nil)
        #expect(t.warnings.contains { $0.contains("climbs above the root") })
    }

    @Test func entriesBelowSymlinkedParentsResolveInsideTheTree() throws {
        let t = try squash([
            [
                .dir("real"), .symlink("link", "/real"), .symlink("up", "../../../../"), .file("link/file", "x"),
                .file("up/top", "t"),
            ]
        ])
        #expect(t.nodes["real/file"] != nil)
        #expect(t.nodes["top"] != nil)
        #expect(t.nodes["link"]?.type == .symlink)
    }

    @Test func whiteoutNamingDotDotIsIgnored() throws {
        let t = try squash([[.dir("a"), .file("a/f", "1")], [.file("a/.wh..", ""), .file("a/.wh...", "")]])
        #expect(t.nodes["a/f"] != nil)
    }

    @Test func deepNamesThatClimbOutStayInside() throws {
        let deep = String(repeating: "d/", count: 60) + String(repeating: "../", count: 70) + "escaped"
        let t = try squash([[.file(deep, "x")]])
        #expect(t.nodes["escaped"] != nil)
    }

    @Test func nonUTF8NamesAreKeptExactly() throws {
        let name: [UInt8] = Array("caf".utf8) + [0xe9]  // Latin-1 é
        let t = try squash([[.file(raw: name, Array("x".utf8))]])
        #expect(t.nodes[RawPath(name)] != nil)
    }
}

// harden — anchored file-system operations and path normalisation.
import HardenCore
import HardenSystem
import HardenTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct RawPathTests {
    @Test(arguments: [
        ("a/b/c", "a/b/c"), ("/a//b/./c/", "a/b/c"), ("../../etc/passwd", "etc/passwd"), ("a/../../b", "b"), ("./", ""),
        ("/", ""),
    ])
    func normalisationKeepsTheRootAsAFloor(input: String, expected: String) {
        #expect(RawPath(input).normalized == RawPath(expected))
    }

    @Test func climbingIsDetected() {
        #expect(RawPath("a/../../b").climbsAboveRoot)
        #expect(!RawPath("a/b/../c").climbsAboveRoot)
    }

    @Test func nonUTF8BytesAreShownEscaped() {
        #expect(RawPath([0x61, 0xff, 0x62]).description == "a\\xffb")
        #expect(RawPath("é/ü").description == "é/ü")
    }

    @Test func withinAndParent() {
        #expect(RawPath("usr/lib/x").isWithin("usr/lib"))
        #expect(!RawPath("usr/lib64").isWithin("usr/lib"))
        #expect(RawPath("usr/lib/x").parent == "usr/lib")
        #expect(RawPath("x").parent == .root)
    }
}

@Suite struct AnchoredDirectoryTests {
    @Test func symlinkedParentIsRefusedNotFollowed() throws {
        try withTemporaryDirectory { dir in
            try HostFS.makeDirectories(dir + "/root")
            try HostFS.makeDirectories(dir + "/outside")
            #expect(symlink(dir + "/outside", dir + "/root/link") == 0)
            let root = try AnchoredDirectory(hostPath: dir + "/root")
            #expect { _ = try root.createFile("link/file", mode: 0o644) } throws: {
                ($0 as? HardenError)?.code == .unsafe
            }
            #expect(try HostFS.listDirectory(dir + "/outside").isEmpty)
        }
    }

    @Test func existingSymlinkIsNeverWrittenThrough() throws {
        try withTemporaryDirectory { dir in
            try HostFS.makeDirectories(dir + "/root")
            try HostFS.writeFileAtomically(dir + "/target", Array("keep".utf8))
            #expect(symlink(dir + "/target", dir + "/root/f") == 0)
            let root = try AnchoredDirectory(hostPath: dir + "/root")
            #expect(throws: HardenError.self) { _ = try root.createFile("f", mode: 0o644) }
            #expect(try HostFS.readFile(dir + "/target") == Array("keep".utf8))
        }
    }

    @Test func dotDotComponentsAreRefused() throws {
        try withTemporaryDirectory { dir in
            let root = try AnchoredDirectory(hostPath: dir, create: true)
            #expect { try root.makeDirectory(RawPath("a/../../x"), mode: 0o755) } throws: {
                ($0 as? HardenError)?.code == .unsafe
            }
        }
    }

    @Test func hardlinkSourceMustBeInside() throws {
        try withTemporaryDirectory { dir in
            try HostFS.makeDirectories(dir + "/root")
            try HostFS.writeFileAtomically(dir + "/secret", Array("s".utf8))
            #expect(symlink(dir, dir + "/root/up") == 0)
            let root = try AnchoredDirectory(hostPath: dir + "/root")
            #expect(throws: HardenError.self) { try root.createHardlink("copy", to: "up/secret") }
            #expect(!HostFS.exists(dir + "/root/copy"))
        }
    }

    @Test func writesLandInside() throws {
        try withTemporaryDirectory { dir in
            let root = try AnchoredDirectory(hostPath: dir + "/r", create: true)
            let fd = try root.createFile("a/b/c.txt", mode: 0o644)
            try fd.writeAll(Array("x".utf8))
            try root.createSymlink("a/l", target: Array("/etc/passwd".utf8))
            try root.createHardlink("a/h", to: "a/b/c.txt")
            #expect(try HostFS.readFile(dir + "/r/a/h") == Array("x".utf8))
        }
    }

    @Test func atomicWriteLeavesNoTemporaryFiles() throws {
        try withTemporaryDirectory { dir in
            try HostFS.writeFileAtomically(dir + "/f", Array("1".utf8))
            try HostFS.writeFileAtomically(dir + "/f", Array("2".utf8))
            #expect(try HostFS.listDirectory(dir) == ["f"])
            #expect(try HostFS.readFile(dir + "/f") == Array("2".utf8))
        }
    }
}

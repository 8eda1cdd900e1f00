// harden — the ELF parser, the ld.so.cache parser and the dependency closure, checked against fixtures built
// here and against binutils' readelf, ldconfig and the loader itself on the host.
import Foundation
import HardenCore
import HardenELF
import HardenMinify
import HardenPackages
import HardenSystem
import HardenTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Builds a small ELF file: one PT_LOAD over everything, PT_INTERP, PT_DYNAMIC with names in a string table.
func makeELF(
    is64: Bool = true, bigEndian: Bool = false, interpreter: String? = "/lib64/ld-linux-x86-64.so.2",
    needed: [String] = ["libfoo.so.1", "libbar.so.2"], runpath: String? = "$ORIGIN/../lib", rpath: String? = nil,
    soname: String? = "libme.so.3", machine: UInt16 = 62
) -> [UInt8] {
    var out: [UInt8] = []
    func put(_ v: UInt64, _ n: Int) {
        for i in 0..<n { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(bigEndian ? n - 1 - i : i)))) }
    }
    let ehsize = is64 ? 64 : 52, phentsize = is64 ? 56 : 32, phnum = 3
    // String table.
    var strings: [UInt8] = [0]
    func str(_ s: String) -> UInt64 {
        let o = UInt64(strings.count)
        strings += Array(s.utf8) + [0]
        return o
    }
    var dyn: [(Int64, UInt64)] = needed.map { (1, str($0)) }
    if let runpath { dyn.append((29, str(runpath))) }
    if let rpath { dyn.append((15, str(rpath))) }
    if let soname { dyn.append((14, str(soname))) }
    let interpBytes: [UInt8] = interpreter.map { Array($0.utf8) + [0] } ?? []
    let interpOff = ehsize + phentsize * phnum
    let strOff = interpOff + interpBytes.count
    let dynOff = (strOff + strings.count + 7) & ~7
    let dynEnt = is64 ? 16 : 8
    dyn += [(5, UInt64(strOff) + 0x400000), (10, UInt64(strings.count)), (0, 0)]
    let total = dynOff + dyn.count * dynEnt
    // ELF header.
    out += [0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, bigEndian ? 2 : 1, 1, 0] + [UInt8](repeating: 0, count: 8)
    put(3, 2)
    put(UInt64(machine), 2)
    put(1, 4)
    put(0, is64 ? 8 : 4)  // entry
    put(UInt64(ehsize), is64 ? 8 : 4)  // phoff
    put(0, is64 ? 8 : 4)  // shoff
    put(0, 4)
    put(UInt64(ehsize), 2)
    put(UInt64(phentsize), 2)
    put(UInt64(phnum), 2)
    put(0, 2)
    put(0, 2)
    put(0, 2)
    func ph(_ type: UInt32, _ off: Int, _ vaddr: UInt64, _ size: Int) {
        if is64 {
            put(UInt64(type), 4)
            put(5, 4)
            put(UInt64(off), 8)
            put(vaddr, 8)
            put(vaddr, 8)
            put(UInt64(size), 8)
            put(UInt64(size), 8)
            put(8, 8)
        } else {
            put(UInt64(type), 4)
            put(UInt64(off), 4)
            put(vaddr, 4)
            put(vaddr, 4)
            put(UInt64(size), 4)
            put(UInt64(size), 4)
            put(5, 4)
            put(8, 4)
        }
    }
    ph(1, 0, 0x400000, total)
    if interpreter != nil { ph(3, interpOff, 0x400000 + UInt64(interpOff), interpBytes.count) } else { ph(4, 0, 0, 0) }
    ph(2, dynOff, 0x400000 + UInt64(dynOff), dyn.count * dynEnt)
    out += interpBytes + strings
    out += [UInt8](repeating: 0, count: dynOff - out.count)
    for (tag, value) in dyn {
        put(UInt64(bitPattern: tag), is64 ? 8 : 4)
        put(value, is64 ? 8 : 4)
    }
    return out
}

struct ELFParserTests {
    @Test(arguments: [(true, false), (false, false), (true, true), (false, true)])
    func fixturesParse(is64: Bool, bigEndian: Bool) throws {
        let d = try ELF.parse(makeELF(is64: is64, bigEndian: bigEndian, rpath: "/opt/x:/opt/y"))
        #expect(d.is64Bit == is64 && d.machine == 62 && d.type == 3)
        #expect(d.interpreter == "/lib64/ld-linux-x86-64.so.2")
        #expect(d.needed == ["libfoo.so.1", "libbar.so.2"])
        #expect(d.runpath == ["$ORIGIN/../lib"] && d.rpath == ["/opt/x", "/opt/y"] && d.soname == "libme.so.3")
    }

    @Test func staticFilesHaveNoDependencies() throws {
        let d = try ELF.parse(makeELF(interpreter: nil, needed: [], runpath: nil, soname: nil))
        #expect(d.interpreter == nil && d.needed.isEmpty)
    }

    /// Every truncation and thousands of corruptions give an error or a result, never a crash.
    @Test func malformedFilesNeverCrash() {
        let good = makeELF()
        for n in 0..<good.count { _ = try? ELF.parse(Array(good.prefix(n))) }
        var rng = SeededGenerator(for: "malformedFilesNeverCrash")
        for _ in 0..<20_000 {
            var b = good
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            _ = try? ELF.parse(b)
        }
        #expect(throws: HardenError.self) { try ELF.parse(Array("#!/bin/sh\necho hi\n".utf8)) }
    }

    /// The host's own binaries: the same interpreter and DT_NEEDED list as binutils' readelf.
    @Test(arguments: [
        "/usr/bin/ls", "/usr/bin/python3", "/usr/lib/x86_64-linux-gnu/libssl.so.3", "/usr/bin/ssh", "/usr/sbin/sshd",
    ])
    func hostBinariesMatchReadelf(path: String) throws {
        try #require(haveProgram("readelf"), "readelf (binutils) is not installed: run scripts/setup.sh")
        guard HostFS.isRegularFile(path) || HostFS.exists(path) else { return }  // not on this host
        let real = try #require(DirectoryFileSystem(root: "/").resolve(path)?.path)
        let ours = try ELF.parse(try HostFS.readFile(real, limit: 256 << 20))
        let (s1, dynamic) = try runProcess(["readelf", "-dW", real])
        try #require(s1 == 0)
        let needed = dynamic.split(separator: "\n").filter { $0.contains("(NEEDED)") }.compactMap { line -> String? in
            guard let a = line.firstIndex(of: "["), let b = line.lastIndex(of: "]") else { return nil }
            return String(line[line.index(after: a)..<b])
        }
        #expect(ours.needed == needed)
        let (_, program) = try runProcess(["readelf", "-lW", real])
        let interp = program.split(separator: "\n").first { $0.contains("Requesting program interpreter") }.flatMap {
            line -> String? in
            guard let r = line.range(of: "interpreter: ") else { return nil }
            return String(line[r.upperBound...].dropLast())
        }
        #expect(ours.interpreter == interp)
    }
}

struct LdSoCacheTests {
    /// The host's cache, against `ldconfig -p`.
    @Test func hostCacheMatchesLdconfig() throws {
        try #require(HostFS.exists("/etc/ld.so.cache"), "no /etc/ld.so.cache on this host")
        let cache = try LdSoCache.parse(try HostFS.readFile("/etc/ld.so.cache", limit: 64 << 20))
        let (s, listing) = try runProcess(["ldconfig", "-p"])
        try #require(s == 0)
        var expected = Set<String>()
        for line in listing.split(separator: "\n").dropFirst() {
            let t = line.trimming(" \t")
            guard let name = t.split(separator: " ").first, let arrow = t.range(of: " => ") else { continue }
            expected.insert("\(name) \(t[arrow.upperBound...])")
        }
        let ours = Set(cache.entries.flatMap { k, v in v.map { "\(k) \($0.path)" } })
        #expect(!expected.isEmpty && ours == expected)
        #expect(cache.lookup("libc.so.6", machine: 62, is64Bit: true)?.hasSuffix("/libc.so.6") == true)
        #expect(throws: HardenError.self) { try LdSoCache.parse(Array("garbage".utf8)) }
    }
}

struct ClosureTests {
    /// The closure of host programs contains every library the loader itself maps (`ld.so --list`).
    @Test(arguments: ["/usr/bin/ls", "/usr/bin/python3", "/usr/bin/curl"])
    func closureCoversWhatTheLoaderLoads(program: String) throws {
        guard HostFS.exists(program) else { return }
        let fs = DirectoryFileSystem(root: "/")
        let result = DependencyClosure(fileSystem: fs).closure(of: [program])
        let (s, list) = try runProcess(["/lib64/ld-linux-x86-64.so.2", "--list", program])
        try #require(s == 0, "\(list)")
        for line in list.split(separator: "\n") {
            guard let r = line.range(of: "=> ") else { continue }
            let lib = String(line[r.upperBound...].split(separator: " ").first ?? "")
            let resolved = try #require(fs.resolve(lib)?.path)
            #expect(result.files[resolved] != nil, "\(lib) (\(resolved)) missing from the closure of \(program)")
        }
        #expect(result.missing.isEmpty, "\(result.missing)")
        #expect(result.files.values.contains { $0.hasPrefix("interpreter of") })
    }

    @Test func confinedResolutionNeverLeavesTheRoot() throws {
        try withTemporaryDirectory { dir in
            try HostFS.makeDirectories(dir + "/root/usr/lib")
            try HostFS.writeFileAtomically(dir + "/root/usr/lib/libz.so.1.2", [1, 2, 3])
            #expect(symlink("libz.so.1.2", dir + "/root/usr/lib/libz.so.1") == 0)
            #expect(symlink("usr/lib", dir + "/root/lib") == 0)
            #expect(symlink("/../../../../etc/passwd", dir + "/root/escape") == 0)
            #expect(symlink("loop", dir + "/root/loop") == 0)
            let fs = DirectoryFileSystem(root: dir + "/root")
            let r = try #require(fs.resolve("/lib/libz.so.1"))
            #expect(r.path == "/usr/lib/libz.so.1.2" && r.links == ["/lib", "/usr/lib/libz.so.1"])
            #expect(fs.resolve("/escape") == nil)  // /etc/passwd inside the root does not exist
            #expect(fs.resolve("/loop") == nil)
            #expect(try fs.read("/usr/lib/libz.so.1.2", offset: 1, count: 10) == [2, 3])
        }
    }
}

@Suite struct LdSoCacheWriterTests {
    @Test func libcmpOrdersLikeGlibc() {
        #expect(LdSoCache.libcmp("libc.so.6", "libc.so.6") == 0)
        #expect(LdSoCache.libcmp("libfoo.so.10", "libfoo.so.9") > 0)  // numerically
        #expect(LdSoCache.libcmp("libfoo.so.1", "libfoo.so") > 0)
        #expect(LdSoCache.libcmp("lib1", "liba") > 0)  // a digit after anything else
    }

    /// The host's own cache, read and written again, lists exactly what ldconfig printed for it, in the same order.
    @Test(
        .enabled(
            if: Prerequisites.programs("ldconfig") && HostFS.exists("/etc/ld.so.cache"),
            "needs ldconfig and /etc/ld.so.cache"))
    func aRewrittenCacheReadsBackInLdconfigsOrder() throws {
        let original = try HostFS.readFile("/etc/ld.so.cache", limit: 64 << 20)
        let cache = try LdSoCache.parse(original)
        try #require(!cache.ordered.isEmpty)
        try withTemporaryDirectory { dir in
            let written = LdSoCache.write(cache.ordered)
            try HostFS.writeFileAtomically(dir + "/ld.so.cache", written)
            #expect(try LdSoCache.parse(written) == cache)
            func listing(_ path: String) throws -> [Substring] {
                let (s, o) = try runProcess(["ldconfig", "-p", "-C", path])
                #expect(s == 0, "\(o)")
                return o.split(separator: "\n").filter {
                    !$0.hasPrefix("Cache generated by") && !$0.contains(" libs found in cache ")
                }
            }
            #expect(try listing(dir + "/ld.so.cache") == (try listing("/etc/ld.so.cache")))
            // A new library: placed where ldconfig's order puts it, and found by ldconfig.
            var more = cache.ordered
            more.append(
                .init(name: "libharden-test.so.1", path: "/usr/lib/x86_64-linux-gnu/libharden-test.so.1", flags: 0x0303)
            )
            try HostFS.writeFileAtomically(dir + "/more.cache", LdSoCache.write(more))
            let lines = try listing(dir + "/more.cache")
            #expect(
                lines.contains {
                    $0.contains("libharden-test.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libharden-test.so.1")
                })
            #expect(lines.count == (try listing("/etc/ld.so.cache")).count + 1)
        }
    }
}

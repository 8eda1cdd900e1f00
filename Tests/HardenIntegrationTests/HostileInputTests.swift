// harden — regression tests of the hostile-input campaign (issue 19): each builds its hostile input here and
// fails on the code before the fix.
import Foundation
import HardenArchive
import HardenCommands
import HardenCore
import HardenOCI
import HardenPackages
import HardenProfile
import HardenRuntime
import HardenSystem
import HardenTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A hostile registry (Tests/Tools/hostile-registry.py) on 127.0.0.1, with its "other host" on 127.0.0.2.
final class HostileRegistry {
    let port: Int
    let otherPort: Int
    let logPath: String
    private let pidFile: String

    init(mode: String, dir: String) throws {
        // Both servers listen on port 0 (the kernel's choice) and say which ports they got.
        logPath = dir + "/requests.log"
        pidFile = dir + "/hostile.pid"
        let script = packageRoot + "/Tests/Tools/hostile-registry.py"
        let ports = try BackgroundServer.startOnAnyPort(
            "python3 '\(script)' \(mode) 0 0 '\(logPath)'", log: dir + "/hostile.out", pidFile: pidFile,
            pattern: "listening on port ([0-9]+), other host port ([0-9]+)")
        port = ports.first ?? 0
        otherPort = ports.last ?? 0
        try #require(ports.count == 2, "the hostile registry did not start")
    }

    deinit { BackgroundServer.stop(pidFile: pidFile) }

    /// Every request either server received.
    var requests: [[String: Any]] {
        let text = String(decoding: (try? HostFS.readFile(logPath, limit: 1 << 24)) ?? [], as: UTF8.self)
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }
}

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct HostileRegistryTests {
    static func config(_ cmd: [String]) -> ContainerConfig {
        var c = ContainerConfig()
        c.cmd = cmd
        return c
    }

    /// A one-layer image in an OCI layout, to push.
    static func smallImage(_ dir: String) throws -> String {
        let layer = try Fixtures.layer([.dir("etc"), .file("etc/hello", "hello\n")])
        try Fixtures.ociLayout(
            at: dir + "/src", images: [(tag: "v1", layers: [layer], config: Self.config(["/bin/true"]))])
        return "oci:\(dir)/src:v1"
    }

    @Test func credentialsNeverFollowAnUploadLocationToAnotherHost() throws {
        try withTemporaryDirectory { dir in
            let registry = try HostileRegistry(mode: "location-other-host", dir: dir)
            let (s, o) = try runProcess([
                hardenBinary, "convert", try Self.smallImage(dir), "docker://127.0.0.1:\(registry.port)/team/app:v1",
                "--creds", "alice:secret", "--tls-verify=false", "--timeout", "10",
            ])
            #expect(s == 0, "\(o)")
            let requests = registry.requests
            let other = requests.filter { $0["server"] as? String == "other" }
            try #require(!other.isEmpty, "the upload never reached the Location's host: \(requests)")
            for r in other {
                #expect(
                    r["authorization"] is NSNull || r["authorization"] == nil, "credentials sent to another host: \(r)")
            }
            // The registry itself did get them (Basic auth works).
            #expect(
                requests.contains {
                    ($0["server"] as? String) == "registry"
                        && (($0["authorization"] as? String)?.hasPrefix("Basic ") ?? false)
                })
        }
    }

    /// A bearer realm on plain HTTP at another host is not asked at all (a registry must not make harden fetch
    /// internal addresses for it), with or without credentials; the refusal names why.
    @Test func aPlainHTTPRealmOnAnotherHostIsNeverAsked() throws {
        try withTemporaryDirectory { dir in
            let registry = try HostileRegistry(mode: "realm-other-host", dir: dir)
            let (s, o) = try runProcess([
                hardenBinary, "inspect", "docker://127.0.0.1:\(registry.port)/team/app:v1",
                "--creds", "alice:secret", "--tls-verify=false", "--timeout", "10",
            ])
            #expect(s == 1 && o.contains("bearer realm") && o.contains("refused"), "\(o)")
            #expect(!registry.requests.contains { $0["server"] as? String == "other" }, "\(registry.requests)")
        }
    }

    @Test(arguments: ["stall-body", "stall-headers"])
    func aStalledRegistryFailsWithinTheIdleTimeout(mode: String) throws {
        try withTemporaryDirectory { dir in
            let registry = try HostileRegistry(mode: mode, dir: dir)
            let start = Date()
            let (s, o) = try runProcess([
                hardenBinary, "inspect", "docker://127.0.0.1:\(registry.port)/team/app:v1", "--tls-verify=false",
                "--timeout", "2",
            ])
            let elapsed = Date().timeIntervalSince(start)
            #expect(s == 1, "\(o)")
            #expect(elapsed < 40, "took \(elapsed) s")
            #expect(o.contains("no data for 2 s"), "\(o)")
            #expect(
                o.split(separator: "\n").filter { $0.hasPrefix("harden:") }.count == 1 && !o.contains("Error:"), "\(o)")
        }
    }

    @Test func aBrokenBlobTransferResumesWithRange() throws {
        try withTemporaryDirectory { dir in
            let registry = try HostileRegistry(mode: "broken-then-range", dir: dir)
            let (s, o) = try runProcess([
                hardenBinary, "convert", "docker://127.0.0.1:\(registry.port)/team/app:v1", "oci:\(dir)/out:v1",
                "--tls-verify=false", "--timeout", "10",
            ])
            #expect(s == 0, "\(o)")
            #expect(
                registry.requests.contains { ($0["range"] as? String)?.hasPrefix("bytes=1000-") ?? false },
                "\(registry.requests)")
        }
    }
}

@Suite(.enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct HostileImageTests {
    /// A layer holding a 1 TiB sparse file (4 KiB of data at each end), made by GNU tar from a sparse file.
    static func sparseLayout(_ dir: String) throws -> String {
        let file = dir + "/big"
        let fd = try FileDescriptor.create(file)
        let block = [UInt8](repeating: 0x41, count: 4096)
        try block.withUnsafeBytes { try fd.pwriteAll($0, at: 0) }
        try block.withUnsafeBytes { try fd.pwriteAll($0, at: (1 << 40) - 4096) }
        let (s, o) = try runProcess(["tar", "--format=pax", "-S", "-C", dir, "-cf", dir + "/layer.tar", "big"])
        try #require(s == 0, "\(o)")
        unlink(file)
        let plain = try HostFS.readFile(dir + "/layer.tar")
        #expect(plain.count < 1 << 20)
        let layer = Fixtures.Layer(
            blob: try Fixtures.compress(plain, .gzip), diffID: Digest.sha256(of: plain), compression: .gzip)
        try Fixtures.ociLayout(
            at: dir + "/img", images: [(tag: "sparse", layers: [layer], config: HostileRegistryTests.config(["/big"]))])
        return "oci:\(dir)/img:sparse"
    }

    @Test func aSparseTerabyteIsWrittenWithItsHolesAndTheWriteLimitHolds() throws {
        try withTemporaryDirectory { dir in
            let image = try Self.sparseLayout(dir)
            let start = Date()
            let (s, o) = try runProcess([hardenBinary, "convert", image, "dir:\(dir)/out"])
            #expect(s == 0, "\(o)")
            #expect(Date().timeIntervalSince(start) < 10)
            var st = stat()
            try #require(lstat(dir + "/out/big", &st) == 0)
            #expect(Int64(st.st_size) == 1 << 40)
            #expect(Int64(st.st_blocks) * 512 < 1 << 20, "written dense: \(st.st_blocks) blocks")
            let fd = try FileDescriptor.open(dir + "/out/big")
            var buf = [UInt8](repeating: 0, count: 4096)
            _ = try buf.withUnsafeMutableBytes { try fd.pread(into: $0, offset: (1 << 40) - 4096) }
            #expect(buf.allSatisfy { $0 == 0x41 })
            _ = try buf.withUnsafeMutableBytes { try fd.pread(into: $0, offset: 1 << 30) }
            #expect(buf.allSatisfy { $0 == 0 })

            // The limit counts what is written: 8 KiB here.
            let (s2, o2) = try runProcess([hardenBinary, "convert", image, "dir:\(dir)/out2", "--max-write", "6K"])
            #expect(s2 == 1 && o2.contains("--max-write") && o2.hasPrefix("harden: "), "\(o2)")
            #expect(!HostFS.exists(dir + "/out2"))
            #expect(try HostFS.listDirectory(dir).filter { $0.contains(".tmp-") }.isEmpty)
        }
    }

    @Test func staleStagingOfAKilledConvertIsSweptAndAFailedLayoutLeavesNothing() throws {
        try withTemporaryDirectory { dir in
            let layer = try Fixtures.layer([.file("hello", "hello\n")])
            try Fixtures.ociLayout(at: dir + "/img", images: [(tag: "v1", layers: [layer], config: nil)])
            // What a SIGKILLed convert leaves: staging named after a process that no longer runs.
            let (_, deadPid) = try runProcess(["sh", "-c", "sh -c 'echo $$' ; true"])
            let pid = deadPid.trimmingCharacters(in: .whitespacesAndNewlines)
            let stale = dir + "/.out.tmp-\(pid)-zz"
            try HostFS.makeDirectories(stale + "/deep/er")
            try HostFS.makeDirectories(dir + "/layout/blobs/sha256")
            try HostFS.writeFileAtomically(dir + "/layout/blobs/sha256/.layer-0.tmp-\(pid)-1", [1, 2, 3])
            let (s, o) = try runProcess([hardenBinary, "convert", "oci:\(dir)/img:v1", "dir:\(dir)/out"])
            #expect(s == 0, "\(o)")
            #expect(!HostFS.exists(stale))
            let (s2, o2) = try runProcess([hardenBinary, "convert", "oci:\(dir)/img:v1", "oci:\(dir)/layout:v1"])
            #expect(s2 == 0, "\(o2)")
            #expect(try HostFS.listDirectory(dir + "/layout/blobs/sha256").allSatisfy { !$0.hasPrefix(".") })

            // A convert to a new layout that fails (a layer blob that does not match its digest) leaves no skeleton.
            let manifestDigest = try Fixtures.ociLayout(
                at: dir + "/bad", images: [(tag: "v1", layers: [layer], config: nil)])[0]
            _ = manifestDigest
            let blob = dir + "/bad/blobs/sha256/" + Digest.sha256(of: layer.blob).encoded
            var bytes = try HostFS.readFile(blob)
            bytes[bytes.count / 2] ^= 0xFF
            try HostFS.writeFileAtomically(blob, bytes)
            let (s3, o3) = try runProcess([hardenBinary, "convert", "oci:\(dir)/bad:v1", "oci:\(dir)/fresh:v1"])
            #expect(s3 == 1, "\(o3)")
            #expect(!HostFS.exists(dir + "/fresh"), "a failed convert left \(dir)/fresh")
        }
    }

    @Test func dataAfterTheEndOfArchiveFollowsOneRuleEverywhere() throws {
        try withTemporaryDirectory { dir in
            // A real tar, then 65 MiB of zeros after its end-of-archive marker (compressed, the layer is tiny).
            let plain = try Fixtures.tar([.file("hello", "hello\n")]) + [UInt8](repeating: 0, count: 65 << 20)
            let layer = Fixtures.Layer(
                blob: try Fixtures.compress(plain, .gzip), diffID: Digest.sha256(of: plain), compression: .gzip)
            try Fixtures.ociLayout(at: dir + "/img", images: [(tag: "v1", layers: [layer], config: nil)])
            for dest in [
                "dir:\(dir)/rootfs", "oci:\(dir)/copy:v1", "oci-archive:\(dir)/copy.tar", "docker-archive:\(dir)/d.tar",
                "oci:\(dir)/zstd:v1 --compression zstd",
            ] {
                let parts = dest.split(separator: " ").map(String.init)
                let (s, o) = try runProcess([hardenBinary, "convert", "oci:\(dir)/img:v1"] + parts)
                #expect(s == 1 && o.contains("after the end of the tar archive"), "\(dest): \(o)")
            }
            let (s, o) = try runProcess([hardenBinary, "inspect", "oci:\(dir)/img:v1"])
            #expect(s == 1 && o.contains("after the end of the tar archive"), "\(o)")
        }
    }

    @Test func setuidFilesAreReportedAndStrippedOnRequest() throws {
        try withTemporaryDirectory { dir in
            let layer = try Fixtures.layer([
                .dir("bin"), .file("bin/su", "#!/bin/sh\n", mode: 0o4755), .file("bin/ls", "x", mode: 0o755),
            ])
            try Fixtures.ociLayout(at: dir + "/img", images: [(tag: "v1", layers: [layer], config: nil)])
            let (s, o) = try runProcess([hardenBinary, "convert", "oci:\(dir)/img:v1", "dir:\(dir)/keep"])
            #expect(s == 0 && o.contains("1 setuid/setgid files (/bin/su)") && o.contains("--no-setuid"), "\(o)")
            var st = stat()
            #expect(lstat(dir + "/keep/bin/su", &st) == 0 && st.st_mode & 0o4000 != 0)
            let (s2, o2) = try runProcess([
                hardenBinary, "convert", "oci:\(dir)/img:v1", "dir:\(dir)/strip", "--no-setuid",
            ])
            #expect(s2 == 0 && !o2.contains("warning"), "\(o2)")
            #expect(lstat(dir + "/strip/bin/su", &st) == 0 && st.st_mode & 0o7777 == 0o755)
        }
    }

    @Test func anOversizedProfileIsRefusedBeforeItIsDecoded() throws {
        try withTemporaryDirectory { dir in
            let fd = try FileDescriptor.create(dir + "/huge.json")
            try fd.truncate(to: Int64(ProfileFile.sizeLimit) + 1)
            let layer = try Fixtures.layer([.file("hello", "hello\n")])
            try Fixtures.ociLayout(at: dir + "/img", images: [(tag: "v1", layers: [layer], config: nil)])
            let (s, o) = try runProcess([
                hardenBinary, "minify", "oci:\(dir)/img:v1", "--profile", dir + "/huge.json", "-o", "oci:\(dir)/out:v1",
            ])
            #expect(s == 1 && o.hasPrefix("harden: ") && o.contains("huge.json") && o.contains("allowed"), "\(o)")
        }
    }

    @Test func aReportDirectoryHardenDidNotWriteIsNeverDeleted() throws {
        try withTemporaryDirectory { dir in
            // A user's directory: refused, untouched.
            try HostFS.makeDirectories(dir + "/src")
            try HostFS.writeFileAtomically(dir + "/src/main.c", Array("int main(void) { return 0; }\n".utf8))
            let (s, o) = try runProcess([
                hardenBinary, "run", "oci:/nonexistent:x", "-o", "oci:\(dir)/out:x", "--report-dir", dir + "/src",
            ])
            #expect(s == 1 && o.contains("is not a harden report"), "\(o)")
            #expect(HostFS.isRegularFile(dir + "/src/main.c"))
            #expect(throws: HardenError.self) {
                try Application.Run.writeReportDirectory(dir + "/src", [("report.json", [1])])
            }
            #expect(HostFS.isRegularFile(dir + "/src/main.c"))

            // A new directory, an empty one and an earlier report are written (and replaced) as a whole.
            try Application.Run.writeReportDirectory(
                dir + "/new", [("report.json", Array("{}".utf8)), ("old.txt", [1])])
            #expect(HostFS.isRegularFile(dir + "/new/.harden-report"))
            try Application.Run.writeReportDirectory(dir + "/new", [("report.json", Array("{}".utf8))])
            #expect(try HostFS.listDirectory(dir + "/new") == [".harden-report", "report.json"])
            try HostFS.makeDirectories(dir + "/empty")
            try Application.Run.writeReportDirectory(dir + "/empty", [("report.json", Array("{}".utf8))])
            #expect(HostFS.isRegularFile(dir + "/empty/report.json"))
        }
    }

    @Test func aTreeDeeperThanPathMaxWithForeignNamesIsRemoved() throws {
        try withTemporaryDirectory { dir in
            // 400 levels of 20-byte names (8,400 bytes of path) and a name that is not UTF-8 at the bottom.
            var fd = open(dir, O_RDONLY | O_DIRECTORY)
            let name = String(repeating: "d", count: 20)
            try HostFS.makeDirectories(dir + "/deep")
            var next = openat(fd, "deep", O_RDONLY | O_DIRECTORY)
            close(fd)
            fd = next
            for _ in 0..<400 {
                #expect(mkdirat(fd, name, 0o755) == 0)
                next = openat(fd, name, O_RDONLY | O_DIRECTORY)
                close(fd)
                fd = next
            }
            let foreign: [CChar] = [CChar(bitPattern: 0xFF), CChar(bitPattern: 0xFE), 0x61, 0]
            let f = openat(fd, foreign, O_CREAT | O_WRONLY, 0o400)
            #expect(f >= 0)
            close(f)
            _ = fchmod(fd, 0o500)  // a read-only directory at the bottom, too
            close(fd)
            try HostFS.removeTree(dir + "/deep")
            #expect(!HostFS.exists(dir + "/deep"))
        }
    }
}

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct ProfilingSandboxTests {
    /// Run inside the container by an exec probe: what the sandbox allows, on one line.
    static let probe = """
        import ctypes, os, socket, subprocess, sys, time
        status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
        libc = ctypes.CDLL(None, use_errno=True)
        unshare = 0 if libc.unshare(0x10000000 | 0x20000) == 0 else ctypes.get_errno()
        gateway = [l.split() for l in open("/proc/net/route").read().splitlines()[1:] if l.split()[1] == "00000000"][0][2]
        address = socket.inet_ntoa(bytes.fromhex(gateway)[::-1])
        s = socket.socket(); s.settimeout(3)
        connect = s.connect_ex((address, int(sys.argv[1])))
        children = []
        try:
            for _ in range(200):
                pid = os.fork()
                if pid == 0:
                    time.sleep(10); os._exit(0)
                children.append(pid)
        except OSError:
            pass
        for pid in children:
            os.kill(pid, 9); os.waitpid(pid, 0)
        hog = subprocess.run([sys.executable, "-c", "b = b'x' * (300 << 20)"]).returncode
        print("SANDBOX", status["NoNewPrivs"].strip(), status["Seccomp"].strip(), unshare, connect, len(children), hog)
        """

    /// Profiles flask with the probe; returns the probe's SANDBOX line fields.
    static func sandbox(_ extra: [String], port: Int, dir: String) throws -> [String] {
        let hex = Self.probe.utf8.map { String(format: "%02x", $0) }.joined()
        let command = "python3 -c 'import sys; exec(bytes.fromhex(\"\(hex)\").decode())' \(port)"
        let (s, o) = try RuntimeTests.harden(
            [
                "profile", "oci:\(TestImages.layout):flask", "--exec-probe", command, "--duration", "1",
                "--pids-limit", "40", "--memory", "128M", "-o", dir + "/p.json",
            ] + extra, runDir: dir + "/run")
        try #require(s == 0, "\(o)")
        #expect(try RuntimeTests.leftovers(runDir: dir + "/run").isEmpty)
        let profile = try RuntimeTests.profile(dir + "/p.json")
        // The profile records the network, so minify's verification runs the app the same way.
        #expect(profile.runs.last?.network == (extra.contains("host") ? "host" : "isolated"))
        let output = profile.runs.last?.probes.first?.output ?? ""
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("SANDBOX") }, "\(output)")
        return line.split(separator: " ").map(String.init)
    }

    @Test func aHostileContainerIsConfinedLikeAProductionRuntime() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            // A service on the host, listening on every address.
            let port = try BackgroundServer.python(
                directory: dir, bind: "0.0.0.0", log: dir + "/http.log", pidFile: dir + "/http.pid")
            defer { BackgroundServer.stop(pidFile: dir + "/http.pid") }
            try #require(port > 0)

            let isolated = try Self.sandbox([], port: port, dir: dir + "/isolated")
            #expect(isolated[1] == "1", "no_new_privs: \(isolated)")
            #expect(isolated[2] == "2", "seccomp filter mode: \(isolated)")
            #expect(isolated[3] == "\(EPERM)", "unshare(CLONE_NEWUSER|CLONE_NEWNS) must fail with EPERM: \(isolated)")
            #expect(isolated[4] != "0", "the container reached a host service: \(isolated)")
            #expect((Int(isolated[5]) ?? 999) < 40, "pids limit: \(isolated)")
            #expect(isolated[6] == "-9", "memory limit: the 300 MB allocation was not killed: \(isolated)")

            // The same probe with --network host reaches the service: the check above is not vacuous.
            let host = try Self.sandbox(["--network", "host"], port: port, dir: dir + "/host")
            #expect(host[4] == "0", "with --network host the host service is reachable: \(host)")
        }
    }

    @Test func aContainersTreeDeeperThanPathMaxLeavesNothingBehind() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            // 250 levels of 30-byte names below /tmp: 7,750 bytes of path, made with relative mkdir/chdir.
            let make =
                "python3 -c \"import os; os.chdir('/tmp'); [(os.mkdir('d' * 30), os.chdir('d' * 30)) for _ in range(250)]; print(250 * 31)\""
            let (s, o) = try RuntimeTests.harden(
                [
                    "profile", "oci:\(TestImages.layout):flask", "--exec-probe", make, "--duration", "1",
                    "-o", dir + "/p.json",
                ], runDir: dir + "/run")
            try #require(s == 0, "\(o)")
            let output = try RuntimeTests.profile(dir + "/p.json").runs.last?.probes.first?.output ?? ""
            #expect((Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > Int(PATH_MAX), "\(output)")
            #expect(try RuntimeTests.leftovers(runDir: dir + "/run").isEmpty)
        }
    }
}

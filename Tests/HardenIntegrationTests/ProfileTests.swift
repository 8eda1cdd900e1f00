// harden — `harden profile` on the real test images under real runc, with both sensors.
import Foundation
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

enum RuntimeTests {
    /// Shared by the runtime tests so each image is unpacked once per test run.
    static let cacheDirectory = TestImages.directory + "/.cache"

    /// Fails (never skips) when something a container run needs is missing.
    static func require() throws {
        try TestImages.require()
        try #require(getuid() == 0, "runtime tests need root (runc, overlayfs, namespaces, fanotify, ptrace)")
        try TestImages.requireTools("runc", "ip", "umoci")
    }

    /// Runs `harden ARGS` with a private run directory; returns status and output.
    static func harden(_ args: [String], runDir: String) throws -> (status: Int32, output: String) {
        try runProcess(
            [hardenBinary] + args, environment: ["HARDEN_RUN_DIR": runDir, "HARDEN_CACHE_DIR": cacheDirectory])
    }

    static func profile(_ path: String) throws -> RuntimeProfile {
        try JSONCoding.decode(try HostFS.readFile(path, limit: 1 << 30), source: path, what: "profile")
    }

    /// Everything a run may leave behind: run directories, mounts, network namespaces, runc containers.
    static func leftovers(runDir: String) throws -> [String] {
        var out: [String] = []
        out += ((try? HostFS.listDirectory(runDir)) ?? []).filter { $0.hasPrefix("harden-") }.map {
            "run directory \($0)"
        }
        out += Mounts.mounts(under: runDir).map { "mount \($0)" }
        let (_, netns) = try runProcess(["ip", "netns", "list"])
        // Only this run directory's namespaces: other harden runs on the machine are not this test's leaks.
        let prefix = ContainerNetwork.namespaceName(id: "", runDirectory: runDir)
        out += netns.split(separator: "\n").filter { $0.hasPrefix(prefix) }.map { "network namespace \($0)" }
        let (_, links) = try runProcess(["ip", "-o", "link", "show"])
        let linkPrefix = String(ContainerNetwork.interfaceName(id: "", runDirectory: runDir).dropLast())
        out += links.split(separator: "\n").compactMap { line -> String? in
            let name =
                line.split(separator: ":").dropFirst().first.map {
                    $0.trimming(" ").split(separator: "@").first.map(String.init) ?? ""
                }
                ?? ""
            return name.hasPrefix(linkPrefix) ? "network interface \(name)" : nil
        }
        let (_, list) = try runProcess(["runc", "--root", runDir + "/runc", "list", "-q"])
        out += list.split(separator: "\n").filter { !$0.isEmpty && !$0.contains("no such file") }.map {
            "runc container \($0)"
        }
        return out
    }

    /// An OCI layout sharing the test images' blobs (hard links), where test code can add images with umoci.
    static func scratchLayout(_ dir: String) throws -> String {
        let layout = dir + "/layout"
        try HostFS.makeDirectories(layout)
        let (s, o) = try runProcess([
            "sh", "-c",
            "cp '\(TestImages.layout)/oci-layout' '\(TestImages.layout)/index.json' '\(layout)/' && cp -al '\(TestImages.layout)/blobs' '\(layout)/blobs'",
        ])
        try #require(s == 0, "copying the layout: \(o)")
        return layout
    }

    /// A new tag `tag` in `layout`: the base image with another config (umoci, an independent writer).
    static func configure(_ layout: String, from: String = "base", tag: String, _ args: [String]) throws {
        let (s, o) = try runProcess(["umoci", "config", "--image", "\(layout):\(from)", "--tag", tag] + args)
        try #require(s == 0, "umoci config: \(o)")
    }
}

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct ProfileTests {
    @Test func nginxServesTheProbeAndTheProfileHoldsWhatItUsed() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            let (status, out) = try RuntimeTests.harden(
                ["profile", "oci:\(TestImages.layout):nginx", "--http-probe", "80:GET:/", "-o", dir + "/p.json"],
                runDir: dir + "/run")
            try #require(status == 0, "\(out)")
            let p = try RuntimeTests.profile(dir + "/p.json")
            let probe = try #require(p.runs.first?.probes.first)
            #expect(probe.ok && probe.status == 200 && (probe.bytes ?? 0) > 0)
            let paths = Set(p.files.filter { $0.type != .missing }.map(\.path))
            let targets = Set(p.files.compactMap(\.target))
            let seen = paths.union(targets)
            for f in [
                "/usr/sbin/nginx", "/etc/nginx/nginx.conf", "/etc/nginx/mime.types", "/etc/passwd",
                "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/usr/lib/x86_64-linux-gnu/libc.so.6",
            ] {
                #expect(seen.contains(f), "\(f) missing from the profile")
            }
            // Every library the dynamic loader maps for nginx and its module, by the image's own loader (independent of us).
            let image = try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: "nginx"))
            let chain = Digest.sha256(of: Array(image.layers.map(\.diffID.description).joined(separator: "\n").utf8))
            let rootfs = "\(RuntimeTests.cacheDirectory)/rootfs/\(chain.encoded)/rootfs"
            for binary in ["/usr/sbin/nginx", "/usr/lib/nginx/modules/ngx_http_echo_module.so"] {
                let (s, list) = try runProcess([
                    "chroot", rootfs, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "--list", binary,
                ])
                try #require(s == 0, "ld.so --list: \(list)")
                let libs = list.split(separator: "\n").compactMap { line -> String? in
                    guard let r = line.range(of: "=> ") else { return nil }
                    return line[r.upperBound...].split(separator: " ").first.map(String.init)
                }
                #expect(libs.count >= (binary.hasSuffix("nginx") ? 5 : 1))
                for lib in libs {
                    #expect(
                        seen.contains(lib) || seen.contains(lib.replacingOccurrences(of: "/lib/", with: "/usr/lib/")),
                        "\(lib) (mapped by \(binary)) missing")
                }
            }
            // Nothing from the host: no host paths, only paths the image has (or that the app looked for).
            for f in p.files {
                #expect(
                    !f.path.hasPrefix(dir) && !f.path.hasPrefix("/run/harden") && !f.path.contains("/.cache/"),
                    "host path \(f.path)")
            }
            #expect(
                p.executables.contains { $0.path == "/usr/sbin/nginx" && $0.argv == ["nginx", "-g", "daemon off;"] })
            #expect(p.ports.contains { $0.port == 80 && $0.protocolName == "tcp" })
            #expect(p.uids == [0, 33], "nginx starts as root and its workers switch to www-data")
            #expect(p.syscalls.contains { $0.name == "accept4" || $0.name == "accept" })
            #expect(p.packages.first { $0.name == "nginx" }?.used == true)
            #expect(p.packages.first { $0.name == "apt" }?.used == false)
            #expect(try RuntimeTests.leftovers(runDir: dir + "/run").isEmpty)
        }
    }

    @Test func flaskAppIsProfiledWithItsModulesAndAnExecProbe() throws {
        try RuntimeTests.require()
        try TestImages.requireTools("curl")
        try withTemporaryDirectory { dir in
            // A user's coverage script on the host reaches the app at HARDEN_TARGET_HOST.
            try HostFS.writeFileAtomically(
                dir + "/probe.sh",
                Array(
                    """
                    #!/bin/sh
                    set -e
                    echo "ports: $HARDEN_TARGET_PORTS"
                    curl -sf "http://$HARDEN_TARGET_HOST:5000/" | grep -q "hello from flask"
                    curl -s -o /dev/null -w '%{http_code}' "http://$HARDEN_TARGET_HOST:5000/missing" | grep -q 404

                    """.utf8), mode: 0o755)
            let (status, out) = try RuntimeTests.harden(
                [
                    "profile", "oci:\(TestImages.layout):flask", "--http-probe", "5000:GET:/", "--exec-probe",
                    "cat /etc/os-release",
                    "--probe-script", dir + "/probe.sh", "-o", dir + "/p.json",
                ],
                runDir: dir + "/run")
            try #require(status == 0, "\(out)")
            let p = try RuntimeTests.profile(dir + "/p.json")
            #expect(p.runs.first?.probes.allSatisfy(\.ok) == true)
            let paths = Set(p.files.filter { $0.type != .missing }.map(\.path))
            #expect(paths.contains("/app/app.py"))
            #expect(paths.contains("/usr/bin/python3") || paths.contains("/usr/bin/python3.11"))
            #expect(paths.contains { $0.hasPrefix("/usr/lib/python3/dist-packages/flask/") && $0.hasSuffix(".py") })
            #expect(paths.contains { $0.hasPrefix("/usr/lib/python3/dist-packages/werkzeug/") && $0.hasSuffix(".py") })
            #expect(p.packages.first { $0.name == "python3-flask" }?.used == true)
            #expect(p.packages.first { $0.name == "apt" }?.used == false)
            // The exec probe: its execve with argv, and the file it read.
            #expect(p.executables.contains { $0.argv == ["cat", "/etc/os-release"] })
            #expect(paths.contains("/etc/os-release"))
            let script = try #require(p.runs.first?.probes.first { $0.kind == .script })
            #expect(script.ok && script.output?.contains("5000") == true, "\(script)")
            let exec = try #require(p.runs.first?.probes.first { $0.kind == .exec })
            #expect(exec.output?.contains("bookworm") == true)
            // ptrace sees failed lookups too (python probes many paths that do not exist).
            #expect(p.files.contains { $0.type == .missing && ($0.failures?["ENOENT"] ?? 0) > 0 })
            #expect(try RuntimeTests.leftovers(runDir: dir + "/run").isEmpty)
        }
    }

    @Test(arguments: ["ptrace", "fanotify"])
    func eachSensorWorksAlone(sensor: String) throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            let (status, out) = try RuntimeTests.harden(
                [
                    "profile", "oci:\(TestImages.layout):nginx", "--http-probe", "80", "--sensor", sensor, "-o",
                    dir + "/p.json",
                ],
                runDir: dir + "/run")
            try #require(status == 0, "\(out)")
            let p = try RuntimeTests.profile(dir + "/p.json")
            #expect(p.runs.first?.sensors == [sensor])
            #expect(p.usedPaths.contains("/etc/nginx/nginx.conf"))
            if sensor == "ptrace" {
                #expect(p.syscalls.count > 20)
                #expect(p.runs.first?.fanotifyEvents == nil)
            } else {
                #expect(p.syscalls.isEmpty)
                #expect((p.runs.first?.fanotifyEvents ?? 0) > 0)
            }
        }
    }

    @Test func profilesOfOneImageMerge() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            let image = "oci:\(TestImages.layout):nginx"
            var (s, o) = try RuntimeTests.harden(
                ["profile", image, "--exec-probe", "cat /etc/hostname", "--sensor", "ptrace", "-o", dir + "/a.json"],
                runDir: dir + "/run")
            try #require(s == 0, "\(o)")
            (s, o) = try RuntimeTests.harden(
                [
                    "profile", image, "--exec-probe", "cat /etc/debian_version", "--sensor", "ptrace", "--merge",
                    dir + "/a.json", "-o",
                    dir + "/b.json",
                ], runDir: dir + "/run")
            try #require(s == 0, "\(o)")
            let merged = try RuntimeTests.profile(dir + "/b.json")
            #expect(merged.runs.count == 2)
            #expect(
                merged.executables.contains { $0.argv == ["cat", "/etc/hostname"] }
                    && merged.executables.contains { $0.argv == ["cat", "/etc/debian_version"] })
            // Another image's profile is refused.
            (s, o) = try RuntimeTests.harden(
                ["profile", "oci:\(TestImages.layout):base", "--merge", dir + "/a.json", "-o", dir + "/c.json"],
                runDir: dir + "/run")
            #expect(s == 1 && o.contains("a.json") && o.contains("not of"), "\(o)")
        }
    }

    @Test func imagesThatCannotBeProfiledGiveClearErrorsAndLeaveNothing() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            let layout = try RuntimeTests.scratchLayout(dir)
            try RuntimeTests.configure(layout, tag: "exits", ["--config.cmd", "/bin/false"])
            try RuntimeTests.configure(layout, tag: "noport", ["--config.cmd", "sleep", "--config.cmd", "300"])
            try RuntimeTests.configure(layout, tag: "nothing", ["--clear=config.cmd"])
            let run = dir + "/run"
            var (s, o) = try RuntimeTests.harden(
                ["profile", "oci:\(layout):exits", "--http-probe", "80", "-o", dir + "/p.json"], runDir: run)
            #expect(s == 1 && o.contains("exited") && o.contains("before the probes"), "\(o)")
            (s, o) = try RuntimeTests.harden(
                [
                    "profile", "oci:\(layout):noport", "--http-probe", "8080", "--probe-timeout", "3", "-o",
                    dir + "/q.json",
                ], runDir: run)
            #expect(s == 2 && o.contains("8080") && o.contains("never accepted"), "\(o)")
            let q = try RuntimeTests.profile(dir + "/q.json")
            #expect(q.runs.first?.probes.first?.ok == false)
            (s, o) = try RuntimeTests.harden(["profile", "oci:\(layout):nothing", "-o", dir + "/r.json"], runDir: run)
            #expect(s == 1 && o.contains("no entrypoint and no cmd"), "\(o)")
            #expect(!HostFS.exists(dir + "/p.json") && !HostFS.exists(dir + "/r.json"))
            #expect(try RuntimeTests.leftovers(runDir: run) == [])
        }
    }

    /// A static binary, a shell script (#!/bin/sh), a dynamically linked binary, and an interpreter with a script.
    @Test func everyKindOfEntrypointIsFollowed() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            let layout = try RuntimeTests.scratchLayout(dir)
            let cases: [(from: String, tag: String, cmd: [String], execs: [String], file: String)] = [
                ("base", "static", ["/sbin/ldconfig", "-p"], ["/sbin/ldconfig"], "/etc/ld.so.cache"),
                (
                    "base", "script", ["zcat", "-f", "/etc/debian_version"],
                    ["/usr/bin/zcat", "/usr/bin/dash", "/usr/bin/gzip"],
                    "/etc/debian_version"
                ),
                ("base", "dynamic", ["ls", "/etc/apt"], ["/usr/bin/ls"], "/usr/lib/x86_64-linux-gnu/libselinux.so.1"),
                (
                    "flask", "python", ["python3", "-c", "import json, email.utils"], ["/usr/bin/python3"],
                    "/usr/lib/python3.11/json/__init__.py"
                ),
            ]
            for c in cases {
                try RuntimeTests.configure(layout, from: c.from, tag: c.tag, c.cmd.flatMap { ["--config.cmd", $0] })
                let (s, o) = try RuntimeTests.harden(
                    ["profile", "oci:\(layout):\(c.tag)", "-o", "\(dir)/\(c.tag).json"], runDir: dir + "/run")
                try #require(s == 0, "\(c.tag): \(o)")
                let p = try RuntimeTests.profile("\(dir)/\(c.tag).json")
                #expect(p.runs.first?.exitCode == 0, "\(c.tag)")
                let ran = Set(p.executables.map(\.path))
                let seen = p.usedPaths.union(p.files.compactMap(\.target))
                for e in c.execs {
                    #expect(
                        ran.contains(e) || seen.contains(e), "\(c.tag): \(e) not recorded as run; executables \(ran)")
                }
                #expect(
                    seen.contains(c.file) || seen.contains(c.file.replacingOccurrences(of: "/usr/lib/", with: "/lib/")),
                    "\(c.tag): \(c.file) missing")
            }
            #expect(try RuntimeTests.leftovers(runDir: dir + "/run") == [])
        }
    }

    /// The ptrace sensor holds only what tracing needs (a step toward rootless use).
    @Test func thePtraceSensorRunsWithoutSysAdmin() async throws {
        try RuntimeTests.require()
        try await withTemporaryDirectory { dir in
            let target = try ChildProcess.spawn(["sleep", "3"])
            let tracer = try ChildProcess.spawn(
                [hardenBinary, "internal-trace", "--attach", "\(target.pid)", "--out", dir + "/t.json"],
                stdout: .file(dir + "/ready"), stderr: .file(dir + "/err"))
            let deadline = MonotonicClock.now + 10
            while (try? HostFS.readFile(dir + "/ready"))?.isEmpty ?? true, MonotonicClock.now < deadline {
                try await Task.sleep(nanoseconds: 10_000_000)
            }
            // Every thread of the sensor process.
            for task in try HostFS.listDirectory("/proc/\(tracer.pid)/task") {
                let status = String(
                    decoding: try HostFS.readFile("/proc/\(tracer.pid)/task/\(task)/status"), as: UTF8.self)
                let capEff = try #require(
                    status.split(separator: "\n").first { $0.hasPrefix("CapEff:") }?.split(separator: "\t").last)
                let caps = try #require(UInt64(capEff, radix: 16))
                #expect(caps & (1 << 21) == 0, "CAP_SYS_ADMIN must be dropped (thread \(task))")
                #expect(caps & (1 << 19) != 0, "CAP_SYS_PTRACE must be kept (thread \(task))")
            }
            #expect(await tracer.wait(timeout: 10) == .exited(0))
            _ = await target.wait(timeout: 5)
            let report: TraceReport = try JSONCoding.decode(
                try HostFS.readFile(dir + "/t.json"), source: "t.json", what: "trace")
            #expect(
                report.exitCode == 0
                    && report.syscalls["nanosleep", default: 0] + report.syscalls["clock_nanosleep", default: 0] >= 0)
        }
    }

    @Test func anInterruptedRunRemovesEverything() async throws {
        try RuntimeTests.require()
        try await withTemporaryDirectory { dir in
            let run = dir + "/run"
            var env = ChildProcess.currentEnvironment()
            env["HARDEN_RUN_DIR"] = run
            env["HARDEN_CACHE_DIR"] = RuntimeTests.cacheDirectory
            let child = try ChildProcess.spawn(
                [
                    hardenBinary, "profile", "oci:\(TestImages.layout):nginx", "--duration", "120", "-o",
                    dir + "/p.json",
                ],
                environment: env, stdout: .file(dir + "/out"), stderr: .file(dir + "/err"))
            // Wait until the container runs.
            var initPid: Int32?
            let deadline = MonotonicClock.now + 60
            while initPid == nil, MonotonicClock.now < deadline, child.poll() == nil {
                for d in ((try? HostFS.listDirectory(run)) ?? []) where d.hasPrefix("harden-") {
                    if let b = try? HostFS.readFile("\(run)/\(d)/target/init.pid", limit: 64),
                        let pid = Int32(String(decoding: b, as: UTF8.self)),
                        let c = try? HostFS.readFile("/proc/\(pid)/comm", limit: 64),
                        String(decoding: c, as: UTF8.self).hasPrefix("nginx")
                    {
                        initPid = pid
                    }
                }
                try await Task.sleep(nanoseconds: 50_000_000)
            }
            let pid = try #require(
                initPid,
                "the container never started: \(String(decoding: (try? HostFS.readFile(dir + "/err")) ?? [], as: UTF8.self))"
            )
            #expect(try RuntimeTests.leftovers(runDir: run).count >= 3)  // run dir, mount, netns, container
            child.signal(SIGINT)
            let status = await child.wait(timeout: 30)
            // Cleaned up, then ended by the signal it was sent (the shell shows 130).
            #expect(status == .signaled(SIGINT))
            #expect(try RuntimeTests.leftovers(runDir: run) == [])
            // The container's init is gone (a zombie for a moment at most, until it is reaped).
            func alive() -> Bool {
                guard let b = try? HostFS.readFile("/proc/\(pid)/stat", limit: 4096) else { return false }
                return !String(decoding: b, as: UTF8.self).contains(") Z ")
            }
            let gone = MonotonicClock.now + 5
            while alive(), MonotonicClock.now < gone { try await Task.sleep(nanoseconds: 50_000_000) }
            #expect(!alive(), "the container's process is still alive")
            #expect(!HostFS.exists(dir + "/p.json"))
        }
    }
}

// harden — instrumented images: run under runc the way Docker runs them (Docker's default capabilities and seccomp
// profile, a non-root user where the image allows, a read-only root file system, a bind-mounted output directory),
// imported, minified and replayed; compared with the runc profile of the same image and probes. The sensor's PID 1
// duties (exit status, signals, zombies), a SIGKILL, ptrace refused and fragments through the logs.
import Foundation
import HardenCore
import HardenELF
import HardenMinify
import HardenOCI
import HardenPackages
import HardenProfile
import HardenSystem
import HardenTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

enum InstrumentFixture {
    static var sensor: String { (hardenBinary as NSString).deletingLastPathComponent + "/harden-sensor" }

    /// Docker's default seccomp profile (facts of moby's published default, resolved for amd64 and Docker's default
    /// capabilities), optionally without some syscalls.
    static func writeSeccomp(_ path: String, without removed: Set<String> = []) throws {
        var profile = RuntimeSpec.Seccomp.dockerDefault
        profile.syscalls = profile.syscalls?.map { rule in
            var r = rule
            r.names.removeAll { removed.contains($0) }
            return r
        }.filter { !$0.names.isEmpty }
        try HostFS.writeFileAtomically(path, try JSONCoding.encode(profile, pretty: true))
    }

    /// Files the app used that the image has (looked-for-but-missing paths left out).
    static func usedFiles(_ p: RuntimeProfile) -> Set<String> {
        Set(p.files.filter { $0.type != .missing }.map(\.path))
    }

    /// A static HTTP server in a scratch image: /server answers every request with /www/index.html.
    static func buildStaticImage(_ dir: String) throws -> String {
        let source = """
            #include <fcntl.h>
            #include <netinet/in.h>
            #include <signal.h>
            #include <stdio.h>
            #include <string.h>
            #include <sys/socket.h>
            #include <unistd.h>
            static void done(int s) { (void)s; _exit(0); }
            int main(void) {
                signal(SIGTERM, done);
                int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
                setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                struct sockaddr_in a = {0};
                a.sin_family = AF_INET; a.sin_port = htons(8000);
                if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) return 1;
                for (;;) {
                    int c = accept(s, 0, 0);
                    if (c < 0) continue;
                    char req[2048], body[512], head[128];
                    if (read(c, req, sizeof req) <= 0) { close(c); continue; }
                    int f = open("/www/index.html", O_RDONLY), n = f >= 0 ? (int)read(f, body, sizeof body) : 0;
                    if (f >= 0) close(f);
                    int h = snprintf(head, sizeof head, "HTTP/1.0 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n", n);
                    if (write(c, head, h) < 0 || write(c, body, n) < 0) {}
                    close(c);
                }
            }
            """
        try HostFS.writeFileAtomically(dir + "/server.c", Array(source.utf8))
        try HostFS.makeDirectories(dir + "/rootfs/www")
        try HostFS.writeFileAtomically(dir + "/rootfs/www/index.html", Array("static hello\n".utf8))
        var (s, o) = try runProcess(["musl-gcc", "-static", "-O2", "-o", dir + "/rootfs/server", dir + "/server.c"])
        try #require(s == 0, "\(o)")
        (s, o) = try runProcess([hardenBinary, "convert", "dir:\(dir)/rootfs", "oci:\(dir)/static:app"])
        try #require(s == 0, "\(o)")
        (s, o) = try runProcess([
            "umoci", "config", "--image", "\(dir)/static:app", "--config.cmd", "/server", "--config.exposedports",
            "8000/tcp",
        ])
        try #require(s == 0, "\(o)")
        return "oci:\(dir)/static:app"
    }

    /// Children of `pid` (from /proc).
    static func children(of pid: Int32) -> [Int32] {
        let text =
            (try? HostFS.readFile("/proc/\(pid)/task/\(pid)/children")).map { String(decoding: $0, as: UTF8.self) }
            ?? ""
        return text.split(separator: " ").compactMap { Int32($0.trimming("\n ")) }
    }

    /// A state letter of /proc/PID/stat and its parent.
    static func stat(_ pid: Int32) -> (state: String, parent: Int32)? {
        guard let b = try? HostFS.readFile("/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: b, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        let f = text[text.index(after: close)...].split(separator: " ")
        guard f.count > 2, let ppid = Int32(f[1]) else { return nil }
        return (String(f[0]), ppid)
    }

    static func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }
}

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct InstrumentTests {
    /// The image, instrumented, run like Docker runs it; its import compared with the runc profile; minified from
    /// the import and replayed.
    @Test(arguments: [
        (
            "nginx", ["--http-probe", "80:GET:/", "--http-probe", "80:GET:/missing"], [String](),
            ["--tmpfs", "/run", "--tmpfs", "/var/lib/nginx", "--tmpfs", "/var/log/nginx"]
        ),
        ("flask", ["--http-probe", "5000:GET:/"], ["--user", "65534:65534"], [String]()),
    ])
    func anInstrumentedImageProfilesLikeRunc(
        _ tag: String, _ probes: [String], _ user: [String], _ writable: [String]
    ) throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            let run = dir + "/run"
            let original = "oci:\(TestImages.layout):\(tag)"
            var (s, o) = try RuntimeTests.harden(
                ["instrument", original, "-o", "oci:\(dir)/i:\(tag)", "--flush-interval", "1"], runDir: run)
            try #require(s == 0, "\(o)")
            // Same layers plus one; the sensor in front of the entrypoint; the cmd untouched.
            let before = try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: tag))
            let after = try ImageLoader.open(.ociLayout(path: dir + "/i", tag: tag))
            #expect(
                Array(after.layers.map(\.descriptor.digest).prefix(before.layers.count))
                    == before.layers.map(\.descriptor.digest))
            #expect(after.layers.count == before.layers.count + 1)
            #expect(after.config.config?.cmd == before.config.config?.cmd)
            #expect(after.config.config?.entrypoint?.first == "/.harden/sensor")
            #expect(
                after.config.config?.entrypoint?.suffix((before.config.config?.entrypoint ?? []).count + 1).first
                    == "--")

            try InstrumentFixture.writeSeccomp(dir + "/docker-default.json")
            try HostFS.makeDirectories(dir + "/out")
            _ = try runProcess(["chmod", "777", dir + "/out"])
            let dockerLike =
                [
                    "--sensor", "none", "--seccomp", dir + "/docker-default.json", "--read-only", "--mount",
                    dir + "/out:/var/run/harden-profile",
                ]
                + user + writable
            (s, o) = try RuntimeTests.harden(
                ["profile", "oci:\(dir)/i:\(tag)", "--allow-probe-failure", "-o", dir + "/instrumented-run.json"]
                    + probes + dockerLike,
                runDir: run)
            try #require(s == 0, "\(o)")
            (s, o) = try RuntimeTests.harden(
                ["profile", original, "--allow-probe-failure", "-o", dir + "/runc.json"] + probes + user, runDir: run)
            try #require(s == 0, "\(o)")
            // The instrumented image answers like the original.
            let instrumentedRun = try RuntimeTests.profile(dir + "/instrumented-run.json")
            let runc = try RuntimeTests.profile(dir + "/runc.json")
            #expect(instrumentedRun.runs.last?.probes.map(\.status) == runc.runs.last?.probes.map(\.status))

            (s, o) = try RuntimeTests.harden(
                ["profile", original, "--import", dir + "/out", "-o", dir + "/imported.json"], runDir: run)
            try #require(s == 0, "\(o)")
            let imported = try RuntimeTests.profile(dir + "/imported.json")
            let instrumentation = try #require(imported.runs.first?.instrumentation)
            #expect(instrumentation.mode == "seccomp" && instrumentation.final)
            #expect(imported.image.configDigest == Digest.sha256(of: before.configBytes).description)
            #expect(
                !imported.files.contains {
                    $0.path.hasPrefix("/.harden") || $0.path.hasPrefix("/var/run/harden-profile")
                })
            let r = InstrumentFixture.usedFiles(runc)
            let i = InstrumentFixture.usedFiles(imported)
            let found = Double(r.intersection(i).count) / Double(max(r.count, 1))
            print(
                "instrument \(tag): \(r.intersection(i).count) of \(r.count) runc-profile files found (\(String(format: "%.3f", found))); only runc: \(r.subtracting(i).sorted()); only instrumented: \(i.subtracting(r).sorted().prefix(20))"
            )
            #expect(found >= 0.98, "only in the runc profile: \(r.subtracting(i).sorted())")
            #expect(imported.ports.contains { $0.port == (tag == "nginx" ? 80 : 5000) })
            #expect(
                Set(imported.packages.filter(\.used).map(\.name)).isSuperset(
                    of: Set(runc.packages.filter(\.used).map(\.name)).subtracting(["base-files"])))

            // minify from the imported profile; the result serves the probes again (replayed under runc).
            (s, o) = try RuntimeTests.harden(
                [
                    "minify", original, "--profile", dir + "/imported.json", "-o", "oci:\(dir)/min:\(tag)", "--report",
                    dir + "/r.json",
                ]
                    + Array(probes.prefix(2)) + user, runDir: run)
            try #require(s == 0, "\(o)")
            let report: MinifyReport = try JSONCoding.decode(
                try HostFS.readFile(dir + "/r.json"), source: "r.json", what: "report")
            #expect(report.verification.ran && report.verification.passed, "\(o)")
            #expect(report.verification.probes.map(\.after) == ["ok 200"], "\(report.verification.probes)")
            #expect(try RuntimeTests.leftovers(runDir: run) == [])
        }
    }

    /// A static binary in a scratch image (no libc, no shell): instrumented, run as a non-root user, imported,
    /// minified and replayed.
    @Test func aStaticBinaryInAScratchImage() throws {
        try RuntimeTests.require()
        try TestImages.requireTools("musl-gcc", "umoci")
        try withTemporaryDirectory { dir in
            let run = dir + "/run"
            let image = try InstrumentFixture.buildStaticImage(dir)
            var (s, o) = try RuntimeTests.harden(["instrument", image, "-o", "oci:\(dir)/si:app"], runDir: run)
            try #require(s == 0, "\(o)")
            try InstrumentFixture.writeSeccomp(dir + "/docker-default.json")
            try HostFS.makeDirectories(dir + "/out")
            _ = try runProcess(["chmod", "777", dir + "/out"])
            (s, o) = try RuntimeTests.harden(
                [
                    "profile", "oci:\(dir)/si:app", "--sensor", "none", "--seccomp", dir + "/docker-default.json",
                    "--read-only", "--user",
                    "1000:1000", "--mount", dir + "/out:/var/run/harden-profile", "--http-probe", "8000", "-o",
                    dir + "/run.json",
                ], runDir: run)
            try #require(s == 0, "\(o)")
            (s, o) = try RuntimeTests.harden(
                ["profile", image, "--import", dir + "/out", "-o", dir + "/imported.json"], runDir: run)
            try #require(s == 0, "\(o)")
            let p = try RuntimeTests.profile(dir + "/imported.json")
            #expect(
                InstrumentFixture.usedFiles(p).isSuperset(of: ["/server", "/www/index.html"]), "\(p.files.map(\.path))")
            #expect(p.executables.map(\.path) == ["/server"])
            #expect(p.uids == [1000] && p.ports.contains { $0.port == 8000 })
            #expect(p.syscalls.contains { $0.name == "accept" || $0.name == "accept4" })
            (s, o) = try RuntimeTests.harden(
                [
                    "minify", image, "--profile", dir + "/imported.json", "-o", "oci:\(dir)/min:app", "--http-probe",
                    "8000", "--user",
                    "1000:1000", "--report", dir + "/r.json",
                ], runDir: run)
            try #require(s == 0, "\(o)")
            let report: MinifyReport = try JSONCoding.decode(
                try HostFS.readFile(dir + "/r.json"), source: "r.json", what: "report")
            #expect(report.verification.passed)
            #expect(try RuntimeTests.leftovers(runDir: run) == [])
        }
    }

    /// ptrace refused (a seccomp profile without it): the app still serves, the sensor says so once, and the import
    /// says nothing was recorded. Without a writable output directory, fragments come through the logs.
    @Test func ptraceRefusedAndFragmentsThroughTheLogs() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            let run = dir + "/run"
            let original = "oci:\(TestImages.layout):nginx"
            var (s, o) = try RuntimeTests.harden(["instrument", original, "-o", "oci:\(dir)/i:nginx"], runDir: run)
            try #require(s == 0, "\(o)")
            try InstrumentFixture.writeSeccomp(dir + "/no-ptrace.json", without: ["ptrace"])
            try HostFS.makeDirectories(dir + "/out")
            _ = try runProcess(["chmod", "777", dir + "/out"])
            (s, o) = try RuntimeTests.harden(
                [
                    "profile", "oci:\(dir)/i:nginx", "--sensor", "none", "--seccomp", dir + "/no-ptrace.json",
                    "--log-level", "debug",
                    "--mount", dir + "/out:/var/run/harden-profile", "--http-probe", "80", "-o", dir + "/x.json",
                ], runDir: run)
            try #require(s == 0, "the app must run untraced: \(o)")
            #expect(
                o.components(separatedBy: "harden-sensor: ptrace refused; the app runs untraced").count == 2, "\(o)")
            (s, o) = try RuntimeTests.harden(
                ["profile", original, "--import", dir + "/out", "-o", dir + "/p.json"], runDir: run)
            #expect(s == 1 && o.contains("no traced run") && o.contains("untraced"), "\(o)")

            // No output directory: the fragment goes to standard error; the captured output is imported.
            (s, o) = try RuntimeTests.harden(
                [
                    "profile", "oci:\(dir)/i:nginx", "--sensor", "none", "--log-level", "debug", "--http-probe", "80",
                    "-o", dir + "/y.json",
                ],
                runDir: run)
            try #require(s == 0, "\(o)")
            #expect(o.contains("is not a writable directory (mount a volume there)"), "\(o)")
            try HostFS.writeFileAtomically(dir + "/container.log", Array(o.utf8))
            (s, o) = try RuntimeTests.harden(
                ["profile", original, "--import", dir + "/container.log", "-o", dir + "/logs.json"], runDir: run)
            try #require(s == 0, "\(o)")
            let p = try RuntimeTests.profile(dir + "/logs.json")
            #expect(InstrumentFixture.usedFiles(p).contains("/etc/nginx/nginx.conf"))
            // The instrumented image as the profile's image is refused: paths must resolve against the original.
            (s, o) = try RuntimeTests.harden(
                ["profile", "oci:\(dir)/i:nginx", "--import", dir + "/container.log"], runDir: run)
            #expect(s == 1 && o.contains("is the instrumented image; give the original"), "\(o)")
            // Arguments given at run time replace the cmd (docker run IMAGE CMD, Kubernetes args:): the sensor runs them and
            // records them.
            try HostFS.makeDirectories(dir + "/out2")
            _ = try runProcess(["chmod", "777", dir + "/out2"])
            (s, o) = try RuntimeTests.harden(
                [
                    "profile", "oci:\(dir)/i:nginx", "--sensor", "none", "--mount",
                    dir + "/out2:/var/run/harden-profile", "-o",
                    dir + "/z.json",
                    "--", "cat", "/etc/nginx/mime.types",
                ], runDir: run)
            try #require(s == 0, "\(o)")
            let name = try #require(try HostFS.listDirectory(dir + "/out2").first { $0.hasSuffix(".json") })
            let fragment = try #require(
                try SensorFragments.parse(try HostFS.readFile(dir + "/out2/" + name), source: name).fragments.first)
            #expect(fragment.command == ["cat", "/etc/nginx/mime.types"] && fragment.exitCode == 0 && fragment.final)
            #expect(fragment.paths.contains { $0.path == "/etc/nginx/mime.types" && $0.operations["open"] != nil })
            // Instrumenting twice is refused.
            (s, o) = try RuntimeTests.harden(
                ["instrument", "oci:\(dir)/i:nginx", "-o", "oci:\(dir)/ii:nginx"], runDir: run)
            #expect(s == 1 && o.contains("already instrumented"), "\(o)")
            #expect(try RuntimeTests.leftovers(runDir: run) == [])
        }
    }

    /// Lookups answered through seccomp user notifications record what ptrace stops record (HARDEN_SENSOR_NOTIFY=off):
    /// the same paths, operations and failures — opens, a missing file, a directory expected where a file is, a
    /// relative path, a symlink read, and a program of another user (the sensor without CAP_SYS_PTRACE, as under
    /// Docker: its memory is read under its own ids).
    @Test func notifiedLookupsRecordWhatPtraceStopsRecord() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            try HostFS.makeDirectories(dir + "/data")
            _ = try runProcess(["ln", "-s", "/etc/hostname", dir + "/data/link"])
            _ = try runProcess(["chmod", "-R", "a+rwX", dir])
            let script = """
                cat /etc/passwd > /dev/null
                cat /no/such/file 2>/dev/null
                test -e /etc/passwd/
                cd "$1" && cat ./link > /dev/null && readlink link > /dev/null
                setpriv --reuid 65534 --regid 65534 --clear-groups cat /etc/hosts "$1/link" > /dev/null
                exit 0
                """
            var records: [String: [String: SensorFragment.PathRecord]] = [:]
            var unreadable: [String: Int] = [:]
            for notify in ["on", "off"] {
                let out = dir + "/out-" + notify
                try HostFS.makeDirectories(out)
                let (s, o) = try runProcess(
                    [
                        "setpriv", "--bounding-set", "-sys_ptrace", "--inh-caps", "-sys_ptrace",
                        InstrumentFixture.sensor,
                        "--output-dir", out, "--", "/bin/sh", "-c", script, "sh", dir + "/data",
                    ], environment: ["HARDEN_SENSOR_DEBUG": "1", "HARDEN_SENSOR_NOTIFY": notify])
                try #require(s == 0, "\(o)")
                let name = try #require(try HostFS.listDirectory(out).first { $0.hasSuffix(".json") })
                let f = try #require(
                    try SensorFragments.parse(try HostFS.readFile(out + "/" + name), source: name).fragments.first)
                #expect(f.mode == "seccomp" && f.final && f.exitCode == 0)
                // setpriv's exec after it changed ids (not dumpable then) is unreadable either way; /proc paths name pids.
                unreadable[notify] = f.unreadableArguments
                records[notify] = Dictionary(
                    f.paths.filter { !$0.path.hasPrefix("/proc/") }.map { ($0.path, $0) },
                    uniquingKeysWith: { a, _ in a })
                let notified = o.split(separator: "\n").first { $0.contains("lookups notified") }.map(String.init) ?? ""
                if notify == "on" {
                    // Many lookups, and the other user's memory opened under its ids (cat as 65534, after setpriv's exec).
                    #expect(notified.hasPrefix("harden-sensor: ") && !notified.contains(": 0 lookups"), "\(o)")
                    #expect(notified.contains(", 1 memory files") || notified.contains(", 2 memory files"), "\(o)")
                } else {
                    #expect(notified.contains(": 0 lookups notified"), "\(o)")
                }
            }
            #expect(unreadable["on"] == unreadable["off"])
            let on = try #require(records["on"]), off = try #require(records["off"])
            let shape = { (r: SensorFragment.PathRecord) in (Set(r.operations.keys), Set(r.failures.keys)) }
            let different = Set(on.keys).union(off.keys).filter { path in
                guard let a = on[path], let b = off[path] else { return true }
                return shape(a) != shape(b)
            }
            #expect(
                different.isEmpty,
                "recorded differently: \(different.sorted().map { ($0, on[$0].map(shape), off[$0].map(shape)) })")
            #expect(on["/etc/passwd"]?.operations["open"] != nil)
            #expect(on["/no/such/file"]?.failures["2"] != nil)
            #expect(on["/etc/passwd"]?.failures["20"] != nil || on["/etc/passwd"]?.operations["stat"] != nil)
            #expect(on[dir + "/data/link"]?.operations["readlink"] != nil)
            #expect(on["/etc/hosts"]?.operations["open"] != nil, "the other user's open")
        }
    }

    /// PID 1 duties, checked against the uninstrumented command: the exit status on SIGTERM, signals reaching the
    /// app, orphans reaped; a SIGKILL still leaves the last periodic fragment, which imports.
    @Test func theSensorBehavesLikeTheAppItRuns() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            let sensor = InstrumentFixture.sensor
            let elf = try ELF.parse(try HostFS.readFile(sensor, limit: 16 << 20))
            #expect(elf.interpreter == nil && elf.needed.isEmpty, "the sensor must be static")

            let script = """
                trap 'echo usr1 >> "$1/signals"' USR1
                trap 'exit 42' TERM
                (sleep 0.1 &)
                cat /etc/passwd > /dev/null
                echo ready > "$1/ready"
                while :; do sleep 0.05; done
                """
            for instrumented in [false, true] {
                let work = dir + (instrumented ? "/with" : "/without")
                try HostFS.makeDirectories(work)
                let p = Process()
                p.executableURL = URL(fileURLWithPath: instrumented ? sensor : "/bin/sh")
                p.arguments =
                    (instrumented ? ["--output-dir", work, "--flush-interval", "0.2", "--", "/bin/sh"] : []) + [
                        "-c", script, "sh", work,
                    ]
                try p.run()
                let pid = p.processIdentifier
                try #require(InstrumentFixture.waitFor(10) { HostFS.exists(work + "/ready") })
                kill(pid, SIGUSR1)
                #expect(
                    InstrumentFixture.waitFor(5) { HostFS.exists(work + "/signals") }, "SIGUSR1 did not reach the app")
                if instrumented {
                    // The orphaned `sleep 0.1` comes to the sensor (a subreaper, as PID 1 is) and is reaped.
                    usleep(400_000)
                    let zombies = try HostFS.listDirectory("/proc").compactMap(Int32.init).filter {
                        InstrumentFixture.stat($0).map { $0.parent == pid && $0.state == "Z" } ?? false
                    }
                    #expect(zombies.isEmpty, "zombies left: \(zombies)")
                }
                kill(pid, SIGTERM)
                p.waitUntilExit()
                #expect(p.terminationStatus == 42, "instrumented: \(instrumented)")
                if instrumented {
                    let fragments = try HostFS.listDirectory(work).filter { $0.hasSuffix(".json") }
                    let name = try #require(fragments.first, "no fragment in \(work)")
                    let f = try #require(
                        try SensorFragments.parse(try HostFS.readFile(work + "/" + name), source: name).fragments.first)
                    #expect(f.final && f.exitCode == 42 && f.paths.contains { $0.path == "/etc/passwd" })
                }
            }

            // SIGKILL: the last periodic fragment stays, and imports (with a warning that the end is missing).
            let killed = dir + "/killed"
            try HostFS.makeDirectories(killed)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: sensor)
            p.arguments = [
                "--output-dir", killed, "--flush-interval", "0.2", "--", "/bin/sh", "-c",
                "cat /etc/passwd > /dev/null; exec sleep 30",
            ]
            try p.run()
            let pid = p.processIdentifier
            let written = InstrumentFixture.waitFor(10) {
                ((try? HostFS.listDirectory(killed)) ?? []).contains { name in
                    name.hasSuffix(".json")
                        && ((try? HostFS.readFile(killed + "/" + name)).map {
                            String(decoding: $0, as: UTF8.self).contains("/usr/bin/sleep")
                        } ?? false)
                }
            }
            let orphans = InstrumentFixture.children(of: pid)
            kill(pid, SIGKILL)
            p.waitUntilExit()
            for c in orphans { kill(c, SIGKILL) }
            try #require(written, "no fragment before the SIGKILL")
            let (s, o) = try RuntimeTests.harden(
                ["profile", "oci:\(TestImages.layout):base", "--import", killed, "-o", dir + "/p.json"],
                runDir: dir + "/run")
            try #require(s == 0, "\(o)")
            #expect(o.contains("no final fragment"), "\(o)")
            let profile = try RuntimeTests.profile(dir + "/p.json")
            #expect(profile.runs.first?.instrumentation?.final == false)
            #expect(InstrumentFixture.usedFiles(profile).contains("/etc/passwd"))
        }
    }
}

// harden — reading what instrumented images hand back: fragment files and captured logs (prefixes, CRLF,
// interleaved pods, cut short), and turning a fragment into the observation a profile is built from.
import Foundation
import HardenCore
import HardenPackages
import HardenProfile
import Testing

enum FragmentFixture {
    /// A fragment as the sensor writes it (one line of JSON).
    static func json(
        run: String, sequence: Int, final: Bool, paths: [String] = ["/etc/passwd"], mode: String = "seccomp"
    ) -> String {
        let object: [String: Any] = [
            "format": "harden-sensor-fragment", "version": 1, "run": run, "host": "pod-1",
            "image": "sha256:" + String(repeating: "a", count: 64),
            "outputDirectory": "/var/run/harden-profile", "startedAt": "2026-11-30T10:00:00Z",
            "flushedAt": "2026-11-30T10:00:05Z",
            "durationSeconds": 5.0, "sequence": sequence, "final": final, "mode": mode,
            "command": ["nginx", "-g", "daemon off;"],
            "uid": 0, "gid": 0, "exitCode": 0, "processes": 3, "unreadableArguments": 0, "warnings": [],
            "paths": paths.map {
                ["path": $0, "operations": ["open": 2], "failures": [:] as [String: Int], "process": "nginx"]
            }
                + [
                    [
                        "path": "/var/www/index.html", "operations": [:] as [String: Int], "failures": ["2": 1],
                        "process": "nginx",
                    ],
                    ["path": "/.harden/sensor", "operations": ["exec": 1], "failures": [:] as [String: Int]],
                ],
            "executions": [
                ["path": "/usr/sbin/nginx", "argv": ["nginx"], "count": 3, "uid": 0, "gid": 0, "setid": false]
            ],
            "syscalls": ["257": 10, "59": 1, "999": 1], "untraced": [0, 1], "uids": [0, 33], "gids": [0, 33],
            "ports": [["protocol": "tcp", "port": 80, "address": "0.0.0.0"]],
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The stderr form: BEGIN, data lines of at most `chunk` bytes, END; each line behind `prefix`.
    static func log(_ json: String, run: String, sequence: Int, prefix: String = "", chunk: Int = 100) -> [String] {
        let bytes = Array(json.utf8)
        var lines = ["\(prefix)harden-sensor: BEGIN FRAGMENT \(run) \(sequence)"]
        var at = 0
        while at < bytes.count {
            let piece = String(decoding: bytes[at..<min(at + chunk, bytes.count)], as: UTF8.self)
            lines.append("\(prefix)harden-sensor: D \(run) \(sequence) \(piece)")
            at += chunk
        }
        lines.append("\(prefix)harden-sensor: END FRAGMENT \(run) \(sequence) \(bytes.count)")
        return lines
    }
}

struct SensorFragmentTests {
    @Test func aFragmentFileIsReadAndBecomesAnObservation() throws {
        let (fragments, skipped) = try SensorFragments.parse(
            Array(FragmentFixture.json(run: "r1", sequence: 2, final: true).utf8), source: "f.json")
        #expect(skipped.isEmpty)
        let f = try #require(fragments.first)
        #expect(f.run == "r1" && f.final && f.ports.first?.port == 80)
        let o = f.observation()
        let trace = try #require(o.traces.first)
        // The sensor's own files never appear; errno numbers and syscall numbers get their names.
        #expect(trace.paths.map(\.path) == ["/etc/passwd", "/var/www/index.html"])
        #expect(trace.paths.last?.failures == ["ENOENT": 1])
        #expect(trace.syscalls["openat"] == 10 && trace.syscalls["execve"] == 1 && trace.syscalls["syscall_999"] == 1)
        // Untraced syscalls are kept as allowed but never observed (count 0).
        #expect(trace.syscalls["read"] == 0 && trace.syscalls["write"] == 0)
        #expect(trace.executions.count == 3)
        #expect(o.mountPoints == ["/var/run/harden-profile"])
        #expect(o.run.instrumentation?.run == "r1" && o.run.sensors == ["instrumented"])
    }

    @Test func capturedLogsWithPrefixesAndInterleavedPodsAreRead() throws {
        // kubectl logs --prefix --timestamps style prefixes, CRLF, two pods' fragments interleaved line by line, the
        // app's own output in between.
        let a = FragmentFixture.log(
            FragmentFixture.json(run: "pod-a", sequence: 1, final: false), run: "pod-a", sequence: 1,
            prefix: "[pod/a] 2026-11-30T10:00:01Z ")
        let b = FragmentFixture.log(
            FragmentFixture.json(run: "pod-b", sequence: 4, final: true, paths: ["/etc/group"]), run: "pod-b",
            sequence: 4,
            prefix: "[pod/b] ")
        var lines: [String] = ["app: starting"]
        for i in 0..<max(a.count, b.count) {
            if i < a.count { lines.append(a[i] + "\r") }
            if i < b.count { lines.append(b[i]) }
            lines.append("app: request \(i)")
        }
        let (fragments, skipped) = try SensorFragments.parse(
            Array(lines.joined(separator: "\n").utf8), source: "logs.txt")
        #expect(skipped.isEmpty, "\(skipped)")
        #expect(Set(fragments.map(\.run)) == ["pod-a", "pod-b"])
        #expect(fragments.first { $0.run == "pod-b" }?.paths.first?.path == "/etc/group")
    }

    @Test func aFragmentCutShortIsSkippedWhenAnEarlierOneIsComplete() throws {
        let one = FragmentFixture.log(FragmentFixture.json(run: "r", sequence: 1, final: false), run: "r", sequence: 1)
        var two = FragmentFixture.log(FragmentFixture.json(run: "r", sequence: 2, final: true), run: "r", sequence: 2)
        two.removeLast(2)  // killed while writing
        let (fragments, skipped) = try SensorFragments.parse(
            Array((one + two).joined(separator: "\n").utf8), source: "pod.log")
        #expect(fragments.map(\.sequence) == [1])
        #expect(skipped.count == 1 && skipped[0].contains("no END line"), "\(skipped)")
        // A size that does not match is refused the same way.
        var bad = FragmentFixture.log(FragmentFixture.json(run: "r", sequence: 3, final: true), run: "r", sequence: 3)
        bad[bad.count - 1] = bad[bad.count - 1].replacingOccurrences(of: " 3 ", with: " 3 1")
        let (f2, s2) = try SensorFragments.parse(Array((one + bad).joined(separator: "\n").utf8), source: "pod.log")
        #expect(f2.map(\.sequence) == [1] && s2.first?.contains("incomplete") == true, "\(s2)")
    }

    @Test func theLatestFragmentOfEachRunWins() throws {
        let texts = [(1, false), (3, false), (2, false), (3, true)].map {
            FragmentFixture.json(run: "r", sequence: $0.0, final: $0.1)
        }
        let fragments = try texts.flatMap { try SensorFragments.parse(Array($0.utf8), source: "x").fragments }
        let latest = SensorFragments.latest(fragments)
        #expect(latest.count == 1 && latest[0].sequence == 3 && latest[0].final)
    }

    @Test(arguments: [
        ("", "no complete harden-sensor fragment"),
        ("just an app's output\nand more\n", "no complete harden-sensor fragment"),
        ("{\"format\": \"something-else\", \"version\": 1}", "f.txt"),
        ("{ broken", "f.txt"),
    ])
    func badInputIsOneClearError(_ text: String, _ message: String) {
        do {
            _ = try SensorFragments.parse(Array(text.utf8), source: "f.txt")
            Issue.record("accepted \(text)")
        } catch let e as HardenError {
            #expect(
                e.message.contains(message) && e.message.contains("f.txt") && !e.message.contains("\n"), "\(e.message)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func anotherFormatVersionIsRefused() throws {
        let text = FragmentFixture.json(run: "r", sequence: 1, final: true).replacingOccurrences(
            of: "\"version\":1", with: "\"version\":2")
        #expect(throws: HardenError.self) { try SensorFragments.parse(Array(text.utf8), source: "f.json") }
    }
}

import Foundation
// harden — helpers for tests against the real Debian test images and the peer tools.
import HardenArchive
import HardenCore
import HardenOCI
import HardenSystem
import HardenTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

enum TestImages {
    static let directory: String = {
        if let env = getenv("HARDEN_TEST_IMAGES") { return String(cString: env) }
        return packageRoot + "/test-images"
    }()
    static var layout: String { directory + "/oci" }
    static let tags = ["base", "nginx", "flask"]

    /// Scheme and host of the Debian mirror set-up uses (the images were debootstrapped from it).
    static let mirrorHost: String = {
        let sources = String(
            decoding: (try? HostFS.readFile("/etc/apt/sources.list.d/debian.sources")) ?? [], as: UTF8.self)
        let uri =
            sources.split(separator: "\n").first { $0.hasPrefix("URIs:") }.map { $0.dropFirst(5).trimming(" ") }
            ?? "http://deb.debian.org/debian"
        let afterScheme = uri.range(of: "://").map { uri[$0.upperBound...] } ?? Substring(uri)
        return String(uri.prefix(uri.count - afterScheme.count)) + String(afterScheme.prefix { $0 != "/" })
    }()

    /// Fails the test with a clear message when the images have not been built.
    static func require() throws {
        try #require(
            HostFS.exists(layout + "/index.json") && HostFS.exists(directory + "/flask.docker.tar"),
            "test images missing in \(directory): run scripts/build-test-images.sh (as root)")
    }

    static func requireTools(_ tools: String...) throws {
        for t in tools { try #require(haveProgram(t), "\(t) is not installed: run scripts/setup.sh") }
    }
}

/// The built `harden` binary of the configuration the tests were built in (`HARDEN_BINARY` overrides).
let hardenBinary: String = {
    if let b = getenv("HARDEN_BINARY") { return String(cString: b) }
    #if DEBUG
    return packageRoot + "/.build/debug/harden"
    #else
    return packageRoot + "/.build/release/harden"
    #endif
}()

/// What the comparison of two trees looks at.
struct EntrySummary: Hashable, CustomStringConvertible {
    var type: String
    var mode: UInt32
    var uid: Int
    var gid: Int
    var size: Int64
    var link: [UInt8]
    var description: String {
        "\(type) \(String(mode, radix: 8)) \(uid):\(gid) \(size) \(String(decoding: link, as: UTF8.self))"
    }
}

func summarize(_ tree: FileTree) -> [RawPath: EntrySummary] {
    var out: [RawPath: EntrySummary] = [:]
    for (p, n) in tree.nodes where !p.isRoot {
        out[p] = EntrySummary(
            type: n.type.name, mode: n.mode, uid: n.uid, gid: n.gid, size: n.type == .regular ? n.size : 0,
            link: n.type == .symlink ? n.linkTarget : [])
    }
    return out
}

/// Walks a directory on the host with lstat (never following links).
func summarize(directory: String) throws -> [RawPath: EntrySummary] {
    var out: [RawPath: EntrySummary] = [:]
    func walk(_ host: String, _ rel: RawPath) throws {
        for name in try HostFS.listDirectory(host) {
            let h = host + "/" + name
            let p = rel.appending(Array(name.utf8))
            var st = stat()
            guard lstat(h, &st) == 0 else { continue }
            var type = "other"
            var link: [UInt8] = []
            switch st.st_mode & S_IFMT {
            case S_IFDIR: type = "dir"
            case S_IFREG: type = "file"
            case S_IFLNK:
                type = "symlink"
                var buf = [CChar](repeating: 0, count: 4097)
                let n = readlink(h, &buf, 4096)
                link = buf[0..<max(n, 0)].map { UInt8(bitPattern: $0) }
            case S_IFCHR: type = "char"
            case S_IFBLK: type = "block"
            case S_IFIFO: type = "fifo"
            default: break
            }
            out[p] = EntrySummary(
                type: type, mode: UInt32(st.st_mode & 0o7777), uid: Int(st.st_uid), gid: Int(st.st_gid),
                size: type == "file" ? Int64(st.st_size) : 0, link: link)
            if type == "dir" { try walk(h, p) }
        }
    }
    try walk(directory, .root)
    return out
}

/// Describes the first differences between two summaries (empty when equal).
func differences(_ a: [RawPath: EntrySummary], _ b: [RawPath: EntrySummary], limit: Int = 10) -> [String] {
    var out: [String] = []
    for p in Set(a.keys).union(b.keys).sorted() where a[p] != b[p] {
        out.append("/\(p): \(a[p]?.description ?? "missing") vs \(b[p]?.description ?? "missing")")
        if out.count >= limit { break }
    }
    return out
}

/// A server the tests start in the background (a loopback repository, a hostile registry): started with `sh`, its
/// PID kept in `pidFile`, ready once `readyURL` answers (at most 5 s).
enum BackgroundServer {
    /// Runs a Python script (that prints its port on its first line) with `arguments` for the length of `body`,
    /// then kills it (SIGKILL: the test runner's blocked signals are inherited, so SIGTERM would wait forever).
    static func withPythonServer(
        _ script: String, arguments: [String], _ body: (Int) throws -> Void
    ) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script] + arguments
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        defer {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self).trimmingCharacters(
            in: .whitespacesAndNewlines)
        try body(try #require(Int(line), "no port from the test server: \(line)"))
    }

    static func start(_ command: String, log: String, pidFile: String, readyURL: String) throws -> Bool {
        let (s, o) = try runProcess(["sh", "-c", "\(command) > '\(log)' 2>&1 & echo $! > '\(pidFile)'"])
        try #require(s == 0, "\(o)")
        for _ in 0..<50 {
            if (try? runProcess(["curl", "-s", "-m", "2", "-o", "/dev/null", readyURL]).status) == 0 { return true }
            usleep(100_000)
        }
        return false
    }

    static func stop(pidFile: String) { _ = try? runProcess(["sh", "-c", "kill $(cat '\(pidFile)') 2>/dev/null"]) }

    /// Starts a server that listens on port 0 (the kernel's choice) and says which port it got in its log: waits
    /// (up to 10 s) for `pattern` there and returns its capture groups as ports (empty when it never said).
    static func startOnAnyPort(_ command: String, log: String, pidFile: String, pattern: String) throws -> [Int] {
        let (s, o) = try runProcess(["sh", "-c", "\(command) > '\(log)' 2>&1 & echo $! > '\(pidFile)'"])
        try #require(s == 0, "\(o)")
        let regex = try NSRegularExpression(pattern: pattern)
        for _ in 0..<100 {
            let text = String(decoding: (try? HostFS.readFile(log)) ?? [], as: UTF8.self)
            if let m = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) {
                return (1..<m.numberOfRanges).compactMap { Range(m.range(at: $0), in: text).flatMap { Int(text[$0]) } }
            }
            usleep(100_000)
        }
        Issue.record(
            "\(command) did not say its port: \(String(decoding: (try? HostFS.readFile(log)) ?? [], as: UTF8.self))")
        return []
    }

    /// `python3 -m http.server` for `directory` on `bind`, port 0; returns the port it got.
    static func python(directory: String, bind: String = "127.0.0.1", log: String, pidFile: String) throws -> Int {
        try startOnAnyPort(
            "python3 -u -m http.server --bind \(bind) --directory '\(directory)' 0", log: log, pidFile: pidFile,
            pattern: "Serving HTTP on \\S+ port ([0-9]+)"
        ).first ?? 0
    }
}

/// A port free on `host` now (bound to port 0, read back, closed), for servers that cannot listen on port 0 and
/// report it (docker-registry, PostgreSQL): their callers retry with another when it was taken meanwhile.
func freePort(host: String) -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr(host)
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0
        }
    }
    return bound ? Int(UInt16(bigEndian: addr.sin_port)) : 0
}

/// The app images and feeds of the library-patch tests: a test image with the fixture's app added as /app (its own
/// command), and a database holding the fixture's OSV feed.
enum LibraryFixture {
    /// `tag` of the test images copied to `dir/img` with `dir/app` as /app; the environment of a database in `dir`
    /// holding `feed`.
    static func prepare(_ dir: String, tag: String, cmd: String, feed: String) throws -> [String: String] {
        let (c, co) = try runProcess([
            "skopeo", "copy", "-q", "oci:\(TestImages.layout):\(tag)", "oci:\(dir)/img:\(tag)",
        ])
        try #require(c == 0, "\(co)")
        let (i, io) = try runProcess([
            "python3", packageRoot + "/Tests/Tools/make-npm-fixture.py", "--image", dir + "/img", tag, dir + "/app",
            dir + "/img", cmd,
        ])
        try #require(i == 0, "\(io)")
        let env = ["HARDEN_DB": dir + "/db.sqlite", "HARDEN_CACHE_DIR": dir + "/cache"]
        let (d, dout) = try runProcess([hardenBinary, "db", "import", "-q", dir + "/" + feed], environment: env)
        try #require(d == 0, "\(dout)")
        return env
    }
}

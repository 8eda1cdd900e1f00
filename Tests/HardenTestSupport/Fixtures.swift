// harden — test fixtures built in code: tar layers and OCI layouts.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenSQLite
import HardenSystem

#if canImport(Glibc)
import Glibc
#endif

/// One entry of a fixture layer.
public struct FixtureEntry: Sendable {
    public var entry: TarEntry
    public var body: [UInt8]

    public init(entry: TarEntry, body: [UInt8]) {
        self.entry = entry
        self.body = body
    }

    public static func file(
        _ path: String, _ content: String, mode: UInt32 = 0o644, uid: Int = 0, gid: Int = 0
    ) -> FixtureEntry {
        FixtureEntry(
            entry: TarEntry(
                path: RawPath(path), type: .regular, mode: mode, uid: uid, gid: gid, size: Int64(content.utf8.count),
                mtime: 1_700_000_000),
            body: Array(content.utf8))
    }
    public static func file(raw path: [UInt8], _ content: [UInt8]) -> FixtureEntry {
        FixtureEntry(
            entry: TarEntry(
                path: RawPath(path), type: .regular, mode: 0o644, size: Int64(content.count), mtime: 1_700_000_000),
            body: content)
    }
    public static func dir(_ path: String, mode: UInt32 = 0o755) -> FixtureEntry {
        FixtureEntry(entry: TarEntry(path: RawPath(path), type: .directory, mode: mode, mtime: 1_700_000_000), body: [])
    }
    public static func symlink(_ path: String, _ target: String) -> FixtureEntry {
        FixtureEntry(
            entry: TarEntry(
                path: RawPath(path), type: .symlink, mode: 0o777, mtime: 1_700_000_000, linkTarget: Array(target.utf8)),
            body: [])
    }
    public static func hardlink(_ path: String, _ target: String) -> FixtureEntry {
        FixtureEntry(
            entry: TarEntry(
                path: RawPath(path), type: .hardlink, mode: 0o644, mtime: 1_700_000_000, linkTarget: Array(target.utf8)),
            body: [])
    }
    public static func whiteout(_ path: String) -> FixtureEntry {
        let p = RawPath(path)
        let name =
            (p.parent.map { $0.isRoot ? "" : $0.description + "/" } ?? "") + ".wh."
            + String(decoding: p.lastComponent, as: UTF8.self)
        return .file(name, "")
    }
    public static func opaque(_ dir: String) -> FixtureEntry { .file(dir + "/.wh..wh..opq", "") }
    public static func device(_ path: String, char: Bool, major: UInt32, minor: UInt32) -> FixtureEntry {
        FixtureEntry(
            entry: TarEntry(
                path: RawPath(path), type: char ? .characterDevice : .blockDevice, mode: 0o660, devMajor: major,
                devMinor: minor), body: [])
    }
}

public enum Fixtures {
    /// The bytes of a tar archive holding `entries`.
    public static func tar(_ entries: [FixtureEntry]) throws -> [UInt8] {
        let sink = MemoryWriter()
        let tar = TarWriter(sink)
        for e in entries {
            var entry = e.entry
            if entry.type == .regular { entry.size = Int64(e.body.count) }
            try tar.beginEntry(entry)
            if !e.body.isEmpty { try tar.writeBody(e.body) }
            try tar.endEntry()
        }
        try tar.finish()
        return sink.bytes
    }

    public static func compress(_ bytes: [UInt8], _ compression: Compression) throws -> [UInt8] {
        let sink = MemoryWriter()
        let w = try compression.compressing(sink)
        try w.write(bytes)
        try w.finish()
        return sink.bytes
    }

    /// A layer: its blob bytes, descriptor and DiffID.
    public struct Layer {
        public var blob: [UInt8]
        public var diffID: Digest
        public var compression: Compression

        public init(blob: [UInt8], diffID: Digest, compression: Compression) {
            self.blob = blob
            self.diffID = diffID
            self.compression = compression
        }
    }

    public static func layer(_ entries: [FixtureEntry], compression: Compression = .gzip) throws -> Layer {
        let plain = try tar(entries)
        return Layer(blob: try compress(plain, compression), diffID: Digest.sha256(of: plain), compression: compression)
    }

    /// Writes an OCI layout at `dir` with one image per tag. Returns the manifest digests.
    @discardableResult
    public static func ociLayout(
        at dir: String, images: [(tag: String?, layers: [Layer], config: ContainerConfig?)],
        platform: Platform = .defaultPlatform
    ) throws -> [Digest] {
        try HostFS.makeDirectories(dir + "/blobs/sha256")
        var descriptors: [Descriptor] = []
        for image in images {
            let (d, _) = try writeImage(at: dir, layers: image.layers, config: image.config, platform: platform)
            var desc = d
            if let tag = image.tag { desc.annotations = [Descriptor.refNameAnnotation: tag] }
            descriptors.append(desc)
        }
        try HostFS.writeFileAtomically(dir + "/oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        try HostFS.writeFileAtomically(dir + "/index.json", try JSONCoding.encode(Index(manifests: descriptors)))
        return descriptors.map(\.digest)
    }

    /// Writes blobs of one image (layers, config, manifest) into a layout; returns the manifest descriptor.
    public static func writeImage(
        at dir: String, layers: [Layer], config: ContainerConfig?, platform: Platform,
        history: [History]? = nil
    ) throws -> (Descriptor, [UInt8]) {
        var descs: [Descriptor] = []
        for l in layers {
            let d = try putBlob(dir, l.blob)
            descs.append(Descriptor(mediaType: MediaType.ociLayer(l.compression), digest: d, size: Int64(l.blob.count)))
        }
        var cfg = ImageConfiguration(
            architecture: platform.architecture, os: platform.os, config: config, diffIDs: layers.map(\.diffID),
            history: history ?? layers.indices.map { History(createdBy: "fixture layer \($0)") })
        cfg.variant = platform.variant
        let cfgBytes = try JSONCoding.encode(cfg)
        let cfgDigest = try putBlob(dir, cfgBytes)
        let manifest = Manifest(
            config: Descriptor(mediaType: MediaType.ociConfig, digest: cfgDigest, size: Int64(cfgBytes.count)),
            layers: descs)
        let mBytes = try JSONCoding.encode(manifest)
        let mDigest = try putBlob(dir, mBytes)
        return (Descriptor(mediaType: MediaType.ociManifest, digest: mDigest, size: Int64(mBytes.count)), mBytes)
    }

    @discardableResult
    public static func putBlob(_ dir: String, _ bytes: [UInt8]) throws -> Digest {
        try HostFS.makeDirectories(dir + "/blobs/sha256")
        let d = Digest.sha256(of: bytes)
        try HostFS.writeFileAtomically(dir + "/" + d.blobPath, bytes)
        return d
    }

    /// An rpm header blob from (tag, type, data, count) entries: index entries and a data store, big-endian.
    public static func rpmHeader(_ tags: [(Int, Int, [UInt8], Int)]) -> [UInt8] {
        func be32(_ v: Int) -> [UInt8] {
            [UInt8(v >> 24 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
        }
        var index: [UInt8] = []
        var store: [UInt8] = []
        for (tag, type, data, count) in tags {
            if type == 4 { while store.count % 4 != 0 { store.append(0) } }
            index += be32(tag) + be32(type) + be32(store.count) + be32(count)
            store += data
        }
        return be32(tags.count) + be32(store.count) + index + store
    }

    public static func rpmString(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }

    /// One package of a fixture rpmdb: its header and the keys rpm indexes it by.
    public struct RpmPackage: Sendable {
        public var header: [UInt8]
        public var name: String
        public var basenames: [String]
        public init(header: [UInt8], name: String, basenames: [String] = []) {
            self.header = header
            self.name = name
            self.basenames = basenames
        }
    }

    /// A package with a name, version, release, architecture and file list (DIRNAMES/BASENAMES/DIRINDEXES).
    public static func rpmPackage(
        name: String, version: String, release: String, arch: String?, files: [String]
    ) -> RpmPackage {
        var dirs: [String] = []
        var bases: [String] = []
        var indexes: [UInt8] = []
        for f in files {
            let slash = f.lastIndex(of: "/") ?? f.startIndex
            let dir = String(f[...slash])
            if !dirs.contains(dir) { dirs.append(dir) }
            bases.append(String(f[f.index(after: slash)...]))
            indexes += [0, 0, 0, UInt8(dirs.firstIndex(of: dir) ?? 0)]
        }
        var tags: [(Int, Int, [UInt8], Int)] = [
            (1000, 6, rpmString(name), 1), (1001, 6, rpmString(version), 1), (1002, 6, rpmString(release), 1),
        ]
        if let arch { tags.append((1022, 6, rpmString(arch), 1)) }
        if !files.isEmpty {
            tags += [
                (1116, 4, indexes, files.count), (1117, 8, bases.flatMap(rpmString), bases.count),
                (1118, 8, dirs.flatMap(rpmString), dirs.count),
            ]
        }
        return RpmPackage(header: rpmHeader(tags), name: name, basenames: bases)
    }

    /// Writes an `rpmdb.sqlite` with rpm's `Packages` table and two of its index tables (`Name`, `Basenames`), the
    /// way rpm fills them; returns its bytes.
    public static func rpmdb(_ path: String, packages: [RpmPackage]) throws -> [UInt8] {
        do {
            let db = try SQLiteDatabase(path: path)
            try db.execute(
                """
                CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);
                CREATE TABLE 'Name' (key TEXT NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL, FOREIGN KEY(hnum) REFERENCES 'Packages'(hnum));
                CREATE TABLE 'Basenames' (key TEXT NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL, FOREIGN KEY(hnum) REFERENCES 'Packages'(hnum));
                """)
            let insertPackage = try db.prepare("INSERT INTO Packages (hnum, blob) VALUES (?, ?)")
            let insertName = try db.prepare("INSERT INTO Name VALUES (?, ?, 0)")
            let insertBasename = try db.prepare("INSERT INTO Basenames VALUES (?, ?, ?)")
            for (n, p) in packages.enumerated() {
                let hnum = SQLValue.integer(Int64(n + 1))
                try insertPackage.run([hnum, .blob(p.header)])
                try insertName.run([.text(p.name), hnum])
                for (i, b) in p.basenames.enumerated() { try insertBasename.run([.text(b), hnum, .integer(Int64(i))]) }
            }
        }
        return try HostFS.readFile(path)
    }
}

extension Fixtures {
    /// A BerkeleyDB hash `Packages` database as rpm ≤ 4.15 wrote it (key: 4-byte instance number in the database's
    /// byte order, value: the header blob), written by BerkeleyDB's own `db5.3_load`. `bigEndian` writes a database
    /// of a big-endian host (s390x, ppc64).
    public static func berkeleyRpmdb(
        _ path: String, headers: [[UInt8]], pageSize: Int = 4096, bigEndian: Bool = false
    ) throws -> [UInt8] {
        func escaped(_ b: [UInt8]) -> String { b.map { String(format: "\\%02x", $0) }.joined() }
        var text = ""
        for (i, h) in headers.enumerated() {
            let n = UInt32(i + 1)
            let key: [UInt8] =
                bigEndian
                ? [UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)]
                : [UInt8(n & 0xff), UInt8(n >> 8 & 0xff), UInt8(n >> 16 & 0xff), UInt8(n >> 24)]
            text += escaped(key) + "\n" + escaped(h) + "\n"
        }
        try HostFS.writeFileAtomically(path + ".txt", Array(text.utf8))
        let r = try runProcess([
            "sh", "-c",
            "db5.3_load -T -t hash -c db_pagesize=\(pageSize) -c db_lorder=\(bigEndian ? 4321 : 1234) '\(path)' < '\(path).txt'",
        ])
        guard r.status == 0 else { throw HardenError(.io, "db5.3_load: \(r.output)") }
        return try HostFS.readFile(path)
    }

    /// An rpm NDB `Packages.db` as rpm's ndb backend lays it out: a 32-byte header ("RpmP", version 0, generation,
    /// slot page count), 4 KiB slot pages of 16-byte slots ("Slot", package index, block offset and count in 16-byte
    /// blocks), then per package a blob ("BlbS", package index, checksum, length) and its data padded to 16 bytes.
    public static func ndbRpmdb(headers: [[UInt8]], freeSlotFirst: Bool = true) -> [UInt8] {
        func le32(_ v: Int) -> [UInt8] {
            [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24 & 0xff)]
        }
        let slotPages = 1
        var data: [UInt8] = []
        var slots: [UInt8] = []
        if freeSlotFirst { slots += Array("Slot".utf8) + le32(0) + le32(0) + le32(0) }
        for (i, h) in headers.enumerated() {
            let offset = slotPages * 4096 + data.count
            var blob = Array("BlbS".utf8) + le32(i + 1) + le32(0) + le32(h.count) + h
            while blob.count % 16 != 0 { blob.append(0) }
            slots += Array("Slot".utf8) + le32(i + 1) + le32(offset / 16) + le32(blob.count / 16)
            data += blob
        }
        while slots.count < 4096 - 32 { slots += Array("Slot".utf8) + le32(0) + le32(0) + le32(0) }
        return Array("RpmP".utf8) + le32(0) + le32(1) + le32(slotPages) + [UInt8](repeating: 0, count: 16) + slots
            + data
    }
}

/// A temporary directory removed when the closure returns.
public func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    let dir = try HostFS.makeTemporaryDirectory(prefix: "harden-test")
    defer { try? HostFS.removeTree(dir) }
    return try body(dir)
}

public func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let dir = try HostFS.makeTemporaryDirectory(prefix: "harden-test")
    defer { try? HostFS.removeTree(dir) }
    return try await body(dir)
}

/// Runs a program and returns its exit status and combined output.
public func runProcess(_ argv: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String)
{
    let dir = try HostFS.makeTemporaryDirectory(prefix: "harden-run")
    defer { try? HostFS.removeTree(dir) }
    let outFile = dir + "/out"
    // Quote each argument for sh -c.
    let quoted = argv.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
    let env = environment.map { "\($0.key)='\($0.value)'" }.joined(separator: " ")
    let status = system("\(env.isEmpty ? "" : "env \(env) ")\(quoted) >'\(outFile)' 2>&1 </dev/null")
    let output = (try? HostFS.readFile(outFile)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (code, output)
}

/// True when `program` is on PATH.
public func haveProgram(_ program: String) -> Bool {
    (try? runProcess(["sh", "-c", "command -v \(program)"]).status) == 0
}

/// The package root (where Package.swift is), from this file's location.
public let packageRoot: String = {
    var path = #filePath
    for _ in 0..<3 { path = String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]) }
    return path
}()

/// Zip archives made here: real entries, and the hostile shapes of zip bombs.
public enum ZipFixture {
    public struct Entry {
        public var name: String
        public var data: [UInt8]
        public var deflate: Bool
        public init(_ name: String, _ data: [UInt8], deflate: Bool = true) {
            self.name = name
            self.data = data
            self.deflate = deflate
        }
    }

    /// Raw deflate (RFC 1951) of `bytes`: a gzip member without its 10-byte header and 8-byte trailer.
    public static func deflate(_ bytes: [UInt8]) throws -> [UInt8] {
        let gz = try Fixtures.compress(bytes, .gzip)
        return Array(gz[10..<(gz.count - 8)])
    }

    static func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8 & 0xff)] }
    static func le32(_ v: Int) -> [UInt8] { le16(v & 0xffff) + le16(v >> 16 & 0xffff) }

    /// A zip of `entries`. With `aliases`, the central directory also lists `aliases` more names for the first
    /// entry's data (all pointing at the same local header: the overlapping-entries bomb).
    public static func build(_ entries: [Entry], aliases: [String] = []) throws -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        var count = 0
        var first: (offset: Int, method: Int, crc: Int, csize: Int, size: Int)?
        func centralRecord(_ name: String, offset: Int, method: Int, crc: Int, csize: Int, size: Int) {
            let n = Array(name.utf8)
            central += le32(0x02014b50) + le16(20) + le16(20) + le16(0) + le16(method) + le16(0) + le16(0x21)
            central += le32(crc) + le32(csize) + le32(size) + le16(n.count) + le16(0) + le16(0) + le16(0) + le16(0)
            central += le32(0) + le32(offset) + n
            count += 1
        }
        for e in entries {
            let data = e.deflate ? try deflate(e.data) : e.data
            let crc = Int(crc32Of(e.data))
            let method = e.deflate ? 8 : 0
            let n = Array(e.name.utf8)
            let offset = out.count
            out += le32(0x04034b50) + le16(20) + le16(0) + le16(method) + le16(0) + le16(0x21)
            out += le32(crc) + le32(data.count) + le32(e.data.count) + le16(n.count) + le16(0) + n + data
            centralRecord(e.name, offset: offset, method: method, crc: crc, csize: data.count, size: e.data.count)
            if first == nil { first = (offset, method, crc, data.count, e.data.count) }
        }
        if let f = first {
            for a in aliases {
                centralRecord(a, offset: f.offset, method: f.method, crc: f.crc, csize: f.csize, size: f.size)
            }
        }
        let cdOffset = out.count
        out += central
        out +=
            le32(0x06054b50) + le16(0) + le16(0) + le16(count) + le16(count) + le32(central.count) + le32(cdOffset)
            + le16(0)
        return out
    }

    static func crc32Of(_ bytes: [UInt8]) -> UInt32 {
        var table = [UInt32](repeating: 0, count: 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            table[i] = c
        }
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xff)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    /// A jar with one pom.properties.
    public static func jar(group: String, artifact: String, version: String, extra: [Entry] = []) throws -> [UInt8] {
        try build(
            [
                Entry(
                    "META-INF/maven/\(group)/\(artifact)/pom.properties",
                    Array("groupId=\(group)\r\nartifactId=\(artifact)\r\nversion=\(version)\r\n".utf8))
            ] + extra)
    }
}

/// A deterministic random generator (SplitMix64) for property and "never crashes" tests. Its seed comes from
/// `HARDEN_TEST_SEED`, else from the system, and is printed, so a failure can be replayed.
public struct SeededGenerator: RandomNumberGenerator {
    public let seed: UInt64
    private var state: UInt64

    public init(seed: UInt64) {
        self.seed = seed
        state = seed
    }

    /// A generator for the test named `test`, announcing its seed.
    public init(for test: String) {
        let fromEnvironment = getenv("HARDEN_TEST_SEED").flatMap { UInt64(String(cString: $0)) }
        self.init(seed: fromEnvironment ?? UInt64.random(in: 0...UInt64.max))
        print("\(test): random seed \(seed) (HARDEN_TEST_SEED=\(seed) replays it)")
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// What a test needs beyond the Swift toolchain, as `.enabled(if:)` conditions. A plain `swift test` (a newcomer,
/// no root, no images) skips what it cannot run and prints why; `scripts/test.sh` sets `HARDEN_REQUIRE_ALL=1`, so
/// there a missing prerequisite fails the test (through its own `#require`) instead of hiding it.
/// The signature peers, unpacked from Debian's newer suites (scripts/install-peers.sh).
public enum Peers {
    public static let prefix = getenv("HARDEN_PEERS").map { String(cString: $0) } ?? "/opt/harden-peers"
    public static var cosign2: String { prefix + "/cosign2/usr/bin/cosign" }
    public static var cosign3: String { prefix + "/cosign3/usr/bin/cosign" }
    public static var oras: String { prefix + "/oras/usr/bin/oras" }
}

public enum Prerequisites {
    public static let requireAll = getenv("HARDEN_REQUIRE_ALL").map { String(cString: $0) == "1" } ?? false

    /// `available`, or true when everything is required; prints the reason for a skip once per condition.
    public static func check(_ available: Bool, _ why: String) -> Bool {
        if available || requireAll { return true }
        print("skipping tests that need \(why) (scripts/test.sh runs them)")
        return false
    }

    /// The integration suites: root, the real test images and the tools scripts/setup.sh installs.
    public static let integration: Bool = {
        let images = getenv("HARDEN_TEST_IMAGES").map { String(cString: $0) } ?? packageRoot + "/test-images"
        let tools = ["runc", "umoci", "skopeo", "ip", "iptables", "docker-registry", "curl", "syft"]
        return check(
            getuid() == 0 && HostFS.exists(images + "/oci/index.json") && tools.allSatisfy(haveProgram),
            "root, the test images (scripts/build-test-images.sh) and \(tools.joined(separator: ", ")) (scripts/setup.sh)"
        )
    }()

    public static let root: Bool = check(getuid() == 0, "root")

    /// cosign 2 and 3 and oras, installed by scripts/install-peers.sh (called by scripts/setup.sh).
    public static let peers: Bool = check(
        ([Peers.cosign2, Peers.cosign3, Peers.oras] as [String]).allSatisfy { access($0, X_OK) == 0 },
        "cosign and oras in \(Peers.prefix) (scripts/install-peers.sh)")

    /// A Python module (a peer used as an oracle).
    public static func python(_ module: String) -> Bool {
        check(
            (try? runProcess(["python3", "-c", "import \(module)"]).status) == 0,
            "python3 with \(module) (scripts/setup.sh)")
    }

    public static func programs(_ names: String...) -> Bool {
        check(names.allSatisfy(haveProgram), names.joined(separator: ", "))
    }
}

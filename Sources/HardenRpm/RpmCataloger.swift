// harden — RPM packages from the rpm database: SQLite (rpmdb.sqlite), BerkeleyDB (Packages) and NDB (Packages.db).
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenSQLite
import HardenSystem

public struct RpmCataloger: Cataloger {
    public var name: String { "rpm" }
    public init() {}

    public func catalog(_ context: CatalogContext) -> [SoftwarePackage] {
        var out: [SoftwarePackage] = []
        let files = context.capturedFiles().filter { $0.path.parent?.lastComponent == Array("rpm".utf8) }
        let sqliteDirs = Set(
            files.filter { $0.path.lastComponent == Array("rpmdb.sqlite".utf8) }.compactMap(\.path.parent))
        for (path, bytes) in files {
            let file = String(decoding: path.lastComponent, as: UTF8.self)
            let headers: [[UInt8]]
            do {
                switch file {
                case "rpmdb.sqlite": headers = try Self.headers(fromSQLite: bytes)
                case "Packages", "Packages.db":
                    // rpm ≥ 4.16 converts a BerkeleyDB database to SQLite and may leave the old file: SQLite wins.
                    if let dir = path.parent, sqliteDirs.contains(dir) { continue }
                    if bytes.isEmpty { continue }
                    headers = RpmNDB.looksLikeNDB(bytes) ? try RpmNDB.values(bytes) : try RpmBerkeleyDB.values(bytes)
                default: continue
                }
            } catch {
                context.warn("\(path.absoluteDescription): \(error); its packages are not listed")
                continue
            }
            for header in headers {
                // BerkeleyDB's record 0 holds rpm's 4-byte instance counter, not a header.
                if header.count < 16 && file == "Packages" { continue }
                if let p = Self.package(header, database: path, context: context) { out.append(p) }
            }
        }
        return out
    }

    /// Reads every header blob of the `Packages` table.
    static func headers(fromSQLite bytes: [UInt8]) throws -> [[UInt8]] {
        let dir = try HostFS.makeTemporaryDirectory(prefix: "harden-rpmdb")
        defer { try? HostFS.removeTree(dir) }
        try HostFS.writeFileAtomically(dir + "/rpmdb.sqlite", bytes)
        let db: SQLiteDatabase
        do { db = try SQLiteDatabase(path: dir + "/rpmdb.sqlite", readOnly: true) } catch {
            throw HardenError(.corrupt, "not a readable SQLite database")
        }
        let rows: [[SQLValue]]
        do { rows = try db.query("SELECT blob FROM Packages") } catch {
            throw HardenError(.corrupt, "no Packages table: \(error)")
        }
        return rows.compactMap { row in row.first?.bytes.flatMap { $0.isEmpty ? nil : $0 } }
    }

    /// A copy of an `rpmdb.sqlite` that holds only the packages whose SBOM ids are in `keeping` (and the imported
    /// `gpg-pubkey` keys): their rows leave `Packages` and every index table (`Name`, `Basenames`, … keyed by
    /// `hnum`), and the database is vacuumed so that no removed header survives in a free page.
    public static func filterSQLite(_ bytes: [UInt8], keeping: Set<String>) throws -> [UInt8] {
        let dir = try HostFS.makeTemporaryDirectory(prefix: "harden-rpmdb")
        defer { try? HostFS.removeTree(dir) }
        let path = dir + "/rpmdb.sqlite"
        try HostFS.writeFileAtomically(path, bytes)
        guard try removePackages(atPath: path, keeping: keeping) else { return bytes }
        return try HostFS.readFile(path, limit: max(bytes.count, 1 << 20))
    }

    /// Deletes the rows of the packages not kept from every table keyed by `hnum`, then vacuums; false when every
    /// package stays. The connection is closed when this returns.
    private static func removePackages(atPath path: String, keeping: Set<String>) throws -> Bool {
        let db: SQLiteDatabase
        do { db = try SQLiteDatabase(path: path) } catch {
            throw HardenError(.corrupt, "not a writable SQLite database")
        }
        func rows(_ sql: String) throws -> [[SQLValue]] {
            do { return try db.query(sql) } catch { throw HardenError(.corrupt, "\(sql): \(error)") }
        }
        var removed: [Int64] = []
        for row in try rows("SELECT hnum, blob FROM Packages") {
            let identity = Self.parseHeader(row.count > 1 ? row[1].bytes ?? [] : []).flatMap(Self.identity)
            if identity?.name == "gpg-pubkey" { continue }
            if let id = identity?.id, keeping.contains(id) { continue }
            if let hnum = row.first?.int { removed.append(hnum) }
        }
        guard !removed.isEmpty else { return false }
        let tables = try rows("SELECT name FROM sqlite_master WHERE type = 'table'").compactMap { $0.first?.string }
        let list = removed.map(String.init).joined(separator: ",")
        try db.transaction {
            for table in tables {
                let quoted =
                    "\"" + table.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"")
                    + "\""
                let columns = try rows("PRAGMA table_info(\(quoted))").compactMap { $0.count > 1 ? $0[1].string : nil }
                if columns.contains("hnum") { try db.execute("DELETE FROM \(quoted) WHERE hnum IN (\(list))") }
            }
        }
        try db.execute("VACUUM")
        return true
    }

    /// The name and SBOM id (`rpm:NAME@[EPOCH:]VERSION-RELEASE[:ARCH]`) of a header.
    static func identity(_ h: [Int: Value]) -> (name: String, id: String)? {
        guard case .string(let name)? = h[1000], case .string(let version)? = h[1001],
            case .string(let release)? = h[1002]
        else {
            return nil
        }
        var epoch: Int64?
        if case .int(let v)? = h[1003] { epoch = v.first }
        var arch: String?
        if case .string(let a)? = h[1022] { arch = a }
        return (
            name,
            "rpm:\(name)@" + (epoch.map { "\($0):" } ?? "") + "\(version)-\(release)" + (arch.map { ":\($0)" } ?? "")
        )
    }

    /// A parsed RPM header: tag → value.
    public enum Value { case int([Int64]), string(String), strings([String]) }

    /// Parses an rpm header blob (index count, data length, 16-byte index entries, data store).
    public static func parseHeader(_ b: [UInt8]) -> [Int: Value]? {
        func be32(_ i: Int) -> Int { Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3]) }
        guard b.count >= 8 else { return nil }
        let il = be32(0), dl = be32(4)
        guard il > 0, il < 100_000, dl >= 0, 8 + il * 16 + dl <= b.count else { return nil }
        let store = 8 + il * 16
        var out: [Int: Value] = [:]
        func cstring(_ at: Int) -> (String, Int)? {
            var e = at
            while e < store + dl && b[e] != 0 { e += 1 }
            guard e < store + dl else { return nil }
            return (String(decoding: b[at..<e], as: UTF8.self), e + 1)
        }
        for i in 0..<il {
            let base = 8 + i * 16
            let tag = be32(base), type = be32(base + 4), offset = be32(base + 8), count = be32(base + 12)
            guard offset >= 0, offset < dl, count >= 0, count < 1_000_000 else { continue }
            let at = store + offset
            switch type {
            case 4:  // INT32
                guard at + count * 4 <= store + dl else { continue }
                out[tag] = .int((0..<count).map { Int64(be32(at + $0 * 4)) })
            case 6, 9:  // STRING, I18NSTRING
                if let (s, _) = cstring(at) { out[tag] = .string(s) }
            case 8:  // STRING_ARRAY
                var strings: [String] = []
                var p = at
                for _ in 0..<count {
                    guard let (s, next) = cstring(p) else { break }
                    strings.append(s)
                    p = next
                }
                out[tag] = .strings(strings)
            default: break
            }
        }
        return out
    }

    static func package(_ blob: [UInt8], database: RawPath, context: CatalogContext) -> SoftwarePackage? {
        guard let h = parseHeader(blob) else {
            context.warn("\(database.absoluteDescription): unreadable rpm header; skipped")
            return nil
        }
        func str(_ t: Int) -> String? {
            if case .string(let s)? = h[t] { return s }
            return nil
        }
        func strs(_ t: Int) -> [String] {
            if case .strings(let s)? = h[t] { return s }
            return []
        }
        func ints(_ t: Int) -> [Int64] {
            if case .int(let v)? = h[t] { return v }
            return []
        }
        guard let (name, id) = identity(h), let version = str(1001), let release = str(1002), name != "gpg-pubkey"
        else { return nil }
        let epoch = ints(1003).first
        let arch = str(1022)
        let full = (epoch.map { "\($0):" } ?? "") + "\(version)-\(release)"
        let sourceRPM = str(1044)
        let sourceName = sourceRPM.map { s -> String in
            // name-version-release.src.rpm
            let parts = s.split(separator: "-")
            return parts.count >= 3 ? parts.dropLast(2).joined(separator: "-") : s
        }
        let dirs = strs(1118), bases = strs(1117), idx = ints(1116)
        var files: [String] = []
        for (i, base) in bases.enumerated() where i < idx.count && Int(idx[i]) < dirs.count && Int(idx[i]) >= 0 {
            if let p = context.ownedFile(RawPath(dirs[Int(idx[i])] + base)) { files.append(p.absoluteDescription) }
        }
        var qualifiers: [(String, String)] = []
        if let arch { qualifiers.append(("arch", arch)) }
        if let epoch { qualifiers.append(("epoch", String(epoch))) }
        if let d = context.os?.distroQualifier { qualifiers.append(("distro", d)) }
        if let sourceRPM { qualifiers.append(("upstream", sourceRPM)) }
        return SoftwarePackage(
            id: id, type: .rpm, name: name, version: full, architecture: arch,
            sourceName: sourceName, sourceVersion: sourceName != nil ? full : nil,
            licenses: str(1014).map { [$0] } ?? [],
            purl: PURL(
                type: "rpm", namespace: context.os?.id ?? "redhat", name: name, version: "\(version)-\(release)",
                qualifiers: qualifiers
            ).description,
            layer: context.layer(of: database), locations: [database.absoluteDescription], files: files.sorted(),
            ownedBy: nil,
            maintainer: str(1011), installedSize: ints(1009).first, foundBy: "rpm", metadata: nil)
    }
}

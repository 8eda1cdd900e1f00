// harden — an rpm SQLite database (`rpmdb.sqlite`) changed as `rpm -U` changes it: the replaced packages' rows
// leave `Packages` and every index table, each new header (as rpm stores it once installed) gets the next `hnum`,
// and its index rows are written under rpm's rules (array position as `idx`, install-only requirements left out,
// trigger rows numbered by their trigger index, the transaction id in host byte order). BerkeleyDB and NDB
// databases are refused: rewriting them here could not be proven safe.
import HardenCore
import HardenSQLite
import HardenSystem

public enum RpmDatabaseWriter {
    /// rpm's index tables and the header tag each is keyed by.
    static let stringIndexes: [(table: String, tag: Int)] = [
        ("Name", RpmTag.name), ("Basenames", RpmTag.baseNames), ("Group", RpmTag.group),
        ("Requirename", RpmTag.requireName), ("Providename", RpmTag.provideName),
        ("Conflictname", RpmTag.conflictName), ("Obsoletename", RpmTag.obsoleteName),
        ("Triggername", RpmTag.triggerName), ("Dirnames", RpmTag.dirNames),
        ("Filetriggername", RpmTag.fileTriggerName), ("Transfiletriggername", RpmTag.transFileTriggerName),
        ("Recommendname", RpmTag.recommendName), ("Suggestname", RpmTag.suggestName),
        ("Supplementname", RpmTag.supplementName), ("Enhancename", RpmTag.enhanceName),
    ]
    /// The trigger tags' index tags (the `idx` their rows carry).
    static let triggerIndexTag: [Int: Int] = [RpmTag.triggerName: 1069, RpmTag.fileTriggerName: 5072, 5079: 5082]

    /// Requirements only needed while installing (pre, post, pretrans, posttrans, rpmlib, keyring) are not
    /// indexed unless they are also needed at erase time (preun, postun).
    static func isInstallOnly(_ flags: UInt64) -> Bool {
        let install: UInt64 = 1 << 9 | 1 << 10 | 1 << 24 | 1 << 26 | 1 << 7 | 1 << 5
        let erase: UInt64 = 1 << 11 | 1 << 12
        return flags & install != 0 && flags & erase == 0
    }

    /// The index rows of one header: (table, key, idx).
    public static func indexRows(_ h: RpmHeader) -> [(table: String, key: SQLValue, idx: Int)] {
        var rows: [(String, SQLValue, Int)] = []
        let requireFlags = h.integers(RpmTag.requireFlags)
        for (table, tag) in stringIndexes {
            let values = h.strings(tag)
            let indexes = triggerIndexTag[tag].map { h.integers($0) }
            for (i, v) in values.enumerated() {
                if tag == RpmTag.requireName, i < requireFlags.count, isInstallOnly(requireFlags[i]) { continue }
                let idx = indexes.map { i < $0.count ? Int($0[i]) : i } ?? i
                rows.append((table, .text(v), idx))
            }
        }
        if let tid = h.integers(RpmTag.installTID).first {
            rows.append(("Installtid", .blob(withUnsafeBytes(of: UInt32(truncatingIfNeeded: tid), Array.init)), 0))
        }
        if let md5 = h.binary(RpmTag.installedSigMD5) { rows.append(("Sigmd5", .blob(md5), 0)) }
        if let sha1 = h.string(RpmTag.sigSHA1) { rows.append(("Sha1header", .text(sha1), 0)) }
        return rows
    }

    /// Every package of an `rpmdb.sqlite` with its number (`hnum`), in number order.
    public static func headers(_ bytes: [UInt8], source: String) throws -> [(hnum: Int64, blob: [UInt8])] {
        let dir = try HostFS.makeTemporaryDirectory(prefix: "harden-rpmdb")
        defer { try? HostFS.removeTree(dir) }
        try HostFS.writeFileAtomically(dir + "/rpmdb.sqlite", bytes)
        do {
            let db = try SQLiteDatabase(path: dir + "/rpmdb.sqlite", readOnly: true)
            return try db.query("SELECT hnum, blob FROM Packages ORDER BY hnum").compactMap { row in
                guard row.count == 2, let hnum = row[0].int, let blob = row[1].bytes, !blob.isEmpty else { return nil }
                return (hnum, blob)
            }
        } catch {
            throw HardenError(.corrupt, "\(source): not an rpm SQLite database (\(error))")
        }
    }

    /// The database `bytes` with the packages numbered `removing` taken out and `adding` (installed headers) put in.
    public static func update(_ bytes: [UInt8], removing: [Int64], adding: [RpmHeader]) throws -> [UInt8] {
        let dir = try HostFS.makeTemporaryDirectory(prefix: "harden-rpmdb")
        defer { try? HostFS.removeTree(dir) }
        let path = dir + "/rpmdb.sqlite"
        try HostFS.writeFileAtomically(path, bytes)
        do {
            let db = try SQLiteDatabase(path: path)
            let tables = Set(
                try db.query("SELECT name FROM sqlite_master WHERE type = 'table'").compactMap { $0.first?.string })
            try db.transaction {
                for hnum in removing {
                    for table in tables.sorted() where table != "sqlite_sequence" {
                        let columns = try db.query("PRAGMA table_info('\(table)')").compactMap {
                            $0.count > 1 ? $0[1].string : nil
                        }
                        guard columns.contains("hnum") else { continue }
                        try db.prepare("DELETE FROM '\(table)' WHERE hnum = ?").run([.integer(hnum)])
                    }
                }
                for h in adding {
                    try db.prepare("INSERT INTO Packages (blob) VALUES (?)").run([.blob(h.blob)])
                    guard let hnum = try db.query("SELECT last_insert_rowid()").first?.first?.int else {
                        throw HardenError(.internalError, "rpmdb.sqlite: no row number for \(h.name)")
                    }
                    for row in indexRows(h) where tables.contains(row.table) {
                        try db.prepare("INSERT INTO '\(row.table)' (key, hnum, idx) VALUES (?, ?, ?)").run([
                            row.key, .integer(hnum), .integer(Int64(row.idx)),
                        ])
                    }
                }
            }
            try db.execute("VACUUM")
        } catch let e as HardenError {
            throw e
        } catch {
            throw HardenError(.corrupt, "rpmdb.sqlite: \(error)")
        }
        return try HostFS.readFile(path, limit: 1 << 30)
    }
}

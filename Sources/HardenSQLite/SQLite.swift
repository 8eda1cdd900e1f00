// harden — the one SQLite wrapper (the vulnerability database, rpm's rpmdb.sqlite): one connection, prepared
// statements with bound parameters, transactions. No other module calls sqlite3_ functions.
import CSQLite
import HardenCore

/// A value bound to or read from a statement.
public enum SQLValue: Sendable, Equatable {
    case null, integer(Int64), real(Double), text(String), blob([UInt8])
}

/// One connection. Not shared between threads: each command opens its own.
public final class SQLiteDatabase {
    private let handle: OpaquePointer
    public let path: String

    public init(path: String, readOnly: Bool = false) throws {
        var db: OpaquePointer?
        let flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        guard sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close(db) }
            throw HardenError(.io, "\(path): \(message)")
        }
        self.handle = db
        self.path = path
        sqlite3_busy_timeout(db, 5000)
    }

    deinit { sqlite3_close_v2(handle) }

    private var errorMessage: String { String(cString: sqlite3_errmsg(handle)) }

    /// Runs SQL without results (several statements allowed).
    public func execute(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(handle, sql, nil, nil, &err) != SQLITE_OK {
            let message = err.map { String(cString: $0) } ?? errorMessage
            sqlite3_free(err)
            throw HardenError(.io, "\(path): \(message)")
        }
    }

    public func prepare(_ sql: String) throws -> Statement {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else {
            throw HardenError(.io, "\(path): \(errorMessage) in \(sql.prefix(60))")
        }
        return Statement(stmt, database: self)
    }

    /// Runs `body` in a transaction; rolls back if it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let r = try body()
            try execute("COMMIT")
            return r
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Rows of a query as arrays of values.
    public func query(_ sql: String, _ args: [SQLValue] = []) throws -> [[SQLValue]] {
        let s = try prepare(sql)
        try s.bind(args)
        var rows: [[SQLValue]] = []
        while try s.step() { rows.append(s.row()) }
        return rows
    }

    public final class Statement {
        private let stmt: OpaquePointer
        private let database: SQLiteDatabase

        init(_ stmt: OpaquePointer, database: SQLiteDatabase) {
            self.stmt = stmt
            self.database = database
        }

        deinit { sqlite3_finalize(stmt) }

        public func bind(_ values: [SQLValue]) throws {
            sqlite3_reset(stmt)
            sqlite3_clear_bindings(stmt)
            let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
            for (i, v) in values.enumerated() {
                let idx = Int32(i + 1)
                let r: Int32
                switch v {
                case .null: r = sqlite3_bind_null(stmt, idx)
                case .integer(let n): r = sqlite3_bind_int64(stmt, idx, n)
                case .real(let d): r = sqlite3_bind_double(stmt, idx, d)
                case .text(let s): r = sqlite3_bind_text(stmt, idx, s, -1, transient)
                case .blob(let b):
                    r = b.withUnsafeBytes { sqlite3_bind_blob(stmt, idx, $0.baseAddress, Int32($0.count), transient) }
                }
                guard r == SQLITE_OK else { throw HardenError(.io, "\(database.path): cannot bind parameter \(idx)") }
            }
        }

        /// Advances; true while there is a row.
        public func step() throws -> Bool {
            let r = sqlite3_step(stmt)
            if r == SQLITE_ROW { return true }
            if r == SQLITE_DONE { return false }
            throw HardenError(.io, "\(database.path): \(database.errorMessage)")
        }

        /// Binds and runs a statement that returns no rows.
        public func run(_ values: [SQLValue]) throws {
            try bind(values)
            while try step() {}
        }

        public func row() -> [SQLValue] {
            (0..<sqlite3_column_count(stmt)).map { i in
                switch sqlite3_column_type(stmt, i) {
                case SQLITE_INTEGER: return .integer(sqlite3_column_int64(stmt, i))
                case SQLITE_FLOAT: return .real(sqlite3_column_double(stmt, i))
                case SQLITE_NULL: return .null
                case SQLITE_BLOB:
                    let n = Int(sqlite3_column_bytes(stmt, i))
                    guard n > 0, let p = sqlite3_column_blob(stmt, i) else { return .blob([]) }
                    return .blob(Array(UnsafeRawBufferPointer(start: p, count: n)))
                default: return .text(sqlite3_column_text(stmt, i).map { String(cString: $0) } ?? "")
                }
            }
        }
    }
}

extension SQLValue {
    public var string: String? {
        if case .text(let s) = self { return s }
        return nil
    }
    public var int: Int64? {
        if case .integer(let n) = self { return n }
        return nil
    }
    public var bytes: [UInt8]? {
        if case .blob(let b) = self { return b }
        return nil
    }
    public static func opt(_ s: String?) -> SQLValue { s.map { .text($0) } ?? .null }
}

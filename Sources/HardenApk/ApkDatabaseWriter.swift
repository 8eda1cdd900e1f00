// harden — apk's database after an upgrade, written as apk writes it: /lib/apk/db/installed (the new version's index
// fields and its files with their owners, modes and `Z:` checksums), scripts.tar (install scripts by package) and
// triggers. Pure functions over bytes.
import Foundation
import HardenArchive
import HardenCore
import HardenPackages

/// A file of a package as the installed database lists it.
public struct ApkInstalledFile: Sendable, Hashable {
    public enum Kind: Sendable, Hashable { case directory, file }
    public var kind: Kind
    /// Relative to the root (no leading slash).
    public var path: String
    public var uid: Int
    public var gid: Int
    public var mode: UInt32
    /// For files: "Q1" and the base64 SHA-1 of the content (of the target for a symlink).
    public var checksum: String?

    public init(kind: Kind, path: String, uid: Int, gid: Int, mode: UInt32, checksum: String?) {
        self.kind = kind
        self.path = path
        self.uid = uid
        self.gid = gid
        self.mode = mode
        self.checksum = checksum
    }
}

public enum ApkDatabaseWriter {
    /// The installed record of a new version: the index's fields, then its directories (`F:`, `M:` when not
    /// root:root 0755) and files (`R:`, `a:` when not root:root 0644, `Z:`), each file under its directory.
    public static func installedRecord(index: ApkRecord, files: [ApkInstalledFile]) -> ApkRecord {
        var lines = index.lines
        var directories: [String] = []
        var dirInfo: [String: ApkInstalledFile] = [:]
        var filesIn: [String: [ApkInstalledFile]] = [:]
        func noteDirectory(_ d: String) {
            guard !d.isEmpty, dirInfo[d] == nil, !directories.contains(d) else { return }
            if let slash = d.lastIndex(of: "/") { noteDirectory(String(d[..<slash])) }
            directories.append(d)
        }
        for f in files {
            switch f.kind {
            case .directory:
                noteDirectory(f.path)
                dirInfo[f.path] = f
            case .file:
                let dir = f.path.lastIndex(of: "/").map { String(f.path[..<$0]) } ?? ""
                noteDirectory(dir)
                filesIn[dir, default: []].append(f)
            }
        }
        func fileLines(_ list: [ApkInstalledFile]) {
            for f in list {
                lines.append(.init("R", String(f.path.split(separator: "/").last ?? "")))
                if f.uid != 0 || f.gid != 0 || f.mode & 0o7777 != 0o644 {
                    lines.append(.init("a", "\(f.uid):\(f.gid):\(String(f.mode & 0o7777, radix: 8))"))
                }
                if let c = f.checksum { lines.append(.init("Z", c)) }
            }
        }
        fileLines(filesIn[""] ?? [])
        for d in directories {
            lines.append(.init("F", d))
            if let info = dirInfo[d], info.uid != 0 || info.gid != 0 || info.mode & 0o7777 != 0o755 {
                lines.append(.init("M", "\(info.uid):\(info.gid):\(String(info.mode & 0o7777, radix: 8))"))
            }
            fileLines(filesIn[d] ?? [])
        }
        return ApkRecord(lines: lines)
    }

    /// The files an installed record lists (absolute paths) with their `Z:` checksums (nil when none).
    public static func files(of record: ApkRecord) -> [(path: String, checksum: String?)] {
        var out: [(String, String?)] = []
        var dir = ""
        for line in record.lines {
            switch line.key {
            case "F": dir = line.value
            case "R": out.append(("/" + (dir.isEmpty ? "" : dir + "/") + line.value, nil))
            case "Z" where !out.isEmpty: out[out.count - 1].1 = line.value
            default: break
            }
        }
        return out
    }

    /// `installed` with the records of `replaced` (by name) swapped for their new ones and `added` appended; every
    /// other record byte for byte.
    public static func installed(
        _ bytes: [UInt8], replacing replaced: [String: ApkRecord], adding added: [ApkRecord]
    ) throws -> [UInt8] {
        var out: [String] = []
        for range in Deb822.stanzaRanges(bytes) {
            let text = String(decoding: bytes[range], as: UTF8.self)
            let record = try ApkRecord.parse(Array(text.utf8), source: "/lib/apk/db/installed").first
            if let record, let new = replaced[record.name] {
                out.append(new.text)
            } else {
                out.append(exactLines(text, omittingEmpty: true).joined(separator: "\n"))
            }
        }
        out += added.map(\.text)
        return Array(out.map { $0 + "\n\n" }.joined().utf8)
    }

    /// scripts.tar's name of a package's script, as apk writes it: `NAME-VERSION.X1<hex SHA-1>.SCRIPT` (the `C:`
    /// checksum in hexadecimal; `.post-install` → `post-install`).
    public static func scriptEntryName(name: String, version: String, checksum: String, script: String) -> String {
        let hex =
            checksum.hasPrefix("Q1")
            ? Data(base64Encoded: String(checksum.dropFirst(2))).map { "X1" + Hex.encode($0) } : nil
        return "\(name)-\(version).\(hex ?? checksum).\(script.drop { $0 == "." })"
    }

    /// scripts.tar without the scripts of `removed` (name → old version) and with `added`' scripts.
    public static func scripts(
        _ old: [UInt8]?, removing removed: [String: String],
        adding added: [(record: ApkRecord, scripts: [String: [UInt8]])],
        mtime: Int64
    ) throws -> [UInt8] {
        let sink = MemoryWriter()
        let tar = TarWriter(sink)
        if let old {
            let reader = TarReader(MemoryReader(old), name: "/lib/apk/db/scripts.tar")
            while let e = try reader.next() {
                let name = String(decoding: e.path.bytes, as: UTF8.self)
                if removed.contains(where: { name.hasPrefix("\($0.key)-\($0.value).") }) { continue }
                try tar.append(e, body: try reader.readWholeBody(limit: 16 << 20))
            }
        }
        for (record, scripts) in added {
            for (script, body) in scripts.sorted(by: { $0.key < $1.key }) {
                let name = scriptEntryName(
                    name: record.name, version: record.version, checksum: record.checksum ?? "", script: script)
                var e = TarEntry(path: RawPath(name), type: .regular, mode: 0o755, uid: 0, gid: 0, mtime: mtime)
                e.size = Int64(body.count)
                try tar.append(e, body: body)
            }
        }
        try tar.finish()
        return sink.bytes
    }

    /// The triggers file without the lines of `removedChecksums` and with `added` (checksum, watched paths).
    public static func triggers(
        _ old: [UInt8]?, removing removedChecksums: Set<String>, adding added: [(checksum: String, paths: [String])]
    ) -> [UInt8] {
        var lines = exactLines(String(decoding: old ?? [], as: UTF8.self), omittingEmpty: true).filter {
            !removedChecksums.contains(String($0.prefix { $0 != " " }))
        }.map(String.init)
        lines += added.filter { !$0.paths.isEmpty }.map { ([$0.checksum] + $0.paths).joined(separator: " ") }
        return Array(lines.map { $0 + "\n" }.joined().utf8)
    }
}

// harden — package databases rewritten to what a minified image really holds: dpkg's status and info files,
// apk's installed database. Pure functions over bytes; `isPresent` answers for a path as the database spells it.
import HardenCore

/// dpkg's status file and its `info/` lists, filtered.
public enum DpkgStatus {
    /// The stanzas of `status` whose Package is in `keeping`, in their original order and bytes, except that a
    /// `Conffiles:` field lists only the conffiles still present (and goes when none is).
    public static func filter(
        _ status: [UInt8], keeping: Set<String>, isPresent: (String) -> Bool = { _ in true }
    ) -> [UInt8] {
        let text = String(decoding: status, as: UTF8.self)
        var out: [String] = []
        for stanza in text.components(separatedByBlankLines: ()) {
            let lines = exactLines(stanza, omittingEmpty: false)
            let name = lines.first { $0.hasPrefix("Package:") }.map { $0.dropFirst(8).trimming(" \t") }
            guard let name, keeping.contains(name) else { continue }
            out.append(pruneConffiles(lines, isPresent: isPresent).joined(separator: "\n"))
        }
        return Array((out.joined(separator: "\n\n") + (out.isEmpty ? "" : "\n")).utf8)
    }

    /// ` /etc/x.conf <md5> [obsolete] [remove-on-upgrade]` continuation lines of `Conffiles:`, kept when present.
    static func pruneConffiles(_ lines: [Substring], isPresent: (String) -> Bool) -> [Substring] {
        var out: [Substring] = []
        var i = 0
        while i < lines.count {
            let line = lines[i]
            i += 1
            guard line.hasPrefix("Conffiles:") else {
                out.append(line)
                continue
            }
            var entries: [Substring] = []
            while i < lines.count, let c = lines[i].first, c == " " || c == "\t" {
                let entry = lines[i]
                i += 1
                let path = entry.drop { $0 == " " || $0 == "\t" }.prefix { $0 != " " && $0 != "\t" }
                if isPresent(String(path)) { entries.append(entry) }
            }
            if !entries.isEmpty {
                out.append(line)
                out += entries
            }
        }
        return out
    }

    /// An `info/NAME.list` (absolute paths, directories included), `.conffiles` (absolute paths, possibly after a
    /// flag word) or `.md5sums` (`<md5>  <path without the leading slash>`) file, keeping the lines whose path is
    /// present. Lines that name no path are kept as they are.
    public static func pruneFileList(_ bytes: [UInt8], kind: String, isPresent: (String) -> Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count / 4)
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            let path: String?
            switch kind {
            case "md5sums":
                if let sp = line.firstIndex(of: UInt8(ascii: " ")) {
                    path = "/" + String(decoding: line[sp...].drop { $0 == UInt8(ascii: " ") }, as: UTF8.self)
                } else {
                    path = nil
                }
            case "conffiles":
                let text = String(decoding: line, as: UTF8.self)
                path =
                    text.hasPrefix("/") ? text : text.firstIndex(of: " ").map { String(text[text.index(after: $0)...]) }
            default:
                path = String(decoding: line, as: UTF8.self)
            }
            if let path, !isPresent(path) { continue }
            out += line
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }
}

/// apk's `/lib/apk/db/installed`, filtered.
public enum ApkInstalled {
    /// The records whose `P:` is in `keeping`; inside each, `F:` directories and `R:` files (with the `a:`/`Z:` lines
    /// that describe them, and a directory's `M:`) only when present. Other fields stay byte for byte.
    public static func filter(_ installed: [UInt8], keeping: Set<String>, isPresent: (String) -> Bool) -> [UInt8] {
        let text = String(decoding: installed, as: UTF8.self)
        var records: [String] = []
        for record in text.components(separatedByBlankLines: ()) {
            let lines = exactLines(record, omittingEmpty: true)
            guard let name = lines.first(where: { $0.hasPrefix("P:") })?.dropFirst(2), keeping.contains(String(name))
            else { continue }
            var out: [Substring] = []
            var dir = ""
            var dirLines: [Substring] = []  // the current F: line and its M:, written once something under it stays
            var dirPresent = false
            var fileKept = false  // whether the a:/Z: lines that follow belong to a kept R:
            var inFile = false
            func flushDirectory() {
                if !dirLines.isEmpty, dirPresent { out += dirLines }
                dirLines = []
            }
            for line in lines {
                switch line.prefix(2) {
                case "F:":
                    flushDirectory()
                    dir = String(line.dropFirst(2))
                    dirPresent = isPresent("/" + dir)
                    dirLines = [line]
                    inFile = false
                case "M:" where !inFile && !dirLines.isEmpty:
                    dirLines.append(line)
                case "R:":
                    inFile = true
                    let path = "/" + (dir.isEmpty ? "" : dir + "/") + line.dropFirst(2)
                    fileKept = isPresent(path)
                    if fileKept {
                        flushDirectory()
                        out.append(line)
                    }
                case "a:" where inFile, "Z:" where inFile:
                    if fileKept { out.append(line) }
                default:
                    flushDirectory()
                    inFile = false
                    out.append(line)
                }
            }
            flushDirectory()
            records.append(out.joined(separator: "\n"))
        }
        return Array((records.joined(separator: "\n\n") + (records.isEmpty ? "" : "\n\n")).utf8)
    }
}

extension String {
    /// Paragraphs separated by one or more empty lines, without their trailing newlines.
    func components(separatedByBlankLines: ()) -> [String] {
        var out: [String] = []
        var current: [Substring] = []
        for line in exactLines(self, omittingEmpty: false) {
            if line.trimming(" \t\r").isEmpty {
                if !current.isEmpty {
                    out.append(current.joined(separator: "\n"))
                    current = []
                }
            } else {
                current.append(line)
            }
        }
        if !current.isEmpty { out.append(current.joined(separator: "\n")) }
        return out
    }
}

/// Lines split at each "\n" byte with every other byte kept (a "\r" before it stays in the line): these databases
/// are rewritten, and a rewrite must not change the lines it keeps. (Parsers use `textLines`, which drops the "\r".)
func exactLines(_ text: some StringProtocol, omittingEmpty: Bool) -> [Substring] {
    text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: omittingEmpty).map {
        Substring(String(String.UnicodeScalarView($0)))
    }
}

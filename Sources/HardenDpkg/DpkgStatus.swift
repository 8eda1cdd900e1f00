// harden — dpkg's status file and info/ lists rewritten to what a minified image really holds. Pure functions
// over bytes; `isPresent` answers for a path as the database spells it.
import HardenCore
import HardenPackages

/// dpkg's status file and its `info/` lists, filtered.
public enum DpkgStatus {
    /// The stanzas of `status` whose Package is in `keeping`, in their original order and bytes, except that a
    /// `Conffiles:` field lists only the conffiles still present (and goes when none is).
    public static func filter(
        _ status: [UInt8], keeping: Set<String>, isPresent: (String) -> Bool = { _ in true }
    ) -> [UInt8] {
        var out: [String] = []
        for range in Deb822.stanzaRanges(status) {
            let lines = exactLines(String(decoding: status[range], as: UTF8.self), omittingEmpty: true)
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

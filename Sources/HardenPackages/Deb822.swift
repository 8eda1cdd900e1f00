// harden — the one reader of the "Key: value" stanza format: dpkg's status and control files, APT's Packages,
// Release and .sources files, apk's installed database (paragraph split), Python's METADATA. A byte scanner: Packages
// indexes are tens of MB.
import HardenCore

/// One stanza: fields in order (a repeated key keeps every value; keys compare case-insensitively), and the line it
/// started on.
public struct Deb822Stanza: Sendable {
    public var fields: [(key: String, value: String)]
    public var line: Int

    public init(fields: [(key: String, value: String)], line: Int = 1) {
        self.fields = fields
        self.line = line
    }

    public subscript(_ key: String) -> String? {
        let k = key.lowercased()
        return fields.first { $0.key.lowercased() == k }?.value
    }

    /// Every value of a repeated key, in order.
    public func all(_ key: String) -> [String] {
        let k = key.lowercased()
        return fields.filter { $0.key.lowercased() == k }.map(\.value)
    }

    /// The stanza as dpkg writes it (continuation lines kept as they were read by `Deb822.parse`).
    public func rendered() -> String {
        fields.map { $0.value.hasPrefix("\n") ? "\($0.key):\($0.value)" : "\($0.key): \($0.value)" }.joined(
            separator: "\n") + "\n"
    }

    public mutating func set(_ key: String, _ value: String?) {
        let k = key.lowercased()
        if let i = fields.firstIndex(where: { $0.key.lowercased() == k }) {
            if let value { fields[i].value = value } else { fields.remove(at: i) }
        } else if let value {
            fields.append((key, value))
        }
    }
}

public enum Deb822 {
    /// How a malformed line (neither a field, a continuation, a comment nor blank) is handled.
    public enum OnBadLine {
        /// The whole parse fails with an error naming the source and the line (repository metadata).
        case fail(source: String)
        /// The stanza holding it is dropped and `report(line, what)` is called once for it; the others stay
        /// (databases written by tools, where one damaged stanza must not hide the rest).
        case dropStanza(report: (Int, String) -> Void)
    }

    /// How continuation lines join their field's value.
    public enum Continuation: Sendable {
        /// "\n" + the line as it is (leading blank kept), so that a stanza renders back byte for byte.
        case raw
        /// "\n" + the line without its leading blanks; a line of a single "." is an empty line (dpkg descriptions,
        /// RFC 822 headers).
        case folded
    }

    /// Strict parse of repository metadata: `#` comment lines are skipped, values are trimmed, continuations kept
    /// raw; `wanted` (lowercase keys) keeps only those fields.
    public static func parse(_ bytes: [UInt8], source: String, wanted: Set<String>? = nil) throws -> [Deb822Stanza] {
        var failure: HardenError?
        let stanzas = scan(
            bytes, continuation: .raw, comments: true, trim: true, wanted: wanted, headerOnly: false
        ) { line, what in
            if failure == nil { failure = HardenError(.corrupt, "\(source): line \(line): \(what)") }
            return false
        }
        if let failure { throw failure }
        return stanzas
    }

    /// Tolerant parse of a database or metadata file: a malformed stanza is reported and dropped; continuations are
    /// folded; `headerOnly` stops after the first stanza (a METADATA file's body follows its headers).
    public static func parse(
        _ bytes: [UInt8], headerOnly: Bool = false, onBadLine report: (Int, String) -> Void
    ) -> [Deb822Stanza] {
        scan(bytes, continuation: .folded, comments: false, trim: false, wanted: nil, headerOnly: headerOnly) {
            report($0, $1)
            return true
        }
    }

    /// The byte ranges of the stanzas (paragraphs separated by empty or blank lines), each ending after its last
    /// line's newline: rewriting a database keeps the stanzas it keeps byte for byte.
    public static func stanzaRanges(_ bytes: [UInt8]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var start: Int?
        var i = 0
        let n = bytes.count
        while i < n {
            var end = i
            while end < n && bytes[end] != 0x0a { end += 1 }
            let next = min(end + 1, n)
            if isBlank(bytes, i, end) {
                if let s = start { out.append(s..<i) }
                start = nil
            } else if start == nil {
                start = i
            }
            i = next
        }
        if let s = start { out.append(s..<n) }
        return out
    }

    /// `continueAfterBadLine(line, what)`: true drops the current stanza and goes on, false stops the parse.
    static func scan(
        _ bytes: [UInt8], continuation: Continuation, comments: Bool, trim: Bool, wanted: Set<String>?,
        headerOnly: Bool, continueAfterBadLine: (Int, String) -> Bool
    ) -> [Deb822Stanza] {
        var out: [Deb822Stanza] = []
        var current = Deb822Stanza(fields: [], line: 1)
        var open = false  // a stanza has begun (it may hold no wanted field yet)
        var broken = false
        var lastWanted = false  // the field a continuation line extends is kept
        var line = 0
        var i = 0
        let n = bytes.count
        func flush() {
            if !current.fields.isEmpty && !broken { out.append(current) }
            current = Deb822Stanza(fields: [], line: line + 1)
            open = false
            broken = false
        }
        func bad(_ what: String) -> Bool {
            guard !broken else { return true }
            broken = true
            return continueAfterBadLine(line, what)
        }
        while i < n {
            var end = i
            while end < n && bytes[end] != 0x0a { end += 1 }
            line += 1
            var lineEnd = end
            if lineEnd > i && bytes[lineEnd - 1] == 0x0d { lineEnd -= 1 }
            defer { i = end + 1 }
            if isBlank(bytes, i, lineEnd) {
                let done = headerOnly && open
                flush()
                if done { return out }
            } else if bytes[i] == 0x20 || bytes[i] == 0x09 {
                guard open else {
                    open = true
                    if !bad("continuation line without a field") { return [] }
                    continue
                }
                guard lastWanted, !broken, !current.fields.isEmpty else { continue }
                var from = i
                if continuation == .folded {
                    while from < lineEnd && (bytes[from] == 0x20 || bytes[from] == 0x09) { from += 1 }
                }
                var text = String(decoding: bytes[from..<lineEnd], as: UTF8.self)
                if continuation == .folded && text == "." { text = "" }
                current.fields[current.fields.count - 1].value += "\n" + text
            } else if comments && bytes[i] == UInt8(ascii: "#") {
                continue
            } else {
                var colon = i
                while colon < lineEnd && bytes[colon] != UInt8(ascii: ":") { colon += 1 }
                guard colon < lineEnd, colon > i else {
                    open = true
                    if !bad("line is not a \"Key: value\" field") { return [] }
                    continue
                }
                let key = String(decoding: bytes[i..<colon], as: UTF8.self)
                if !open { current.line = line }
                open = true
                lastWanted = wanted.map { $0.contains(key.lowercased()) } ?? true
                guard lastWanted else { continue }
                var v = colon + 1
                while v < lineEnd && (bytes[v] == 0x20 || bytes[v] == 0x09) { v += 1 }
                var e = lineEnd
                if trim { while e > v && (bytes[e - 1] == 0x20 || bytes[e - 1] == 0x09) { e -= 1 } }
                current.fields.append((key, String(decoding: bytes[v..<e], as: UTF8.self)))
            }
        }
        flush()
        return out
    }

    static func isBlank(_ bytes: [UInt8], _ from: Int, _ to: Int) -> Bool {
        var k = from
        while k < to {
            let c = bytes[k]
            if c != 0x20 && c != 0x09 && c != 0x0d { return false }
            k += 1
        }
        return true
    }
}

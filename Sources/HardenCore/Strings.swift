// harden — small string helpers shared by the parsers.

extension StringProtocol {
    /// The string without leading and trailing characters from `set`.
    public func trimming(_ set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s = s.dropFirst() }
        while let l = s.last, chars.contains(l) { s = s.dropLast() }
        return String(s)
    }

    /// Every occurrence of `target` replaced (no Foundation needed).
    public func replacingAll(_ target: String, with replacement: String) -> String {
        String(self).split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

extension StringProtocol {
    /// The lines of a text, split at "\n" and "\r\n". Swift reads "\r\n" as one Character, so
    /// `split(separator: "\n")` never splits a CRLF text: every parser of files written on Windows (jar manifests,
    /// pom.properties, wheels' RECORD, gemspecs) or by careless tools splits lines with this instead.
    public func textLines(omittingEmpty: Bool = true) -> [SubSequence] {
        split(omittingEmptySubsequences: omittingEmpty) { $0 == "\n" || $0 == "\r\n" }
    }
}

extension String {
    /// The text with `& < > " '` as HTML entities: safe in element content and quoted attributes.
    ///
    /// Works on UTF-8 bytes, never on `Character`s: a grapheme cluster such as `"\u{0600}<"` or `">\u{0301}"` is one
    /// `Character` that equals neither `"<"` nor `">"`, and an escaper comparing Characters lets it through whole.
    /// NUL and other C0 controls but tab, newline and carriage return become U+FFFD (a browser drops or misreads them).
    public var htmlEscaped: String {
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count + 16)
        for b in utf8 {
            switch b {
            case UInt8(ascii: "&"): out += Array("&amp;".utf8)
            case UInt8(ascii: "<"): out += Array("&lt;".utf8)
            case UInt8(ascii: ">"): out += Array("&gt;".utf8)
            case UInt8(ascii: "\""): out += Array("&quot;".utf8)
            case UInt8(ascii: "'"): out += Array("&#39;".utf8)
            case 0x09, 0x0A, 0x0D: out.append(b)
            case 0x00..<0x20, 0x7F: out += [0xEF, 0xBF, 0xBD]
            default: out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Mirrors: `--repo URL` puts a repository's path behind another scheme and host.
public enum MirrorURL {
    /// `url` with its scheme and host replaced by `mirror`'s (its path kept); `url` unchanged when it has no scheme.
    public static func replacingHost(_ url: String, with mirror: String) -> String {
        let parts = url.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return url }
        let afterHost = parts[1].firstIndex(of: "/").map { String(parts[1][$0...]) } ?? ""
        var m = mirror
        while m.hasSuffix("/") { m.removeLast() }
        return m + afterHost
    }
}

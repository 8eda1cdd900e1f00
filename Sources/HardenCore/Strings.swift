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
    public var htmlEscaped: String {
        var out = ""
        out.reserveCapacity(utf8.count)
        for c in self {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}

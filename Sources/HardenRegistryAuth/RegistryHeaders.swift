// harden — the registry answers' headers harden reads, parsed without any HTTP client (pure, fuzzed).
import Foundation

public enum RegistryHeaders {
    /// The first byte of a `Content-Range: bytes FIRST-LAST/SIZE` answer.
    public static func contentRangeStart(_ text: String) -> Int64? {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard t.lowercased().hasPrefix("bytes "), let dash = t.firstIndex(of: "-") else { return nil }
        return Int64(t[t.index(t.startIndex, offsetBy: 6)..<dash].trimmingCharacters(in: .whitespaces))
    }

    /// The parameters of a `WWW-Authenticate: Bearer …` challenge (after the scheme): keys lower-cased, quoted
    /// values unquoted.
    public static func parseChallenge(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        var i = text.startIndex
        while i < text.endIndex {
            while i < text.endIndex, text[i] == " " || text[i] == "," { i = text.index(after: i) }
            guard let eq = text[i...].firstIndex(of: "=") else { break }
            let key = text[i..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            var j = text.index(after: eq)
            var value = ""
            if j < text.endIndex, text[j] == "\"" {
                j = text.index(after: j)
                while j < text.endIndex, text[j] != "\"" {
                    value.append(text[j])
                    j = text.index(after: j)
                }
                if j < text.endIndex { j = text.index(after: j) }
            } else {
                while j < text.endIndex, text[j] != "," {
                    value.append(text[j])
                    j = text.index(after: j)
                }
            }
            out[key] = value
            i = j
        }
        return out
    }
}

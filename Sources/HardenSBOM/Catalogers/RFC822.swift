// harden — the "Key: value" stanza format of dpkg status files, Python METADATA and friends.
import HardenCore

/// One stanza: fields in order (a repeated key keeps every value), and the line it started on.
public struct Stanza: Sendable {
    public var fields: [(key: String, value: String)] = []
    public var line: Int

    public subscript(_ key: String) -> String? {
        fields.first { $0.key.lowercased() == key.lowercased() }?.value
    }

    public func all(_ key: String) -> [String] {
        fields.filter { $0.key.lowercased() == key.lowercased() }.map(\.value)
    }
}

public enum RFC822 {
    /// Splits text into stanzas separated by blank lines. Continuation lines (leading space or tab) extend the
    /// previous field. A line that is neither a field nor a continuation is reported by `onError(line)` and
    /// makes its stanza invalid (dropped), without affecting the other stanzas.
    public static func parse(_ text: String, headerOnly: Bool = false, onError: (Int, String) -> Void) -> [Stanza] {
        var stanzas: [Stanza] = []
        var current = Stanza(line: 1)
        var broken = false
        var lineNumber = 0
        func flush() {
            if !current.fields.isEmpty && !broken { stanzas.append(current) }
            current = Stanza(line: lineNumber + 1)
            broken = false
        }
        for raw in text.textLines(omittingEmpty: false) {
            lineNumber += 1
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) {
                if headerOnly && !current.fields.isEmpty {
                    flush()
                    return stanzas
                }
                flush()
                continue
            }
            if line.first == " " || line.first == "\t" {
                if let last = current.fields.indices.last {
                    let cont = line.drop { $0 == " " || $0 == "\t" }
                    current.fields[last].value += "\n" + (cont == "." ? "" : cont)
                } else if !broken {
                    broken = true
                    onError(lineNumber, "continuation line without a field")
                }
                continue
            }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                if !broken {
                    broken = true
                    onError(lineNumber, "line is not a \"Key: value\" field")
                }
                continue
            }
            let key = String(line[..<colon])
            let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
            current.fields.append((key, String(value)))
        }
        flush()
        return stanzas
    }
}

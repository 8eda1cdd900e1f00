// harden — a wheel's RECORD file (the installed-files manifest of a .dist-info): read by the cataloger, written by
// the library patcher.
import HardenCore

/// A wheel's RECORD: CSV rows of path, `sha256=<urlsafe base64>`, size.
public enum PythonRecord {
    /// The path column (quoted fields unquoted).
    public static func paths(_ bytes: [UInt8]) -> [String] { rows(bytes).map { $0.first ?? "" }.filter { !$0.isEmpty } }

    public static func rows(_ bytes: [UInt8]) -> [[String]] {
        var out: [[String]] = []
        for line in String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline) {
            var fields: [String] = []
            var field = ""
            var quoted = false
            var i = line.startIndex
            while i < line.endIndex {
                let c = line[i]
                if quoted {
                    if c == "\"" {
                        let n = line.index(after: i)
                        if n < line.endIndex && line[n] == "\"" {
                            field.append("\"")
                            i = n
                        } else {
                            quoted = false
                        }
                    } else {
                        field.append(c)
                    }
                } else if c == "\"" {
                    quoted = true
                } else if c == "," {
                    fields.append(field)
                    field = ""
                } else {
                    field.append(c)
                }
                i = line.index(after: i)
            }
            fields.append(field)
            out.append(fields)
        }
        return out
    }

    /// One row, quoted when the path needs it.
    public static func row(_ path: String, hash: String, size: String) -> String {
        let p = path.contains(",") || path.contains("\"") ? "\"" + path.replacingAll("\"", with: "\"\"") + "\"" : path
        return "\(p),\(hash),\(size)"
    }
}

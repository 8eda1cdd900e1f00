// harden — package URLs (https://github.com/package-url/purl-spec), percent-encoded as the spec requires.

public struct PURL: Sendable, Hashable, CustomStringConvertible {
    public var type: String
    public var namespace: String?
    public var name: String
    public var version: String?
    public var qualifiers: [(String, String)]

    public init(
        type: String, namespace: String? = nil, name: String, version: String?, qualifiers: [(String, String)] = []
    ) {
        self.type = type
        self.namespace = namespace
        self.name = name
        self.version = version
        self.qualifiers = qualifiers
    }

    public static func == (a: PURL, b: PURL) -> Bool { a.description == b.description }
    public func hash(into h: inout Hasher) { h.combine(description) }

    /// Percent-encodes everything but unreserved characters (RFC 3986 `A-Z a-z 0-9 - . _ ~`).
    static func encode(_ s: String, keep: Set<UInt8> = []) -> String {
        var out = ""
        for b in s.utf8 {
            let unreserved =
                (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
            if unreserved || keep.contains(b) {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                let hex = Array("0123456789ABCDEF")
                out += "%" + String(hex[Int(b >> 4)]) + String(hex[Int(b & 15)])
            }
        }
        return out
    }

    public var description: String {
        var s = "pkg:\(type.lowercased())/"
        if let ns = namespace, !ns.isEmpty {
            s += ns.split(separator: "/").map { Self.encode(String($0)) }.joined(separator: "/") + "/"
        }
        s += Self.encode(name)
        if let v = version, !v.isEmpty { s += "@" + Self.encode(v) }
        let q = qualifiers.filter { !$0.1.isEmpty }.sorted { $0.0 < $1.0 }
        if !q.isEmpty {
            s +=
                "?"
                + q.map { "\($0.0.lowercased())=\(Self.encode($0.1, keep: [UInt8(ascii: ":"), UInt8(ascii: "/")]))" }
                .joined(separator: "&")
        }
        return s
    }

    /// PEP 503 normalisation of Python project names: lower case, runs of `-_.` become `-`.
    public static func pep503(_ name: String) -> String {
        var out = ""
        var lastDash = false
        for c in name.lowercased() {
            if c == "-" || c == "_" || c == "." {
                if !lastDash { out.append("-") }
                lastDash = true
            } else {
                out.append(c)
                lastDash = false
            }
        }
        return out
    }
}

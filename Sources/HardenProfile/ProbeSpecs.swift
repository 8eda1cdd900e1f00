// harden — how coverage probes are written on the command line, and parsing what a container listens on.
import HardenCore
import HardenPackages

/// One `--http-probe [http|https:]PORT[:METHOD:PATH]`.
public struct HTTPProbe: Sendable, Equatable {
    public var https: Bool
    public var port: Int
    public var method: String
    public var path: String
    public var spec: String

    public init(parsing spec: String) throws {
        self.spec = spec
        var rest = Substring(spec)
        https = false
        if rest.hasPrefix("https:") {
            https = true
            rest = rest.dropFirst(6)
        } else if rest.hasPrefix("http:") {
            rest = rest.dropFirst(5)
        }
        let portText = rest.prefix { $0 != ":" }
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw HardenError(
                .invalidArgument,
                "--http-probe \(spec): expected [http|https:]PORT[:METHOD:PATH] with a port in 1-65535")
        }
        self.port = port
        rest = rest.dropFirst(portText.count)
        method = "GET"
        path = "/"
        if rest.hasPrefix(":") {
            rest = rest.dropFirst()
            if rest.hasPrefix("/") {
                path = String(rest)
            } else {
                let m = rest.prefix { $0 != ":" }
                guard !m.isEmpty, m.allSatisfy({ $0.isLetter && $0.isASCII }) else {
                    throw HardenError(.invalidArgument, "--http-probe \(spec): \"\(m)\" is not an HTTP method")
                }
                method = m.uppercased()
                let p = rest.dropFirst(m.count).drop { $0 == ":" }
                path = p.isEmpty ? "/" : (p.hasPrefix("/") ? String(p) : "/" + p)
            }
        }
    }
}

/// Splits a command line into words the way a POSIX shell does for quotes and backslashes (no expansions),
/// so `--exec-probe 'cat /etc/os-release'` runs without needing a shell in the image.
public func splitCommandLine(_ s: String) throws -> [String] {
    var words: [String] = []
    var current = ""
    var inWord = false
    var quote: Character?
    var escape = false
    for c in s {
        if escape {
            current.append(c)
            escape = false
            inWord = true
            continue
        }
        if let q = quote {
            if c == q { quote = nil } else if c == "\\" && q == "\"" { escape = true } else { current.append(c) }
            continue
        }
        switch c {
        case "\\":
            escape = true
            inWord = true
        case "'", "\"":
            quote = c
            inWord = true
        case " ", "\t", "\n":
            if inWord {
                words.append(current)
                current = ""
                inWord = false
            }
        default:
            current.append(c)
            inWord = true
        }
    }
    guard quote == nil, !escape else { throw HardenError(.invalidArgument, "\(s): unterminated quote or escape") }
    if inWord { words.append(current) }
    guard !words.isEmpty else { throw HardenError(.invalidArgument, "empty command") }
    return words
}

/// Sockets a container listens on, from its `/proc/PID/net/{tcp,tcp6,udp,udp6}`.
public enum ListeningSockets {
    /// Parses one of those tables. TCP sockets in LISTEN (0A) and bound UDP sockets (07) count.
    /// With `inodes`, only the sockets whose inode (the table's tenth column) is in the set.
    public static func parse(
        _ bytes: [UInt8], protocolName: String, inodes: Set<String>? = nil
    ) -> [RuntimeProfile.Port] {
        var out: [RuntimeProfile.Port] = []
        let udp = protocolName.hasPrefix("udp")
        for line in String(decoding: bytes, as: UTF8.self).textLines().dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count > 3 else { continue }
            let state = f[3]
            guard state == (udp ? "07" : "0A") else { continue }
            if let inodes, f.count < 10 || !inodes.contains(String(f[9])) { continue }
            let local = f[1].split(separator: ":")
            guard local.count == 2, let port = Int(local[1], radix: 16), let address = decodeAddress(local[0]) else {
                continue
            }
            out.append(RuntimeProfile.Port(protocolName: udp ? "udp" : "tcp", port: port, address: address))
        }
        return out
    }

    /// The kernel prints addresses as host-order 32-bit words in hex.
    static func decodeAddress(_ hex: Substring) -> String? {
        let bytes = stride(from: 0, to: hex.count, by: 2).compactMap { i -> UInt8? in
            let s = hex.index(hex.startIndex, offsetBy: i)
            return UInt8(hex[s..<hex.index(s, offsetBy: 2)], radix: 16)
        }
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        var ordered: [UInt8] = []
        for word in stride(from: 0, to: bytes.count, by: 4) { ordered += bytes[word..<(word + 4)].reversed() }
        if ordered.count == 4 { return ordered.map { "\($0)" }.joined(separator: ".") }
        if ordered.allSatisfy({ $0 == 0 }) { return "::" }
        var groups: [String] = []
        for i in stride(from: 0, to: 16, by: 2) {
            groups.append(String(UInt16(ordered[i]) << 8 | UInt16(ordered[i + 1]), radix: 16))
        }
        return groups.joined(separator: ":")
    }
}

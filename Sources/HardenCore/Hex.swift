// harden — hexadecimal encoding shared by digests and tests.

public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lower-case hexadecimal of `bytes`.
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The value of one hexadecimal digit (either case), nil for any other byte.
    public static func value(of c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    /// True when `text` is non-empty lower-case hexadecimal.
    public static func isLowerHex(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}

/// Percent-encoding (RFC 3986), as purls, vers ranges and BOM-Links write it.
public enum PercentEncoding {
    /// The decoded text; nil when an escape is not `%` and two hex digits.
    public static func decode<S: StringProtocol>(_ s: S) -> String? {
        guard s.contains("%") else { return String(s) }
        var bytes: [UInt8] = []
        var u = Array(s.utf8)[...]
        while let c = u.popFirst() {
            guard c == UInt8(ascii: "%") else {
                bytes.append(c)
                continue
            }
            guard u.count >= 2, let hi = Hex.value(of: u[u.startIndex]), let lo = Hex.value(of: u[u.startIndex + 1])
            else { return nil }
            bytes.append(hi << 4 | lo)
            u = u.dropFirst(2)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

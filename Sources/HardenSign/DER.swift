// harden — the few DER structures harden reads itself: RSA keys. swift-crypto 3.12's RSA DER initialisers free a
// BoringSSL key twice when both of their parsers fail (any non-RSA or malformed input: found by the fuzzer), so RSA
// keys are walked here and built from their numbers instead.
import Foundation

enum DER {
    /// One tag-length-value: its tag and the range of its content.
    struct TLV {
        var tag: UInt8
        var content: Range<Int>
    }

    /// The TLVs that exactly fill `range` of `b`; nil when anything is malformed (long tags, indefinite lengths,
    /// lengths past the end).
    static func children(_ b: [UInt8], _ range: Range<Int>) -> [TLV]? {
        var out: [TLV] = []
        var i = range.lowerBound
        while i < range.upperBound {
            guard i + 2 <= range.upperBound, b[i] & 0x1f != 0x1f else { return nil }
            let tag = b[i]
            var length = Int(b[i + 1])
            var at = i + 2
            if length & 0x80 != 0 {
                let n = length & 0x7f
                guard (1...4).contains(n), at + n <= range.upperBound else { return nil }
                length = 0
                for k in 0..<n { length = length << 8 | Int(b[at + k]) }
                at += n
            }
            guard length <= range.upperBound - at else { return nil }
            out.append(TLV(tag: tag, content: at..<(at + length)))
            i = at + length
        }
        return out
    }

    static let sequence: UInt8 = 0x30
    static let integer: UInt8 = 0x02
    static let bitString: UInt8 = 0x03
    static let octetString: UInt8 = 0x04
    static let oid: UInt8 = 0x06
    /// 1.2.840.113549.1.1.1, rsaEncryption.
    static let rsaEncryption: [UInt8] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]

    /// The integers of a SEQUENCE of INTEGERs filling `b` (leading zero bytes dropped), nil otherwise.
    static func integers(_ b: [UInt8]) -> [[UInt8]]? {
        guard let top = children(b, 0..<b.count), top.count == 1, top[0].tag == sequence,
            let items = children(b, top[0].content), items.allSatisfy({ $0.tag == integer && !$0.content.isEmpty })
        else { return nil }
        return items.map { Array(b[$0.content].drop { $0 == 0 }) }
    }

    /// The content of an AlgorithmIdentifier-wrapped key (SubjectPublicKeyInfo or PKCS #8) when its algorithm is
    /// rsaEncryption: the BIT STRING's (without its unused-bits byte) or the OCTET STRING's bytes.
    static func rsaKeyBytes(_ b: [UInt8]) -> [UInt8]? {
        guard let top = children(b, 0..<b.count), top.count == 1, top[0].tag == sequence,
            let items = children(b, top[0].content),
            let algorithm = items.first(where: { $0.tag == sequence }),
            let algItems = children(b, algorithm.content), let first = algItems.first, first.tag == oid,
            Array(b[first.content]) == rsaEncryption,
            let key = items.last, key.tag == bitString || key.tag == octetString
        else { return nil }
        if key.tag == bitString {
            guard let unused = key.content.first, b[unused] == 0 else { return nil }
            return Array(b[(key.content.lowerBound + 1)..<key.content.upperBound])
        }
        return Array(b[key.content])
    }
}

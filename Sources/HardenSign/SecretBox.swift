// harden — NaCl's secretbox (XSalsa20 stream + Poly1305 tag), the cipher of cosign's encrypted private keys.
// Written from the Salsa20 specification (Bernstein, "Salsa20 specification"), the XSalsa20 paper ("Extending the
// Salsa20 nonce") and RFC 8439 §2.5 (Poly1305). Layout as NaCl seals it: tag (16 bytes) then ciphertext.
import HardenCore

public enum SecretBox {
    public static let keySize = 32
    public static let nonceSize = 24
    public static let tagSize = 16

    /// Decrypts and authenticates `box` (tag ‖ ciphertext); nil when the tag does not match (wrong key or password,
    /// or a changed byte).
    public static func open(_ box: [UInt8], nonce: [UInt8], key: [UInt8]) -> [UInt8]? {
        guard key.count == keySize, nonce.count == nonceSize, box.count >= tagSize else { return nil }
        let (polyKey, stream) = keystream(key: key, nonce: nonce, count: box.count - tagSize)
        let ciphertext = Array(box[tagSize...])
        let expected = Poly1305.tag(ciphertext, key: polyKey)
        // Constant-time comparison: every byte is looked at.
        var diff: UInt8 = 0
        for i in 0..<tagSize { diff |= expected[i] ^ box[i] }
        guard diff == 0 else { return nil }
        return zip(ciphertext, stream).map { $0 ^ $1 }
    }

    /// Encrypts `message`: tag ‖ ciphertext.
    public static func seal(_ message: [UInt8], nonce: [UInt8], key: [UInt8]) -> [UInt8] {
        precondition(key.count == keySize && nonce.count == nonceSize)
        let (polyKey, stream) = keystream(key: key, nonce: nonce, count: message.count)
        let ciphertext = zip(message, stream).map { $0 ^ $1 }
        return Poly1305.tag(ciphertext, key: polyKey) + ciphertext
    }

    /// The Poly1305 key (the stream's first 32 bytes) and `count` more stream bytes for the message.
    private static func keystream(key: [UInt8], nonce: [UInt8], count: Int) -> (polyKey: [UInt8], stream: [UInt8]) {
        let subkey = Salsa20.hsalsa20(key: key, nonce: Array(nonce[0..<16]))
        let stream = Salsa20.stream(key: subkey, nonce: Array(nonce[16..<24]), count: 32 + count)
        return (Array(stream[0..<32]), Array(stream[32...]))
    }
}

/// The Salsa20/20 core, its stream and HSalsa20.
public enum Salsa20 {
    private static let sigma: [UInt32] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]

    static func le32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }

    /// The initial state: constants on the diagonal, the key around them, `middle` (nonce and counter) in words 6–9.
    private static func state(key: [UInt8], middle: [UInt32]) -> [UInt32] {
        var x = [UInt32](repeating: 0, count: 16)
        x[0] = sigma[0]
        x[5] = sigma[1]
        x[10] = sigma[2]
        x[15] = sigma[3]
        for i in 0..<4 {
            x[1 + i] = le32(key, 4 * i)
            x[11 + i] = le32(key, 16 + 4 * i)
            x[6 + i] = middle[i]
        }
        return x
    }

    /// Ten double rounds (column round, then row round).
    private static func rounds(_ x: inout [UInt32]) {
        func qr(_ a: Int, _ b: Int, _ c: Int, _ d: Int) {
            x[b] ^= (x[a] &+ x[d]).rotl(7)
            x[c] ^= (x[b] &+ x[a]).rotl(9)
            x[d] ^= (x[c] &+ x[b]).rotl(13)
            x[a] ^= (x[d] &+ x[c]).rotl(18)
        }
        for _ in 0..<10 {
            qr(0, 4, 8, 12)
            qr(5, 9, 13, 1)
            qr(10, 14, 2, 6)
            qr(15, 3, 7, 11)
            qr(0, 1, 2, 3)
            qr(5, 6, 7, 4)
            qr(10, 11, 8, 9)
            qr(15, 12, 13, 14)
        }
    }

    /// HSalsa20: the core without the final addition; words 0, 5, 10, 15, 6, 7, 8, 9 are the derived key.
    public static func hsalsa20(key: [UInt8], nonce: [UInt8]) -> [UInt8] {
        var x = state(key: key, middle: (0..<4).map { le32(nonce, 4 * $0) })
        rounds(&x)
        return [0, 5, 10, 15, 6, 7, 8, 9].flatMap { x[$0].littleEndianBytes }
    }

    /// One 64-byte block of Salsa20/20 for an 8-byte nonce and a block counter.
    public static func block(key: [UInt8], nonce: [UInt8], counter: UInt64) -> [UInt8] {
        let input = state(
            key: key,
            middle: [le32(nonce, 0), le32(nonce, 4), UInt32(truncatingIfNeeded: counter), UInt32(counter >> 32)])
        var x = input
        rounds(&x)
        return (0..<16).flatMap { (x[$0] &+ input[$0]).littleEndianBytes }
    }

    /// `count` bytes of the Salsa20/20 stream for an 8-byte nonce, block counter from 0.
    public static func stream(key: [UInt8], nonce: [UInt8], count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count + 64)
        var counter: UInt64 = 0
        while out.count < count {
            out += block(key: key, nonce: nonce, counter: counter)
            counter += 1
        }
        return Array(out[0..<count])
    }
}

/// Poly1305 (RFC 8439 §2.5) with three 44/44/42-bit limbs and 128-bit products.
public enum Poly1305 {
    private static let m44: UInt64 = (1 << 44) - 1
    private static let m42: UInt64 = (1 << 42) - 1

    static func le64(_ b: [UInt8], _ at: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(b[at + i]) << (8 * UInt64(i)) }
        return v
    }

    public static func tag(_ message: [UInt8], key: [UInt8]) -> [UInt8] {
        let t0 = le64(key, 0)
        let t1 = le64(key, 8)
        let r0 = t0 & 0xffc_0fff_ffff
        let r1 = ((t0 >> 44) | (t1 << 20)) & 0xfff_ffc0_ffff
        let r2 = (t1 >> 24) & 0x00f_ffff_fc0f
        let s1 = r1 * 20
        let s2 = r2 * 20
        var h: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var at = 0
        while at < message.count {
            let n = min(16, message.count - at)
            var block = Array(message[at..<(at + n)])
            var hibit: UInt64 = 1 << 40
            if n < 16 {
                block.append(1)
                block += [UInt8](repeating: 0, count: 16 - block.count)
                hibit = 0
            }
            let m0 = le64(block, 0)
            let m1 = le64(block, 8)
            h.0 += m0 & m44
            h.1 += ((m0 >> 44) | (m1 << 20)) & m44
            h.2 += ((m1 >> 24) & m42) | hibit
            let d0 = mul(h.0, r0) + mul(h.1, s2) + mul(h.2, s1)
            var d1 = mul(h.0, r1) + mul(h.1, r0) + mul(h.2, s2)
            var d2 = mul(h.0, r2) + mul(h.1, r1) + mul(h.2, r0)
            h.0 = UInt64(truncatingIfNeeded: d0) & m44
            d1 += d0 >> 44
            h.1 = UInt64(truncatingIfNeeded: d1) & m44
            d2 += d1 >> 44
            h.2 = UInt64(truncatingIfNeeded: d2) & m42
            h.0 += UInt64(truncatingIfNeeded: d2 >> 42) * 5
            h.1 += h.0 >> 44
            h.0 &= m44
            at += n
        }
        return finish(h, s: (le64(key, 16), le64(key, 24)))
    }

    private static func mul(_ a: UInt64, _ b: UInt64) -> UInt128 { UInt128(a) * UInt128(b) }

    /// Fully reduces h modulo 2^130 - 5, adds s and returns the low 128 bits, little-endian.
    private static func finish(_ state: (UInt64, UInt64, UInt64), s: (UInt64, UInt64)) -> [UInt8] {
        var (h0, h1, h2) = state
        for _ in 0..<2 {
            h2 += h1 >> 44
            h1 &= m44
            h0 += (h2 >> 42) * 5
            h2 &= m42
            h1 += h0 >> 44
            h0 &= m44
        }
        // g = h + 5 - 2^130; take g when it does not go negative.
        var g0 = h0 + 5
        var g1 = h1 + (g0 >> 44)
        g0 &= m44
        let g2 = h2 &+ (g1 >> 44) &- (1 << 42)
        g1 &= m44
        let useG: UInt64 = (g2 >> 63) &- 1
        h0 = (h0 & ~useG) | (g0 & useG)
        h1 = (h1 & ~useG) | (g1 & useG)
        h2 = (h2 & ~useG) | (g2 & useG & m42)
        h0 += s.0 & m44
        h1 += (((s.0 >> 44) | (s.1 << 20)) & m44) + (h0 >> 44)
        h0 &= m44
        h2 += ((s.1 >> 24) & m42) + (h1 >> 44)
        h1 &= m44
        h2 &= m42
        let lo = h0 | (h1 << 44)
        let hi = (h1 >> 20) | (h2 << 24)
        return lo.littleEndianBytes + hi.littleEndianBytes
    }
}

extension UInt32 {
    fileprivate func rotl(_ n: UInt32) -> UInt32 { (self << n) | (self >> (32 - n)) }
    fileprivate var littleEndianBytes: [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: self >> (8 * $0)) } }
}

extension UInt64 {
    fileprivate var littleEndianBytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: self >> (8 * UInt64($0))) } }
}

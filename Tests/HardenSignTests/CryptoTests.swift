// harden — the signing primitives: Poly1305 and secretbox against published vectors, cosign's key file, PEM, DSSE.
import Foundation
import HardenCore
import HardenOCI
import HardenSign
import Testing

@Suite struct SecretBoxTests {
    static func bytes(_ hex: String) -> [UInt8] {
        let h = Array(hex.utf8)
        return stride(from: 0, to: h.count, by: 2).map {
            UInt8(String(decoding: h[$0..<($0 + 2)], as: UTF8.self), radix: 16)!
        }
    }

    /// RFC 8439 §2.5.2.
    @Test func poly1305MatchesRFC8439() {
        let key = Self.bytes("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
        let tag = Poly1305.tag(Array("Cryptographic Forum Research Group".utf8), key: key)
        #expect(Hex.encode(tag) == "a8061dc1305136c6c22b8baf0c0127a9")
    }

    /// RFC 8439 Appendix A.3, vectors 1 (all zero) and 5–6 (reductions at the modulus' edge).
    @Test func poly1305EdgeVectors() {
        #expect(
            Hex.encode(Poly1305.tag([UInt8](repeating: 0, count: 64), key: [UInt8](repeating: 0, count: 32)))
                == "00000000000000000000000000000000")
        var key = [UInt8](repeating: 0, count: 32)
        key[0] = 2
        #expect(
            Hex.encode(Poly1305.tag([UInt8](repeating: 0xff, count: 16), key: key))
                == "03000000000000000000000000000000")
        var key6 = [UInt8](repeating: 0, count: 32)
        key6[0] = 2
        for i in 16..<32 { key6[i] = 0xff }
        var msg6 = [UInt8](repeating: 0, count: 16)
        msg6[0] = 2
        #expect(Hex.encode(Poly1305.tag(msg6, key: key6)) == "03000000000000000000000000000000")
    }

    /// The Salsa20 specification's own example: the expansion of key 1..16, 201..216 with nonce 101..116 (§9).
    @Test func salsa20CoreMatchesTheSpecification() {
        // Salsa20 with key bytes 1…16, 201…216 and nonce+counter 101…116: the first output bytes of §9's example.
        let key = Array(1...16).map(UInt8.init) + Array(201...216).map(UInt8.init)
        let nonceAndCounter = Array(101...116).map(UInt8.init)
        // stream() takes the nonce (8 bytes) and counts blocks from 0; put the counter bytes back as the spec has them.
        var counter: UInt64 = 0
        for i in 0..<8 { counter |= UInt64(nonceAndCounter[8 + i]) << (8 * UInt64(i)) }
        let out = Salsa20.block(key: key, nonce: Array(nonceAndCounter[0..<8]), counter: counter)
        #expect(Array(out.prefix(8)) == [69, 37, 68, 39, 41, 15, 107, 193])
        #expect(Array(out.suffix(2)) == [246, 74])
    }

    @Test func sealThenOpenRoundTripsAndAnyChangedByteFails() {
        let key = [UInt8](repeating: 7, count: 32)
        let nonce = (0..<24).map { UInt8($0) }
        let message = Array("a private key, say, in PKCS #8 DER — long enough for two blocks of the stream".utf8)
        let box = SecretBox.seal(message, nonce: nonce, key: key)
        #expect(box.count == message.count + 16)
        #expect(SecretBox.open(box, nonce: nonce, key: key) == message)
        for i in [0, 15, 16, box.count - 1] {
            var bad = box
            bad[i] ^= 1
            #expect(SecretBox.open(bad, nonce: nonce, key: key) == nil, "byte \(i)")
        }
        var otherKey = key
        otherKey[31] ^= 0x80
        #expect(SecretBox.open(box, nonce: nonce, key: otherKey) == nil)
        #expect(SecretBox.open(Array(box.prefix(10)), nonce: nonce, key: key) == nil)
    }
}

@Suite struct KeyFileTests {
    @Test func cosignKeyFileRoundTripsAndAWrongPasswordIsOneLine() throws {
        let key = SigningKey.generateP256()
        let der = try PEMBlock.parse(key.pkcs8PEM, source: "k").der
        let file = try CosignKeyFile.encrypt(der, password: Array("s3cret".utf8), n: 1 << 10)
        #expect(file.hasPrefix("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"))
        let loaded = try SigningKey.load(pem: file, source: "cosign.key") { Array("s3cret".utf8) }
        #expect(loaded.publicKey.keyID == key.publicKey.keyID)
        #expect(throws: HardenError.self) {
            _ = try SigningKey.load(pem: file, source: "cosign.key") { Array("wrong".utf8) }
        }
        do {
            _ = try SigningKey.load(pem: file, source: "cosign.key") { Array("wrong".utf8) }
        } catch let e as HardenError {
            #expect(e.message == "cosign.key: wrong password (the key does not decrypt)")
        }
    }

    @Test func hostileScryptParametersAreRefusedBeforeAnyWork() throws {
        let env =
            #"{"kdf":{"name":"scrypt","params":{"N":4294967296,"r":8,"p":1},"salt":"AA=="},"cipher":{"name":"nacl/secretbox","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},"ciphertext":"AA=="}"#
        let pem = PEMBlock(label: "ENCRYPTED SIGSTORE PRIVATE KEY", der: Array(env.utf8)).text
        #expect(throws: HardenError.self) { _ = try SigningKey.load(pem: pem, source: "k") { [] } }
    }

    @Test func everyKeyKindSignsAndVerifies() throws {
        let p256 = SigningKey.generateP256()
        let ed = try SigningKey.load(pem: SigningKey.generateEd25519().pkcs8PEM, source: "ed") { [] }
        let rsa = try SigningKey.load(pem: try SigningKey.generateRSA().pkcs8PEM, source: "rsa") { [] }
        #expect(rsa.publicKey.algorithm == .rsaPKCS1)
        for key in [p256, ed, rsa] {
            let pub = try VerificationKey.load(pem: key.publicKey.pem, source: "pub")
            let sig = try key.sign(Array("payload".utf8))
            #expect(pub.isValid(signature: sig, for: Array("payload".utf8)))
            #expect(!pub.isValid(signature: sig, for: Array("payloaD".utf8)))
            #expect(pub.keyID == key.publicKey.keyID && pub.algorithm == key.publicKey.algorithm)
        }
        #expect(!"\(p256)".contains("PRIVATE"))
    }

    /// Found by the fuzzer: an EC public key with one bit of its algorithm OID changed made swift-crypto's RSA parser
    /// free a key twice (abort). RSA keys are now walked by harden and built from their numbers.
    @Test func aPublicKeyOfNoKnownAlgorithmIsAnErrorNotACrash() throws {
        let crash = try #require(
            Data(
                base64Encoded:
                    "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJcVZ3Q0JVMFcwTTFIc2g0dG9GTnBIU2hodTQ4bE93dHh4ZkR2cEZnTWVNV0RIZz09Ci0tLS0tRU5EIFBVQkxJQyBLRVktLS0tLQo="
            ))
        #expect(throws: HardenError.self) {
            _ = try VerificationKey.load(pem: String(decoding: crash, as: UTF8.self), source: "k.pub")
        }
        let garbage = PEMBlock(label: "RSA PUBLIC KEY", der: [0x30, 0x03, 0x02, 0x01, 0x00]).text
        #expect(throws: HardenError.self) { _ = try VerificationKey.load(pem: garbage, source: "k.pub") }
    }

    @Test(arguments: [
        ("hello", "k.pem: not a PEM file (no -----BEGIN line)"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n", "k.pem: PEM block \"PRIVATE KEY\" has no END line"),
        (
            "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
            "k.pem: PEM block \"PRIVATE KEY\" is not valid base64"
        ),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "k.pem: a \"CERTIFICATE\" PEM block is not a private key"
        ),
        (
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "k.pem: a private key of an unsupported algorithm (EC P-256, Ed25519 and RSA are)"
        ),
    ])
    func badKeyFilesAreOneLine(text: String, message: String) {
        do {
            _ = try SigningKey.load(pem: text, source: "k.pem") { [] }
            Issue.record("accepted \(text)")
        } catch let e as HardenError {
            #expect(e.message == message)
        } catch { Issue.record("\(error)") }
    }
}

@Suite struct EnvelopeTests {
    /// The DSSE protocol's own example of the pre-authentication encoding.
    @Test func paeMatchesTheSpecification() {
        let pae = DSSEEnvelope.pae(type: "http://example.com/HelloWorld", body: Array("hello world".utf8))
        #expect(String(decoding: pae, as: UTF8.self) == "DSSEv1 29 http://example.com/HelloWorld 11 hello world")
    }

    @Test func statementEmbedsThePredicateByteForByteAndParsesBack() throws {
        let digest = Digest.sha256(of: Array("image".utf8))
        let predicate = Array(#"{"z":1,"a":[true,null]}"#.utf8)
        let s = InTotoStatement(image: "reg/repo", digest: digest, predicateType: .openvex, predicate: predicate)
        let bytes = try s.encoded()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasSuffix(#","predicate":{"z":1,"a":[true,null]}}"#))
        #expect(
            text.hasPrefix(#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://openvex.dev/ns","#))
        let back = try InTotoStatement.parse(bytes, source: "s")
        #expect(back.covers(digest) && back.predicateType == "https://openvex.dev/ns")
        #expect(!back.covers(Digest.sha256(of: [1])))
    }

    @Test func predicateTypesParseFromCosignsWords() throws {
        #expect(try PredicateType(parsing: "slsaprovenance1").uri == "https://slsa.dev/provenance/v1")
        #expect(try PredicateType(parsing: "cyclonedx") == .cyclonedx)
        #expect(try PredicateType(parsing: "https://example.com/p/v1") == .uri("https://example.com/p/v1"))
        #expect(PredicateType(uri: "https://openvex.dev/ns") == .openvex)
        #expect(throws: HardenError.self) { _ = try PredicateType(parsing: "sbom") }
    }
}

// harden — an .rpm file read natively: the lead, the signature header, the package header and the payload. What
// rpm checks before installing is checked here: the header's SHA-256 (signature tag 273), the payload's digest
// (header tag 5092) and sizes; the OpenPGP signature over the header bytes (tag 268/267) is handed back for the
// caller to verify against the repository's keys. Pure functions over bytes.
import Crypto
import HardenArchive
import HardenCore

public struct RpmPackageFile: Sendable {
    public var name: String
    public var signature: RpmHeader
    public var header: RpmHeader
    /// The package header's bytes as signed: magic, index and data.
    public var headerBytes: [UInt8]
    /// The compressed payload.
    public var payload: ArraySlice<UInt8>

    static let leadMagic: [UInt8] = [0xed, 0xab, 0xee, 0xdb]

    public static func read(_ bytes: [UInt8], name: String) throws -> RpmPackageFile {
        guard bytes.count > 96 + 16, Array(bytes[0..<4]) == leadMagic else {
            throw HardenError(.corrupt, "\(name): not an rpm package (no lead)")
        }
        guard Array(bytes[96..<104]) == RpmHeader.magic else {
            throw HardenError(.corrupt, "\(name): no signature header after the lead")
        }
        let (signature, sigEnd) = try RpmHeader.parse(bytes, at: 104, source: name + " (signature header)")
        let headerStart = (sigEnd + 7) / 8 * 8
        guard headerStart + 16 <= bytes.count, Array(bytes[headerStart..<(headerStart + 8)]) == RpmHeader.magic else {
            throw HardenError(.corrupt, "\(name): no package header after the signature")
        }
        let (header, end) = try RpmHeader.parse(bytes, at: headerStart + 8, source: name)
        return RpmPackageFile(
            name: name, signature: signature, header: header, headerBytes: Array(bytes[headerStart..<end]),
            payload: bytes[end...])
    }

    /// The OpenPGP signature over the header bytes (RSA or DSA/EdDSA tag), if the package is signed.
    public var headerSignature: [UInt8]? {
        signature.binary(RpmTag.sigRSA) ?? signature.binary(RpmTag.sigDSA)
    }

    /// Checks the header's SHA-256 (or SHA-1) digest and the payload digest, as rpm does before it installs.
    public func verifyDigests() throws {
        if let want = signature.string(RpmTag.sigSHA256) {
            let got = Hex.encode(SHA256.hash(data: headerBytes))
            guard got == want.lowercased() else {
                throw HardenError(.corrupt, "\(name): header SHA-256 is \(got), its signature header says \(want)")
            }
        } else if let want = signature.string(RpmTag.sigSHA1) {
            let got = Hex.encode(Insecure.SHA1.hash(data: headerBytes))
            guard got == want.lowercased() else {
                throw HardenError(.corrupt, "\(name): header SHA-1 is \(got), its signature header says \(want)")
            }
        } else {
            throw HardenError(.corrupt, "\(name): no header digest to check")
        }
        guard let want = header.strings(RpmTag.payloadDigest).first else {
            throw HardenError(.corrupt, "\(name): no payload digest to check (rpm < 4.14 packages are not installed)")
        }
        let algorithm = header.integers(RpmTag.payloadDigestAlgo).first ?? 8
        let got: String
        switch algorithm {
        case 8: got = Hex.encode(SHA256.hash(data: payload))
        case 9: got = Hex.encode(SHA384.hash(data: payload))
        case 10: got = Hex.encode(SHA512.hash(data: payload))
        default: throw HardenError(.unsupported, "\(name): payload digest algorithm \(algorithm)")
        }
        guard got == want.lowercased() else {
            throw HardenError(.corrupt, "\(name): payload digest is \(got), its header says \(want)")
        }
    }

    /// The decompressed cpio archive (gzip, xz/lzma, zstd).
    public func archive(limit: Int = 4 << 30) throws -> [UInt8] {
        let compressor = header.string(RpmTag.payloadCompressor) ?? "gzip"
        let source = MemoryReader(Array(payload))
        let reader: any ByteReader
        switch compressor {
        case "gzip": reader = GzipReader(source, name: name)
        case "xz", "lzma": reader = XzReader(source, name: name)
        case "zstd": reader = ZstdReader(source, name: name)
        default: throw HardenError(.unsupported, "\(name): payload compressed with \(compressor)")
        }
        return try reader.readAll(limit: limit, name: name)
    }

    /// The header values rpm adds when it installs the package: the signature's tags under their header names,
    /// install time and transaction id, colour, and one state per file (0: installed; 2: not installed).
    public func installedHeader(time: UInt32, color: UInt32, fileStates: [UInt8]) -> RpmHeader {
        var values: [(tag: Int, value: RpmHeader.Value)] = []
        for e in signature.entries {
            let target: Int
            switch e.tag {
            case RpmTag.sigSize: target = RpmTag.installedSigSize
            case 1002: target = 259
            case RpmTag.sigMD5: target = RpmTag.installedSigMD5
            case 1005: target = 262
            case 1006: target = 263
            case RpmTag.sigPayloadSize: target = RpmTag.archiveSize
            case 256..<1000: target = e.tag
            default: continue
            }
            if let v = signature.value(e.tag) { values.append((target, v)) }
        }
        values += [
            (RpmTag.installTime, .int32([time])), (RpmTag.installColor, .int32([color])),
            (RpmTag.installTID, .int32([time])),
        ]
        if !fileStates.isEmpty { values.append((RpmTag.fileStates, .char(fileStates))) }
        return header.adding(values)
    }
}

// harden — apk's v2 files read natively: a package (.apk: signature, control and data gzip streams) and a
// repository index (APKINDEX.tar.gz: signature, then DESCRIPTION and APKINDEX). Pure functions over bytes.
import Crypto
import Foundation
import HardenArchive
import HardenCore
import HardenPackages

/// A v2 .apk, split into its three streams. The data stream is read on demand (`dataEntries`).
public struct ApkPackageFile: Sendable {
    public var signatures: [(name: String, bytes: [UInt8])]
    public var controlRange: Range<Int>
    public var dataRange: Range<Int>
    /// `.PKGINFO`'s `key = value` lines, in order.
    public var info: [(key: String, value: String)]
    /// Install scripts by their control name (`.post-install`, `.trigger`, …).
    public var scripts: [String: [UInt8]]
    /// The index's `C:` for this package: "Q1" and the base64 SHA-1 of the control stream.
    public var identity: String
    public let bytes: [UInt8]
    public let name: String

    public static let scriptNames: Set<String> = [
        ".pre-install", ".post-install", ".pre-upgrade", ".post-upgrade", ".pre-deinstall", ".post-deinstall",
        ".trigger",
    ]

    /// Splits `bytes` (`name` in errors). A package without a signature stream is read too (`verify` refuses it).
    public static func read(_ bytes: [UInt8], name: String) throws -> ApkPackageFile {
        guard bytes.count > 2, bytes[0] == 0x1f, bytes[1] == 0x8b else {
            throw HardenError(.corrupt, "\(name): not an apk v2 package (no gzip stream; v3 ADB packages are not read)")
        }
        let first = try Inflate.gzipMember(bytes, at: 0, limit: 16 << 20, what: name)
        let signatures = try ApkSignature.entries(first.output, what: name)
        let controlStart = signatures.isEmpty ? 0 : first.end
        let control =
            signatures.isEmpty ? first : try Inflate.gzipMember(bytes, at: controlStart, limit: 64 << 20, what: name)
        var info: [(String, String)] = []
        var scripts: [String: [UInt8]] = [:]
        let tar = TarReader(MemoryReader(control.output), name: name)
        while let e = try tar.next() {
            let member = String(decoding: e.path.bytes, as: UTF8.self)
            if member == ".PKGINFO" {
                info = pkginfo(try tar.readWholeBody(limit: 16 << 20))
            } else if scriptNames.contains(member) {
                scripts[member] = try tar.readWholeBody(limit: 16 << 20)
            }
        }
        guard !info.isEmpty else { throw HardenError(.corrupt, "\(name): no .PKGINFO in its control stream") }
        guard control.end < bytes.count else { throw HardenError(.corrupt, "\(name): no data stream") }
        return ApkPackageFile(
            signatures: signatures, controlRange: controlStart..<control.end, dataRange: control.end..<bytes.count,
            info: info, scripts: scripts, identity: ApkSignature.q1(bytes[controlStart..<control.end]), bytes: bytes,
            name: name)
    }

    static func pkginfo(_ bytes: [UInt8]) -> [(String, String)] {
        exactLines(String(decoding: bytes, as: UTF8.self), omittingEmpty: true).compactMap { line in
            guard !line.hasPrefix("#"), let eq = line.range(of: " = ") else { return nil }
            return (String(line[..<eq.lowerBound]), String(line[eq.upperBound...]))
        }
    }

    public func value(_ key: String) -> String? { info.first { $0.key == key }?.value }
    public func values(_ key: String) -> [String] { info.filter { $0.key == key }.map(\.value) }

    /// Checks the package as apk does: a trusted signature over the control stream (over control and data when
    /// `.PKGINFO` has no `datahash`), the data stream's SHA-256 against `datahash`, and `identity` against the
    /// index's `C:`. Throws one line naming the package.
    public func verify(keys: [String: [UInt8]], indexChecksum: String?) throws {
        if let indexChecksum, indexChecksum != identity {
            throw HardenError(
                .corrupt, "\(name): control checksum \(identity), the signed index says \(indexChecksum)")
        }
        let datahash = value("datahash")
        let signed = datahash == nil ? bytes[controlRange.lowerBound...] : bytes[controlRange]
        try ApkSignature.verify(signatures, over: signed, keys: keys, what: name)
        if let datahash {
            let got = Hex.encode(SHA256.hash(data: bytes[dataRange]))
            guard got == datahash.lowercased() else {
                throw HardenError(.corrupt, "\(name): data stream SHA-256 \(got), its signed .PKGINFO says \(datahash)")
            }
        }
    }

    /// The data stream's tar archive.
    public func dataEntries() -> TarReader {
        TarReader(GzipReader(MemoryReader(Array(bytes[dataRange])), name: name), name: name)
    }
}

/// A repository's APKINDEX.tar.gz: its signatures and index, verified against the image's keys.
public enum ApkIndexFile {
    /// The records of a verified index. `keys`: /etc/apk/keys (file name → PEM). `url` names it in errors.
    public static func read(
        _ bytes: [UInt8], keys: [String: [UInt8]], url: String
    ) throws -> (
        records: [ApkRecord], description: String?
    ) {
        let first = try Inflate.gzipMember(bytes, at: 0, limit: 1 << 20, what: url)
        let signatures = try ApkSignature.entries(first.output, what: url)
        try ApkSignature.verify(signatures, over: bytes[first.end...], keys: keys, what: url)
        var text: [UInt8]?
        var description: String?
        var offset = first.end
        while offset < bytes.count, text == nil {
            let member = try Inflate.gzipMember(bytes, at: offset, limit: 1 << 30, what: url)
            offset = member.end
            let tar = TarReader(MemoryReader(member.output), name: url)
            while let e = try tar.next() {
                switch String(decoding: e.path.bytes, as: UTF8.self) {
                case "APKINDEX": text = try tar.readWholeBody(limit: 1 << 30)
                case "DESCRIPTION":
                    description = String(decoding: try tar.readWholeBody(limit: 4096), as: UTF8.self).trimming(" \n")
                default: break
                }
            }
        }
        guard let text else { throw HardenError(.corrupt, "\(url): no APKINDEX inside") }
        return (try ApkRecord.parse(text, source: url), description)
    }
}

// harden — Rust crates compiled into binaries built with `cargo auditable`: the `.dep-v0` ELF section holds the
// zlib-compressed JSON dependency list (`{"packages": [{"name", "version", "source", "kind", "root"}]}`).
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages

public struct RustAuditCataloger: Cataloger {
    public var name: String { "rust-audit" }
    public init() {}

    struct AuditData: Decodable {
        var packages: [Package]
        struct Package: Decodable {
            var name: String
            var version: String
            var source: String?
            var kind: String?
            var root: Bool?
        }
    }

    public func catalog(_ context: CatalogContext) -> [SoftwarePackage] {
        var out: [SoftwarePackage] = []
        for (path, captured) in context.capturedFiles() {
            guard let compressed = BinaryEvidence.capture(captured)?.rustAudit else { continue }
            let location = path.absoluteDescription
            let data: AuditData
            do {
                data = try JSONDecoder().decode(
                    AuditData.self,
                    from: Data(try Inflate.bytes(compressed, format: .zlib, limit: 8 << 20, what: "Rust audit data")))
            } catch {
                context.warn("\(location): unreadable cargo-auditable data (.dep-v0): \(error); skipped")
                continue
            }
            for p in data.packages {
                var metadata = ["binary": location, "source": p.source ?? "crates.io"]
                if let k = p.kind { metadata["kind"] = k }
                if p.root == true { metadata["root"] = "true" }
                out.append(
                    SoftwarePackage(
                        id: "rust-crate:\(p.name)@\(p.version)", type: .rustCrate, name: p.name, version: p.version,
                        architecture: nil,
                        sourceName: nil, sourceVersion: nil, licenses: [],
                        purl: PURL(type: "cargo", name: p.name, version: p.version).description,
                        layer: context.layer(of: path),
                        locations: [location], files: [location], ownedBy: nil, maintainer: nil, installedSize: nil,
                        foundBy: "rust-audit", metadata: metadata))
            }
        }
        return out
    }

    /// The raw contents of the `.dep-v0` section of a 64-bit little-endian ELF file, if it has one.
    public static func auditSection(_ b: [UInt8]) -> [UInt8]? {
        guard b.count >= 64, b.starts(with: [0x7f, 0x45, 0x4c, 0x46]), b[4] == 2, b[5] == 1 else { return nil }
        func u16(_ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
        func u32(_ i: Int) -> Int { u16(i) | u16(i + 2) << 16 }
        func u64(_ i: Int) -> Int? {
            let hi = u32(i + 4)
            return hi > 0x7fff ? nil : u32(i) | hi << 32
        }
        guard let shoff = u64(0x28) else { return nil }
        let entsize = u16(0x3a), count = u16(0x3c), strndx = u16(0x3e)
        guard entsize >= 64, count > 0, strndx < count, shoff > 0, shoff <= b.count, count * entsize <= b.count - shoff
        else { return nil }
        func section(_ i: Int) -> (name: Int, offset: Int, size: Int)? {
            let h = shoff + i * entsize
            guard let off = u64(h + 0x18), let size = u64(h + 0x20), off <= b.count, size <= b.count - off else {
                return nil
            }
            return (u32(h), off, size)
        }
        guard let strtab = section(strndx) else { return nil }
        let wanted = Array(".dep-v0".utf8) + [0]
        for i in 0..<count {
            guard let s = section(i), s.name < strtab.size else { continue }
            let at = strtab.offset + s.name
            guard at + wanted.count <= b.count, b[at..<(at + wanted.count)].elementsEqual(wanted) else { continue }
            return Array(b[s.offset..<(s.offset + s.size)])
        }
        return nil
    }
}

// harden — Go modules compiled into binaries, from the build information the Go linker embeds.
import HardenArchive
import HardenCore
import HardenOCI

public struct GoBinaryCataloger: Cataloger {
    public var name: String { "go-binary" }
    public init() {}

    static let infoStart: [UInt8] = [0x30, 0x77, 0xaf, 0x0c, 0x92, 0x74, 0x08, 0x02, 0x41, 0xe1, 0xc1, 0x07, 0xe6, 0xd6, 0x18, 0xe6]

    public func catalog(_ context: CatalogContext) -> [SoftwarePackage] {
        var out: [SoftwarePackage] = []
        for (path, bytes) in context.capturedFiles() where bytes.starts(with: [0xff] + Array(" Go buildinf:".utf8)) {
            guard let info = Self.parse(bytes) else {
                context.warn("\(path.absoluteDescription): Go build information in an unsupported (pre-1.18) layout; skipped")
                continue
            }
            let layer = context.layer(of: path)
            let location = path.absoluteDescription
            func pkg(_ module: String, _ version: String) -> SoftwarePackage {
                SoftwarePackage(
                    id: "go-module:\(module)@\(version)", type: .goModule, name: module, version: version, architecture: nil,
                    sourceName: nil, sourceVersion: nil, licenses: [], purl: Self.purl(module, version), layer: layer,
                    locations: [location], files: [location], ownedBy: nil, maintainer: nil, installedSize: nil, foundBy: "go-binary",
                    metadata: ["binary": location, "goVersion": info.goVersion])
            }
            if !info.goVersion.isEmpty { out.append(pkg("stdlib", info.goVersion)) }
            if let main = info.main { out.append(pkg(main.path, main.version)) }
            for d in info.deps { out.append(pkg(d.path, d.version)) }
        }
        return out
    }

    static func purl(_ module: String, _ version: String) -> String {
        let parts = module.split(separator: "/").map(String.init)
        if parts.count > 1 {
            return PURL(type: "golang", namespace: parts.dropLast().joined(separator: "/"), name: parts.last ?? module, version: version)
                .description
        }
        return PURL(type: "golang", name: module, version: version).description
    }

    public struct Module: Sendable { public var path: String; public var version: String }
    public struct Info: Sendable { public var goVersion: String; public var main: Module?; public var deps: [Module] }

    /// Parses the inline-string build information (Go 1.18+): a 32-byte header, then two varint-prefixed strings.
    public static func parse(_ b: [UInt8]) -> Info? {
        guard b.count >= 32, b[15] & 0x2 != 0 else { return nil }
        var at = 32
        func varint() -> Int? {
            var v = 0
            var shift = 0
            while at < b.count, shift < 63 {
                let byte = b[at]
                at += 1
                v |= Int(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return v }
                shift += 7
            }
            return nil
        }
        func string() -> String? {
            guard let n = varint(), n >= 0, at + n <= b.count else { return nil }
            defer { at += n }
            return String(decoding: b[at..<(at + n)], as: UTF8.self)
        }
        guard let goVersion = string(), var modinfo = string() else { return nil }
        // The module information is framed by 16-byte sentinels.
        if modinfo.utf8.count >= 33, Array(modinfo.utf8.prefix(16)) == infoStart {
            modinfo = String(decoding: Array(modinfo.utf8.dropFirst(16).dropLast(16)), as: UTF8.self)
        }
        var info = Info(goVersion: goVersion, main: nil, deps: [])
        for line in modinfo.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 2 else { continue }
            switch f[0] {
            case "mod": info.main = Module(path: f[1], version: f.count > 2 && !f[2].isEmpty ? f[2] : "(devel)")
            case "dep": info.deps.append(Module(path: f[1], version: f.count > 2 ? f[2] : ""))
            case "=>":
                // Replacement of the previous dependency.
                if !info.deps.isEmpty, f.count > 2, !f[2].isEmpty { info.deps[info.deps.count - 1] = Module(path: f[1], version: f[2]) }
            default: break
            }
        }
        return info
    }
}

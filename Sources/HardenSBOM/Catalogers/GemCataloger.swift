// harden — installed Ruby gems: specifications/*.gemspec, and the default gems of specifications/default/.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages

public struct GemCataloger: Cataloger {
    public var name: String { "gem" }
    public init() {}

    public func catalog(_ context: CatalogContext) -> [SoftwarePackage] {
        var out: [SoftwarePackage] = []
        for (path, bytes) in context.capturedFiles() {
            let file = String(decoding: path.lastComponent, as: UTF8.self)
            // `specifications/NAME-VERSION.gemspec`, and Ruby's default gems in `specifications/default/`.
            guard file.hasSuffix(".gemspec"), let parent = path.parent else { continue }
            let isDefault =
                parent.lastComponent == Array("default".utf8)
                && parent.parent?.lastComponent == Array("specifications".utf8)
            guard parent.lastComponent == Array("specifications".utf8) || isDefault else { continue }
            let spec = Self.parse(String(decoding: bytes, as: UTF8.self))
            guard let name = spec.name, let version = spec.version else {
                context.warn("\(path.absoluteDescription): gemspec without name or version; skipped")
                continue
            }
            out.append(
                SoftwarePackage(
                    id: "gem:\(name)@\(version)", type: .gem, name: name, version: version, architecture: nil,
                    sourceName: nil,
                    sourceVersion: nil,
                    licenses: spec.licenses, purl: PURL(type: "gem", name: name, version: version).description,
                    layer: context.layer(of: path), locations: [path.absoluteDescription], files: [], ownedBy: nil,
                    maintainer: nil, installedSize: nil, foundBy: "gem",
                    metadata: isDefault ? ["defaultGem": "true"] : nil))
        }
        return out
    }

    /// Reads `s.name = "x"`, `s.version = "1.2"`, `s.licenses = ["MIT"]` assignments (with optional `.freeze`).
    static func parse(_ text: String) -> (name: String?, version: String?, licenses: [String]) {
        var name: String?
        var version: String?
        var licenses: [String] = []
        for line in text.textLines() {
            let t = line.trimming(" \t")
            guard let dot = t.firstIndex(of: "."), let eq = t.firstIndex(of: "="), dot < eq else { continue }
            let key = t[t.index(after: dot)..<eq].trimming(" ")
            let value = String(t[t.index(after: eq)...])
            let strings = quoted(value)
            switch key {
            case "name": name = name ?? strings.first
            case "version": version = version ?? strings.first
            case "licenses", "license": licenses += strings
            default: break
            }
        }
        if let v = version, v.hasPrefix("Gem::Version") { version = quoted(v).first }
        return (name, version, Array(Set(licenses)).sorted())
    }

    private static func quoted(_ s: String) -> [String] {
        var out: [String] = []
        var current: String?
        var quote: Character = "\""
        for c in s {
            if var cur = current {
                if c == quote {
                    out.append(cur)
                    current = nil
                } else {
                    cur.append(c)
                    current = cur
                }
            } else if c == "\"" || c == "'" {
                quote = c
                current = ""
            }
        }
        return out
    }
}

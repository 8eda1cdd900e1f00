// harden — installed npm packages: node_modules/**/package.json and Debian's /usr/share/nodejs/*/package.json.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages

public struct NpmCataloger: Cataloger {
    public var name: String { "npm" }
    public init() {}

    public func catalog(_ context: CatalogContext) -> [SoftwarePackage] {
        var out: [SoftwarePackage] = []
        for (path, bytes) in context.capturedFiles() where path.lastComponent == Array("package.json".utf8) {
            guard Self.isPackageRoot(path) else { continue }
            guard let json = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
                context.warn("\(path.absoluteDescription): not valid JSON; skipped")
                continue
            }
            guard let name = json["name"] as? String, let version = json["version"] as? String, !name.isEmpty else {
                continue
            }
            var licenses: [String] = []
            if let l = json["license"] as? String { licenses = [l] }
            if let l = json["license"] as? [String: Any], let t = l["type"] as? String { licenses = [t] }
            if let ls = json["licenses"] as? [[String: Any]] { licenses = ls.compactMap { $0["type"] as? String } }
            var namespace: String?
            var bare = name
            if name.hasPrefix("@"), let slash = name.firstIndex(of: "/") {
                namespace = String(name[..<slash])
                bare = String(name[name.index(after: slash)...])
            }
            let dir = path.parent ?? .root
            out.append(
                SoftwarePackage(
                    id: "npm:\(name)@\(version)", type: .npm, name: name, version: version, architecture: nil,
                    sourceName: nil,
                    sourceVersion: nil,
                    licenses: licenses,
                    purl: PURL(type: "npm", namespace: namespace, name: bare, version: version).description,
                    layer: context.layer(of: path), locations: [path.absoluteDescription], files: [], ownedBy: nil,
                    maintainer: nil, installedSize: nil, foundBy: "npm",
                    metadata: ["directory": dir.absoluteDescription]))
        }
        return out
    }

    /// `…/node_modules/NAME/package.json`, `…/node_modules/@scope/NAME/package.json`, `usr/share/nodejs/NAME/package.json`.
    static func isPackageRoot(_ path: RawPath) -> Bool {
        let c = path.components.map { String(decoding: $0, as: UTF8.self) }
        guard c.count >= 3 else { return false }
        if c[c.count - 3] == "node_modules" { return true }
        if c.count >= 4 && c[c.count - 4] == "node_modules" && c[c.count - 3].hasPrefix("@") { return true }
        let debian = c.count >= 5 && c[0] == "usr" && (c[1] == "share" || c[1] == "lib") && c[2] == "nodejs"
        if debian && c.count == 5 { return true }
        if debian && c.count == 6 && c[3].hasPrefix("@") { return true }
        return false
    }
}

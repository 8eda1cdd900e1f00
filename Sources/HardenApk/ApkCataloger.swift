// harden — Alpine packages: /lib/apk/db/installed.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages

public struct ApkCataloger: Cataloger {
    public var name: String { "apk" }
    public init() {}

    public func catalog(_ context: CatalogContext) -> [SoftwarePackage] {
        var out: [SoftwarePackage] = []
        for db in context.tree.nodes.keys
        where db.bytes.count >= 20 && db.bytes.suffix(20).elementsEqual("lib/apk/db/installed".utf8) {
            guard let bytes = context.content(db) else { continue }
            out += Self.parse(bytes, database: db, context: context)
        }
        return out
    }

    static func parse(_ bytes: [UInt8], database: RawPath, context: CatalogContext) -> [SoftwarePackage] {
        var out: [SoftwarePackage] = []
        var fields: [Character: String] = [:]
        var files: [String] = []
        var dir = ""
        var startLine = 1
        var lineNumber = 0
        func flush() {
            defer {
                fields = [:]
                files = []
                dir = ""
                startLine = lineNumber + 1
            }
            guard !fields.isEmpty else { return }
            guard let name = fields["P"], let version = fields["V"] else {
                context.warn("\(database.absoluteDescription):\(startLine): apk record without P or V; skipped")
                return
            }
            let arch = fields["A"]
            let origin = fields["o"]
            var qualifiers: [(String, String)] = []
            if let arch { qualifiers.append(("arch", arch)) }
            if let d = context.os?.distroQualifier { qualifiers.append(("distro", d)) }
            if let origin, origin != name { qualifiers.append(("upstream", origin)) }
            let present = Set(files.compactMap { context.ownedFile(RawPath($0))?.absoluteDescription })
            out.append(
                SoftwarePackage(
                    id: "apk:\(name)@\(version)", type: .apk, name: name, version: version, architecture: arch,
                    sourceName: origin,
                    sourceVersion: origin != nil ? version : nil, licenses: fields["L"].map { [$0] } ?? [],
                    purl: PURL(
                        type: "apk", namespace: context.os?.id ?? "alpine", name: name, version: version,
                        qualifiers: qualifiers
                    )
                    .description,
                    layer: context.layer(of: database), locations: [database.absoluteDescription],
                    files: present.sorted(), ownedBy: nil,
                    maintainer: fields["m"], installedSize: fields["I"].flatMap { Int64($0) }, foundBy: "apk",
                    metadata: nil))
        }
        for raw in String(decoding: bytes, as: UTF8.self).textLines(omittingEmpty: false) {
            lineNumber += 1
            if raw.isEmpty {
                flush()
                continue
            }
            guard raw.count >= 2, raw.dropFirst().first == ":", let key = raw.first else {
                context.warn("\(database.absoluteDescription):\(lineNumber): not a \"K:value\" line")
                continue
            }
            let value = String(raw.dropFirst(2))
            switch key {
            case "F": dir = value
            case "R": files.append("/" + (dir.isEmpty ? value : dir + "/" + value))
            default: if fields[key] == nil { fields[key] = value }
            }
        }
        flush()
        return out
    }
}

// harden — installed Python distributions: *.dist-info/METADATA (+RECORD) and *.egg-info (PKG-INFO, installed-files.txt).
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages

public struct PythonCataloger: Cataloger {
    public var name: String { "python" }
    public init() {}

    public func catalog(_ context: CatalogContext) -> [SoftwarePackage] {
        var out: [SoftwarePackage] = []
        for (path, bytes) in context.capturedFiles() {
            let last = path.lastComponent
            guard let parent = path.parent else { continue }
            let parentName = String(decoding: parent.lastComponent, as: UTF8.self).lowercased()
            // The interpreter's own `lib-dynload/Python-X.Y.egg-info` describes CPython itself, not a distribution.
            if parentName == "lib-dynload" { continue }
            let metadataDir: RawPath
            var recordFiles: [String] = []
            if last == Array("METADATA".utf8) && parentName.hasSuffix(".dist-info") {
                metadataDir = parent
                if let record = context.content(parent.appending(Array("RECORD".utf8))) {
                    recordFiles = PythonRecord.paths(record)
                }
            } else if last == Array("PKG-INFO".utf8) && parentName.hasSuffix(".egg-info") {
                metadataDir = parent
                if let installed = context.content(parent.appending(Array("installed-files.txt".utf8))) {
                    recordFiles = String(decoding: installed, as: UTF8.self).textLines().map(String.init)
                }
            } else if String(decoding: last, as: UTF8.self).lowercased().hasSuffix(".egg-info"),
                context.tree.nodes[path]?.type == .regular
            {
                metadataDir = path  // a single-file egg-info: PKG-INFO content
            } else {
                continue
            }
            let headers = Deb822.parse(bytes, headerOnly: true) { _, _ in }.first
            guard let h = headers, let name = h["Name"], let version = h["Version"] else {
                context.warn("\(path.absoluteDescription): Python metadata without Name or Version; skipped")
                continue
            }
            // RECORD paths are relative to the directory holding the .dist-info (site-packages); installed-files.txt
            // paths to the .egg-info directory itself (`../six.py`).
            let siteDir = metadataDir.parent ?? .root
            let base = last == Array("PKG-INFO".utf8) ? metadataDir : siteDir
            var files = Set<String>()
            for rel in recordFiles {
                if let p = context.ownedFile(RawPath(base.bytes + [UInt8(ascii: "/")] + Array(rel.utf8))) {
                    files.insert(p.absoluteDescription)
                }
            }
            var licenses: [String] = []
            if let expr = h["License-Expression"], !expr.isEmpty {
                licenses = [expr]
            } else if let lic = h["License"], !lic.isEmpty, lic != "UNKNOWN", !lic.contains("\n"), lic.count < 80 {
                licenses = [lic]
            } else {
                licenses = h.all("Classifier").compactMap { c in
                    guard c.hasPrefix("License :: ") else { return nil }
                    return c.split(separator: ":").last.map { String($0).trimming(" ") }
                }
            }
            let pkg = SoftwarePackage(
                id: "python:\(PURL.pep503(name))@\(version)", type: .python, name: name, version: version,
                architecture: nil,
                sourceName: nil, sourceVersion: nil, licenses: licenses.sorted(),
                purl: PURL(type: "pypi", name: PURL.pep503(name), version: version).description,
                layer: context.layer(of: path), locations: [path.absoluteDescription], files: files.sorted(),
                ownedBy: nil,
                maintainer: h["Author"], installedSize: nil, foundBy: "python",
                metadata: ["sitePackages": siteDir.absoluteDescription])
            out.append(pkg)
        }
        return out
    }
}

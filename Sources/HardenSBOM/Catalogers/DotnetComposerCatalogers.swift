// harden — .NET applications (`*.deps.json`: the NuGet packages and projects an app was published with) and PHP
// Composer installs (`vendor/composer/installed.json`, Composer 1 and 2 layouts).
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages

public struct DotnetDepsCataloger: Cataloger {
    public var name: String { "dotnet-deps" }
    public init() {}

    public func catalog(_ context: CatalogContext) -> [SoftwarePackage] {
        var out: [SoftwarePackage] = []
        for (path, bytes) in context.capturedFiles()
        where String(decoding: path.lastComponent, as: UTF8.self).hasSuffix(".deps.json") {
            guard let root = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
                let libraries = root["libraries"] as? [String: Any]
            else {
                context.warn("\(path.absoluteDescription): not a .NET deps.json (no \"libraries\" object); skipped")
                continue
            }
            // Runtime assemblies per library, from every target: the files the package owns beside the deps.json.
            var assemblies: [String: [String]] = [:]
            for case let target as [String: Any] in (root["targets"] as? [String: Any] ?? [:]).values {
                for (lib, value) in target {
                    guard let v = value as? [String: Any] else { continue }
                    for key in ["runtime", "native"] {
                        assemblies[lib, default: []] += (v[key] as? [String: Any] ?? [:]).keys.map {
                            $0.split(separator: "/").last.map(String.init) ?? $0
                        }
                    }
                }
            }
            let dir = path.parent ?? .root
            for (key, value) in libraries {
                guard let slash = key.lastIndex(of: "/"), let info = value as? [String: Any] else { continue }
                let name = String(key[..<slash]), version = String(key[key.index(after: slash)...])
                let type = info["type"] as? String ?? "package"
                guard !name.isEmpty, !version.isEmpty, type == "package" || type == "project" else { continue }
                var files = [path.absoluteDescription]
                for a in Set(assemblies[key] ?? []) {
                    if let f = context.ownedFile(dir.appending(Array(a.utf8))) { files.append(f.absoluteDescription) }
                }
                out.append(
                    SoftwarePackage(
                        id: "dotnet:\(name)@\(version)", type: .dotnet, name: name, version: version, architecture: nil,
                        sourceName: nil,
                        sourceVersion: nil, licenses: [],
                        purl: PURL(type: "nuget", name: name, version: version).description,
                        layer: context.layer(of: path), locations: [path.absoluteDescription], files: files.sorted(),
                        ownedBy: nil,
                        maintainer: nil, installedSize: nil, foundBy: "dotnet-deps", metadata: ["libraryType": type]))
            }
        }
        return out
    }
}

public struct ComposerCataloger: Cataloger {
    public var name: String { "php-composer" }
    public init() {}

    public func catalog(_ context: CatalogContext) -> [SoftwarePackage] {
        var out: [SoftwarePackage] = []
        for (path, bytes) in context.capturedFiles()
        where path.lastComponent == Array("installed.json".utf8) && path.parent?.lastComponent == Array("composer".utf8)
        {
            let json = try? JSONSerialization.jsonObject(with: Data(bytes))
            // Composer 2: {"packages": [...], "dev-package-names": [...]}; Composer 1: [...].
            guard let list = (json as? [String: Any])?["packages"] as? [Any] ?? json as? [Any] else {
                context.warn("\(path.absoluteDescription): not a Composer installed.json; skipped")
                continue
            }
            let dev = Set((json as? [String: Any])?["dev-package-names"] as? [String] ?? [])
            let composerDir = path.parent ?? .root
            for case let p as [String: Any] in list {
                guard let name = p["name"] as? String, let version = p["version"] as? String, !name.isEmpty,
                    !version.isEmpty
                else {
                    continue
                }
                let parts = name.split(separator: "/", maxSplits: 1).map(String.init)
                let licenses = (p["license"] as? [String]) ?? (p["license"] as? String).map { [$0] } ?? []
                // Files under the package's install path (relative to vendor/composer/), or vendor/NAME.
                let installPath = p["install-path"] as? String ?? "../\(name)"
                let dir = RawPath(composerDir.bytes + [UInt8(ascii: "/")] + Array(installPath.utf8)).normalized
                var metadata = ["installPath": dir.absoluteDescription]
                if dev.contains(name) { metadata["dev"] = "true" }
                out.append(
                    SoftwarePackage(
                        id: "composer:\(name)@\(version)", type: .composer, name: name, version: version,
                        architecture: nil,
                        sourceName: nil, sourceVersion: nil, licenses: licenses.sorted(),
                        purl: PURL(
                            type: "composer", namespace: parts.count == 2 ? parts[0] : nil, name: parts.last ?? name,
                            version: version
                        )
                        .description,
                        layer: context.layer(of: path), locations: [path.absoluteDescription],
                        files: files(under: dir, context),
                        ownedBy: nil, maintainer: nil, installedSize: nil, foundBy: "php-composer", metadata: metadata))
            }
        }
        return out
    }

    /// Regular files and links under `dir` in the squashed view.
    func files(under dir: RawPath, _ context: CatalogContext) -> [String] {
        let prefix = dir.bytes + [UInt8(ascii: "/")]
        return context.tree.nodes.compactMap { p, n in
            n.type != .directory && p.bytes.starts(with: prefix) ? p.absoluteDescription : nil
        }.sorted()
    }
}

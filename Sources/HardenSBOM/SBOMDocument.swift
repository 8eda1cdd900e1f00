// harden — SBOMs written by others (CycloneDX 1.4–1.6 JSON, SPDX 2.3 JSON) and harden's own JSON, read back into the
// model matching uses: packages from purls (distro qualifiers, source packages from `upstream` and tool properties),
// CPEs, the operating system. A pure function over bytes: bad input is a one-line error naming the file.
import Foundation
import HardenCore
import HardenPackages

extension PURL {
    /// Parses `pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS#SUBPATH` (percent-decoded), nil when it is not a purl.
    public static func parse(_ text: String) -> PURL? {
        guard text.lowercased().hasPrefix("pkg:") else { return nil }
        var rest = Substring(text.dropFirst(4))
        while rest.first == "/" { rest = rest.dropFirst() }
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        var qualifiers: [(String, String)] = []
        if let q = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: q)...].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard kv.count == 2, let v = decode(kv[1]) else { continue }
                qualifiers.append((kv[0].lowercased(), v))
            }
            rest = rest[..<q]
        }
        var version: String?
        if let at = rest.lastIndex(of: "@"), at != rest.startIndex, rest[rest.index(before: at)] != "/" {
            guard let v = decode(rest[rest.index(after: at)...]) else { return nil }
            version = v
            rest = rest[..<at]
        }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count >= 2, let name = decode(parts[parts.count - 1]), !name.isEmpty else { return nil }
        let type = parts[0].lowercased()
        guard type.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "+" || $0 == "-") })
        else { return nil }
        var namespace: [String] = []
        for p in parts[1..<(parts.count - 1)] {
            guard let d = decode(p) else { return nil }
            namespace.append(d)
        }
        return PURL(
            type: type, namespace: namespace.isEmpty ? nil : namespace.joined(separator: "/"), name: name,
            version: version,
            qualifiers: qualifiers)
    }

    public func qualifier(_ key: String) -> String? { qualifiers.first { $0.0 == key }?.1 }

    static func decode(_ s: Substring) -> String? { PercentEncoding.decode(s) }
}

public enum SBOMDocument {
    /// Debian and Ubuntu releases by version: the vendors' feeds name releases by codename.
    static let codenames: [String: [String: String]] = [
        "debian": ["9": "stretch", "10": "buster", "11": "bullseye", "12": "bookworm", "13": "trixie", "14": "forky"],
        "ubuntu": [
            "18.04": "bionic", "20.04": "focal", "22.04": "jammy", "23.10": "mantic", "24.04": "noble",
            "24.10": "oracular",
            "25.04": "plucky", "25.10": "questing",
        ],
    ]

    /// Reads an SBOM file's bytes. `path` names the file in errors and is the SBOM's reference.
    public static func parse(_ bytes: [UInt8], path: String) throws -> SBOM {
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(bytes))
        } catch {
            throw HardenError(.corrupt, "\(path): not JSON (\(Self.reason(error)))")
        }
        guard let root = json as? [String: Any] else { throw HardenError(.corrupt, "\(path): not a JSON object") }
        var sbom: SBOM
        if (root["bomFormat"] as? String) == "CycloneDX" {
            sbom = try cycloneDX(root, path: path)
        } else if let v = root["spdxVersion"] as? String {
            guard v.hasPrefix("SPDX-2.") else { throw HardenError(.unsupported, "\(path): \(v) is not SPDX 2.x JSON") }
            sbom = try spdx(root, path: path)
        } else if root["schemaVersion"] != nil, root["source"] is [String: Any], root["packages"] is [Any] {
            do {
                sbom = try JSONDecoder().decode(SBOM.self, from: Data(bytes))
            } catch {
                throw HardenError(.corrupt, "\(path): harden SBOM JSON that does not decode (\(Self.reason(error)))")
            }
            return sbom
        } else {
            throw HardenError(.unsupported, "\(path): neither CycloneDX JSON, SPDX 2.3 JSON nor harden's SBOM JSON")
        }
        try checkMatchable(sbom, path: path)
        sbom.packages = SBOMBuilder.uniqueIDs(sbom.packages)
        return sbom
    }

    /// What matching needs: packages with purls, and for OS packages the distribution release.
    static func checkMatchable(_ sbom: SBOM, path: String) throws {
        guard !sbom.packages.isEmpty else {
            throw HardenError(
                .invalidArgument,
                "\(path): no package has a purl of an ecosystem harden matches: nothing can be matched")
        }
        let os = sbom.packages.filter(\.type.isOS)
        if !os.isEmpty, sbom.os?.versionID == nil {
            throw HardenError(
                .invalidArgument,
                "\(path): \(os.count) \(os[0].type.rawValue) packages but no distribution release (a purl `distro` qualifier or an operating-system component with a version): they cannot be matched to a vendor's advisories"
            )
        }
    }

    static func reason(_ error: any Error) -> String {
        let ns = error as NSError
        return (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
    }

    // MARK: - CycloneDX

    static func cycloneDX(_ root: [String: Any], path: String) throws -> SBOM {
        let spec = root["specVersion"] as? String ?? ""
        guard ["1.4", "1.5", "1.6"].contains(spec) else {
            throw HardenError(
                .unsupported, "\(path): CycloneDX \(spec.isEmpty ? "without a specVersion" : spec) (1.4–1.6 are read)")
        }
        var components: [[String: Any]] = []
        func walk(_ list: Any?, depth: Int) {
            guard depth < 32, let list = list as? [Any] else { return }
            for case let c as [String: Any] in list {
                components.append(c)
                walk(c["components"], depth: depth + 1)
            }
        }
        walk(root["components"], depth: 0)
        let metadata = root["metadata"] as? [String: Any]
        let subject = metadata?["component"] as? [String: Any]
        var os: OSInfo?
        var packages: [SoftwarePackage] = []
        var skipped = 0
        for c in components {
            let props = properties(c["properties"])
            if (c["type"] as? String) == "operating-system" {
                if let name = c["name"] as? String, !name.isEmpty {
                    os = OSInfo(
                        id: name.lowercased(), versionID: c["version"] as? String, codename: props["harden:os:codename"]
                    )
                }
                continue
            }
            guard let purlText = c["purl"] as? String, let purl = PURL.parse(purlText) else { continue }
            var cpes: [String] = []
            if let cpe = c["cpe"] as? String { cpes.append(cpe) }
            cpes += props.all("harden:cpe")
            let licenses = licenseNames(c["licenses"])
            guard
                let p = package(
                    purl: purl, text: purlText, version: c["version"] as? String, id: c["bom-ref"] as? String,
                    properties: props,
                    cpes: cpes, licenses: licenses, path: path)
            else {
                skipped += 1
                continue
            }
            packages.append(p)
        }
        let reference = path
        let digest = subject?["version"] as? String ?? ""
        let source = SBOM.Source(
            reference: reference, manifestDigest: digest.hasPrefix("sha256:") ? digest : "",
            configDigest: properties(subject?["properties"])["harden:image:configDigest"] ?? "", tag: nil, platform: "",
            created: metadata?["timestamp"] as? String, layers: [])
        return finish(
            packages: packages, os: os, source: source, skipped: skipped, path: path, format: "CycloneDX \(spec)")
    }

    /// CycloneDX `properties` as a multimap.
    struct Properties {
        var pairs: [(String, String)] = []
        subscript(_ key: String) -> String? { pairs.first { $0.0 == key }?.1 }
        func all(_ key: String) -> [String] { pairs.filter { $0.0 == key }.map(\.1) }
    }

    static func properties(_ list: Any?) -> Properties {
        var out = Properties()
        for case let p as [String: Any] in list as? [Any] ?? [] {
            if let n = p["name"] as? String, let v = p["value"] as? String { out.pairs.append((n, v)) }
        }
        return out
    }

    static func licenseNames(_ list: Any?) -> [String] {
        var out: [String] = []
        for case let l as [String: Any] in list as? [Any] ?? [] {
            if let lic = l["license"] as? [String: Any], let name = (lic["id"] as? String) ?? (lic["name"] as? String) {
                out.append(name)
            } else if let expr = l["expression"] as? String {
                out.append(expr)
            }
        }
        return out
    }

    // MARK: - SPDX

    static func spdx(_ root: [String: Any], path: String) throws -> SBOM {
        var os: OSInfo?
        var packages: [SoftwarePackage] = []
        var skipped = 0
        for case let p as [String: Any] in root["packages"] as? [Any] ?? [] {
            let purpose = p["primaryPackagePurpose"] as? String
            if purpose == "OPERATING-SYSTEM", let name = p["name"] as? String {
                os = OSInfo(id: name.lowercased(), versionID: p["versionInfo"] as? String)
                continue
            }
            var purlText: String?
            var cpes: [String] = []
            for case let r as [String: Any] in p["externalRefs"] as? [Any] ?? [] {
                let type = r["referenceType"] as? String, locator = r["referenceLocator"] as? String
                if type == "purl", purlText == nil { purlText = locator }
                if type == "cpe23Type", let l = locator { cpes.append(l) }
            }
            guard let text = purlText, let purl = PURL.parse(text) else { continue }
            let declared = p["licenseDeclared"] as? String
            let licenses = declared.map { $0 == "NOASSERTION" || $0 == "NONE" ? [] : [$0] } ?? []
            // harden writes an OS package's ownership of a language package as `harden:ownedBy=…` in the comment.
            var props = Properties()
            if let comment = p["comment"] as? String, comment.hasPrefix("harden:ownedBy=") {
                props.pairs.append(("harden:package:ownedBy", String(comment.dropFirst("harden:ownedBy=".count))))
            }
            guard
                let pkg = package(
                    purl: purl, text: text, version: p["versionInfo"] as? String, id: nil, properties: props,
                    cpes: cpes,
                    licenses: licenses, path: path)
            else {
                skipped += 1
                continue
            }
            packages.append(pkg)
        }
        let info = root["creationInfo"] as? [String: Any]
        let source = SBOM.Source(
            reference: path, manifestDigest: "", configDigest: "", tag: nil, platform: "",
            created: info?["created"] as? String, layers: [])
        return finish(packages: packages, os: os, source: source, skipped: skipped, path: path, format: "SPDX")
    }

    // MARK: - common

    static func finish(
        packages: [SoftwarePackage], os: OSInfo?, source: SBOM.Source, skipped: Int, path: String, format: String
    ) -> SBOM {
        var os = os
        // The distro qualifier of OS packages (`debian-12`, `alpine-3.19`) is more precise than a bare OS component.
        if let distro = packages.lazy.filter(\.type.isOS).compactMap({ PURL.parse($0.purl)?.qualifier("distro") }).first
        {
            let parts = distro.split(separator: "-", maxSplits: 1).map(String.init)
            if parts.count == 2 { os = OSInfo(id: parts[0].lowercased(), versionID: parts[1]) }
        }
        if var o = os, o.codename == nil, let v = o.versionID {
            o.codename = codenames[o.id]?[v] ?? codenames[o.id]?[String(v.split(separator: ".").first ?? "")]
            os = o
        }
        var warnings = ["\(path): read as \(format): \(packages.count) packages"]
        if skipped > 0 {
            warnings.append("\(path): \(skipped) components have purls of ecosystems harden does not match; left out")
        }
        return SBOM(source: source, os: os, packages: packages, warnings: warnings)
    }

    /// A package from a purl; nil for ecosystems harden does not match.
    static func package(
        purl: PURL, text: String, version: String?, id: String?, properties: Properties, cpes: [String],
        licenses: [String],
        path: String
    ) -> SoftwarePackage? {
        guard let v = purl.version ?? version, !v.isEmpty else { return nil }
        var name = purl.name
        var sourceName = properties["harden:package:sourceName"] ?? properties["syft:metadata:source"]
        var sourceVersion = properties["harden:package:sourceVersion"] ?? properties["syft:metadata:sourceVersion"]
        var fullVersion = v
        let type: PackageType
        switch purl.type {
        case "deb":
            type = .deb
            if let up = purl.qualifier("upstream"), sourceName == nil {
                let parts = up.split(separator: "@", maxSplits: 1).map(String.init)
                sourceName = parts[0]
                if parts.count == 2 { sourceVersion = parts[1] }
            }
            if let e = purl.qualifier("epoch"), !v.contains(":") { fullVersion = "\(e):\(v)" }
        case "apk":
            type = .apk
            if sourceName == nil {
                sourceName = purl.qualifier("upstream")?.split(separator: "@").first.map(String.init)
            }
        case "rpm":
            type = .rpm
            if let e = purl.qualifier("epoch"), !v.contains(":") { fullVersion = "\(e):\(v)" }
        case "pypi": type = .python
        case "npm":
            type = .npm
            if let ns = purl.namespace { name = "\(ns)/\(purl.name)" }
        case "gem": type = .gem
        case "golang":
            type = .goModule
            if let ns = purl.namespace { name = "\(ns)/\(purl.name)" }
        case "maven":
            type = .javaArchive
            sourceName = purl.namespace
        case "cargo": type = .rustCrate
        case "nuget": type = .dotnet
        case "composer":
            type = .composer
            if let ns = purl.namespace { name = "\(ns)/\(purl.name)" }
        case "generic":
            // A runtime found by its binaries: matched through its CPEs, so only with CPEs.
            guard !cpes.isEmpty else { return nil }
            type = .binary
        default:
            return nil
        }
        if type.isOS, sourceVersion == nil, sourceName != nil { sourceVersion = fullVersion }
        let harden = properties["harden:package:type"].flatMap(PackageType.init(rawValue:))
        return SoftwarePackage(
            id: id ?? "\(type.rawValue):\(name)@\(fullVersion)", type: harden ?? type, name: name, version: fullVersion,
            architecture: purl.qualifier("arch"), sourceName: sourceName, sourceVersion: sourceVersion,
            licenses: licenses, purl: text,
            layer: nil, locations: properties.all("harden:location"), files: [],
            ownedBy: properties["harden:package:ownedBy"],
            maintainer: nil, installedSize: nil, foundBy: "sbom:\(path)", metadata: nil, cpes: cpes.isEmpty ? nil : cpes
        )
    }
}

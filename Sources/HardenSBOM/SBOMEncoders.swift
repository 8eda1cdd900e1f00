// harden — SBOM output formats: table, harden JSON, CycloneDX 1.6 JSON, SPDX 2.3 JSON. All deterministic.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages

public enum SBOMFormat: String, CaseIterable, Sendable {
    case table, json
    case cyclonedxJSON = "cyclonedx-json"
    case spdxJSON = "spdx-json"
}

public enum SBOMEncoder {
    /// Renders an SBOM. The one exhaustive switch over formats.
    public static func render(_ sbom: SBOM, format: SBOMFormat) throws -> String {
        switch format {
        case .table: return table(sbom)
        case .json: return String(decoding: try JSONCoding.encode(sbom, pretty: true), as: UTF8.self)
        case .cyclonedxJSON:
            return String(decoding: try JSONCoding.encode(CycloneDX.document(sbom), pretty: true), as: UTF8.self)
        case .spdxJSON: return String(decoding: try JSONCoding.encode(SPDX.document(sbom), pretty: true), as: UTF8.self)
        }
    }

    static func table(_ sbom: SBOM) -> String {
        var rows = [["TYPE", "NAME", "VERSION", "LAYER"]]
        for p in sbom.packages {
            rows.append([p.type.rawValue, p.name, p.version, p.layer.map { "\($0.index)" } ?? "-"])
        }
        var widths = [Int](repeating: 0, count: 4)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        var out = rows.map { r in
            r.enumerated().map { i, c in i == 3 ? c : c + String(repeating: " ", count: widths[i] - c.count) }.joined(
                separator: "  ")
        }.joined(separator: "\n")
        let os = sbom.os.map { $0.prettyName ?? "\($0.id) \($0.versionID ?? "")" } ?? "unknown"
        out += "\n\n\(sbom.packages.count) packages; OS: \(os)"
        for w in sbom.warnings { out += "\nwarning: \(w)" }
        return out
    }

    /// A name-based UUID (version 5 layout) from `text`, so documents of the same image get the same serial.
    static func uuid(_ text: String) -> String {
        var h = StreamHasher(.sha256)
        h.update(Array(text.utf8))
        var b = Array(h.finalizeHex().utf8.prefix(32))
        b[12] = UInt8(ascii: "5")
        let variant: [UInt8] = Array("89ab".utf8)
        b[16] = variant[Int(b[16]) % 4]
        let s = String(decoding: b, as: UTF8.self)
        let i = s.startIndex
        func part(_ a: Int, _ n: Int) -> Substring { s[s.index(i, offsetBy: a)..<s.index(i, offsetBy: a + n)] }
        return "\(part(0, 8))-\(part(8, 4))-\(part(12, 4))-\(part(16, 4))-\(part(20, 12))"
    }

    /// RFC 3339 time without fractional seconds (the image's creation time keeps output reproducible).
    static func timestamp(_ sbom: SBOM) -> String {
        guard let c = sbom.source.created, c.count >= 19 else { return "1970-01-01T00:00:00Z" }
        return String(c.prefix(19)) + "Z"
    }
}

/// Maps licence names to SPDX identifiers where the mapping is certain.
enum SPDXLicenses {
    static let ids: Set<String> = [
        "0BSD", "AGPL-3.0-only", "AGPL-3.0-or-later", "Apache-1.1", "Apache-2.0", "Artistic-1.0", "Artistic-2.0",
        "BSD-2-Clause",
        "BSD-3-Clause", "BSD-4-Clause", "BSL-1.0", "CC-BY-4.0", "CC-BY-SA-4.0", "CC0-1.0", "curl", "EPL-1.0", "EPL-2.0",
        "GPL-1.0-only", "GPL-1.0-or-later", "GPL-2.0-only", "GPL-2.0-or-later", "GPL-3.0-only", "GPL-3.0-or-later",
        "ISC",
        "LGPL-2.0-only", "LGPL-2.0-or-later", "LGPL-2.1-only", "LGPL-2.1-or-later", "LGPL-3.0-only",
        "LGPL-3.0-or-later", "MIT",
        "MPL-1.1", "MPL-2.0", "OpenSSL", "PSF-2.0", "Python-2.0", "Unlicense", "X11", "Zlib", "BSD-1-Clause", "WTFPL",
        "Ruby",
    ]
    static let aliases: [String: String] = [
        "GPL-1": "GPL-1.0-only", "GPL-1+": "GPL-1.0-or-later", "GPL-2": "GPL-2.0-only", "GPL-2+": "GPL-2.0-or-later",
        "GPL-3": "GPL-3.0-only", "GPL-3+": "GPL-3.0-or-later", "LGPL-2": "LGPL-2.0-only",
        "LGPL-2+": "LGPL-2.0-or-later",
        "LGPL-2.1": "LGPL-2.1-only", "LGPL-2.1+": "LGPL-2.1-or-later", "LGPL-3": "LGPL-3.0-only",
        "LGPL-3+": "LGPL-3.0-or-later",
        "BSD-2-clause": "BSD-2-Clause", "BSD-3-clause": "BSD-3-Clause", "BSD-4-clause": "BSD-4-Clause", "Expat": "MIT",
        "zlib": "Zlib", "Apache-2": "Apache-2.0", "Apache 2.0": "Apache-2.0", "MIT License": "MIT",
        "BSD License": "BSD-3-Clause",
        "Artistic": "Artistic-1.0", "MPL-2": "MPL-2.0", "AGPL-3+": "AGPL-3.0-or-later", "ISC License (ISCL)": "ISC",
        "Python Software Foundation License": "PSF-2.0",
    ]

    static func id(_ name: String) -> String? {
        if ids.contains(name) { return name }
        return aliases[name]
    }
}

// MARK: - CycloneDX 1.6

enum CycloneDX {
    struct Document: Encodable {
        var schema = "http://cyclonedx.org/schema/bom-1.6.schema.json"
        var bomFormat = "CycloneDX"
        var specVersion = "1.6"
        var serialNumber: String
        var version = 1
        var metadata: Metadata
        var components: [Component]
        var dependencies: [Dependency]
        /// Only in `harden scan`'s CycloneDX output.
        var vulnerabilities: [CycloneDXVulnerability]? = nil
        enum CodingKeys: String, CodingKey {
            case schema = "$schema", bomFormat, specVersion, serialNumber, version, metadata, components, dependencies
            case vulnerabilities
        }
    }
    struct Metadata: Encodable {
        var timestamp: String
        var tools: Tools
        var component: Component
    }
    struct Tools: Encodable { var components: [Component] }
    struct Component: Encodable {
        var type: String
        var bomRef: String?
        var name: String
        var version: String?
        var description: String?
        var purl: String?
        var licenses: [LicenseChoice]?
        var properties: [Property]?
        /// The first CPE (CycloneDX has one); the others are `harden:cpe` properties.
        var cpe: String? = nil
        enum CodingKeys: String, CodingKey {
            case type, bomRef = "bom-ref", name, version, description, cpe, purl, licenses, properties
        }
    }
    struct LicenseChoice: Encodable { var license: License }
    struct License: Encodable {
        var id: String?
        var name: String?
    }
    struct Property: Encodable {
        var name: String
        var value: String
    }
    struct Dependency: Encodable {
        var ref: String
        var dependsOn: [String]
    }

    static func document(_ sbom: SBOM) -> Document {
        let imageRef = "image:" + sbom.source.manifestDigest
        var components: [Component] = []
        var refs: [String] = []
        if let os = sbom.os {
            let ref = "os:\(os.id)@\(os.versionID ?? "unknown")"
            refs.append(ref)
            components.append(
                Component(
                    type: "operating-system", bomRef: ref, name: os.id, version: os.versionID,
                    description: os.prettyName,
                    purl: nil, licenses: nil,
                    properties: os.codename.map { [Property(name: "harden:os:codename", value: $0)] }))
        }
        for p in sbom.packages {
            var props: [Property] = [
                Property(name: "harden:package:type", value: p.type.rawValue),
                Property(name: "harden:foundBy", value: p.foundBy),
            ]
            if let l = p.layer {
                props.append(Property(name: "harden:layer:index", value: String(l.index)))
                props.append(Property(name: "harden:layer:diffID", value: l.diffID))
            }
            if let s = p.sourceName { props.append(Property(name: "harden:package:sourceName", value: s)) }
            if let s = p.sourceVersion { props.append(Property(name: "harden:package:sourceVersion", value: s)) }
            if let o = p.ownedBy { props.append(Property(name: "harden:package:ownedBy", value: o)) }
            for loc in p.locations { props.append(Property(name: "harden:location", value: loc)) }
            for cpe in (p.cpes ?? []).dropFirst() { props.append(Property(name: "harden:cpe", value: cpe)) }
            let licenses = p.licenses.map { name in
                LicenseChoice(
                    license: SPDXLicenses.id(name).map { License(id: $0, name: nil) } ?? License(id: nil, name: name))
            }
            refs.append(p.id)
            components.append(
                Component(
                    type: p.type == .binary ? "application" : "library", bomRef: p.id, name: p.name, version: p.version,
                    description: nil, purl: p.purl, licenses: licenses.isEmpty ? nil : licenses, properties: props,
                    cpe: p.cpes?.first))
        }
        let image = Component(
            type: "container", bomRef: imageRef, name: sbom.source.reference, version: sbom.source.manifestDigest,
            description: nil, purl: nil, licenses: nil,
            properties: [
                Property(name: "harden:image:configDigest", value: sbom.source.configDigest),
                Property(name: "harden:image:platform", value: sbom.source.platform),
            ])
        return Document(
            serialNumber: "urn:uuid:" + SBOMEncoder.uuid("cyclonedx:" + sbom.source.manifestDigest),
            metadata: Metadata(
                timestamp: SBOMEncoder.timestamp(sbom),
                tools: Tools(components: [
                    Component(
                        type: "application", bomRef: nil, name: "harden", version: hardenToolVersion,
                        description: nil, purl: nil, licenses: nil, properties: nil)
                ]),
                component: image),
            components: components,
            dependencies: [Dependency(ref: imageRef, dependsOn: refs)] + refs.map { Dependency(ref: $0, dependsOn: []) }
        )
    }
}

// MARK: - SPDX 2.3

enum SPDX {
    struct Document: Encodable {
        var spdxVersion = "SPDX-2.3"
        var dataLicense = "CC0-1.0"
        var SPDXID = "SPDXRef-DOCUMENT"
        var name: String
        var documentNamespace: String
        var creationInfo: CreationInfo
        var packages: [Package]
        var relationships: [Relationship]
        var hasExtractedLicensingInfos: [ExtractedLicense]?
    }
    struct CreationInfo: Encodable {
        var created: String
        var creators: [String]
    }
    struct Package: Encodable {
        var name: String
        var SPDXID: String
        var versionInfo: String?
        var downloadLocation = "NOASSERTION"
        var filesAnalyzed = false
        var licenseConcluded = "NOASSERTION"
        var licenseDeclared = "NOASSERTION"
        var copyrightText = "NOASSERTION"
        var primaryPackagePurpose: String?
        var sourceInfo: String?
        var supplier: String?
        var externalRefs: [ExternalRef]?
        /// `harden:ownedBy=deb:NAME` for a language package an OS package owns (read back by `scan sbom:`).
        var comment: String? = nil
    }
    struct ExternalRef: Encodable {
        var referenceCategory: String
        var referenceType: String
        var referenceLocator: String
    }
    struct Relationship: Encodable {
        var spdxElementId: String
        var relationshipType: String
        var relatedSpdxElement: String
    }
    struct ExtractedLicense: Encodable {
        var licenseId: String
        var extractedText: String
        var name: String
    }

    /// SPDX ids allow letters, digits, `.` and `-`; a hash suffix keeps sanitised ids unique.
    static func spdxID(_ prefix: String, _ text: String) -> String {
        let clean = String(text.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") ? $0 : "-" })
        return "SPDXRef-\(prefix)-\(clean.prefix(80))-\(String(SBOMEncoder.uuid(text).prefix(8)))"
    }

    static func licenseRef(_ name: String) -> String {
        let clean = String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") ? $0 : "-" })
        return "LicenseRef-\(clean.prefix(60))-\(String(SBOMEncoder.uuid(name).prefix(6)))"
    }

    static func document(_ sbom: SBOM) -> Document {
        let imageID = "SPDXRef-Image"
        var packages = [
            Package(
                name: sbom.source.reference, SPDXID: imageID, versionInfo: sbom.source.manifestDigest,
                primaryPackagePurpose: "CONTAINER")
        ]
        var relationships = [
            Relationship(spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: imageID)
        ]
        if let os = sbom.os {
            packages.append(
                Package(
                    name: os.id, SPDXID: "SPDXRef-OperatingSystem", versionInfo: os.versionID,
                    primaryPackagePurpose: "OPERATING-SYSTEM",
                    sourceInfo: os.prettyName.map { "from /etc/os-release: \($0)" }))
            relationships.append(
                Relationship(
                    spdxElementId: imageID, relationshipType: "CONTAINS", relatedSpdxElement: "SPDXRef-OperatingSystem")
            )
        }
        var extracted: [String: ExtractedLicense] = [:]
        for p in sbom.packages {
            let id = spdxID("Package-\(p.type.rawValue)", p.id)
            var declared = "NOASSERTION"
            if !p.licenses.isEmpty {
                declared = p.licenses.map { name -> String in
                    if let known = SPDXLicenses.id(name) { return known }
                    let ref = licenseRef(name)
                    extracted[ref] = ExtractedLicense(licenseId: ref, extractedText: name, name: name)
                    return ref
                }.joined(separator: " AND ")
            }
            var info = "found by harden \(p.foundBy) in \(p.locations.joined(separator: ", "))"
            if let l = p.layer { info += " (layer \(l.index), \(l.diffID))" }
            packages.append(
                Package(
                    name: p.name, SPDXID: id, versionInfo: p.version, licenseDeclared: declared, sourceInfo: info,
                    supplier: nil,
                    externalRefs: [
                        ExternalRef(
                            referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: p.purl)
                    ]
                        + (p.cpes ?? []).map {
                            ExternalRef(referenceCategory: "SECURITY", referenceType: "cpe23Type", referenceLocator: $0)
                        }, comment: p.ownedBy.map { "harden:ownedBy=\($0)" }))
            relationships.append(
                Relationship(spdxElementId: imageID, relationshipType: "CONTAINS", relatedSpdxElement: id))
        }
        let digest = sbom.source.manifestDigest.replacingAll(":", with: "-")
        return Document(
            name: sbom.source.reference,
            documentNamespace:
                "https://harden.dev/spdx/\(digest)-\(SBOMEncoder.uuid("spdx:" + sbom.source.manifestDigest))",
            creationInfo: CreationInfo(
                created: SBOMEncoder.timestamp(sbom), creators: ["Tool: harden-\(hardenToolVersion)"]),
            packages: packages, relationships: relationships,
            hasExtractedLicensingInfos: extracted.isEmpty ? nil : extracted.keys.sorted().compactMap { extracted[$0] })
    }
}

// harden — the package model every ecosystem shares: packages, the files they own, the layer they came from, the OS.
import Foundation
import HardenCore
import HardenOCI

/// The ecosystems harden catalogues.
public enum PackageType: String, Codable, Sendable, CaseIterable, Comparable {
    case deb, apk, rpm, python, npm, gem, goModule = "go-module", javaArchive = "java-archive"
    /// A runtime recognised by its executable's or library's own version strings (no package database lists it).
    case binary
    case rustCrate = "rust-crate", dotnet, composer

    public static func < (a: PackageType, b: PackageType) -> Bool { a.rawValue < b.rawValue }

    /// True for packages of the operating system's package manager.
    public var isOS: Bool { self == .deb || self == .apk || self == .rpm }
}

/// Which layer a package came from.
public struct LayerRef: Codable, Sendable, Hashable {
    public var index: Int
    public var diffID: String

    public init(index: Int, diffID: String) {
        self.index = index
        self.diffID = diffID
    }
}

/// One installed package.
public struct SoftwarePackage: Codable, Sendable, Hashable, Comparable {
    /// Stable identifier, also the CycloneDX `bom-ref`: `type:name@version` plus a location hash when needed.
    public var id: String
    public var type: PackageType
    public var name: String
    public var version: String
    public var architecture: String?
    /// Source package (dpkg `Source:`, apk origin, rpm source RPM name).
    public var sourceName: String?
    public var sourceVersion: String?
    public var licenses: [String]
    public var purl: String
    public var layer: LayerRef?
    /// Where the package was found (the database or metadata file).
    public var locations: [String]
    /// Files the package owns that exist in the image.
    public var files: [String]
    /// For language packages: the OS package whose files include this package's metadata (e.g. `deb:python3-flask`).
    public var ownedBy: String?
    public var maintainer: String?
    public var installedSize: Int64?
    /// Which cataloger found it.
    public var foundBy: String
    /// For Go modules and Java archives: the binary or archive they were found in.
    public var metadata: [String: String]?
    /// CPE 2.3 names (binary-classified runtimes only: the vendor:product NVD files them under).
    public var cpes: [String]? = nil

    public init(
        id: String, type: PackageType, name: String, version: String, architecture: String?, sourceName: String?,
        sourceVersion: String?, licenses: [String], purl: String, layer: LayerRef?, locations: [String],
        files: [String], ownedBy: String?, maintainer: String?, installedSize: Int64?, foundBy: String,
        metadata: [String: String]?, cpes: [String]? = nil
    ) {
        self.id = id
        self.type = type
        self.name = name
        self.version = version
        self.architecture = architecture
        self.sourceName = sourceName
        self.sourceVersion = sourceVersion
        self.licenses = licenses
        self.purl = purl
        self.layer = layer
        self.locations = locations
        self.files = files
        self.ownedBy = ownedBy
        self.maintainer = maintainer
        self.installedSize = installedSize
        self.foundBy = foundBy
        self.metadata = metadata
        self.cpes = cpes
    }

    public static func < (a: SoftwarePackage, b: SoftwarePackage) -> Bool {
        (a.type, a.name, a.version, a.id) < (b.type, b.name, b.version, b.id)
    }
}

/// The operating system of an image, from `/etc/os-release` and its fallbacks.
public struct OSInfo: Codable, Sendable, Hashable {
    public var id: String
    public var versionID: String?
    public var codename: String?
    public var name: String?
    public var prettyName: String?
    public var idLike: [String]?

    public init(
        id: String, versionID: String? = nil, codename: String? = nil, name: String? = nil, prettyName: String? = nil,
        idLike: [String]? = nil
    ) {
        self.id = id
        self.versionID = versionID
        self.codename = codename
        self.name = name
        self.prettyName = prettyName
        self.idLike = idLike
    }

    /// `debian-12`, `alpine-3.19`: the purl `distro` qualifier.
    public var distroQualifier: String? {
        guard let v = versionID else { return nil }
        return "\(id)-\(v)"
    }

    /// The OS ID assumed for a dpkg database when the image names no OS (Ubuntu images always have os-release).
    public static let assumedDpkgID = "debian"

    /// The image's OS from the first of `FileTree.osReleaseFiles` that names one; `content` reads a file.
    public static func detect(_ content: (RawPath) -> [UInt8]?) -> OSInfo? {
        func firstWord(_ b: [UInt8]) -> String? {
            String(decoding: b, as: UTF8.self).split(whereSeparator: \.isWhitespace).first.map(String.init)
        }
        for path in FileTree.osReleaseFiles {
            guard let b = content(path) else { continue }
            switch path {
            case "etc/debian_version":
                return OSInfo(
                    id: "debian", versionID: firstWord(b).flatMap { $0.split(separator: ".").first.map(String.init) })
            case "etc/alpine-release":
                return OSInfo(id: "alpine", versionID: firstWord(b))
            default:
                if let os = parseOSRelease(String(decoding: b, as: UTF8.self)) { return os }
            }
        }
        return nil
    }

    /// Parses `/etc/os-release` (KEY=value, optionally quoted).
    public static func parseOSRelease(_ text: String) -> OSInfo? {
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let t = line.drop { $0 == " " || $0 == "\t" }
            guard !t.hasPrefix("#"), let eq = t.firstIndex(of: "=") else { continue }
            var v = String(t[t.index(after: eq)...])
            while v.hasSuffix(" ") { v.removeLast() }
            if v.count >= 2, let f = v.first, f == "\"" || f == "'", v.last == f {
                v = String(v.dropFirst().dropLast())
            }
            v = v.replacingOccurrences(of: "\\\"", with: "\"").replacingOccurrences(of: "\\$", with: "$")
            fields[String(t[..<eq])] = v
        }
        guard let id = fields["ID"], !id.isEmpty else { return nil }
        return OSInfo(
            id: id.lowercased(), versionID: fields["VERSION_ID"], codename: fields["VERSION_CODENAME"],
            name: fields["NAME"], prettyName: fields["PRETTY_NAME"],
            idLike: fields["ID_LIKE"].map { $0.split(separator: " ").map(String.init) })
    }
}

// harden — an image's Python environment as the library patcher sees it: the interpreter (version, libc, machine)
// and every installed distribution with its requirements, its files and whether an OS package owns it.
import Foundation
import HardenCore
import HardenOCI
import HardenPackages

/// One installed distribution (`*.dist-info` or `*.egg-info`).
public struct PythonDist: Sendable {
    public var name: String
    public var version: String
    /// The directory holding the metadata directory (site-packages), tree path.
    public var site: RawPath
    /// The `.dist-info`/`.egg-info` directory (or file), tree path.
    public var metadataPath: RawPath
    public var requires: [PythonRequirement]
    /// RECORD paths, relative to `site`.
    public var record: [String]
    /// The OS package that installed it (its upgrades are the OS patcher's), nil for pip-installed ones.
    public var osOwner: String?
    public var isDistInfo: Bool
    /// The RECORD listed compiled bytecode (`__pycache__/*.pyc`).
    public var hadBytecode: Bool
    public var requested: Bool

    public var key: String { PythonRequirement.normalize(name) }
    /// Whether harden may replace it: pip-style (dist-info with a RECORD) and not an OS package's.
    public var isPatchable: Bool { osOwner == nil && isDistInfo && !record.isEmpty }
}

public struct PythonEnvironment: Sendable {
    public var target: PythonTarget
    public var dists: [PythonDist]

    /// The environment of the catalogued image: nil when it has no Python distributions.
    public static func read(
        _ context: CatalogContext, packages: [SoftwarePackage], architecture: String
    ) -> PythonEnvironment? {
        var dists: [PythonDist] = []
        for p in packages where p.type == .python {
            guard let loc = p.locations.first, let dist = dist(p, location: RawPath(String(loc.dropFirst())), context)
            else { continue }
            dists.append(dist)
        }
        guard !dists.isEmpty else { return nil }
        // The interpreter version from the site directory's path (`lib/python3.11/site-packages`).
        var major = 3, minor = 0
        let sites = dists.filter(\.isPatchable).map(\.site) + dists.map(\.site)
        for site in sites {
            let s = String(decoding: site.bytes, as: UTF8.self)
            if let r = s.range(of: "/python3."), let m = Int(s[r.upperBound...].prefix { $0.isNumber }) {
                minor = m
                break
            }
        }
        let full = interpreterVersion(packages, major: major, minor: minor)
        if let m = Int(full.split(separator: ".").first ?? "") { major = m }
        let target = PythonTarget(
            major: major, minor: minor, fullVersion: full, machine: machine(architecture),
            libc: libc(packages, tree: context.tree))
        return PythonEnvironment(target: target, dists: dists.sorted { $0.key < $1.key })
    }

    static func dist(_ p: SoftwarePackage, location: RawPath, _ context: CatalogContext) -> PythonDist? {
        guard let bytes = context.content(location) else { return nil }
        let headers = Deb822.parse(bytes, headerOnly: true) { _, _ in }.first
        let isDistInfo = String(decoding: location.bytes, as: UTF8.self).hasSuffix(".dist-info/METADATA")
        let metaDir = isDistInfo || location.lastComponent == Array("PKG-INFO".utf8) ? location.parent! : location
        var requires = (headers?.all("Requires-Dist") ?? []).compactMap { try? PythonRequirement.parse($0) }
        if !isDistInfo, let txt = context.content(metaDir.appending(Array("requires.txt".utf8))) {
            requires = eggRequires(String(decoding: txt, as: UTF8.self))
        }
        var record: [String] = []
        if isDistInfo, let r = context.content(metaDir.appending(Array("RECORD".utf8))) {
            record = PythonRecord.paths(r)
        }
        return PythonDist(
            name: p.name, version: p.version, site: metaDir.parent ?? .root, metadataPath: metaDir,
            requires: requires, record: record, osOwner: p.ownedBy, isDistInfo: isDistInfo,
            hadBytecode: record.contains { $0.hasSuffix(".pyc") },
            requested: context.exists(metaDir.appending(Array("REQUESTED".utf8))))
    }

    /// An egg-info `requires.txt`: plain lines, then `[extra:marker]` sections (extras never apply).
    public static func eggRequires(_ text: String) -> [PythonRequirement] {
        var out: [PythonRequirement] = []
        var marker: PythonMarker?? = .some(nil)
        for raw in text.textLines() {
            let line = raw.trimming(" ")
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("[") {
                let inner = line.dropFirst().dropLast()
                if inner.hasPrefix(":") {
                    marker = .some(try? PythonMarker.parse(String(inner.dropFirst())))
                } else {
                    marker = nil  // an extra's section
                }
                continue
            }
            guard case .some(let m) = marker, var r = try? PythonRequirement.parse(line) else { continue }
            r.marker = m
            out.append(r)
        }
        return out
    }

    /// X.Y.Z of the interpreter: the OS package's version (python3.11 3.11.2-6 → 3.11.2), else X.Y.0.
    static func interpreterVersion(_ packages: [SoftwarePackage], major: Int, minor: Int) -> String {
        let names: Set<String> = [
            "python\(major).\(minor)", "python\(major).\(minor)-minimal", "python\(major)", "python",
        ]
        for p in packages where names.contains(p.name.lowercased()) && p.type != .python {
            let v = p.version.split(separator: ":").last.map(String.init) ?? p.version
            let digits = v.prefix { $0.isNumber || $0 == "." }
            if digits.hasPrefix("\(major).\(minor).") { return String(digits) }
        }
        return "\(major).\(minor).0"
    }

    /// The C library wheels must link against: glibc or musl, with its version from the OS package.
    static func libc(_ packages: [SoftwarePackage], tree: FileTree) -> PythonTarget.Libc? {
        func mm(_ v: String) -> (Int, Int)? {
            let v = v.split(separator: ":").last.map(String.init) ?? v
            let parts = v.prefix { $0.isNumber || $0 == "." }.split(separator: ".").compactMap { Int($0) }
            return parts.count >= 2 ? (parts[0], parts[1]) : nil
        }
        for p in packages where p.type.isOS {
            if ["libc6", "glibc", "libc6-udeb"].contains(p.name), let (a, b) = mm(p.version) {
                return .glibc(major: a, minor: b)
            }
            if p.name == "musl", let (a, b) = mm(p.version) { return .musl(major: a, minor: b) }
        }
        return nil
    }

    static func machine(_ oci: String) -> String {
        switch oci {
        case "amd64": "x86_64"
        case "arm64": "aarch64"
        case "386": "i686"
        case "arm": "armv7l"
        default: oci
        }
    }
}

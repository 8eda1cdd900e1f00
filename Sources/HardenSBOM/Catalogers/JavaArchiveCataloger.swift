// harden — Java archives (.jar/.war/.ear): pom.properties and MANIFEST.MF, nested archives included.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages

public struct JavaArchiveCataloger: Cataloger {
    public var name: String { "java-archive" }
    public init() {}

    /// Archives inside archives are read this deep (a jar in a war in an ear is depth 2).
    public static let maxDepth = 3
    /// The largest deflated nested archive inflated into memory.
    public static let maxNestedInflated = 64 << 20
    /// Bytes inflated from all the archives of one image at most.
    public static let inflationLimit = 1 << 30

    public func catalog(_ context: CatalogContext) -> [SoftwarePackage] {
        var out: [SoftwarePackage] = []
        let budget = InflationBudget(limit: Self.inflationLimit)
        for (path, bytes) in context.capturedFiles() {
            let file = String(decoding: path.lastComponent, as: UTF8.self)
            guard file.hasSuffix(".jar") || file.hasSuffix(".war") || file.hasSuffix(".ear") else { continue }
            let spent = budget.exhaustedBy != nil
            do {
                out += try Self.packages(
                    in: bytes, name: file, location: path.absoluteDescription, layer: context.layer(of: path), depth: 0,
                    budget: budget)
            } catch {
                context.warn("\(path.absoluteDescription): \(error); skipped")
            }
            if !spent, let what = budget.exhaustedBy {
                context.warn(
                    "\(path.absoluteDescription): \(what): more than \(Self.inflationLimit >> 20) MiB would be inflated from this image's zip archives (a zip bomb?); archives nested deeper are not read from here on"
                )
            }
        }
        return out
    }

    public static func packages(
        in bytes: [UInt8], name: String, location: String, layer: LayerRef?, depth: Int,
        budget: InflationBudget = InflationBudget(limit: inflationLimit)
    ) throws -> [SoftwarePackage] {
        let zip = try ZipArchive(bytes)
        var out: [SoftwarePackage] = []
        func make(group: String?, artifact: String, version: String, licenses: [String]) -> SoftwarePackage {
            let purl = PURL(type: "maven", namespace: group, name: artifact, version: version).description
            return SoftwarePackage(
                id: "java-archive:\(group.map { $0 + ":" } ?? "")\(artifact)@\(version)", type: .javaArchive,
                name: artifact,
                version: version,
                architecture: nil, sourceName: group, sourceVersion: nil, licenses: licenses, purl: purl, layer: layer,
                locations: [location], files: depth == 0 ? [location] : [], ownedBy: nil, maintainer: nil,
                installedSize: nil,
                foundBy: "java-archive", metadata: ["archive": location + (depth > 0 ? ":" + name : "")])
        }
        // Maven metadata: every pom.properties (shaded jars carry one per bundled artifact), and pom.xml where a
        // directory has no pom.properties. Group and artifact ids come only from these.
        var mavenDirs = Set<String>()
        for entry in zip.entries
        where entry.name.hasPrefix("META-INF/maven/") && entry.name.hasSuffix("/pom.properties") {
            let props = parseProperties(String(decoding: try zip.read(entry, budget: budget), as: UTF8.self))
            if let a = props["artifactId"], !a.isEmpty, let v = props["version"], !v.isEmpty {
                out.append(make(group: props["groupId"], artifact: a, version: v, licenses: []))
                mavenDirs.insert(String(entry.name.dropLast("pom.properties".count)))
            }
        }
        for entry in zip.entries where entry.name.hasPrefix("META-INF/maven/") && entry.name.hasSuffix("/pom.xml") {
            guard !mavenDirs.contains(String(entry.name.dropLast("pom.xml".count))) else { continue }
            if let pom = PomXML.parse(try zip.read(entry, budget: budget)), let v = pom.version {
                out.append(make(group: pom.groupId, artifact: pom.artifactId, version: v, licenses: pom.licenses))
            }
        }
        if out.isEmpty {
            // No Maven metadata: the file name (`commons-lang3-3.12.0.jar`) names the artifact, the manifest or the
            // file name gives the version, and the manifest's reverse-domain ids give the group.
            let fileName = name.split(separator: "/").last.map(String.init) ?? name
            let fromName = splitArchiveName(fileName)
            var fields: [String: String] = [:]
            if let m = zip.entries.first(where: { $0.name.uppercased() == "META-INF/MANIFEST.MF" }) {
                fields = parseManifest(String(decoding: try zip.read(m, budget: budget), as: UTF8.self))
            }
            let version =
                fromName.version ?? fields["Implementation-Version"] ?? fields["Bundle-Version"]
                ?? fields["Specification-Version"]
            if let version, !version.isEmpty, !fromName.artifact.isEmpty {
                out.append(
                    make(
                        group: manifestGroup(fields, artifact: fromName.artifact), artifact: fromName.artifact,
                        version: version,
                        licenses: fields["Bundle-License"].map { [$0] } ?? []))
            }
        }
        if depth < maxDepth {
            // Nested jars are stored (Spring Boot's loader needs that) or small; a deflated one larger than
            // `maxNestedInflated` is skipped rather than inflated into memory.
            for entry in zip.entries
            where entry.name.hasSuffix(".jar") && (entry.method == 0 || entry.uncompressedSize <= maxNestedInflated) {
                do {
                    out += try packages(
                        in: try zip.read(entry, budget: budget), name: entry.name, location: location, layer: layer,
                        depth: depth + 1, budget: budget)
                } catch let e as HardenError where e.code == .limitExceeded && budget.exhaustedBy != nil {
                    break  // the image's budget is spent: keep what was found, inflate nothing more
                } catch {
                    continue  // a damaged nested jar hides only its own packages
                }
            }
        }
        return out
    }

    /// `commons-lang3-3.12.0.jar` → (`commons-lang3`, `3.12.0`): the version starts at the first `-` followed by a digit.
    public static func splitArchiveName(_ file: String) -> (artifact: String, version: String?) {
        var base = Substring(file)
        for ext in [".jar", ".war", ".ear", ".JAR"] where base.hasSuffix(ext) { base = base.dropLast(ext.count) }
        let chars = Array(base)
        for i in chars.indices.dropLast() where chars[i] == "-" && chars[i + 1].isASCII && chars[i + 1].isNumber {
            return (String(chars[..<i]), String(chars[(i + 1)...]))
        }
        return (String(base), nil)
    }

    /// A group id from a manifest without Maven metadata: `Implementation-Vendor-Id` when it reads as a reverse
    /// domain, else an OSGi or module name (`com.fasterxml.jackson.core.jackson-core` → `com.fasterxml.jackson.core`).
    /// Never `Implementation-Title`: that is a display name.
    static func manifestGroup(_ fields: [String: String], artifact: String) -> String? {
        func reverseDomain(_ s: String) -> Bool {
            let parts = s.split(separator: ".", omittingEmptySubsequences: false)
            return parts.count > 1
                && parts.allSatisfy { p in
                    !p.isEmpty && p.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
                }
        }
        if let v = fields["Implementation-Vendor-Id"], reverseDomain(v) { return v }
        for key in ["Bundle-SymbolicName", "Automatic-Module-Name"] {
            guard var s = fields[key]?.split(separator: ";").first.map({ $0.trimming(" ") }), reverseDomain(s) else {
                continue
            }
            for suffix in [artifact, artifact.replacingAll("-", with: ".")] where s.hasSuffix("." + suffix) {
                s = String(s.dropLast(suffix.count + 1))
                return s
            }
            let parts = s.split(separator: ".")
            return parts.dropLast().joined(separator: ".")
        }
        return nil
    }

    public static func parseProperties(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let t = line.trimming(" \t")
            guard !t.hasPrefix("#"), !t.hasPrefix("!"), let eq = t.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                continue
            }
            out[t[..<eq].trimming(" ")] = t[t.index(after: eq)...].trimming(" ")
        }
        return out
    }

    /// MANIFEST.MF: `Key: value` with 72-column continuation lines starting with one space.
    public static func parseManifest(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        var lastKey: String?
        for line in text.split(whereSeparator: \.isNewline) {
            if line.hasPrefix(" "), let k = lastKey {
                out[k, default: ""] += line.dropFirst()
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let k = String(line[..<colon])
            if out[k] == nil { out[k] = line[line.index(after: colon)...].trimming(" ") }
            lastKey = k
        }
        return out
    }
}

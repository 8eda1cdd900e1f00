// harden — Java archives (.jar/.war/.ear): pom.properties and MANIFEST.MF, nested archives included.
import HardenArchive
import HardenCore
import HardenOCI

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
                id: "java-archive:\(group.map { $0 + ":" } ?? "")\(artifact)@\(version)", type: .javaArchive, name: artifact,
                version: version,
                architecture: nil, sourceName: group, sourceVersion: nil, licenses: licenses, purl: purl, layer: layer,
                locations: [location], files: depth == 0 ? [location] : [], ownedBy: nil, maintainer: nil, installedSize: nil,
                foundBy: "java-archive", metadata: ["archive": location + (depth > 0 ? ":" + name : "")])
        }
        for entry in zip.entries where entry.name.hasPrefix("META-INF/maven/") && entry.name.hasSuffix("/pom.properties") {
            let props = parseProperties(String(decoding: try zip.read(entry, budget: budget), as: UTF8.self))
            if let a = props["artifactId"], let v = props["version"] {
                out.append(make(group: props["groupId"], artifact: a, version: v, licenses: []))
            }
        }
        if out.isEmpty, let m = zip.entries.first(where: { $0.name == "META-INF/MANIFEST.MF" }) {
            let fields = parseManifest(String(decoding: try zip.read(m, budget: budget), as: UTF8.self))
            let version = fields["Implementation-Version"] ?? fields["Bundle-Version"] ?? fields["Specification-Version"]
            let base = name.split(separator: "/").last.map { String($0.dropLast(4)) } ?? name
            let artifact = fields["Implementation-Title"] ?? fields["Bundle-SymbolicName"] ?? base
            if let version {
                out.append(
                    make(
                        group: fields["Implementation-Vendor-Id"] ?? fields["Bundle-SymbolicName"].flatMap { groupOf($0) },
                        artifact: artifact, version: version, licenses: fields["Bundle-License"].map { [$0] } ?? []))
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

    private static func groupOf(_ symbolic: String) -> String? {
        let parts = symbolic.split(separator: ".")
        return parts.count > 1 ? parts.dropLast().joined(separator: ".") : nil
    }

    static func parseProperties(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let t = line.trimming(" \t")
            guard !t.hasPrefix("#"), !t.hasPrefix("!"), let eq = t.firstIndex(where: { $0 == "=" || $0 == ":" }) else { continue }
            out[t[..<eq].trimming(" ")] = t[t.index(after: eq)...].trimming(" ")
        }
        return out
    }

    /// MANIFEST.MF: `Key: value` with 72-column continuation lines starting with one space.
    static func parseManifest(_ text: String) -> [String: String] {
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

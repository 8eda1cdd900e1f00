// harden — the jars `harden patch --libraries maven` can replace, and the replacing: which artifact a jar is (its
// pom.properties; a jar with several is a shaded bundle, its parts refused), the new jar checked against its own
// pom.properties, archives holding replaced jars rewritten (signed archives refused: rewriting breaks their digests).
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenSBOM

/// An artifact found shaded into another jar (its own pom.properties among several).
struct MavenShaded {
    var location: String
    var coordinates: MavenCoordinates
    var version: String
}

struct MavenJarScan {
    var jars: [MavenJar] = []
    var shaded: [(String, MavenShaded)] = []
    var notes: [String] = []
}

extension MavenPatcher {
    /// The artifacts of the jars in `files` (absolute paths of jar, war and ear files) and of the jars directly inside
    /// them.
    static func jars(_ files: [String], context: CatalogContext) -> MavenJarScan {
        var scan = MavenJarScan()
        let budget = InflationBudget(limit: JavaArchiveCataloger.inflationLimit)
        for file in files {
            let path = RawPath(String(file.dropFirst()))
            guard let bytes = context.content(path) else { continue }
            do {
                let zip = try ZipArchive(bytes)
                classify(zip, name: file, file: path, entry: nil, size: bytes.count, budget: budget, into: &scan)
                for e in zip.entries where e.name.hasSuffix(".jar") && !e.name.hasSuffix("/") {
                    guard e.method == 0 || e.uncompressedSize <= JavaArchiveCataloger.maxNestedInflated else {
                        scan.notes.append("\(file)!/\(e.name): larger than the nested jars harden reads; not patched")
                        continue
                    }
                    let inner = try ZipArchive(try zip.read(e, budget: budget))
                    classify(
                        inner, name: e.name, file: path, entry: e.name, size: e.uncompressedSize, budget: budget,
                        into: &scan)
                }
            } catch {
                scan.notes.append("\(file): \(error); its jars are not patched")
            }
        }
        return scan
    }

    /// Adds the jar's own artifact (its only pom.properties, or the one its file name starts with) to the scan and
    /// the others as shaded.
    static func classify(
        _ zip: ZipArchive, name: String, file: RawPath, entry: String?, size: Int, budget: InflationBudget,
        into scan: inout MavenJarScan
    ) {
        let artifacts: [(MavenCoordinates, String)] = zip.entries.compactMap { e in
            guard e.name.hasPrefix("META-INF/maven/"), e.name.hasSuffix("/pom.properties"),
                let bytes = try? zip.read(e, budget: budget)
            else { return nil }
            let p = JavaArchiveCataloger.parseProperties(String(decoding: bytes, as: UTF8.self))
            guard let g = p["groupId"], let a = p["artifactId"], let v = p["version"], !g.isEmpty, !a.isEmpty,
                !v.isEmpty
            else { return nil }
            return (MavenCoordinates(group: g, artifact: a), v)
        }
        let fileName = String(name.split(separator: "/").last ?? Substring(name))
        let own =
            artifacts.count == 1
            ? artifacts.first
            : artifacts.first { fileName.hasPrefix($0.0.artifact + "-") || fileName == $0.0.artifact + ".jar" }
        let jar = own.map { MavenJar(file: file, entry: entry, coordinates: $0.0, version: $0.1, size: size) }
        if let jar { scan.jars.append(jar) }
        let location = file.absoluteDescription + (entry.map { "!/" + $0 } ?? "")
        for (c, v) in artifacts where c != own?.0 {
            scan.shaded.append((location, MavenShaded(location: location, coordinates: c, version: v)))
        }
    }

    /// Downloads each chosen release once, checks it, and adds the replaced files (whole jars, or rewritten archives)
    /// and the report's rows to `plan`.
    func install(
        _ jars: [MavenJar], chosen: [String: (to: String, fixes: [String])], into plan: inout LibraryPlan,
        repository: MavenRepository, context: CatalogContext
    ) async throws {
        var downloads: [String: (bytes: [UInt8], url: String)] = [:]
        var unusable = Set<String>()
        var nested: [RawPath: [(MavenJar, [UInt8])]] = [:]
        let wholeFiles = Set(jars.filter { $0.entry == nil }.map(\.file))
        for jar in jars.sorted(by: { $0.location < $1.location }) {
            guard let (to, fixes) = chosen["\(jar.coordinates)@\(jar.version)"] else { continue }
            let key = "\(jar.coordinates)@\(to)"
            if downloads[key] == nil, !unusable.contains(key) {
                do {
                    let got = try await repository.jar(jar.coordinates, to)
                    try Self.check(got.bytes, is: jar.coordinates, version: to, url: got.url)
                    downloads[key] = got
                } catch let e as HardenError where e.code == .unsupported {
                    unusable.insert(key)
                    plan.report.refused.append(
                        .init(
                            ecosystem: .maven, name: jar.coordinates.description, version: jar.version,
                            reason: e.message, vulnerabilities: fixes))
                }
            }
            guard let (bytes, url) = downloads[key] else { continue }
            if jar.entry != nil {
                guard !wholeFiles.contains(jar.file) else { continue }  // the archive itself is replaced
                nested[jar.file, default: []].append((jar, bytes))
            } else {
                plan.files.append(LayerFile(path: jar.file, bytes: bytes, mode: Self.mode(jar.file, context)))
            }
            plan.report.packages.append(
                .init(
                    ecosystem: .maven, name: jar.coordinates.description, from: jar.version, to: to, fixes: fixes,
                    reason: fixes.isEmpty ? "newer release" : "fixes \(fixes.joined(separator: ", "))", url: url,
                    sha256: Digest.sha256(of: bytes).encoded, location: jar.location,
                    bytesAdded: Int64(bytes.count - jar.size), root: "maven:\(jar.coordinates)"))
            if !plan.roots.contains("maven:\(jar.coordinates)") {
                plan.roots.append("maven:\(jar.coordinates)")
                plan.labels.append("maven:\(jar.coordinates)=\(to)")
            }
        }
        for (file, replaced) in nested.sorted(by: { $0.key < $1.key }) {
            guard let outer = context.content(file) else { continue }
            let zip = try ZipArchive(outer)
            if zip.entries.contains(where: { $0.name.hasPrefix("META-INF/") && $0.name.uppercased().hasSuffix(".SF") })
            {
                let locations = Set(replaced.map(\.0.location))
                for row in plan.report.packages where locations.contains(row.location) {
                    plan.report.refused.append(
                        .init(
                            ecosystem: .maven, name: row.name, version: row.from ?? "",
                            reason:
                                "\(row.location): \(file.absoluteDescription) is signed; replacing a jar inside it breaks its signature",
                            vulnerabilities: row.fixes))
                }
                plan.report.packages.removeAll { locations.contains($0.location) }
                continue
            }
            var replacing: [String: [UInt8]] = [:]
            for (jar, bytes) in replaced { if let e = jar.entry { replacing[e] = bytes } }
            let rewritten = try zip.rewrite(replacing: replacing, what: file.absoluteDescription)
            plan.files.append(LayerFile(path: file, bytes: rewritten, mode: Self.mode(file, context)))
        }
        let kept = Set(plan.report.packages.map(\.root))
        plan.roots.removeAll { !kept.contains($0) }
        plan.labels.removeAll { l in !kept.contains(String(l.prefix { $0 != "=" })) }
    }

    static func mode(_ path: RawPath, _ context: CatalogContext) -> UInt32 {
        context.tree.nodes[path].map { $0.mode & 0o7777 } ?? 0o644
    }

    /// The downloaded jar must be a zip whose pom.properties names the artifact and release asked for.
    static func check(_ bytes: [UInt8], is c: MavenCoordinates, version: String, url: String) throws {
        let zip: ZipArchive
        do { zip = try ZipArchive(bytes) } catch { throw HardenError(.corrupt, "\(url): not a jar: \(error)") }
        let name = "META-INF/maven/\(c.group)/\(c.artifact)/pom.properties"
        guard let e = zip.entries.first(where: { $0.name == name }) else {
            throw HardenError(
                .unsupported,
                "\(url): has no \(name); harden keeps the jar's file name, so without it scanners would still read the old version"
            )
        }
        let p = JavaArchiveCataloger.parseProperties(String(decoding: try zip.read(e), as: UTF8.self))
        guard p["groupId"] == c.group, p["artifactId"] == c.artifact, p["version"] == version else {
            throw HardenError(
                .corrupt,
                "\(url): its pom.properties says \(p["groupId"] ?? "?"):\(p["artifactId"] ?? "?"):\(p["version"] ?? "?"), not \(c):\(version)"
            )
        }
    }
}

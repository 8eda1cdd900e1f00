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
        var nested: [RawPath: [(MavenJar, [UInt8], String?)]] = [:]
        let wholeFiles = Set(jars.filter { $0.entry == nil }.map(\.file))
        var entryNames: [RawPath: Set<String>] = [:]  // each archive's entries, read once
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
            // The new file name when the old one carries the old version (`x-1.0.jar` → `x-1.1.jar`).
            let newName = Self.renamed(jar.entry ?? jar.file.description, from: jar.version, to: to)
            var location = jar.location
            if let entry = jar.entry {
                guard !wholeFiles.contains(jar.file) else { continue }  // the archive itself is replaced
                var moved = newName
                if entryNames[jar.file] == nil { entryNames[jar.file] = try Self.entries(of: jar.file, context) }
                if let n = newName, entryNames[jar.file]?.contains(n) == true { moved = nil }
                nested[jar.file, default: []].append((jar, bytes, moved))
                location = jar.file.absoluteDescription + "!/" + (moved ?? entry)
            } else if let n = newName, n != jar.file.description {
                // The new name holds the jar; the old one becomes a link to it (class paths naming it still work).
                let target = RawPath(n)
                plan.files.append(LayerFile(path: target, bytes: bytes, mode: Self.mode(jar.file, context)))
                plan.files.append(
                    LayerFile(path: jar.file, bytes: [], mode: 0o777, symlink: Array(target.lastComponent)))
                location = target.absoluteDescription
                plan.report.notes.append(
                    "\(jar.file.absoluteDescription) is now a link to \(String(decoding: target.lastComponent, as: UTF8.self)) (class paths naming it keep working)"
                )
            } else {
                plan.files.append(LayerFile(path: jar.file, bytes: bytes, mode: Self.mode(jar.file, context)))
            }
            plan.report.packages.append(
                .init(
                    ecosystem: .maven, name: jar.coordinates.description, from: jar.version, to: to, fixes: fixes,
                    reason: fixes.isEmpty ? "newer release" : "fixes \(fixes.joined(separator: ", "))", url: url,
                    sha256: Digest.sha256(of: bytes).encoded, location: location,
                    bytesAdded: Int64(bytes.count - jar.size), root: "maven:\(jar.coordinates)"))
            if !plan.roots.contains("maven:\(jar.coordinates)") {
                plan.roots.append("maven:\(jar.coordinates)")
                plan.labels.append("maven:\(jar.coordinates)=\(to)")
            }
        }
        try Self.rewriteArchives(nested, into: &plan, context: context)
        let kept = Set(plan.report.packages.map(\.root))
        plan.roots.removeAll { !kept.contains($0) }
        plan.labels.removeAll { l in !kept.contains(String(l.prefix { $0 != "=" })) }
    }

    /// `dir/x-1.0.jar` → `dir/x-1.1.jar` when the name ends with `-OLD.jar`; nil otherwise (the name is kept).
    static func renamed(_ path: String, from old: String, to new: String) -> String? {
        let suffix = "-\(old).jar"
        guard path.hasSuffix(suffix), path.count > suffix.count else { return nil }
        return String(path.dropLast(suffix.count)) + "-\(new).jar"
    }

    static func entries(of file: RawPath, _ context: CatalogContext) throws -> Set<String> {
        guard let bytes = context.content(file) else { return [] }
        return Set(try ZipArchive(bytes).entries.map(\.name))
    }

    /// Archives holding replaced jars, rewritten: the jars replaced (and renamed), Spring Boot's classpath.idx and
    /// layers.idx naming the new names; a signed archive is left alone and its rows become refusals.
    static func rewriteArchives(
        _ nested: [RawPath: [(MavenJar, [UInt8], String?)]], into plan: inout LibraryPlan, context: CatalogContext
    ) throws {
        for (file, replaced) in nested.sorted(by: { $0.key < $1.key }) {
            guard let outer = context.content(file) else { continue }
            let zip = try ZipArchive(outer)
            let prefix = file.absoluteDescription + "!/"
            let locations = Set(replaced.map { prefix + ($0.2 ?? $0.0.entry ?? "") })
            if zip.entries.contains(where: { $0.name.hasPrefix("META-INF/") && $0.name.uppercased().hasSuffix(".SF") })
            {
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
            var renaming: [String: String] = [:]
            for (jar, bytes, moved) in replaced {
                guard let e = jar.entry else { continue }
                replacing[e] = bytes
                if let moved { renaming[e] = moved }
            }
            for index in [
                "BOOT-INF/classpath.idx", "BOOT-INF/layers.idx", "WEB-INF/classpath.idx", "WEB-INF/layers.idx",
            ]
            where !renaming.isEmpty {
                guard let e = zip.entries.first(where: { $0.name == index }) else { continue }
                var text = String(decoding: try zip.read(e), as: UTF8.self)
                for (old, new) in renaming { text = text.replacingAll("\"\(old)\"", with: "\"\(new)\"") }
                replacing[index] = Array(text.utf8)
            }
            let rewritten = try zip.rewrite(replacing: replacing, renaming: renaming, what: file.absoluteDescription)
            plan.files.append(LayerFile(path: file, bytes: rewritten, mode: Self.mode(file, context)))
        }
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

// harden — Debian packages: /var/lib/dpkg/status (and distroless status.d/), with owned files and licences.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages

public struct DpkgCataloger: Cataloger {
    public var name: String { "dpkg" }
    public init() {}

    public func catalog(_ context: CatalogContext) -> [SoftwarePackage] {
        var out: [SoftwarePackage] = []
        // Classic status files, wherever a dpkg database lives (usually var/lib/dpkg).
        let statusFiles = context.tree.nodes.keys.filter { p in
            p.lastComponent == Array("status".utf8)
                && (p.parent?.bytes.suffix(8).elementsEqual("lib/dpkg".utf8) ?? false)
        }.sorted()
        for status in statusFiles {
            guard let bytes = context.content(status) else { continue }
            let dbDir = status.parent ?? .root
            let stanzas = Self.parse(bytes, file: status, context: context)
            // Each layer's copy of the database, parsed once (the top one is usually the current file).
            let history = context.history(status).map { h -> (layer: Int, versions: Set<String>) in
                (h.layer, Self.versions(h.bytes == bytes ? stanzas : Self.parse(h.bytes, file: status, context: nil)))
            }
            // Each package reads its file lists and licence from the squashed view, which nothing changes any more:
            // the packages are made side by side.
            let made = ParallelResults<SoftwarePackage>(count: stanzas.count)
            try? ParallelLoop.run(count: stanzas.count, jobs: stanzas.count > 64 ? Parallelism.jobs : 1) { k in
                let infoDir = dbDir.appending(Array("info".utf8))
                guard var p = makePackage(stanzas[k], database: status, infoDir: infoDir, md5Dir: nil, context: context)
                else { return }
                p.layer =
                    Self.introducedLayer(
                        name: p.name, arch: p.architecture, version: p.version, history: history, context: context)
                    ?? context.layer(of: status)
                made.set(k, p)
            }
            out += made.values.compactMap { $0 }
        }
        // Distroless: one file per package in status.d/, md5sums beside it.
        let statusD = context.tree.nodes.keys.filter { p in
            (p.parent?.bytes.suffix(17).elementsEqual("lib/dpkg/status.d".utf8) ?? false)
                && !p.lastComponent.contains(UInt8(ascii: "."))
                && context.tree.nodes[p]?.type == .regular
        }.sorted()
        for file in statusD {
            guard let bytes = context.content(file) else { continue }
            for s in Self.parse(bytes, file: file, context: context) {
                guard var p = makePackage(s, database: file, infoDir: nil, md5Dir: file.parent, context: context) else {
                    continue
                }
                p.layer = context.layer(of: file)
                out.append(p)
            }
        }
        return out
    }

    static func parse(_ bytes: [UInt8], file: RawPath, context: CatalogContext?) -> [Deb822Stanza] {
        let stanzas = Deb822.parse(bytes) { line, what in
            context?.warn("\(file.absoluteDescription):\(line): \(what); stanza skipped")
        }
        return stanzas.filter { s in
            guard s["Package"] != nil, s["Version"] != nil else {
                context?.warn("\(file.absoluteDescription):\(s.line): stanza without Package or Version; skipped")
                return false
            }
            return Self.isInstalled(s["Status"])
        }
    }

    /// `want flag status`: the package's files are on disk for these states.
    static func isInstalled(_ status: String?) -> Bool {
        guard let status else { return true }  // distroless status.d files may omit Status
        let parts = status.split(separator: " ")
        guard parts.count == 3 else { return false }
        return ["installed", "half-configured", "triggers-awaited", "triggers-pending"].contains(String(parts[2]))
    }

    static func versions(_ stanzas: [Deb822Stanza]) -> Set<String> {
        Set(stanzas.map { "\($0["Package"] ?? ""):\($0["Architecture"] ?? ""):\($0["Version"] ?? "")" })
    }

    /// The lowest layer from which the package stayed, at this version, in every status file above it.
    static func introducedLayer(
        name: String, arch: String?, version: String, history: [(layer: Int, versions: Set<String>)],
        context: CatalogContext
    ) -> LayerRef? {
        let key = "\(name):\(arch ?? ""):\(version)"
        var introduced: Int?
        for h in history.reversed() {
            if h.versions.contains(key) { introduced = h.layer } else { break }
        }
        return introduced.map { context.layerRef($0) }
    }

    func makePackage(
        _ s: Deb822Stanza, database: RawPath, infoDir: RawPath?, md5Dir: RawPath?, context: CatalogContext
    ) -> SoftwarePackage? {
        guard let name = s["Package"], let version = s["Version"] else { return nil }
        let arch = s["Architecture"]
        var sourceName: String?
        var sourceVersion: String?
        if let src = s["Source"] {
            // "name" or "name (version)"
            let parts = src.split(separator: " ", maxSplits: 1)
            sourceName = parts.first.map(String.init)
            if parts.count == 2 {
                sourceVersion = String(parts[1]).trimming("()")
            }
        }
        var files = Set<String>()
        let candidates = [arch.map { "\(name):\($0)" }, name].compactMap { $0 }
        func addList(_ bytes: [UInt8], md5: Bool) {
            for line in bytes.split(separator: UInt8(ascii: "\n")) {
                var path = line
                if md5 {
                    // "<md5>  <path>"
                    guard let sp = line.firstIndex(of: UInt8(ascii: " ")) else { continue }
                    path = line[sp...].drop { $0 == UInt8(ascii: " ") }
                }
                if let p = context.ownedFile(RawPath(Array(path))) { files.insert(p.absoluteDescription) }
            }
        }
        for dir in [infoDir, md5Dir].compactMap({ $0 }) {
            for base in candidates {
                for (ext, md5) in [(".list", false), (".md5sums", true), (".conffiles", false)] {
                    if let b = context.content(dir.appending(Array((base + ext).utf8))) { addList(b, md5: md5) }
                }
                if !files.isEmpty { break }
            }
        }
        if let conffiles = s["Conffiles"] {
            for line in conffiles.textLines() {
                if let first = line.split(separator: " ").first {
                    if let p = context.ownedFile(RawPath(String(first))) { files.insert(p.absoluteDescription) }
                }
            }
        }
        let licenses = Self.licenses(context.content(RawPath("usr/share/doc/\(name)/copyright")))
        var qualifiers: [(String, String)] = []
        if let arch { qualifiers.append(("arch", arch)) }
        if let d = context.os?.distroQualifier { qualifiers.append(("distro", d)) }
        if let sourceName, sourceName != name || sourceVersion != nil {
            qualifiers.append(("upstream", sourceVersion.map { "\(sourceName)@\($0)" } ?? sourceName))
        }
        let purl = PURL(
            type: "deb", namespace: context.os?.id ?? OSInfo.assumedDpkgID, name: name, version: version,
            qualifiers: qualifiers)
        return SoftwarePackage(
            id: "deb:\(name)@\(version)" + (arch.map { ":\($0)" } ?? ""), type: .deb, name: name, version: version,
            architecture: arch,
            sourceName: sourceName, sourceVersion: sourceVersion ?? (sourceName != nil ? version : nil),
            licenses: licenses,
            purl: purl.description, layer: nil, locations: [database.absoluteDescription], files: files.sorted(),
            ownedBy: nil,
            maintainer: s["Maintainer"], installedSize: s["Installed-Size"].flatMap { Int64($0) }.map { $0 * 1024 },
            foundBy: "dpkg",
            metadata: nil)
    }

    /// Licence names from a DEP-5 (machine-readable) copyright file: every `License:` short name, unique.
    static func licenses(_ bytes: [UInt8]?) -> [String] {
        guard let bytes else { return [] }
        var out = Set<String>()
        let key = Array("License:".utf8)
        // Only lines that start with "License:" matter; find them without splitting the whole file.
        bytes.withUnsafeBufferPointer { b in
            var i = 0
            let n = b.count
            while i < n {
                var end = i
                while end < n && b[end] != UInt8(ascii: "\n") { end += 1 }
                if end - i > key.count && b[i] == UInt8(ascii: "L") && b[i..<(i + key.count)].elementsEqual(key) {
                    let value = String(decoding: b[(i + key.count)..<end], as: UTF8.self).trimming(" \t\r")
                    // "GPL-2+ or Artistic", "MIT and BSD-3-clause", "A, B": each alternative.
                    var current = ""
                    for word in value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," }) {
                        if word == "with" {
                            // "GPL-3+ with Bison exception": the exception qualifies the licence before it.
                            if !current.isEmpty { out.insert(current) }
                            current = ""
                            break
                        }
                        if word == "or" || word == "and" || word == "and/or" || word == "|" {
                            if !current.isEmpty { out.insert(current) }
                            current = ""
                        } else {
                            current += current.isEmpty ? String(word) : " " + word
                        }
                    }
                    if !current.isEmpty { out.insert(current) }
                }
                i = end + 1
            }
            // Non-DEP-5 files point at the system's licence texts: "/usr/share/common-licenses/GPL-2".
            let marker = Array("/usr/share/common-licenses/".utf8)
            var j = 0
            while j + marker.count < n {
                if b[j] == UInt8(ascii: "/") && b[j..<(j + marker.count)].elementsEqual(marker) {
                    var e = j + marker.count
                    while e < n, b[e] < 0x80,
                        b[e] == UInt8(ascii: "-") || b[e] == UInt8(ascii: ".") || b[e] == UInt8(ascii: "+")
                            || (b[e] >= 0x30 && b[e] <= 0x39) || ((b[e] | 0x20) >= 0x61 && (b[e] | 0x20) <= 0x7a)
                    { e += 1 }
                    var name = String(decoding: b[(j + marker.count)..<e], as: UTF8.self)
                    while let last = name.last, last == "." || last == "," || last == ";" { name.removeLast() }
                    if !name.isEmpty && name.count < 40 { out.insert(name) }
                    j = e
                } else {
                    j += 1
                }
            }
        }
        return out.sorted()
    }
}

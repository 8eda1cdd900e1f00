// harden — the one layer a patch adds: the new versions' files, whiteouts for files the new versions dropped,
// conffiles the image changed kept (the new one beside them as FILE.dpkg-dist), and a package database that
// tells the truth (status or status.d, info/PKG.list, .md5sums, .conffiles and the other control members).
import Crypto
import Foundation
import HardenArchive
import HardenCore
import HardenDpkg
import HardenELF
import HardenOCI
import HardenPackages
import HardenSystem

/// The image's dpkg database, as read from its tree.
public struct DpkgDatabase: Sendable {
    public enum Kind: String, Sendable { case status, statusD = "status.d" }
    public var kind: Kind
    /// `var/lib/dpkg` (tree path, no leading slash).
    public var directory: String
    /// The status file's stanzas in order (kind .status), or one stanza per status.d file.
    public var stanzas: [Deb822Stanza]
    /// status.d file name per package (distroless).
    public var statusDFiles: [String: String] = [:]
}

public struct LayerPlanEntry: Sendable {
    public var planned: PlannedPackage
    /// The downloaded .deb.
    public var path: String
}

public struct PatchLayerResult: Sendable {
    public var descriptor: Descriptor
    public var diffID: HardenOCI.Digest
    public var bytesAdded: [String: Int64]
    public var conffilesKept: [String]
    public var whiteouts: [String]
    /// Maintainer scripts of each package (not run).
    public var scripts: [String: [String]]
    /// What happened to /etc/ld.so.cache (the ldconfig trigger, done natively).
    public var ldconfig: String
    /// What happened to /etc/ssl/certs (the update-ca-certificates trigger), nil when it did not apply.
    public var caCertificates: String?
}

enum PatchLayerWriter {
    static func md5(_ bytes: [UInt8]) -> String { Hex.encode(Insecure.MD5.hash(data: bytes)) }

    /// Writes the layer into `store`.
    /// - Parameters:
    ///   - content: the image's current bytes of the files this needs (old conffiles), by tree path.
    ///   - ownedElsewhere: for a path an old version listed, whether another installed package lists it too.
    static func write(
        _ entries: [LayerPlanEntry], tree: FileTree, database: DpkgDatabase, infoFiles: [String: [String]],
        oldLists: [String: [String]], content: [RawPath: [UInt8]],
        caCertificates caInputs: CACertificateInputs? = nil, ownedElsewhere: (String, String) -> Bool,
        mtime: Int64, store: DirectoryBlobStore
    ) async throws -> PatchLayerResult {
        let writer = try LayerBlobWriter(path: store.root + "/patch-layer.tmp", compression: .gzip, gzipLevel: 3)
        var emitted = Set<RawPath>()
        var bytesAdded: [String: Int64] = [:]
        var conffilesKept: [String] = []
        var whiteouts: [String] = []
        var scripts: [String: [String]] = [:]
        /// ELF shared objects the new versions ship: (directory, soname, machine).
        var sonames: [(dir: String, file: String, soname: String, machine: UInt16, is64: Bool)] = []
        var newStanzas: [String: Deb822Stanza] = [:]
        var infoWrites: [(String, [UInt8])] = []
        // For the update-ca-certificates trigger: certificates the new versions ship, and whether one activates it.
        var newCertificates: [String: [UInt8]] = [:]
        var newLocalCertificates: [String: [UInt8]] = [:]
        var caTriggered = false

        func canonical(_ path: RawPath) -> RawPath { tree.resolveParents(path.normalized) }
        func emitDirectoryChain(_ p: RawPath) throws {
            var chain: [RawPath] = []
            var q = p.parent
            while let d = q, !d.isRoot {
                if tree.nodes[d]?.isDirectory == true || emitted.contains(d) { break }
                chain.append(d)
                q = d.parent
            }
            for d in chain.reversed() {
                try writer.tar.append(TarEntry(path: d, type: .directory, mode: 0o755, uid: 0, gid: 0, mtime: mtime))
                emitted.insert(d)
            }
        }

        // Two stages on the two cores: the next package decompresses while this one is written and compressed.
        let sorted = entries.sorted { $0.planned.package.name < $1.planned.package.name }
        func label(_ e: LayerPlanEntry) -> String {
            "\(e.planned.package.name)_\(e.planned.package.version)_\(e.planned.package.architecture).deb"
        }
        func decode(_ e: LayerPlanEntry) -> Task<DecodedDeb, any Error> {
            let (path, name) = (e.path, label(e))
            return Task.detached { try DebFile.decode(path, name: name) }
        }
        var pending: Task<DecodedDeb, any Error>? = sorted.first.map(decode)
        defer { pending?.cancel() }
        for (k, e) in sorted.enumerated() {
            let pkg = e.planned.package
            let oldStanza = e.planned.installed?.stanza
            // Old conffiles and their recorded md5 (what the package shipped).
            var oldConffiles: [String: String] = [:]
            for line in (oldStanza?["Conffiles"] ?? "").textLines() {
                let f = line.split(separator: " ")
                if f.count >= 2 { oldConffiles[String(f[0])] = String(f[1]) }
            }
            var listed: [String] = ["/."]
            var listedSet: Set<String> = []
            var newConffileSums: [String: String] = [:]
            var added: Int64 = 0
            let decoded = try await pending!.value
            pending = k + 1 < sorted.count ? decode(sorted[k + 1]) : nil
            let control = decoded.control
            let conffileSet = Set(control.conffiles)
            for (entry, entryBody) in decoded.entries {
                let rel = entry.path.normalized
                if rel.isRoot { continue }
                let abs = rel.absoluteDescription
                listed.append(abs)
                listedSet.insert(abs)
                let target = canonical(rel)
                if entry.type == .directory {
                    // A directory the image has, possibly through a symlink (/lib -> usr/lib), is left as it is.
                    if let r = tree.resolve(rel), tree.nodes[r]?.isDirectory == true { continue }
                    if tree.nodes[target] != nil || emitted.contains(target) { continue }
                    try emitDirectoryChain(target)
                    var d = entry
                    d.path = target
                    try writer.tar.append(d)
                    emitted.insert(target)
                    continue
                }
                try emitDirectoryChain(target)
                var out = entry
                out.path = target
                if entry.type == .hardlink { out.linkTarget = canonical(RawPath(entry.linkTarget)).bytes }
                if entry.type == .regular {
                    let body = entryBody
                    let isConffile = conffileSet.contains(abs)
                    if isConffile {
                        newConffileSums[abs] = md5(body)
                        if let current = content[target], let shipped = oldConffiles[abs], md5(current) != shipped {
                            // Changed by the image: keep it; the new version goes beside it.
                            out.path = RawPath(target.bytes + Array(".dpkg-dist".utf8))
                            conffilesKept.append(abs)
                        } else if content[target] == nil, oldConffiles[abs] != nil, tree.nodes[target] == nil {
                            continue  // deleted by the image: dpkg does not bring it back
                        }
                    }
                    if let rel = CACertificateInputs.relative(rel, under: CACertificateInputs.certsPrefix),
                        rel.hasSuffix(".crt")
                    {
                        newCertificates[rel] = body
                        caTriggered = true
                    } else if let rel = CACertificateInputs.relative(rel, under: CACertificateInputs.localPrefix),
                        rel.hasSuffix(".crt")
                    {
                        newLocalCertificates[rel] = body
                        caTriggered = true
                    }
                    if abs.contains(".so") {
                        if ELF.isELF(body.prefix(4)), let elf = try? ELF.parse(body), let soname = elf.soname {
                            let slash = abs.lastIndex(of: "/") ?? abs.startIndex
                            sonames.append(
                                (
                                    String(abs[..<slash]), String(abs[abs.index(after: slash)...]), soname, elf.machine,
                                    elf.is64Bit
                                ))
                        }
                    }
                    out.size = Int64(body.count)
                    try writer.tar.append(out, body: body)
                    added += out.size
                } else {
                    try writer.tar.append(out)
                }
                emitted.insert(out.path)
            }
            bytesAdded[pkg.name] = added
            scripts[pkg.name] = MaintainerScripts.notDoneNatively(control.members)
            if let t = control.members["triggers"],
                String(decoding: t, as: UTF8.self).contains("update-ca-certificates")
            {
                caTriggered = true
            }

            // Files the old version had that the new one does not ship: whited out, unless a conffile (dpkg keeps
            // obsolete conffiles) or another package's.
            for old in oldLists[pkg.name] ?? []
            where old != "/." && !listedSet.contains(old) && oldConffiles[old] == nil {
                let t = canonical(RawPath(String(old.dropFirst())))
                guard let node = tree.nodes[t], !node.isDirectory, !emitted.contains(t), !ownedElsewhere(pkg.name, old)
                else { continue }
                guard let parent = t.parent else { continue }
                let wh = parent.appending(Array(".wh.".utf8) + t.lastComponent)
                try writer.tar.append(TarEntry(path: wh, type: .regular, mode: 0o644, uid: 0, gid: 0, mtime: mtime))
                emitted.insert(wh)
                whiteouts.append(old)
            }

            // The status stanza: the new control fields, Status kept, Conffiles with the new sums (+ obsolete ones).
            var stanza = control.fields
            let status = oldStanza?["Status"] ?? "install ok installed"
            stanza.fields.removeAll { $0.key.lowercased() == "status" || $0.key.lowercased() == "conffiles" }
            stanza.fields.insert(("Status", status), at: min(1, stanza.fields.count))
            var conf = control.conffiles.compactMap { p in newConffileSums[p].map { " \(p) \($0)" } }
            for (p, sum) in oldConffiles.sorted(by: { $0.key < $1.key }) where newConffileSums[p] == nil {
                conf.append(" \(p) \(sum) obsolete")
            }
            if !conf.isEmpty {
                let at = stanza.fields.firstIndex { $0.key.lowercased() == "description" } ?? stanza.fields.count
                stanza.fields.insert(("Conffiles", "\n" + conf.joined(separator: "\n")), at: at)
            }
            newStanzas[pkg.name] = stanza

            // info/ files.
            if database.kind == .status {
                let existing = infoFiles[pkg.name] ?? []
                let base: String
                if let any = existing.first, let dot = any.lastIndex(of: ".") {
                    base = String(any[..<dot])
                } else {
                    base = pkg.multiArch == "same" ? "\(pkg.name):\(pkg.architecture)" : pkg.name
                }
                var names: Set<String> = []
                func info(_ ext: String, _ bytes: [UInt8]) {
                    infoWrites.append(("\(database.directory)/info/\(base).\(ext)", bytes))
                    names.insert("\(base).\(ext)")
                }
                info("list", Array((listed.joined(separator: "\n") + "\n").utf8))
                for (member, bytes) in control.members.sorted(by: { $0.key < $1.key }) where member != "control" {
                    info(member, bytes)
                }
                for old in existing where !names.contains(old) {
                    infoWrites.append(("\(database.directory)/info/.wh.\(old)", []))
                }
            } else {
                let file = database.statusDFiles[pkg.name] ?? pkg.name
                infoWrites.append(("\(database.directory)/status.d/\(file)", Array(stanza.rendered().utf8)))
                if let sums = control.members["md5sums"] {
                    infoWrites.append(("\(database.directory)/status.d/\(file).md5sums", sums))
                }
            }
        }

        // The status file, stanza by stanza; new packages at the end.
        if database.kind == .status {
            var seen = Set<String>()
            var text = ""
            for s in database.stanzas {
                let name = s["Package"] ?? ""
                if let n = newStanzas[name], !seen.contains(name) {
                    text += n.rendered() + "\n"
                    seen.insert(name)
                } else {
                    text += s.rendered() + "\n"
                }
            }
            for (name, s) in newStanzas.sorted(by: { $0.key < $1.key }) where !seen.contains(name) {
                text += s.rendered() + "\n"
            }
            infoWrites.append(("\(database.directory)/status", Array(text.utf8)))
        }
        // The ldconfig trigger: a soname the cache does not know yet is added (with its soname link, as ldconfig makes
        // it); entries whose file the patch removed go. A security update that keeps its sonames changes nothing.
        var ldconfig = "not needed: no shared library in the new versions"
        if !sonames.isEmpty {
            ldconfig = "unchanged: every soname of the new libraries is already in /etc/ld.so.cache"
            if let bytes = content[RawPath("etc/ld.so.cache")], var cache = try? LdSoCache.parse(bytes) {
                let cachedDirs = Set(
                    cache.ordered.map { String($0.path[..<($0.path.lastIndex(of: "/") ?? $0.path.startIndex)]) })
                let removed = Set(whiteouts)
                var added: [String] = []
                for lib in sonames
                where cachedDirs.contains(lib.dir)
                    || cachedDirs.contains(canonical(RawPath(String(lib.dir.dropFirst()))).absoluteDescription)
                {
                    guard cache.entries[lib.soname] == nil else { continue }
                    let flags: Int32 =
                        lib.machine == 62 && lib.is64 ? 0x0303 : lib.machine == 183 && lib.is64 ? 0x0a03 : 0x0003
                    let path = lib.dir + "/" + lib.soname
                    cache.ordered.append(.init(name: lib.soname, path: path, flags: flags))
                    cache.entries[lib.soname] = [(path, flags)]
                    added.append(lib.soname)
                    // ldconfig makes the soname link when the package does not ship it.
                    let link = canonical(RawPath(String(path.dropFirst())))
                    if lib.file != lib.soname, tree.nodes[link] == nil, !emitted.contains(link) {
                        var entry = TarEntry(path: link, type: .symlink, mode: 0o777, uid: 0, gid: 0, mtime: mtime)
                        entry.linkTarget = Array(lib.file.utf8)
                        try writer.tar.append(entry)
                        emitted.insert(link)
                    }
                }
                let before = cache.ordered.count
                cache.ordered.removeAll { removed.contains($0.path) }
                let dropped = before - cache.ordered.count
                if !added.isEmpty || dropped > 0 {
                    infoWrites.append(("etc/ld.so.cache", LdSoCache.write(cache.ordered)))
                    ldconfig =
                        "rewritten: \(added.count) sonames added (\(added.sorted().joined(separator: ", "))), \(dropped) entries of removed files dropped"
                }
            } else {
                ldconfig = "not checked: the image has no readable /etc/ld.so.cache"
            }
        }
        // The update-ca-certificates trigger.
        var caReport: String?
        if caTriggered
            || whiteouts.contains(where: { $0.hasPrefix(CACertificateInputs.certsPrefix.absoluteDescription + "/") })
        {
            if let inputs = caInputs {
                let removed = Set(whiteouts)
                var certificates: [String: [UInt8]] = [:]
                for (rel, path) in inputs.certificates where !removed.contains(path.absoluteDescription) {
                    if let b = content[path] { certificates[rel] = b }
                }
                certificates.merge(newCertificates) { _, new in new }
                var local: [String: [UInt8]] = [:]
                for (rel, path) in inputs.localCertificates { if let b = content[path] { local[rel] = b } }
                local.merge(newLocalCertificates) { _, new in new }
                var etc = inputs.etc
                for (name, path) in inputs.etcFiles { if let b = content[path] { etc[name] = .file(b) } }
                let store = CACertificateStore(
                    conf: content[CACertificateInputs.conf], certificates: certificates, localCertificates: local,
                    etc: etc,
                    existingTargets: inputs.existingTargets)
                let update = store.update()
                if let conf = update.conf {
                    infoWrites.append((CACertificateInputs.conf.description, conf))
                    if let old = update.confOld {
                        infoWrites.append((CACertificateInputs.conf.description + ".dpkg-old", old))
                    }
                }
                let dir = canonical(CACertificateInputs.etcDir)
                if tree.nodes[dir] == nil { try emitDirectoryChain(dir.appending(Array("x".utf8))) }
                for (name, change) in update.etc.sorted(by: { $0.key < $1.key }) {
                    let path = dir.appending(Array(name.utf8))
                    switch change {
                    case .link(let target)?:
                        var entry = TarEntry(path: path, type: .symlink, mode: 0o777, uid: 0, gid: 0, mtime: mtime)
                        entry.linkTarget = Array(target.utf8)
                        try writer.tar.append(entry)
                        emitted.insert(path)
                    case .file(let bytes)?:
                        infoWrites.append((path.description, bytes))
                    case .other?:
                        break
                    case nil:
                        let wh = dir.appending(Array(".wh.".utf8) + Array(name.utf8))
                        try writer.tar.append(
                            TarEntry(path: wh, type: .regular, mode: 0o644, uid: 0, gid: 0, mtime: mtime))
                        emitted.insert(wh)
                    }
                }
                caReport =
                    "updated: \(certificates.count + local.count) certificates, \(update.added) links added, \(update.removed) removed, "
                    + "\(update.hashLinks) hash links\(update.conf != nil ? ", /etc/ca-certificates.conf updated" : "")"
            } else {
                caReport = "not done: the image's certificate state was not read"
            }
        }
        for (path, bytes) in infoWrites.sorted(by: { $0.0 < $1.0 }) {
            let p = RawPath(path)
            if emitted.contains(p) { continue }
            let node = tree.nodes[p]
            var entry = TarEntry(
                path: p, type: .regular, mode: node?.mode ?? 0o644, uid: node?.uid ?? 0, gid: node?.gid ?? 0,
                mtime: mtime)
            entry.size = Int64(bytes.count)
            try writer.tar.append(entry, body: bytes)
            emitted.insert(p)
        }
        let (digest, size, diffID) = try writer.finish()
        try HostFS.rename(writer.path, store.path(of: digest))
        return PatchLayerResult(
            descriptor: Descriptor(mediaType: MediaType.ociLayer(.gzip), digest: digest, size: size), diffID: diffID,
            bytesAdded: bytesAdded, conffilesKept: conffilesKept, whiteouts: whiteouts,
            scripts: scripts, ldconfig: ldconfig, caCertificates: caReport)
    }
}

// harden — writing the patch layer, step by step: each new version's files (conffiles the image changed kept, the
// new one beside them), whiteouts for files it dropped, its status stanza and info/ files; then the status file and
// dpkg's triggers done natively (ldconfig, update-ca-certificates), and the database files last.
import Foundation
import HardenArchive
import HardenCore
import HardenDpkg
import HardenELF
import HardenOCI
import HardenPackages
import HardenSystem

final class PatchLayerSession {
    let writer: LayerBlobWriter
    let tree: FileTree
    let database: DpkgDatabase
    let infoFiles: [String: [String]]
    let oldLists: [String: [String]]
    let content: [RawPath: [UInt8]]
    let caInputs: CACertificateInputs?
    let ownedElsewhere: (String, String) -> Bool
    let mtime: Int64

    var emitted = Set<RawPath>()
    var bytesAdded: [String: Int64] = [:]
    var conffilesKept: [String] = []
    var whiteouts: [String] = []
    var scripts: [String: [String]] = [:]
    /// ELF shared objects the new versions ship: (directory, file, soname, machine).
    var ldconfig = LdconfigTrigger()
    var newStanzas: [String: Deb822Stanza] = [:]
    /// Database files (status, info/, status.d/) and trigger outputs, written last.
    var infoWrites: [(String, [UInt8])] = []
    /// For the update-ca-certificates trigger: certificates the new versions ship, and whether one activates it.
    var newCertificates: [String: [UInt8]] = [:]
    var newLocalCertificates: [String: [UInt8]] = [:]
    var caTriggered = false

    init(
        writer: LayerBlobWriter, tree: FileTree, database: DpkgDatabase, infoFiles: [String: [String]],
        oldLists: [String: [String]], content: [RawPath: [UInt8]], caInputs: CACertificateInputs?,
        ownedElsewhere: @escaping (String, String) -> Bool, mtime: Int64
    ) {
        self.writer = writer
        self.tree = tree
        self.database = database
        self.infoFiles = infoFiles
        self.oldLists = oldLists
        self.content = content
        self.caInputs = caInputs
        self.ownedElsewhere = ownedElsewhere
        self.mtime = mtime
    }

    func canonical(_ path: RawPath) -> RawPath { tree.resolveParents(path.normalized) }

    func emitDirectoryChain(_ p: RawPath) throws {
        try writer.writeMissingParents(of: p, tree: tree, emitted: &emitted, mtime: mtime)
    }

    /// What one package's files left for its database entry.
    struct Written {
        var listed: [String] = ["/."]
        var listedSet: Set<String> = []
        var newConffileSums: [String: String] = [:]
        var added: Int64 = 0
    }

    /// One new version: its files, whiteouts for what it dropped, its status stanza and info/ files.
    func writePackage(_ planned: PlannedPackage, _ decoded: DecodedDeb) throws {
        let pkg = planned.package
        let oldStanza = planned.installed?.stanza
        // Old conffiles and their recorded md5 (what the package shipped).
        var oldConffiles: [String: String] = [:]
        for line in (oldStanza?["Conffiles"] ?? "").textLines() {
            let f = line.split(separator: " ")
            if f.count >= 2 { oldConffiles[String(f[0])] = String(f[1]) }
        }
        let control = decoded.control
        let written = try writeFiles(decoded, oldConffiles: oldConffiles)
        bytesAdded[pkg.name] = written.added
        scripts[pkg.name] = MaintainerScripts.notDoneNatively(control.members)
        if let t = control.members["triggers"], String(decoding: t, as: UTF8.self).contains("update-ca-certificates") {
            caTriggered = true
        }
        try whiteOutDropped(pkg.name, listed: written.listedSet, oldConffiles: oldConffiles)
        let stanza = Self.statusStanza(
            control, oldStatus: oldStanza?["Status"], newConffileSums: written.newConffileSums,
            oldConffiles: oldConffiles)
        newStanzas[pkg.name] = stanza
        addInfoFiles(pkg, control: control, stanza: stanza, listed: written.listed)
    }

    /// The package's entries into the layer, under the image's canonical paths.
    func writeFiles(_ decoded: DecodedDeb, oldConffiles: [String: String]) throws -> Written {
        var w = Written()
        let conffileSet = Set(decoded.control.conffiles)
        for (entry, body) in decoded.entries {
            let rel = entry.path.normalized
            if rel.isRoot { continue }
            let abs = rel.absoluteDescription
            w.listed.append(abs)
            w.listedSet.insert(abs)
            let target = canonical(rel)
            if entry.type == .directory {
                try writer.writeDirectory(
                    entry, relative: rel, at: target, tree: tree, emitted: &emitted, mtime: mtime)
                continue
            }
            try emitDirectoryChain(target)
            var out = entry
            out.path = target
            if entry.type == .hardlink { out.linkTarget = canonical(RawPath(entry.linkTarget)).bytes }
            guard entry.type == .regular else {
                if entry.type == .symlink {
                    ldconfig.noteSymlink(abs, target: String(decoding: entry.linkTarget, as: UTF8.self))
                }
                try writer.tar.append(out)
                emitted.insert(out.path)
                continue
            }
            if conffileSet.contains(abs) {
                w.newConffileSums[abs] = PatchLayerWriter.md5(body)
                if let current = content[target], let shipped = oldConffiles[abs],
                    PatchLayerWriter.md5(current) != shipped
                {
                    // Changed by the image: keep it; the new version goes beside it.
                    out.path = RawPath(target.bytes + Array(".dpkg-dist".utf8))
                    conffilesKept.append(abs)
                } else if content[target] == nil, oldConffiles[abs] != nil, tree.nodes[target] == nil {
                    continue  // deleted by the image: dpkg does not bring it back
                }
            }
            noteTriggers(rel: rel, abs: abs, body: body)
            out.size = Int64(body.count)
            try writer.tar.append(out, body: body)
            w.added += out.size
            emitted.insert(out.path)
        }
        return w
    }

    /// Certificates (the update-ca-certificates trigger) and shared objects (the ldconfig trigger) a file brings.
    func noteTriggers(rel: RawPath, abs: String, body: [UInt8]) {
        if let r = CACertificateInputs.relative(rel, under: CACertificateInputs.certsPrefix), r.hasSuffix(".crt") {
            newCertificates[r] = body
            caTriggered = true
        } else if let r = CACertificateInputs.relative(rel, under: CACertificateInputs.localPrefix), r.hasSuffix(".crt")
        {
            newLocalCertificates[r] = body
            caTriggered = true
        }
        ldconfig.note(abs, body)
    }

    /// Files the old version had that the new one does not ship: whited out, unless a conffile (dpkg keeps obsolete
    /// conffiles) or another package's.
    func whiteOutDropped(_ name: String, listed: Set<String>, oldConffiles: [String: String]) throws {
        for old in oldLists[name] ?? [] where old != "/." && !listed.contains(old) && oldConffiles[old] == nil {
            let t = canonical(RawPath(String(old.dropFirst())))
            guard let node = tree.nodes[t], !node.isDirectory, !emitted.contains(t), !ownedElsewhere(name, old)
            else { continue }
            guard let parent = t.parent else { continue }
            let wh = parent.appending(Array(".wh.".utf8) + t.lastComponent)
            try writer.tar.append(TarEntry(path: wh, type: .regular, mode: 0o644, uid: 0, gid: 0, mtime: mtime))
            emitted.insert(wh)
            whiteouts.append(old)
        }
    }

    /// The status stanza: the new control fields, Status kept, Conffiles with the new sums (+ obsolete ones).
    static func statusStanza(
        _ control: DebControl, oldStatus: String?, newConffileSums: [String: String], oldConffiles: [String: String]
    ) -> Deb822Stanza {
        var stanza = control.fields
        let status = oldStatus ?? "install ok installed"
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
        return stanza
    }

    /// info/NAME.list and the other control members (status databases), or the status.d file (distroless).
    func addInfoFiles(_ pkg: BinaryPackage, control: DebControl, stanza: Deb822Stanza, listed: [String]) {
        guard database.kind == .status else {
            let file = database.statusDFiles[pkg.name] ?? pkg.name
            infoWrites.append(("\(database.directory)/status.d/\(file)", Array(stanza.rendered().utf8)))
            if let sums = control.members["md5sums"] {
                infoWrites.append(("\(database.directory)/status.d/\(file).md5sums", sums))
            }
            return
        }
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
    }

    /// The status file, stanza by stanza; new packages at the end.
    func writeStatusFile() {
        guard database.kind == .status else { return }
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

    /// The ldconfig trigger (`LdconfigTrigger`): the soname links it makes, the cache rewritten when it changed.
    func ldconfigTrigger() throws -> String {
        let r = ldconfig.apply(
            cache: content[RawPath("etc/ld.so.cache")], removed: Set(whiteouts), canonical: canonical,
            exists: { self.tree.nodes[$0] != nil || self.emitted.contains($0) })
        for (link, target) in r.links {
            var entry = TarEntry(path: link, type: .symlink, mode: 0o777, uid: 0, gid: 0, mtime: mtime)
            entry.linkTarget = Array(target.utf8)
            try writer.tar.append(entry)
            emitted.insert(link)
        }
        if let cache = r.cache { infoWrites.append(("etc/ld.so.cache", cache)) }
        return r.summary
    }

    /// The update-ca-certificates trigger; nil when no certificate changed.
    func caCertificatesTrigger() throws -> String? {
        let certsDir = CACertificateInputs.certsPrefix.absoluteDescription + "/"
        guard caTriggered || whiteouts.contains(where: { $0.hasPrefix(certsDir) }) else { return nil }
        guard let inputs = caInputs else { return "not done: the image's certificate state was not read" }
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
        let update = CACertificateStore(
            conf: content[CACertificateInputs.conf], certificates: certificates, localCertificates: local, etc: etc,
            existingTargets: inputs.existingTargets
        ).update()
        if let conf = update.conf {
            infoWrites.append((CACertificateInputs.conf.description, conf))
            if let old = update.confOld { infoWrites.append((CACertificateInputs.conf.description + ".dpkg-old", old)) }
        }
        try writeCertificateLinks(update)
        return "updated: \(certificates.count + local.count) certificates, \(update.added) links added, "
            + "\(update.removed) removed, \(update.hashLinks) hash links"
            + (update.conf != nil ? ", /etc/ca-certificates.conf updated" : "")
    }

    /// /etc/ssl/certs as the trigger leaves it: links made, files written, removed entries whited out.
    func writeCertificateLinks(_ update: CACertificateStore.Update) throws {
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
                try writer.tar.append(TarEntry(path: wh, type: .regular, mode: 0o644, uid: 0, gid: 0, mtime: mtime))
                emitted.insert(wh)
            }
        }
    }

    /// The database files and trigger outputs, in path order, each with the mode and owner the image gave it.
    func writeDatabaseFiles() throws {
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
    }
}

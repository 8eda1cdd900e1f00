// harden — writing an apk patch layer: each new version's files (a protected file the image changed kept, the new
// one written beside it as `.apk-new`, as apk does), whiteouts for files it dropped, then apk's database: installed,
// scripts.tar and triggers. Install scripts and triggers are not run; the report names them.
import Crypto
import Foundation
import HardenApk
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenSBOM
import HardenSystem

#if canImport(Glibc)
import Glibc
#endif

final class ApkLayerSession {
    let writer: LayerBlobWriter
    let tree: FileTree
    let setup: ApkPatcher.Setup
    /// The image's current bytes of protected files the upgraded packages own.
    let current: [RawPath: [UInt8]]
    let mtime: Int64
    /// Paths every package of the final set lists (absolute), with the package that lists them.
    let owners: [String: Set<String>]

    var emitted = Set<RawPath>()
    var bytesAdded: [String: Int64] = [:]
    var conffilesKept: [String] = []
    var whiteouts: [String] = []
    var scripts: [String: [String]] = [:]
    /// Directories (absolute) where the layer adds or removes files: what activates apk triggers.
    var changedDirectories = Set<String>()

    init(writer: LayerBlobWriter, tree: FileTree, setup: ApkPatcher.Setup, current: [RawPath: [UInt8]], mtime: Int64) {
        self.writer = writer
        self.tree = tree
        self.setup = setup
        self.current = current
        self.mtime = mtime
        var owners: [String: Set<String>] = [:]
        for r in setup.installed {
            for f in ApkDatabaseWriter.files(of: r) { owners[f.path, default: []].insert(r.name) }
        }
        self.owners = owners
    }

    static func write(
        plan: [ApkPlanned], files: [String: ApkPackageFile], setup: ApkPatcher.Setup, context: CatalogContext,
        current: [RawPath: [UInt8]], mtime: Int64, store: DirectoryBlobStore
    ) throws -> PatchLayerResult {
        let session = ApkLayerSession(
            writer: try LayerBlobWriter(path: store.root + "/patch-layer.tmp", compression: .gzip, gzipLevel: 3),
            tree: context.tree, setup: setup, current: current, mtime: mtime)
        var replaced: [String: ApkRecord] = [:]
        var added: [ApkRecord] = []
        var newScripts: [(record: ApkRecord, scripts: [String: [UInt8]])] = []
        var newTriggers: [(checksum: String, paths: [String])] = []
        for p in plan {
            guard let file = files[p.record.name] else { continue }
            let listed = try session.writeFiles(p, file)
            let record = ApkDatabaseWriter.installedRecord(index: p.record, files: listed)
            if p.installed == nil { added.append(record) } else { replaced[p.record.name] = record }
            session.scripts[p.record.name] = file.scripts.keys.sorted()
            newScripts.append((p.record, file.scripts))
            if file.scripts[".trigger"] != nil {
                newTriggers.append(
                    (
                        p.record.checksum ?? file.identity,
                        file.values("triggers").flatMap { $0.split(separator: " ") }.map(String.init)
                    ))
            }
        }
        let removed = Dictionary(plan.compactMap { p in p.installed.map { ($0.name, $0.version) } }) { a, _ in a }
        let oldChecksums = Set(plan.compactMap { $0.installed?.checksum })
        try session.writeDatabase(
            "lib/apk/db/installed",
            try ApkDatabaseWriter.installed(setup.installedBytes, replacing: replaced, adding: added))
        try session.writeDatabase(
            "lib/apk/db/scripts.tar",
            try ApkDatabaseWriter.scripts(
                context.content("lib/apk/db/scripts.tar"), removing: removed, adding: newScripts, mtime: mtime))
        let triggers = ApkDatabaseWriter.triggers(
            context.content("lib/apk/db/triggers"), removing: oldChecksums, adding: newTriggers)
        if context.content("lib/apk/db/triggers") != nil || !newTriggers.isEmpty {
            try session.writeDatabase("lib/apk/db/triggers", triggers)
        }
        let (digest, size, diffID) = try session.writer.finish()
        try HostFS.rename(session.writer.path, store.path(of: digest))
        var owners: [String: String] = [:]
        for r in setup.installed { if let c = r.checksum { owners[c] = r.name } }
        for p in plan { if let c = p.record.checksum { owners[c] = p.record.name } }
        return PatchLayerResult(
            descriptor: Descriptor(mediaType: MediaType.ociLayer(.gzip), digest: digest, size: size), diffID: diffID,
            bytesAdded: session.bytesAdded, conffilesKept: session.conffilesKept, whiteouts: session.whiteouts,
            scripts: session.scripts, ldconfig: "not needed (musl has no ld.so.cache)", caCertificates: nil,
            notes: session.activatedTriggers(triggers, owners: owners))
    }

    /// The triggers (of installed and new packages) apk would run because a directory they watch changed: harden
    /// does not run them, so the report names each.
    func activatedTriggers(_ triggers: [UInt8], owners: [String: String]) -> [String] {
        var notes: [String] = []
        let dirs = changedDirectories.sorted()
        for line in String(decoding: triggers, as: UTF8.self).split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            guard let checksum = words.first else { continue }
            let patterns = words.dropFirst()
            if let dir = dirs.first(where: { d in patterns.contains { fnmatch($0, d, 0) == 0 } }) {
                notes.append(
                    "trigger of \(owners[checksum] ?? checksum) not run (it watches \(patterns.joined(separator: " ")); "
                        + "\(dir) changed)")
            }
        }
        return notes
    }

    func canonical(_ path: RawPath) -> RawPath { tree.resolveParents(path.normalized) }

    func emitDirectoryChain(_ p: RawPath) throws {
        try writer.writeMissingParents(of: p, tree: tree, emitted: &emitted, mtime: mtime)
    }

    /// One new version's data stream into the layer; returns what its installed record lists.
    func writeFiles(_ planned: ApkPlanned, _ file: ApkPackageFile) throws -> [ApkInstalledFile] {
        let name = planned.record.name
        let oldSums = Dictionary(
            (planned.installed.map(ApkDatabaseWriter.files) ?? []).map { ($0.path, $0.checksum) }
        ) { a, _ in a }
        var listed: [ApkInstalledFile] = []
        var listedSet = Set<String>()
        var added: Int64 = 0
        let tar = file.dataEntries()
        while let entry = try tar.next() {
            let rel = entry.path.normalized
            let relText = String(decoding: rel.bytes, as: UTF8.self)
            let raw = entry.path.bytes
            guard raw.first != UInt8(ascii: "/"), !raw.split(separator: UInt8(ascii: "/")).contains([0x2e, 0x2e])
            else {
                throw HardenError(
                    .corrupt,
                    "\(file.name): data entry \(String(decoding: entry.path.bytes, as: UTF8.self)) leaves the root")
            }
            if rel.isRoot || relText.hasPrefix(".SIGN.") || relText == ".PKGINFO" { continue }
            let abs = "/" + relText
            let target = canonical(rel)
            if entry.type == .directory {
                listed.append(
                    ApkInstalledFile(
                        kind: .directory, path: relText, uid: entry.uid, gid: entry.gid, mode: entry.mode,
                        checksum: nil))
                try writer.writeDirectory(
                    entry, relative: rel, at: target, tree: tree, emitted: &emitted, mtime: mtime)
                continue
            }
            try emitDirectoryChain(target)
            var out = entry
            out.path = target
            var body: [UInt8] = []
            switch entry.type {
            case .regular: body = try tar.readWholeBody(limit: 1 << 30)
            case .hardlink: out.linkTarget = canonical(RawPath(entry.linkTarget)).bytes
            case .symlink: break
            default:
                throw HardenError(.unsupported, "\(file.name): \(abs) is a \(entry.type.name), not a file apk installs")
            }
            let checksum: String
            if entry.type == .hardlink {
                let target = String(decoding: RawPath(entry.linkTarget).normalized.bytes, as: UTF8.self)
                checksum = listed.last { $0.path == target }?.checksum ?? ApkSignature.q1([UInt8]())
            } else {
                let hashed = entry.type == .symlink ? entry.linkTarget : body
                try Self.checkEmbedded(entry, hashed, file: file.name, path: abs)
                checksum = ApkSignature.q1(hashed)
            }
            out.apkRecords = [:]
            listed.append(
                ApkInstalledFile(
                    kind: .file, path: relText, uid: entry.uid, gid: entry.gid, mode: entry.mode, checksum: checksum))
            listedSet.insert(abs)
            if entry.type == .regular, ApkConfiguration.isProtected(relText, rules: setup.protectedRules),
                let now = current[target], let shipped = oldSums[abs] ?? nil, ApkSignature.q1(now) != shipped,
                ApkSignature.q1(now) != checksum
            {
                // Changed by the image: kept; the new version goes beside it, as apk does.
                out.path = RawPath(target.bytes + Array(".apk-new".utf8))
                conffilesKept.append(abs)
            }
            out.size = Int64(body.count)
            try writer.tar.append(out, body: body)
            added += out.size
            emitted.insert(out.path)
            changedDirectories.insert(String(abs[..<(abs.lastIndex(of: "/") ?? abs.startIndex)]))
        }
        bytesAdded[name] = added
        try whiteOutDropped(planned, listed: listedSet)
        return listed
    }

    /// A file's SHA-1 against the one its package embeds (`APK-TOOLS.checksum.SHA1`), when it embeds one.
    static func checkEmbedded(_ entry: TarEntry, _ hashed: [UInt8], file: String, path: String) throws {
        guard let embedded = entry.apkRecords["APK-TOOLS.checksum.SHA1"] else { return }
        let got = Hex.encode(Insecure.SHA1.hash(data: hashed))
        guard got == String(decoding: embedded, as: UTF8.self).lowercased() else {
            throw HardenError(
                .corrupt,
                "\(file): \(path) has SHA-1 \(got), the package's embedded checksum says "
                    + String(decoding: embedded, as: UTF8.self))
        }
    }

    /// Files the old version had that the new one does not ship, unless another package lists them: whited out.
    func whiteOutDropped(_ planned: ApkPlanned, listed: Set<String>) throws {
        for old in (planned.installed.map(ApkDatabaseWriter.files) ?? []).map(\.path) where !listed.contains(old) {
            if owners[old, default: []].contains(where: { $0 != planned.record.name }) { continue }
            let t = canonical(RawPath(String(old.dropFirst())))
            guard try writer.writeWhiteout(for: t, tree: tree, emitted: &emitted, mtime: mtime) else { continue }
            whiteouts.append(old)
            changedDirectories.insert(String(old[..<(old.lastIndex(of: "/") ?? old.startIndex)]))
        }
    }

    /// A database file, with the mode and owner the image gave it.
    func writeDatabase(_ path: String, _ bytes: [UInt8]) throws {
        try writer.writeDatabaseFile(RawPath(path), bytes, tree: tree, emitted: &emitted, mtime: mtime)
    }
}

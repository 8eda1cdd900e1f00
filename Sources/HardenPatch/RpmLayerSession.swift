// harden — writing an rpm patch layer: each new version's files as its header describes them (mode, owner, mtime,
// file capabilities), each checked against the header's digest; a `%config` file the image changed kept as rpm
// keeps it (`%config(noreplace)`: the new one beside it as `.rpmnew`; plain `%config`: the image's saved as
// `.rpmsave`); `%ghost` files left alone, documentation left out under `tsflags=nodocs`; whiteouts for files the old
// versions had and nothing installed still owns; then the rpm database with the new headers as rpm installs them.
// Scriptlets are not run; the report names each.
import Crypto
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenRpm
import HardenSystem

final class RpmLayerSession {
    let writer: LayerBlobWriter
    let tree: FileTree
    let setup: RpmPatcher.Setup
    /// The image's current bytes of the `%config` files the replaced packages own.
    let current: [RawPath: [UInt8]]
    let mtime: Int64

    var emitted = Set<RawPath>()
    var bytesAdded: [String: Int64] = [:]
    var conffilesKept: [String] = []
    var whiteouts: [String] = []
    var notes: [String] = []
    var ldconfig = LdconfigTrigger()

    init(writer: LayerBlobWriter, tree: FileTree, setup: RpmPatcher.Setup, current: [RawPath: [UInt8]], mtime: Int64) {
        self.writer = writer
        self.tree = tree
        self.setup = setup
        self.current = current
        self.mtime = mtime
    }

    static func write(
        plan: [RpmPlanned], files: [String: RpmPackageFile], setup: RpmPatcher.Setup, current: [RawPath: [UInt8]],
        tree: FileTree, mtime: Int64, store: DirectoryBlobStore
    ) throws -> PatchLayerResult {
        let session = RpmLayerSession(
            writer: try LayerBlobWriter(path: store.root + "/patch-layer.tmp", compression: .gzip, gzipLevel: 3),
            tree: tree, setup: setup, current: current, mtime: mtime)
        var headers: [RpmHeader] = []
        var scripts: [String: [String]] = [:]
        var newPaths = Set<String>()
        for p in plan {
            guard let file = files[p.package.name] else { continue }
            let states = try session.writeFiles(p, file)
            newPaths.formUnion(file.header.files.map(\.path))
            headers.append(
                file.installedHeader(
                    time: UInt32(truncatingIfNeeded: mtime), color: Self.transactionColor(setup.arch),
                    fileStates: states))
            scripts[p.package.name] = Self.scriptlets(new: file.header, old: p.replaces.map(\.header))
        }
        let replaced = Set(plan.flatMap { $0.replaces.map(\.hnum) })
        try session.whiteOutDropped(plan.flatMap(\.replaces), newPaths: newPaths, replaced: replaced)
        try session.writeDatabase(
            try RpmDatabaseWriter.update(setup.databaseBytes, removing: replaced.sorted(), adding: headers))
        let ldconfig = try session.ldconfigTrigger()
        let (digest, size, diffID) = try session.writer.finish()
        try HostFS.rename(session.writer.path, store.path(of: digest))
        return PatchLayerResult(
            descriptor: Descriptor(mediaType: MediaType.ociLayer(.gzip), digest: digest, size: size), diffID: diffID,
            bytesAdded: session.bytesAdded, conffilesKept: session.conffilesKept, whiteouts: session.whiteouts,
            scripts: scripts, ldconfig: ldconfig, caCertificates: Self.caTrust(plan), notes: session.notes)
    }

    /// What happened to the extracted trust bundles: `update-ca-trust` (ca-certificates' %posttrans) is not run, so
    /// when the certificates change /etc/pki/ca-trust/extracted keeps the old bundles, and the report says so.
    static func caTrust(_ plan: [RpmPlanned]) -> String? {
        guard plan.contains(where: { $0.package.name == "ca-certificates" || $0.package.name == "p11-kit-trust" })
        else { return nil }
        return "not run: update-ca-trust was not run, so /etc/pki/ca-trust/extracted/ still holds the bundles of the "
            + "old certificates (run update-ca-trust in a later build step)"
    }

    /// rpm's `%_transaction_color` of the platforms with 32- and 64-bit multilib (3), else 0.
    static func transactionColor(_ arch: String) -> UInt32 {
        ["x86_64", "ppc64", "ppc64le", "s390x", "sparc64"].contains(arch) ? 3 : 0
    }

    /// The scriptlets rpm would have run for this upgrade: the new version's, and the old versions' uninstall ones.
    static func scriptlets(new: RpmHeader, old: [RpmHeader]) -> [String] {
        let installing = [
            (1151, "%pretrans"), (1023, "%pre"), (1024, "%post"), (1152, "%posttrans"), (1065, "%trigger"),
            (5066, "%filetrigger"), (5076, "%transfiletrigger"),
        ]
        var out = installing.compactMap { new.entry($0.0) != nil ? $0.1 : nil }
        for h in old {
            for (tag, name) in [(1025, "%preun"), (1026, "%postun")] where h.entry(tag) != nil {
                out.append("\(name) of \(h.name)-\(h.evr)")
            }
        }
        return out
    }

    func canonical(_ path: RawPath) -> RawPath { tree.resolveParents(path.normalized) }

    /// One new version's files into the layer; returns the header's file states (0 installed, 2 not installed).
    func writeFiles(_ planned: RpmPlanned, _ file: RpmPackageFile) throws -> [UInt8] {
        let header = file.header
        let files = header.files
        let caps = header.strings(RpmTag.fileCaps)
        let contents = try Self.contents(file, files: files)
        let oldConfig = Dictionary(
            planned.replaces.flatMap { old in
                old.header.files.filter(\.isConfig).map {
                    ($0.path, (digest: $0.digest, algo: Self.algorithm(old.header)))
                }
            }
        ) { a, _ in a }
        let algo = Self.algorithm(header)
        var states: [UInt8] = []
        var added: Int64 = 0
        for (i, f) in files.enumerated() {
            if f.isGhost || (setup.noDocs && f.flags & RpmFile.docFlag != 0) {
                states.append(f.isGhost ? 0 : 2)
                continue
            }
            states.append(0)
            guard f.path.hasPrefix("/"), !f.path.split(separator: "/").contains("..") else {
                throw HardenError(.corrupt, "\(file.name): file \(f.path) leaves the root")
            }
            let rel = RawPath(String(f.path.dropFirst())).normalized
            let target = canonical(rel)
            var entry = TarEntry(
                path: target, type: .regular, mode: UInt32(f.mode & 0o7777), uid: Int(setup.users[f.user] ?? 0),
                gid: Int(setup.groups[f.group] ?? 0), mtime: Int64(f.mtime))
            if f.isDirectory {
                entry.type = .directory
                try writer.writeDirectory(entry, relative: rel, at: target, tree: tree, emitted: &emitted, mtime: mtime)
                continue
            }
            try writer.writeMissingParents(of: target, tree: tree, emitted: &emitted, mtime: mtime)
            if f.isSymlink {
                entry.type = .symlink
                entry.linkTarget = Array(f.linkTo.utf8)
                ldconfig.noteSymlink(f.path, target: f.linkTo)
                try writer.tar.append(entry)
                emitted.insert(target)
                continue
            }
            guard f.isRegular else {
                throw HardenError(
                    .unsupported, "\(file.name): \(f.path) is a device or fifo, which harden does not install")
            }
            guard let body = contents[f.path] else {
                throw HardenError(.corrupt, "\(file.name): \(f.path) is listed in the header but not in the payload")
            }
            try Self.check(body, f, algo: algo, package: file.name)
            if i < caps.count, !caps[i].isEmpty {
                entry.xattrs["security.capability"] = try FileCapabilities.vfsData(
                    caps[i], source: "\(file.name): \(f.path)")
            }
            if f.isConfig, let now = current[target], let old = oldConfig[f.path],
                Self.digest(now, algo: old.algo) != old.digest.lowercased(),
                Self.digest(now, algo: algo) != f.digest.lowercased()
            {
                if f.flags & RpmFile.noReplaceFlag != 0 {
                    entry.path = RawPath(target.bytes + Array(".rpmnew".utf8))
                    conffilesKept.append(f.path)
                } else {
                    var saved = entry
                    saved.path = RawPath(target.bytes + Array(".rpmsave".utf8))
                    saved.size = Int64(now.count)
                    try writer.tar.append(saved, body: now)
                    emitted.insert(saved.path)
                    notes.append("\(f.path): the image's changed copy saved as \(f.path).rpmsave (plain %config)")
                }
            }
            entry.size = Int64(body.count)
            try writer.tar.append(entry, body: body)
            emitted.insert(entry.path)
            added += entry.size
            ldconfig.note(f.path, body)
        }
        bytesAdded[planned.package.name] = added
        return states
    }

    /// The payload's regular files by path; hard-linked files (one inode, the data on one member) all get the data.
    static func contents(_ file: RpmPackageFile, files: [RpmFile]) throws -> [String: [UInt8]] {
        let archive = try file.archive()
        let members = try Cpio.members(archive, source: file.name) { i in i < files.count ? Int(files[i].size) : nil }
        var byInode: [UInt32: Range<Int>] = [:]
        for m in members where m.name != nil && !m.data.isEmpty { byInode[m.inode] = m.data }
        var out: [String: [UInt8]] = [:]
        for m in members {
            let path: String
            if let index = m.fileIndex {
                guard index < files.count else {
                    throw HardenError(.corrupt, "\(file.name): payload file \(index) of \(files.count)")
                }
                path = files[index].path
            } else if let name = m.name {
                path = name.hasPrefix("./") ? String(name.dropFirst()) : name.hasPrefix("/") ? name : "/" + name
            } else {
                continue
            }
            let data = m.data.isEmpty && m.links > 1 ? byInode[m.inode] ?? m.data : m.data
            out[path] = Array(archive[data])
        }
        return out
    }

    /// rpm's file digest algorithm of a header (FILEDIGESTALGO; MD5 when absent).
    static func algorithm(_ h: RpmHeader) -> UInt64 { h.integers(RpmTag.fileDigestAlgo).first ?? 1 }

    static func digest(_ bytes: [UInt8], algo: UInt64) -> String {
        switch algo {
        case 2: return Hex.encode(Insecure.SHA1.hash(data: bytes))
        case 8: return Hex.encode(SHA256.hash(data: bytes))
        case 9: return Hex.encode(SHA384.hash(data: bytes))
        case 10: return Hex.encode(SHA512.hash(data: bytes))
        default: return Hex.encode(Insecure.MD5.hash(data: bytes))
        }
    }

    static func check(_ body: [UInt8], _ f: RpmFile, algo: UInt64, package: String) throws {
        guard Int64(body.count) == f.size else {
            throw HardenError(.corrupt, "\(package): \(f.path) is \(body.count) bytes, its header says \(f.size)")
        }
        let got = digest(body, algo: algo)
        guard f.digest.isEmpty || got == f.digest.lowercased() else {
            throw HardenError(.corrupt, "\(package): \(f.path) has digest \(got), its header says \(f.digest)")
        }
    }

    /// Files the replaced packages had that no new version ships and no package staying installed owns: whited out.
    func whiteOutDropped(_ replaced: [RpmInstalledPackage], newPaths: Set<String>, replaced hnums: Set<Int64>) throws {
        var kept = Set<String>()
        for p in setup.installed where !hnums.contains(p.hnum) { kept.formUnion(p.files) }
        for path in Set(replaced.flatMap(\.files)).sorted() where !newPaths.contains(path) && !kept.contains(path) {
            let t = canonical(RawPath(String(path.dropFirst())))
            if try writer.writeWhiteout(for: t, tree: tree, emitted: &emitted, mtime: mtime) { whiteouts.append(path) }
        }
    }

    /// The ldconfig trigger (rpm packages run /sbin/ldconfig in %post or glibc's file trigger): done natively.
    func ldconfigTrigger() throws -> String {
        let cachePath = canonical(RawPath("etc/ld.so.cache"))
        let r = ldconfig.apply(
            cache: current[cachePath], removed: Set(whiteouts), canonical: canonical,
            exists: { self.tree.nodes[$0] != nil || self.emitted.contains($0) })
        for (link, target) in r.links {
            try writer.writeMissingParents(of: link, tree: tree, emitted: &emitted, mtime: mtime)
            var entry = TarEntry(path: link, type: .symlink, mode: 0o777, uid: 0, gid: 0, mtime: mtime)
            entry.linkTarget = Array(target.utf8)
            try writer.tar.append(entry)
            emitted.insert(link)
        }
        if let cache = r.cache {
            try writer.writeDatabaseFile(cachePath, cache, tree: tree, emitted: &emitted, mtime: mtime)
        }
        return r.summary
    }

    /// The rpm database, with the mode and owner the image gave it.
    func writeDatabase(_ bytes: [UInt8]) throws {
        try writer.writeDatabaseFile(setup.databasePath, bytes, tree: tree, emitted: &emitted, mtime: mtime)
    }
}

/// File capabilities as rpm's header writes them (`cap_net_raw,cap_net_admin=ep`, `cap_setuid+ep`) turned into the
/// `security.capability` extended attribute the kernel reads (VFS_CAP_REVISION_2).
public enum FileCapabilities {
    static let names = [
        "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
        "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
        "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
        "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
        "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
        "checkpoint_restore",
    ]

    public static func vfsData(_ text: String, source: String) throws -> [UInt8] {
        var permitted: UInt64 = 0, inheritable: UInt64 = 0, effective = false
        for clause in text.split(separator: " ") {
            guard let op = clause.firstIndex(where: { "=+-".contains($0) }) else {
                throw HardenError(.corrupt, "\(source): file capabilities \(text) have no operator")
            }
            var bits: UInt64 = 0
            for name in clause[..<op].split(separator: ",") {
                let n = name.lowercased()
                if n == "all" {
                    bits = (1 << UInt64(names.count)) - 1
                    continue
                }
                guard n.hasPrefix("cap_"), let i = names.firstIndex(of: String(n.dropFirst(4))) else {
                    throw HardenError(.corrupt, "\(source): unknown capability \(name) in \(text)")
                }
                bits |= 1 << UInt64(i)
            }
            let flags = clause[clause.index(after: op)...]
            let adding = clause[op] != "-"
            func apply(_ v: inout UInt64) { v = adding ? v | bits : v & ~bits }
            if clause[op] == "=" {
                permitted &= ~bits
                inheritable &= ~bits
            }
            if flags.contains("p") { apply(&permitted) }
            if flags.contains("i") { apply(&inheritable) }
            if flags.contains("e") { effective = adding }
        }
        var out: [UInt8] = []
        func le32(_ v: UInt32) {
            out += [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)]
        }
        le32(0x0200_0000 | (effective ? 1 : 0))
        le32(UInt32(truncatingIfNeeded: permitted))
        le32(UInt32(truncatingIfNeeded: inheritable))
        le32(UInt32(truncatingIfNeeded: permitted >> 32))
        le32(UInt32(truncatingIfNeeded: inheritable >> 32))
        return out
    }
}

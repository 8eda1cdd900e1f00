// harden — ldconfig's work for a patch layer, done natively for every package manager's backend: each new ELF
// library's DT_SONAME is noted; one the image's /etc/ld.so.cache does not know (in a directory the cache covers) is
// added with its soname link when the package does not ship it, entries of removed files are dropped, and the cache is
// rewritten in ldconfig's order. A security update that keeps its sonames changes nothing.
import HardenCore
import HardenELF

struct LdconfigTrigger {
    struct Library {
        var dir: String
        var file: String
        var soname: String
        var machine: UInt16
        var is64: Bool

        /// The cache entry's flags: ELF class and machine (x86-64, AArch64) as ldconfig records them.
        var flags: Int32 { machine == 62 && is64 ? 0x0303 : machine == 183 && is64 ? 0x0a03 : 0x0003 }
    }

    var libraries: [Library] = []
    /// `lib*.so*` symlinks the layer writes (ldconfig caches them too: `libz.so => …/libz.so`).
    var symlinks: [(dir: String, name: String, target: String)] = []

    /// Notes a file the layer writes (absolute path) when it is a shared library with a soname.
    mutating func note(_ abs: String, _ body: [UInt8]) {
        guard abs.contains(".so"), ELF.isELF(body.prefix(4)), let elf = try? ELF.parse(body), let soname = elf.soname
        else { return }
        let slash = abs.lastIndex(of: "/") ?? abs.startIndex
        libraries.append(
            Library(
                dir: String(abs[..<slash]), file: String(abs[abs.index(after: slash)...]), soname: soname,
                machine: elf.machine, is64: elf.is64Bit))
    }

    /// Notes a symlink the layer writes (absolute path, its target as written).
    mutating func noteSymlink(_ abs: String, target: String) {
        let slash = abs.lastIndex(of: "/") ?? abs.startIndex
        let name = String(abs[abs.index(after: slash)...])
        guard name.hasPrefix("lib"), name.contains(".so") else { return }
        symlinks.append((String(abs[..<slash]), name, target))
    }

    /// What ldconfig would change: the new cache (nil when unchanged), the soname links to write, and a summary for
    /// the report. `canonical` resolves a path through the image's symlinked directories; `exists` says whether the
    /// image or the layer already has a path.
    func apply(
        cache bytes: [UInt8]?, removed: Set<String>, canonical: (RawPath) -> RawPath, exists: (RawPath) -> Bool
    ) -> (summary: String, cache: [UInt8]?, links: [(RawPath, String)]) {
        guard !libraries.isEmpty else { return ("not needed: no shared library in the new versions", nil, []) }
        guard let bytes, var cache = try? LdSoCache.parse(bytes) else {
            return ("not checked: the image has no readable /etc/ld.so.cache", nil, [])
        }
        let cachedDirs = Set(
            cache.ordered.map { String($0.path[..<($0.path.lastIndex(of: "/") ?? $0.path.startIndex)]) })
        var added: [String] = []
        var links: [(RawPath, String)] = []
        for lib in libraries
        where cachedDirs.contains(lib.dir)
            || cachedDirs.contains(canonical(RawPath(String(lib.dir.dropFirst()))).absoluteDescription)
        {
            guard cache.entries[lib.soname] == nil else { continue }
            let flags = lib.flags
            let path = lib.dir + "/" + lib.soname
            cache.ordered.append(.init(name: lib.soname, path: path, flags: flags))
            cache.entries[lib.soname] = [(path, flags)]
            added.append(lib.soname)
            // ldconfig makes the soname link when the package does not ship it.
            let link = canonical(RawPath(String(path.dropFirst())))
            if lib.file != lib.soname, !exists(link), !links.contains(where: { $0.0 == link }) {
                links.append((link, lib.file))
            }
        }
        // A library symlink in a cached directory to a library of the layer or of the cache gets its own entry.
        for link in symlinks where cache.entries[link.name] == nil {
            guard
                cachedDirs.contains(link.dir)
                    || cachedDirs.contains(canonical(RawPath(String(link.dir.dropFirst()))).absoluteDescription)
            else { continue }
            let targetPath = link.target.hasPrefix("/") ? link.target : link.dir + "/" + link.target
            let base = String(targetPath.split(separator: "/").last ?? "")
            let flags =
                libraries.first { $0.dir == link.dir && $0.file == base }?.flags
                ?? cache.ordered.first { $0.path == targetPath }?.flags
            guard let flags else { continue }
            let path = link.dir + "/" + link.name
            cache.ordered.append(.init(name: link.name, path: path, flags: flags))
            cache.entries[link.name] = [(path, flags)]
            added.append(link.name)
        }
        let before = cache.ordered.count
        cache.ordered.removeAll { removed.contains($0.path) }
        let dropped = before - cache.ordered.count
        guard !added.isEmpty || dropped > 0 else {
            return ("unchanged: every soname of the new libraries is already in /etc/ld.so.cache", nil, [])
        }
        return (
            "rewritten: \(added.count) sonames added (\(added.sorted().joined(separator: ", "))), "
                + "\(dropped) entries of removed files dropped", LdSoCache.write(cache.ordered), links
        )
    }
}

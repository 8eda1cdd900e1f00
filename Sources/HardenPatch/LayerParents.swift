// harden — the directories a patch layer writes: those above a path that neither the image nor the layer already
// has, and a package's own directory entries (each patcher's layer session uses them).
import HardenArchive
import HardenCore
import HardenOCI

extension LayerBlobWriter {
    /// Writes the directories above `path` (root:root 0755) that neither the image (`tree`) nor this layer
    /// (`emitted`, updated) has yet, parents first.
    func writeMissingParents(of path: RawPath, tree: FileTree, emitted: inout Set<RawPath>, mtime: Int64) throws {
        var chain: [RawPath] = []
        var q = path.parent
        while let d = q, !d.isRoot {
            if tree.nodes[d]?.isDirectory == true || emitted.contains(d) { break }
            chain.append(d)
            q = d.parent
        }
        for d in chain.reversed() {
            try tar.append(TarEntry(path: d, type: .directory, mode: 0o755, uid: 0, gid: 0, mtime: mtime))
            emitted.insert(d)
        }
    }

    /// A package's directory entry, written at `target` (its canonical path) with its parents, unless the image
    /// already has the directory (possibly through a symlink such as /lib -> usr/lib) or the layer does.
    func writeDirectory(
        _ entry: TarEntry, relative: RawPath, at target: RawPath, tree: FileTree, emitted: inout Set<RawPath>,
        mtime: Int64
    ) throws {
        if let r = tree.resolve(relative), tree.nodes[r]?.isDirectory == true { return }
        if tree.nodes[target] != nil || emitted.contains(target) { return }
        try writeMissingParents(of: target, tree: tree, emitted: &emitted, mtime: mtime)
        var d = entry
        d.path = target
        try tar.append(d)
        emitted.insert(target)
    }

    /// A whiteout for `path` (canonical) when the image has it as a non-directory the layer has not written; returns
    /// whether one was written.
    func writeWhiteout(for t: RawPath, tree: FileTree, emitted: inout Set<RawPath>, mtime: Int64) throws -> Bool {
        guard let node = tree.nodes[t], !node.isDirectory, !emitted.contains(t), let parent = t.parent else {
            return false
        }
        let wh = parent.appending(Array(".wh.".utf8) + t.lastComponent)
        try tar.append(TarEntry(path: wh, type: .regular, mode: 0o644, uid: 0, gid: 0, mtime: mtime))
        emitted.insert(wh)
        return true
    }

    /// A package database file at `p`, with the mode and owner the image gave it, and its missing parents.
    func writeDatabaseFile(
        _ p: RawPath, _ bytes: [UInt8], tree: FileTree, emitted: inout Set<RawPath>, mtime: Int64
    ) throws {
        try writeMissingParents(of: p, tree: tree, emitted: &emitted, mtime: mtime)
        let node = tree.nodes[p]
        var entry = TarEntry(
            path: p, type: .regular, mode: node?.mode ?? 0o644, uid: node?.uid ?? 0, gid: node?.gid ?? 0, mtime: mtime)
        entry.size = Int64(bytes.count)
        try tar.append(entry, body: bytes)
        emitted.insert(p)
    }
}

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
}

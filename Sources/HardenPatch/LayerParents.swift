// harden — the directories a patch layer must carry above a path it writes: those neither the image nor the layer
// already has (each patcher's layer session uses it).
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
}

// harden — the files of one run (bundles, /etc files, overlay directories, volumes), written anchored at the run's
// directory: every component opened with O_NOFOLLOW, files created O_EXCL and renamed into place, mounts made on
// directories opened that way. A container that could plant a symlink anywhere in the tree still cannot make harden
// write, or mount, outside it.
import CHardenSystem
import HardenCore
import HardenSystem

#if canImport(Glibc)
import Glibc
#endif

struct RunTree: Sendable {
    /// The run's directory (`$HARDEN_RUN_DIR/harden-ID`), made by harden, mode 0700.
    let root: String

    /// `path` (under `root`) as a path relative to it; anything else is refused.
    func relative(_ path: String) throws -> RawPath {
        guard path.hasPrefix(root + "/") else {
            throw HardenError(.unsafe, "\(path): outside the run directory \(root)")
        }
        return RawPath(String(path.dropFirst(root.count + 1)))
    }

    func anchor() throws -> AnchoredDirectory { try AnchoredDirectory(hostPath: root) }

    /// Makes `path` and its missing parents, none of them through a symlink.
    func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        try anchor().makeDirectory(try relative(path), mode: mode)
    }

    /// Writes a whole file atomically; a symlink at `path` is replaced, never followed.
    func write(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        try anchor().writeFileAtomically(try relative(path), bytes, mode: mode)
    }

    /// Creates an empty file (for a child process to append to) unless a regular file is there; a symlink or
    /// anything else there is refused.
    func createEmpty(_ path: String) throws {
        let a = try anchor()
        let rel = try relative(path)
        if let st = try a.lstatEntry(rel) {
            guard st.st_mode & S_IFMT == S_IFREG else { throw HardenError(.unsafe, "\(path): not a regular file") }
            return
        }
        _ = try a.createFile(rel, mode: 0o600)
    }

    /// Opens the directory `path` without following a symlink anywhere: mount on `/proc/self/fd/N` of it.
    func openDirectory(_ path: String) throws -> FileDescriptor {
        try anchor().openDirectory(try relative(path))
    }

    /// Mounts an overlay with `upper`, `work` and `target` under the run's directory, each opened without following
    /// links (the lower layer is harden's own unpacked image).
    func mountOverlay(lower: String, upper: String, work: String, target: String) throws {
        let u = try openDirectory(upper)
        let w = try openDirectory(work)
        let t = try openDirectory(target)
        try Mounts.mountOverlay(
            lower: lower, upper: "/proc/self/fd/\(u.raw)", work: "/proc/self/fd/\(w.raw)",
            target: "/proc/self/fd/\(t.raw)")
        withExtendedLifetime((u, w, t)) {}
    }
}

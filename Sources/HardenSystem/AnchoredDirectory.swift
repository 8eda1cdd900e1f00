// harden — file-system operations anchored at a directory descriptor that cannot escape it.
import CHardenSystem
import HardenCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A directory that every operation stays inside.
///
/// Paths are image paths (`RawPath`, normalized, relative). Each parent component is opened with
/// `O_DIRECTORY | O_NOFOLLOW` relative to the one before it, and the last component is created with
/// `O_EXCL | O_NOFOLLOW` or the `*at` call's no-follow flag, so neither `..`, absolute names nor a symlink
/// planted anywhere on the way can make a write land outside the root.
public final class AnchoredDirectory {
    public let root: FileDescriptor
    public let hostPath: String
    private var parentCache: (path: RawPath, fd: FileDescriptor)?

    /// Opens (and with `create`, makes) the directory at `hostPath`.
    public init(hostPath: String, create: Bool = false) throws {
        if create { try HostFS.makeDirectories(hostPath) }
        let fd = Glibc.open(hostPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            throw HardenError(e == ENOENT ? .notFound : .io, "\(hostPath): \(errnoText(e))")
        }
        self.root = FileDescriptor(raw: fd)
        self.hostPath = hostPath
    }

    private static func checkName(_ name: ArraySlice<UInt8>, in path: RawPath) throws {
        if name.isEmpty || name == [UInt8(ascii: ".")] || name == [UInt8(ascii: "."), UInt8(ascii: ".")]
            || name.contains(0) || name.contains(UInt8(ascii: "/"))
        {
            throw HardenError(.unsafe, "refusing path \(path.absoluteDescription): bad component")
        }
    }

    /// Opens the directory that holds `path`'s last component, creating missing parents with `mode`.
    /// Fails if any existing parent is not a real directory (a symlink included).
    public func openParent(
        of path: RawPath, createMissing: Bool = true, mode: mode_t = 0o755
    ) throws -> (FileDescriptor, [UInt8]) {
        let comps = path.components
        guard let last = comps.last else { throw HardenError(.unsafe, "refusing to replace the root directory") }
        for c in comps { try Self.checkName(c, in: path) }
        let parentPath = RawPath(Array(comps.dropLast().joined(separator: [UInt8(ascii: "/")])))
        if let cached = parentCache, cached.path == parentPath { return (cached.fd, Array(last)) }
        var current = FileDescriptor(raw: dup(root.raw))
        for c in comps.dropLast() {
            let name = Array(c)
            var fd = withCPath(name) { openat(current.raw, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            if fd < 0 && errno == ENOENT && createMissing {
                let made = withCPath(name) { mkdirat(current.raw, $0, mode) }
                if made != 0 && errno != EEXIST {
                    throw HardenError(.io, "\(hostPath)/\(path): cannot create directory: \(errnoText())")
                }
                fd = withCPath(name) { openat(current.raw, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            }
            guard fd >= 0 else {
                let e = errno
                if e == ELOOP || e == ENOTDIR {
                    throw HardenError(.unsafe, "refusing path \(path.absoluteDescription): a parent is not a directory")
                }
                throw HardenError(e == ENOENT ? .notFound : .io, "\(hostPath)/\(path): \(errnoText(e))")
            }
            current = FileDescriptor(raw: fd)
        }
        parentCache = (parentPath, current)
        return (current, Array(last))
    }

    /// Forgets the cached parent directory (call after removing or replacing directories).
    public func invalidateCache() { parentCache = nil }

    /// Makes a directory (and its parents). An existing directory is kept.
    public func makeDirectory(_ path: RawPath, mode: mode_t) throws {
        if path.isRoot { return }
        let (parent, name) = try openParent(of: path)
        let r = withCPath(name) { mkdirat(parent.raw, $0, mode & 0o7777) }
        if r != 0 {
            let e = errno
            var st = stat()
            let isDir =
                withCPath(name) { fstatat(parent.raw, $0, &st, AT_SYMLINK_NOFOLLOW) } == 0
                && (st.st_mode & S_IFMT) == S_IFDIR
            if !(e == EEXIST && isDir) {
                throw HardenError(.io, "\(hostPath)/\(path): cannot create directory: \(errnoText(e))")
            }
        }
    }

    /// Creates a new regular file; fails if anything already exists there.
    public func createFile(_ path: RawPath, mode: mode_t) throws -> FileDescriptor {
        let (parent, name) = try openParent(of: path)
        let fd = withCPath(name) { openat(parent.raw, $0, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw HardenError(.io, "\(hostPath)/\(path): cannot create file: \(errnoText())") }
        _ = mode
        return FileDescriptor(raw: fd)
    }

    /// Creates a symbolic link. Its target is stored as given and never followed by harden.
    public func createSymlink(_ path: RawPath, target: [UInt8]) throws {
        let (parent, name) = try openParent(of: path)
        let r = withCPath(target) { t in withCPath(name) { symlinkat(t, parent.raw, $0) } }
        guard r == 0 else { throw HardenError(.io, "\(hostPath)/\(path): cannot create symlink: \(errnoText())") }
    }

    /// Creates a hard link at `path` to the existing `existing`; both stay inside the root.
    public func createHardlink(_ path: RawPath, to existing: RawPath) throws {
        let (oldParent, oldName) = try openParent(of: existing, createMissing: false)
        invalidateCache()
        let (newParent, newName) = try openParent(of: path)
        let r = withCPath(oldName) { o in withCPath(newName) { n in linkat(oldParent.raw, o, newParent.raw, n, 0) } }
        guard r == 0 else {
            throw HardenError(.io, "\(hostPath)/\(path): cannot link to /\(existing): \(errnoText())")
        }
    }

    /// Creates a device node or FIFO.
    public func createNode(_ path: RawPath, mode: mode_t, device: dev_t) throws {
        let (parent, name) = try openParent(of: path)
        let r = withCPath(name) { mknodat(parent.raw, $0, mode, device) }
        guard r == 0 else { throw HardenError(.io, "\(hostPath)/\(path): cannot create node: \(errnoText())") }
    }

    /// Sets owner, mode and times without following a symlink at `path`.
    public func setMetadata(
        _ path: RawPath, uid: UInt32?, gid: UInt32?, mode: mode_t?, mtime: Int64?, isSymlink: Bool
    ) throws {
        let (parent, name) = try openParent(of: path, createMissing: false)
        try withCPath(name) { cname in
            if let uid, let gid, geteuid() == 0 {
                if fchownat(parent.raw, cname, uid, gid, AT_SYMLINK_NOFOLLOW) != 0 {
                    throw HardenError(.io, "\(hostPath)/\(path): cannot change owner: \(errnoText())")
                }
            }
            if let mode, !isSymlink {
                // Mode after chown: chown clears setuid/setgid bits.
                if fchmodat(parent.raw, cname, mode & 0o7777, 0) != 0 {
                    throw HardenError(.io, "\(hostPath)/\(path): cannot change mode: \(errnoText())")
                }
            }
            if let mtime {
                var times = [timespec(tv_sec: Int(mtime), tv_nsec: 0), timespec(tv_sec: Int(mtime), tv_nsec: 0)]
                _ = utimensat(parent.raw, cname, &times, AT_SYMLINK_NOFOLLOW)
            }
        }
    }

    /// Sets extended attributes on a file or directory (not through a symlink).
    public func setXattrs(_ path: RawPath, _ xattrs: [String: [UInt8]]) throws {
        guard !xattrs.isEmpty else { return }
        let (parent, name) = try openParent(of: path, createMissing: false)
        let fd = withCPath(name) { openat(parent.raw, $0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { return }
        defer { close(fd) }
        for (key, value) in xattrs.sorted(by: { $0.key < $1.key }) {
            let r = value.withUnsafeBytes { fsetxattr(fd, key, $0.baseAddress, value.count, 0) }
            if r != 0 && errno != ENOTSUP && errno != EPERM {
                throw HardenError(.io, "\(hostPath)/\(path): cannot set xattr \(key): \(errnoText())")
            }
        }
    }

    /// `lstat` of `path`, or `nil` when it does not exist.
    public func lstatEntry(_ path: RawPath) throws -> stat? {
        if path.isRoot { return try root.stat() }
        let (parent, name) = try openParent(of: path, createMissing: false)
        var st = stat()
        let r = withCPath(name) { fstatat(parent.raw, $0, &st, AT_SYMLINK_NOFOLLOW) }
        return r == 0 ? st : nil
    }

    /// Writes a whole file atomically: a new temporary sibling (`O_EXCL | O_NOFOLLOW`) renamed over `path` inside
    /// the same anchored parent, so a symlink at `path` is replaced, never followed.
    public func writeFileAtomically(_ path: RawPath, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        let (parent, name) = try openParent(of: path)
        let temporary = name + Array(".harden-tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))".utf8)
        let fd = withCPath(temporary) {
            openat(parent.raw, $0, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0o7777)
        }
        guard fd >= 0 else { throw HardenError(.io, "\(hostPath)/\(path): cannot create file: \(errnoText())") }
        let file = FileDescriptor(raw: fd)
        do {
            try file.writeAll(bytes)
            _ = fchmod(fd, mode & 0o7777)
            let r = withCPath(temporary) { t in withCPath(name) { renameat(parent.raw, t, parent.raw, $0) } }
            guard r == 0 else {
                throw HardenError(.io, "\(hostPath)/\(path): cannot rename into place: \(errnoText())")
            }
        } catch {
            _ = withCPath(temporary) { unlinkat(parent.raw, $0, 0) }
            throw error
        }
    }

    /// Opens the directory at `path` (no component may be a symlink), e.g. to mount on it as `/proc/self/fd/N`.
    public func openDirectory(_ path: RawPath) throws -> FileDescriptor {
        if path.isRoot { return FileDescriptor(raw: dup(root.raw)) }
        let (parent, name) = try openParent(of: path, createMissing: false)
        let fd = withCPath(name) { openat(parent.raw, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else {
            let e = errno
            throw HardenError(
                e == ELOOP || e == ENOTDIR ? .unsafe : .io, "\(hostPath)/\(path): not a directory: \(errnoText(e))")
        }
        return FileDescriptor(raw: fd)
    }
}

// harden — thin, throwing wrappers over the POSIX calls harden uses.
import CHardenSystem
import HardenCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The text of `errno` for an error message.
public func errnoText(_ code: Int32 = errno) -> String {
    guard let s = strerror(code) else { return "error \(code)" }
    return String(cString: s).lowercased()
}

/// Calls `body` with `bytes` as a NUL-terminated C string.
@inline(__always)
public func withCPath<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
    var buffer = bytes
    buffer.append(0)
    return try buffer.withUnsafeBufferPointer { raw in
        try raw.withMemoryRebound(to: CChar.self) { try body($0.baseAddress.unsafelyUnwrapped) }
    }
}

/// An open file descriptor, closed when the last reference goes. Sendable: the number never changes, and
/// the kernel serialises calls on it (readers at an offset use `pread`).
public final class FileDescriptor: Sendable {
    public let raw: Int32

    public init(raw: Int32) { self.raw = raw }
    deinit { _ = Glibc.close(raw) }

    /// Opens `path` (a host path) read-only.
    public static func open(_ path: String, flags: Int32 = O_RDONLY) throws -> FileDescriptor {
        let fd = Glibc.open(path, flags | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            throw HardenError(e == ENOENT ? .notFound : .io, "\(path): \(errnoText(e))")
        }
        return FileDescriptor(raw: fd)
    }

    /// Creates or truncates `path` for writing.
    public static func create(_ path: String, mode: mode_t = 0o644, exclusive: Bool = false) throws -> FileDescriptor {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (exclusive ? O_EXCL : O_TRUNC)
        let fd = Glibc.open(path, flags, mode)
        guard fd >= 0 else { throw HardenError(.io, "\(path): \(errnoText())") }
        return FileDescriptor(raw: fd)
    }

    public func stat() throws -> Glibc.stat {
        var st = Glibc.stat()
        guard fstat(raw, &st) == 0 else { throw HardenError(.io, "fstat: \(errnoText())") }
        return st
    }

    /// The size of the open file.
    public func size() throws -> Int64 { Int64(try stat().st_size) }

    /// Reads up to `buffer.count` bytes, retrying on EINTR; 0 means end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(raw, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw HardenError(.io, "read: \(errnoText())")
        }
    }

    /// Reads up to `buffer.count` bytes at `offset`; 0 means end of file.
    public func pread(into buffer: UnsafeMutableRawBufferPointer, offset: Int64) throws -> Int {
        while true {
            let n = Glibc.pread(raw, buffer.baseAddress, buffer.count, off_t(offset))
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw HardenError(.io, "read: \(errnoText())")
        }
    }

    /// Writes all of `buffer`, retrying on short writes and EINTR.
    public func writeAll(_ buffer: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let n = Glibc.write(raw, buffer.baseAddress.unsafelyUnwrapped + done, buffer.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw HardenError(.io, "write: \(errnoText())")
            }
            done += n
        }
    }

    /// Writes all of `buffer` at `offset` (the file position is unchanged).
    public func pwriteAll(_ buffer: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < buffer.count {
            let n = Glibc.pwrite(
                raw, buffer.baseAddress.unsafelyUnwrapped + done, buffer.count - done, off_t(offset + Int64(done)))
            if n < 0 {
                if errno == EINTR { continue }
                throw HardenError(.io, "write: \(errnoText())")
            }
            done += n
        }
    }

    /// Sets the file's size (a larger size leaves a hole, which takes no disk space).
    public func truncate(to size: Int64) throws {
        guard ftruncate(raw, off_t(size)) == 0 else { throw HardenError(.io, "ftruncate: \(errnoText())") }
    }

    public func writeAll(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeAll($0) }
    }

    public func sync() throws {
        guard fsync(raw) == 0 else { throw HardenError(.io, "fsync: \(errnoText())") }
    }
}

/// Host file-system helpers for whole files and directories (paths are host paths, not image paths).
public enum HostFS {
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return fstatat(AT_FDCWD, path, &st, 0) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Whether every user may enter the directory at `path` (others' execute bit).
    public static func isWorldTraversable(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && st.st_mode & 0o001 != 0
    }

    public static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return fstatat(AT_FDCWD, path, &st, 0) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    public static func fileSize(_ path: String) throws -> Int64 {
        var st = stat()
        guard fstatat(AT_FDCWD, path, &st, 0) == 0 else {
            let e = errno
            throw HardenError(e == ENOENT ? .notFound : .io, "\(path): \(errnoText(e))")
        }
        return Int64(st.st_size)
    }

    /// Size, modification time and inode of a file, as one string that changes whenever the file is replaced or
    /// written; nil when it does not exist.
    public static func changeStamp(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return "\(st.st_size)/\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)/\(st.st_ino)"
    }

    /// Reads a whole file, refusing files larger than `limit` bytes.
    public static func readFile(_ path: String, limit: Int = 64 << 20) throws -> [UInt8] {
        let fd = try FileDescriptor.open(path)
        let st = try fd.stat()
        if (st.st_mode & S_IFMT) == S_IFDIR { throw HardenError(.invalidArgument, "\(path): is a directory") }
        if Int(st.st_size) > limit {
            throw HardenError(.limitExceeded, "\(path): file is \(st.st_size) bytes, more than the \(limit) allowed")
        }
        var out = [UInt8](repeating: 0, count: max(Int(st.st_size), 0))
        var filled = 0
        while true {
            if filled == out.count {
                if out.count >= limit + 1 { break }
                out.append(contentsOf: [UInt8](repeating: 0, count: 4096))
            }
            let n = try out.withUnsafeMutableBytes {
                try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...]))
            }
            if n == 0 { break }
            filled += n
        }
        out.removeLast(out.count - filled)
        if out.count > limit {
            throw HardenError(.limitExceeded, "\(path): file is larger than the \(limit) bytes allowed")
        }
        return out
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, then rename. A path that is
    /// a device, a FIFO or a socket (`-o /dev/null`, `-o /dev/stdout`) is written to as it is: renaming over it would
    /// replace the device with a file.
    public static func writeFileAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        var st = Glibc.stat()
        if fstatat(AT_FDCWD, path, &st, 0) == 0, (st.st_mode & S_IFMT) != S_IFREG, (st.st_mode & S_IFMT) != S_IFDIR {
            let fd = try FileDescriptor.open(path, flags: O_WRONLY | O_CLOEXEC)
            try fd.writeAll(bytes)
            return
        }
        let tmp = temporarySibling(of: path)
        do {
            let fd = try FileDescriptor.create(tmp, mode: mode, exclusive: true)
            try fd.writeAll(bytes)
            try fd.sync()
            try rename(tmp, path)
        } catch {
            unlink(tmp)
            throw error
        }
    }

    /// A unique temporary name next to `path`, so that a rename onto `path` is atomic.
    public static func temporarySibling(of path: String) -> String {
        let (dir, name) = split(path)
        let token = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        return (dir.isEmpty ? "" : dir + "/") + ".\(name).tmp-\(getpid())-\(token)"
    }

    /// Removes what an earlier, interrupted harden left beside `path` (its `temporarySibling`s, also with a suffix
    /// such as `.d`) when the process that made them is gone. Called before writing `path` again, so a SIGKILL
    /// costs disk space only until the next write to the same destination.
    public static func sweepStaleSiblings(of path: String) {
        let (dir, name) = split(path)
        sweepStale(in: dir.isEmpty ? "." : dir, prefix: ".\(name).")
    }

    /// Removes entries of `dir` named `PREFIX….tmp-<pid>-<token>[suffix]` (harden's temporary names) whose process
    /// `pid` no longer runs.
    public static func sweepStale(in dir: String, prefix: String) {
        guard let names = try? listDirectory(dir) else { return }
        for name in names where name.hasPrefix(prefix) {
            let bytes = Array(name.utf8), marker = Array(".tmp-".utf8)
            guard bytes.count > marker.count,
                let at = (0...(bytes.count - marker.count)).reversed().first(where: {
                    bytes[$0..<($0 + marker.count)].elementsEqual(marker)
                })
            else { continue }
            let rest = bytes[(at + marker.count)...]
            guard let dash = rest.firstIndex(of: UInt8(ascii: "-")),
                let pid = Int32(String(decoding: rest[..<dash], as: UTF8.self)), pid > 0
            else { continue }
            if pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH { continue }
            try? removeTree(dir + "/" + name)
        }
    }

    public static func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw HardenError(.io, "rename \(from) to \(to): \(errnoText())") }
    }

    /// Splits a host path into directory and last component.
    public static func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return ("", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }

    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        if isDirectory(path) { return }
        let (parent, _) = split(path)
        if !parent.isEmpty && parent != "/" && parent != path { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST {
            throw HardenError(.io, "\(path): cannot create directory: \(errnoText())")
        }
    }

    /// Lists a directory's entry names (not `.` and `..`), sorted.
    public static func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else {
            let e = errno
            throw HardenError(e == ENOENT ? .notFound : .io, "\(path): \(errnoText(e))")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let ent = readdir(dir) {
            let name = withUnsafePointer(to: ent.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Removes a file or a whole directory tree; never follows symlinks. Missing paths are fine.
    ///
    /// Works relative to directory descriptors (`openat`/`unlinkat`), never by full path, so a tree deeper than
    /// `PATH_MAX` (a container can make one) is removed too. At most `maxOpenDepth` descriptors are held: a
    /// directory found deeper is first moved up to the top of the tree being removed (`renameat`), then removed
    /// from there.
    public static func removeTree(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            guard unlink(path) == 0 else { throw HardenError(.io, "\(path): cannot remove: \(errnoText())") }
            return
        }
        _ = chmod(path, 0o700)
        let top = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard top >= 0 else { throw HardenError(.io, "\(path): cannot open: \(errnoText())") }
        defer { _ = Glibc.close(top) }
        var hoisted = 0
        // Directories moved up to `top` because they sat too deep; each is emptied like the top itself.
        var pending: [String] = []
        func empty(_ fd: Int32, depth: Int, at shown: String) throws {
            for raw in try entries(fd, shown) {
                try withCPath(raw) { name in
                    let shownName = String(decoding: raw, as: UTF8.self)
                    var st = stat()
                    guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
                    if (st.st_mode & S_IFMT) == S_IFDIR {
                        if depth >= maxOpenDepth {
                            hoisted += 1
                            let moved = ".harden-rm-\(getpid())-\(hoisted)"
                            guard renameat(fd, name, top, moved) == 0 else {
                                throw HardenError(
                                    .io, "\(path): cannot move a deep directory up for removal: \(errnoText())")
                            }
                            pending.append(moved)
                            return
                        }
                        _ = fchmodat(fd, name, 0o700, 0)
                        let sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                        guard sub >= 0 else {
                            throw HardenError(.io, "\(shown)/\(shownName): cannot open: \(errnoText())")
                        }
                        do {
                            try empty(sub, depth: depth + 1, at: depth < 8 ? shown + "/" + shownName : shown)
                        } catch {
                            _ = Glibc.close(sub)
                            throw error
                        }
                        _ = Glibc.close(sub)
                        guard unlinkat(fd, name, AT_REMOVEDIR) == 0 else {
                            throw HardenError(.io, "\(shown)/\(shownName): cannot remove: \(errnoText())")
                        }
                    } else {
                        guard unlinkat(fd, name, 0) == 0 else {
                            throw HardenError(.io, "\(shown)/\(shownName): cannot remove: \(errnoText())")
                        }
                    }
                }
            }
        }
        try empty(top, depth: 0, at: path)
        while let name = pending.popLast() {
            let sub = openat(top, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard sub >= 0 else { throw HardenError(.io, "\(path)/\(name): cannot open: \(errnoText())") }
            do { try empty(sub, depth: 1, at: path) } catch {
                _ = Glibc.close(sub)
                throw error
            }
            _ = Glibc.close(sub)
            guard unlinkat(top, name, AT_REMOVEDIR) == 0 else {
                throw HardenError(.io, "\(path)/\(name): cannot remove: \(errnoText())")
            }
        }
        guard rmdir(path) == 0 else { throw HardenError(.io, "\(path): cannot remove: \(errnoText())") }
    }

    /// How many directory descriptors `removeTree` holds at most.
    static let maxOpenDepth = 64

    /// The entry names of an open directory (not `.` and `..`); the descriptor stays open and owned by the caller.
    static func entries(_ fd: Int32, _ shown: String) throws -> [[UInt8]] {
        let copy = dup(fd)
        guard copy >= 0, let dir = fdopendir(copy) else {
            throw HardenError(.io, "\(shown): cannot list: \(errnoText())")
        }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name != [46] && name != [46, 46] { names.append(name) }
        }
        return names
    }

    /// Creates a new private temporary directory under `base` (default `$TMPDIR` or `/tmp`).
    public static func makeTemporaryDirectory(prefix: String = "harden", base: String? = nil) throws -> String {
        let root = base ?? (getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp")
        var template = Array("\(root)/\(prefix).XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress.unsafelyUnwrapped) }
        guard made != nil else {
            throw HardenError(.io, "\(root): cannot create a temporary directory: \(errnoText())")
        }
        return template.withUnsafeBufferPointer { String(cString: $0.baseAddress.unsafelyUnwrapped) }
    }

    /// The path with every symlink resolved (realpath(3)); nil when it does not exist.
    public static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    public static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buf, buf.count) != nil else { return path }
        let cwd = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress.unsafelyUnwrapped) }
        return cwd == "/" ? "/" + path : cwd + "/" + path
    }
}

/// Device number helpers.
public enum DeviceNumber {
    public static func make(major: UInt32, minor: UInt32) -> dev_t { harden_makedev(major, minor) }
    public static func major(_ dev: dev_t) -> UInt32 { harden_major(dev) }
    public static func minor(_ dev: dev_t) -> UInt32 { harden_minor(dev) }
}

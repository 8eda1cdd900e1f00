// harden — the static closure of executables: interpreter, shared libraries (DT_NEEDED resolved the way
// ld.so does: DT_RPATH, LD_LIBRARY_PATH, DT_RUNPATH, /etc/ld.so.cache, default directories, $ORIGIN), and every
// symlink on the way, computed inside the image without running anything from it.
import HardenCore
import HardenELF
import HardenPackages

#if canImport(Glibc)
import Glibc
#endif

/// Computes which files an executable needs to start.
public struct DependencyClosure {
    public struct Result: Sendable, Equatable {
        /// Every file needed (resolved paths) with the reason (e.g. "interpreter of /usr/sbin/nginx").
        public var files: [String: String] = [:]
        /// Symlinks on the way to them, with the same reasons.
        public var links: [String: String] = [:]
        /// Libraries that could not be found: (library, needed by).
        public var missing: [(String, String)] = []

        public static func == (a: Result, b: Result) -> Bool {
            a.files == b.files && a.links == b.links
                && a.missing.map { "\($0.0) \($0.1)" } == b.missing.map { "\($0.0) \($0.1)" }
        }
    }

    let fs: any ImageFileSystem
    let cache: LdSoCache?
    let libraryPath: [String]

    /// - Parameter libraryPath: LD_LIBRARY_PATH of the image's environment.
    public init(fileSystem: any ImageFileSystem, libraryPath: [String] = []) {
        fs = fileSystem
        self.libraryPath = libraryPath
        if let cachePath = fileSystem.resolve("/etc/ld.so.cache")?.path, let size = fileSystem.size(cachePath),
            let bytes = try? fileSystem.read(cachePath, offset: 0, count: size)
        {
            cache = try? LdSoCache.parse(bytes)
        } else {
            cache = nil
        }
    }

    /// The closure of `paths` (executables or libraries; other files are kept as they are).
    public func closure(of paths: [String]) -> Result {
        var result = Result()
        var queue: [(path: String, reason: String)] = paths.map { ($0, "used") }
        var done = Set<String>()
        var next = 0
        while next < queue.count {  // breadth first: the nearest reason wins
            let (path, reason) = queue[next]
            next += 1
            guard let (resolved, links) = fs.resolve(path) else { continue }
            for l in links where result.links[l] == nil { result.links[l] = reason }
            if result.files[resolved] == nil { result.files[resolved] = reason }
            guard done.insert(resolved).inserted, let deps = elf(resolved) else { continue }
            if let interp = deps.interpreter { queue.append((interp, "interpreter of \(resolved)")) }
            let origin = String(resolved[..<(resolved.lastIndex(of: "/") ?? resolved.startIndex)])
            for name in deps.needed {
                if let lib = find(name, for: deps, origin: origin) {
                    queue.append((lib, "library of \(resolved)"))
                } else {
                    result.missing.append((name, resolved))
                }
            }
        }
        return result
    }

    func elf(_ path: String) -> ELFDependencies? {
        guard let size = fs.size(path), size >= 52, let head = try? fs.read(path, offset: 0, count: 4), ELF.isELF(head)
        else { return nil }
        return try? ELF.parse(size: size) { try fs.read(path, offset: $0, count: $1) }
    }

    /// ld.so's search order for a DT_NEEDED name.
    func find(_ name: String, for object: ELFDependencies, origin: String) -> String? {
        if name.contains("/") { return fs.resolve(name) != nil ? name : nil }
        func expand(_ dir: String) -> String {
            dir.replacingAll("$ORIGIN", with: origin).replacingAll("${ORIGIN}", with: origin)
        }
        var dirs: [String] = []
        if object.runpath.isEmpty { dirs += object.rpath.map(expand) }
        dirs += libraryPath
        dirs += object.runpath.map(expand)
        for d in dirs where !d.isEmpty {
            let candidate = (d.hasSuffix("/") ? d : d + "/") + name
            if fs.resolve(candidate) != nil, matches(candidate, object) { return candidate }
        }
        if let hit = cache?.lookup(name, machine: object.machine, is64Bit: object.is64Bit), fs.resolve(hit) != nil {
            return hit
        }
        let multiarch: [String] =
            switch object.machine {
            case 62: ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"]
            case 183: ["/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu"]
            default: []
            }
        for d in multiarch + (object.is64Bit ? ["/lib64", "/usr/lib64"] : []) + ["/lib", "/usr/lib"] {
            let candidate = d + "/" + name
            if fs.resolve(candidate) != nil, matches(candidate, object) { return candidate }
        }
        return nil
    }

    /// A library of another class or machine is skipped, as ld.so does.
    func matches(_ path: String, _ object: ELFDependencies) -> Bool {
        guard let resolved = fs.resolve(path)?.path, let lib = elf(resolved) else { return true }
        return lib.is64Bit == object.is64Bit && lib.machine == object.machine
    }
}

/// An unpacked root file system on the host, read as the image sees it: symlinks are followed inside `root`
/// (an absolute link target means `root` + target; `..` never climbs above it), so nothing outside is read.
public struct DirectoryFileSystem: ImageFileSystem {
    public let root: String
    public init(root: String) { self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root }

    private func host(_ path: String) -> String { root == "/" ? path : root + path }

    public func resolve(_ path: String) -> (path: String, links: [String])? {
        var pending = path.split(separator: "/").map(String.init)
        var current: [String] = []
        var links: [String] = []
        var hops = 0
        while !pending.isEmpty {
            let c = pending.removeFirst()
            if c == "." || c.isEmpty { continue }
            if c == ".." {
                _ = current.popLast()
                continue
            }
            let candidate = "/" + (current + [c]).joined(separator: "/")
            var st = stat()
            guard lstat(host(candidate), &st) == 0 else { return nil }
            if (st.st_mode & S_IFMT) == S_IFLNK {
                hops += 1
                guard hops <= 40 else { return nil }
                var buf = [CChar](repeating: 0, count: 4097)
                let n = readlink(host(candidate), &buf, 4096)
                guard n > 0 else { return nil }
                let target = buf.withUnsafeBufferPointer {
                    String(decoding: UnsafeRawBufferPointer($0).prefix(n), as: UTF8.self)
                }
                links.append(candidate)
                if target.hasPrefix("/") { current = [] }
                pending = target.split(separator: "/").map(String.init) + pending
                continue
            }
            current.append(c)
        }
        return ("/" + current.joined(separator: "/"), links)
    }

    public func size(_ path: String) -> Int? {
        var st = stat()
        guard lstat(host(path), &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(st.st_size)
    }

    public func read(_ path: String, offset: Int, count: Int) throws -> [UInt8] {
        let fd = open(host(path), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw HardenError(.io, "\(path): cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: max(0, count))
        let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        guard n >= 0 else { throw HardenError(.io, "\(path): cannot read") }
        return Array(out.prefix(n))
    }
}

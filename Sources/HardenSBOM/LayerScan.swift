// harden — one streaming pass over a layer: every tar header, plus the content of the files catalogers read.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages

#if canImport(Glibc)
import Glibc
#endif

/// Decides which files of a layer to capture, by path and header only.
public struct CapturePolicy: Sendable {
    public var ecosystems: [any PackageEcosystem]

    public init(ecosystems: [any PackageEcosystem] = Ecosystems.standard) { self.ecosystems = ecosystems }

    /// Called for every entry of every layer: none of the tests allocates until a rule matches.
    public func kind(for path: RawPath, entry: TarEntry) -> CaptureKind? {
        guard entry.type == .regular else { return nil }
        let small = 16 << 20
        // OS identification (the tree's one list, compared byte for byte); users and groups (running the image
        // resolves its USER against them).
        if FileTree.osReleaseFiles.contains(path) || path.equals("etc/redhat-release") || path.equals("etc/passwd")
            || path.equals("etc/group")
        {
            return .whole(limit: 1 << 20)
        }
        // Package managers' databases and configuration (each ecosystem says what it reads).
        if let kind = ecosystems.capture(path, entry: entry) { return kind }
        // Small configuration files: `harden patch` compares conffiles with what their package shipped.
        if path.starts(with: "etc/") && entry.size <= 256 << 10 { return .whole(limit: 256 << 10) }
        // Python (directory names in any case: `*.DIST-INFO` exists in the wild).
        if path.named("METADATA") || path.named("RECORD") {
            if Self.lowercasedSuffix(path.parent?.lastComponent ?? [], ".dist-info") { return .whole(limit: small) }
        }
        if path.named("PKG-INFO") || path.named("installed-files.txt") {
            if Self.lowercasedSuffix(path.parent?.lastComponent ?? [], ".egg-info") { return .whole(limit: small) }
        }
        if Self.lowercasedSuffix(path.bytes, ".egg-info") { return .whole(limit: small) }
        // npm: installed packages only.
        if path.named("package.json")
            && (path.contains("node_modules/") || path.contains("usr/share/nodejs/")
                || path.contains("usr/lib/nodejs/"))
        {
            return .whole(limit: 4 << 20)
        }
        // .NET applications and PHP Composer installs.
        if path.ends(with: ".deps.json") { return .whole(limit: small) }
        if path.ends(with: "vendor/composer/installed.json") { return .whole(limit: small) }
        // Ruby.
        if path.ends(with: ".gemspec") && path.contains("specifications/") { return .whole(limit: 4 << 20) }
        // Java archives.
        if path.ends(with: ".jar") || path.ends(with: ".war") || path.ends(with: ".ear") {
            return .whole(limit: 256 << 20)
        }
        // Runtimes installed without a package manager: executables and libraries by name (cheap first-letter test).
        if entry.size > 1024 && entry.size < 1 << 30,
            let anchors = BinaryCataloger.anchors(forFileName: path.lastComponent)
        {
            return .binary(anchors: anchors)
        }
        // A JDK's `release` file.
        if path.named("release") && entry.size < 64 << 10 { return .whole(limit: 64 << 10) }
        // Go binaries: executables of a plausible size.
        if entry.mode & 0o111 != 0 && entry.size > 1024 && entry.size < 1 << 30 { return .goBuildInfo }
        return nil
    }

    /// True when `bytes` ends with `suffix` (lowercase ASCII), ignoring ASCII case.
    static func lowercasedSuffix(_ bytes: [UInt8], _ suffix: String) -> Bool {
        let s = Array(suffix.utf8)
        guard bytes.count >= s.count else { return false }
        return zip(bytes.suffix(s.count), s).allSatisfy { a, b in (a >= 0x41 && a <= 0x5a ? a | 0x20 : a) == b }
    }
}

extension LayerScan {
    /// Streams layer `index` of `image` once. `onEntries` receives the entries in order, in batches, while the layer
    /// is read (the squash runs beside the scan).
    public static func scan(
        _ image: Image, layer index: Int, policy: CapturePolicy = CapturePolicy(),
        onEntries: (([TarEntry]) -> Void)? = nil
    ) throws -> LayerScan {
        var entries: [TarEntry] = []
        var handedOver = 0
        var captures: [Int: [UInt8]] = [:]
        let stream = CountingReader(try image.openLayer(index))
        let tar = TarReader(stream, name: "\(image.source): layer \(index)")
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)
        defer { buffer.deallocate() }
        while let entry = try tar.next() {
            let i = entries.count
            entries.append(entry)
            if let onEntries, entries.count - handedOver >= 1024 {
                onEntries(Array(entries[handedOver...]))
                handedOver = entries.count
            }
            switch policy.kind(for: entry.path.normalized, entry: entry) {
            case .whole(let limit)?:
                if entry.size <= Int64(limit) { captures[i] = try tar.readWholeBody(limit: limit) }
            case .goBuildInfo?:
                let found = try GoBuildInfoScanner.scan(
                    tar, buffer: buffer, keepWholeUpTo: entry.size <= 64 << 20 ? Int(entry.size) : 0)
                if let rust = found.wholeFile.flatMap(RustAuditCataloger.auditSection) {
                    captures[i] = BinaryEvidence(goBuildInfo: found.goBuildInfo, windows: [], rustAudit: rust).encoded()
                } else if let info = found.goBuildInfo {
                    captures[i] = info
                }
            case .binary(let anchors)?:
                if let evidence = try BinaryEvidence.scan(tar, buffer: buffer, anchors: anchors) {
                    captures[i] = evidence
                }
            case nil:
                break
            }
        }
        try tar.drainTrailer(
            limit: 64 << 20,
            onExcess: "more than 64 MiB of data after the end of the tar archive (a decompression bomb?)")
        if let onEntries, handedOver < entries.count { onEntries(Array(entries[handedOver...])) }
        return LayerScan(
            diffID: image.layers[index].diffID, entries: entries, captures: captures, uncompressedSize: stream.count)
    }
}

/// Finds Go's build information in an ELF binary while it streams (`\xff Go buildinf:` header, Go 1.18+
/// inline-string form), without buffering the binary.
enum GoBuildInfoScanner {
    static let magic: [UInt8] = [0xff] + Array(" Go buildinf:".utf8)

    /// The bytes from the magic on (up to 64 KiB) when found; with `keepWholeUpTo` > 0, also the whole file when it
    /// is an ELF file without Go build information (Rust's `cargo auditable` section is read from it afterwards).
    static func scan(
        _ tar: TarReader, buffer: UnsafeMutableRawBufferPointer, keepWholeUpTo: Int = 0
    ) throws -> (goBuildInfo: [UInt8]?, wholeFile: [UInt8]?) {
        var carry: [UInt8] = []
        var first = true
        var found: [UInt8]?
        var whole: [UInt8]?
        while true {
            let n = try tar.readBody(into: buffer)
            if n == 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            if first {
                first = false
                guard n >= 4, chunk[0] == 0x7f, chunk[1] == UInt8(ascii: "E"), chunk[2] == UInt8(ascii: "L"),
                    chunk[3] == UInt8(ascii: "F")
                else {
                    return (nil, nil)
                }
                if keepWholeUpTo > 0 {
                    whole = []
                    whole?.reserveCapacity(keepWholeUpTo)
                }
            }
            if var f = found {
                // Still collecting the strings after the header.
                f.append(contentsOf: chunk.prefix(65536 - f.count))
                found = f
                if f.count >= 65536 { break }
                continue
            }
            whole?.append(contentsOf: chunk)
            // The magic may straddle the previous chunk and this one.
            let boundary = carry + Array(chunk.prefix(magic.count - 1))
            if let at = search(UnsafeRawBufferPointer(start: nil, count: 0), boundary), at < carry.count {
                let f = Array((carry + Array(chunk))[at...].prefix(65536))
                found = f
                whole = nil
                if f.count >= 65536 { break }
                continue
            }
            if let at = search(chunk, nil) {
                let f = Array(chunk[at...].prefix(65536))
                found = f
                whole = nil
                if f.count >= 65536 { break }
                continue
            }
            carry = Array(chunk.suffix(magic.count - 1))
        }
        return (found, whole)
    }

    /// Position of the magic in `raw` (or in `bytes` when given), using memchr to skip to each 0xff.
    private static func search(_ raw: UnsafeRawBufferPointer, _ bytes: [UInt8]?) -> Int? {
        if let bytes { return bytes.withUnsafeBytes { search($0, nil) } }
        guard raw.count >= magic.count, let base = raw.baseAddress else { return nil }
        var i = 0
        let last = raw.count - magic.count
        while i <= last {
            guard let hit = memchr(base + i, 0xff, last - i + 1) else { return nil }
            let j = base.distance(to: UnsafeRawPointer(hit))
            if memcmp(base + j, magic, magic.count) == 0 { return j }
            i = j + 1
        }
        return nil
    }
}

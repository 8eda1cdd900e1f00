// harden — image references with skopeo's transports and syft's aliases.
import HardenArchive
import HardenCore
import HardenSystem

/// Where an image is read from or written to.
public enum ImageReference: Sendable, Hashable, CustomStringConvertible {
    /// `oci:DIR[:TAG]` (alias `oci-dir:`): an OCI image layout directory.
    case ociLayout(path: String, tag: String?)
    /// `oci-archive:FILE[:TAG]`: a tar of an OCI image layout.
    case ociArchive(path: String, tag: String?)
    /// `docker-archive:FILE[:REPO:TAG]`: the `docker save` format.
    case dockerArchive(path: String, repoTag: String?)
    /// `dir:ROOTFS`: a plain root file system.
    case rootfs(path: String)
    /// `docker://HOST/REPO[:TAG|@DIGEST]` (alias `registry:`).
    case registry(String)

    public var description: String {
        switch self {
        case .ociLayout(let p, let t): "oci:\(p)" + (t.map { ":\($0)" } ?? "")
        case .ociArchive(let p, let t): "oci-archive:\(p)" + (t.map { ":\($0)" } ?? "")
        case .dockerArchive(let p, let t): "docker-archive:\(p)" + (t.map { ":\($0)" } ?? "")
        case .rootfs(let p): "dir:\(p)"
        case .registry(let r): "docker://\(r)"
        }
    }

    public var isDockerArchive: Bool {
        if case .dockerArchive = self { return true }
        return false
    }

    /// The host path the reference names, if it is local.
    public var path: String? {
        switch self {
        case .ociLayout(let p, _), .ociArchive(let p, _), .dockerArchive(let p, _), .rootfs(let p): p
        case .registry: nil
        }
    }

    /// Parses a reference. Without a transport (when `detect` is true): an existing path is recognised by its content
    /// (a directory with `oci-layout`, a tar holding `manifest.json` or `oci-layout`); anything else that reads as an
    /// image name (`nginx:1.27`, `ghcr.io/org/app@sha256:…`) is a registry reference, as `docker://` — the existing
    /// path wins when both could apply.
    public static func parse(_ text: String, detect: Bool = true) throws -> ImageReference {
        func split(_ rest: Substring) -> (String, String?) {
            guard let colon = rest.firstIndex(of: ":") else { return (String(rest), nil) }
            let tail = String(rest[rest.index(after: colon)...])
            return (String(rest[..<colon]), tail.isEmpty ? nil : tail)
        }
        let transports: [(String, (Substring) -> ImageReference)] = [
            (
                "oci-archive:",
                {
                    let (p, t) = split($0)
                    return .ociArchive(path: p, tag: t)
                }
            ),
            (
                "oci-dir:",
                {
                    let (p, t) = split($0)
                    return .ociLayout(path: p, tag: t)
                }
            ),
            (
                "oci:",
                {
                    let (p, t) = split($0)
                    return .ociLayout(path: p, tag: t)
                }
            ),
            (
                "docker-archive:",
                {
                    let (p, t) = split($0)
                    return .dockerArchive(path: p, repoTag: t)
                }
            ),
            ("dir:", { .rootfs(path: String($0)) }),
            ("docker://", { .registry(String($0)) }),
            ("registry:", { .registry(String($0.hasPrefix("//") ? $0.dropFirst(2) : $0)) }),
        ]
        for (prefix, make) in transports where text.hasPrefix(prefix) {
            let rest = text.dropFirst(prefix.count)
            guard !rest.isEmpty else { throw HardenError(.invalidArgument, "\(text): missing path after \(prefix)") }
            return make(rest)
        }
        guard detect else {
            throw HardenError(
                .invalidArgument,
                "\(text): say which transport to use: oci:, oci-archive:, docker-archive:, dir: or docker://")
        }
        if !HostFS.exists(text), isImageName(text) { return .registry(text) }
        return try detectBarePath(text)
    }

    /// The prefixes that name a transport (`oci:`, `docker://`, …).
    public static let transportPrefixes = [
        "oci-archive:", "oci-dir:", "oci:", "docker-archive:", "dir:", "docker://", "registry:",
    ]

    /// Whether `text` starts with a transport prefix.
    public static func hasTransport(_ text: String) -> Bool { transportPrefixes.contains(where: text.hasPrefix) }

    /// Whether `text` reads as a registry image name — `[HOST[:PORT]/]PATH[:TAG][@DIGEST]`, path components of
    /// lower-case letters, digits and separators — and not as a path (`/`, `.`, `~` first, or a `.tar` name).
    public static func isImageName(_ text: String) -> Bool {
        if text.isEmpty || text.hasPrefix("/") || text.hasPrefix(".") || text.hasPrefix("~") { return false }
        for suffix in [".tar", ".tar.gz", ".tgz", ".tar.zst"] where text.hasSuffix(suffix) { return false }
        var rest = Substring(text)
        if let at = rest.firstIndex(of: "@") {
            let digest = rest[rest.index(after: at)...]
            guard let colon = digest.firstIndex(of: ":"),
                digest[digest.index(after: colon)...].allSatisfy(\.isHexDigit),
                digest[..<colon].allSatisfy({ $0.isLetter || $0.isNumber })
            else { return false }
            rest = rest[..<at]
        }
        var components = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard let lastComponent = components.popLast(), !lastComponent.isEmpty else { return false }
        var last = lastComponent
        if let colon = last.lastIndex(of: ":") {
            let tag = last[last.index(after: colon)...]
            guard !tag.isEmpty, tag.count <= 128, tag.allSatisfy({ $0.isLetter || $0.isNumber || "_.-".contains($0) })
            else { return false }
            last = last[..<colon]
        }
        if let first = components.first, first.contains(".") || first.contains(":") || first == "localhost" {
            components.removeFirst()  // a registry host[:port]
            guard first.allSatisfy({ $0.isLetter || $0.isNumber || ".-:".contains($0) }) else { return false }
        }
        func pathComponent(_ c: Substring) -> Bool {
            guard let f = c.first, let l = c.last, f.isLowercase || f.isNumber, l.isLowercase || l.isNumber else {
                return false
            }
            return c.allSatisfy { ($0.isLowercase && $0.isASCII) || $0.isNumber || "._-".contains($0) }
        }
        return (components + [last]).allSatisfy(pathComponent)
    }

    static func detectBarePath(_ path: String) throws -> ImageReference {
        if HostFS.isDirectory(path) {
            if HostFS.exists(path + "/oci-layout") { return .ociLayout(path: path, tag: nil) }
            throw HardenError(
                .invalidArgument,
                "\(path): not an OCI image layout (no oci-layout file); use dir:\(path) to read it as a root file system"
            )
        }
        guard HostFS.exists(path) else {
            throw HardenError(
                .notFound,
                "\(path): no such file or directory (and not an image name or a transport:reference such as docker://\(path))"
            )
        }
        // Look at the archive's member names without reading bodies.
        let index = try TarArchiveIndex(path: path)
        if index.member("manifest.json") != nil { return .dockerArchive(path: path, repoTag: nil) }
        if index.member("oci-layout") != nil { return .ociArchive(path: path, tag: nil) }
        throw HardenError(.invalidArgument, "\(path): not an image archive (no manifest.json or oci-layout inside)")
    }
}

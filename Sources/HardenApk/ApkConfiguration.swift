// harden — apk's configuration in an image: /etc/apk/repositories (with `@tag` lines), world, arch, the trusted keys
// and the protected paths whose changed files an upgrade keeps. Pure functions over bytes.
import Foundation
import HardenCore

/// A repository line: its URL and, for `@tag URL`, its tag (only packages asked for as `name@tag` come from it).
public struct ApkRepository: Sendable, Hashable {
    public var url: String
    public var tag: String?

    public init(url: String, tag: String? = nil) {
        self.url = url
        self.tag = tag
    }

    /// The index of `arch` in this repository.
    public func indexURL(arch: String) -> String { "\(url)/\(arch)/APKINDEX.tar.gz" }
    public func packageURL(arch: String, name: String, version: String) -> String {
        "\(url)/\(arch)/\(name)-\(version).apk"
    }
}

public enum ApkConfiguration {
    /// `/etc/apk/repositories`: one repository per line, `#` comments, `@tag URL` for tagged ones. `mirror`
    /// replaces each URL's scheme and host (an air-gapped mirror), keeping its path.
    public static func repositories(_ bytes: [UInt8], mirror: String? = nil) -> [ApkRepository] {
        var out: [ApkRepository] = []
        for raw in String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let line = raw.trimming(" \t")
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            var words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            var tag: String?
            if let first = words.first, first.hasPrefix("@") {
                tag = String(first.dropFirst())
                words.removeFirst()
            }
            guard var url = words.first else { continue }
            while url.hasSuffix("/") { url.removeLast() }
            if let mirror { url = MirrorURL.replacingHost(url, with: mirror) }
            out.append(ApkRepository(url: url, tag: tag))
        }
        return out
    }

    /// `/etc/apk/world`: the constraints the image's packages were installed under (words separated by blanks).
    public static func world(_ bytes: [UInt8]) -> [ApkDependency] {
        String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0.isNewline || $0 == "\t" })
            .compactMap { ApkDependency(String($0)) }
    }

    /// apk's architecture name of an OCI platform (`amd64` → `x86_64`, `arm64` → `aarch64`, …).
    public static func architecture(ociArchitecture: String, variant: String?) -> String {
        switch ociArchitecture {
        case "amd64": return "x86_64"
        case "arm64": return "aarch64"
        case "386": return "x86"
        case "arm": return variant == "v6" ? "armhf" : "armv7"
        default: return ociArchitecture  // ppc64le, s390x, riscv64, loongarch64
        }
    }

    /// Whether an upgrade must keep an image's changed copy of `path` (relative, no leading slash) and write the new
    /// one as `path.apk-new`: apk's protected paths (`/etc/apk/protected_paths.d/*.list`: `+dir` protects, `-dir`
    /// and `!dir` do not; the longest matching rule wins), by default `+etc` and `-etc/apk`.
    public static func isProtected(_ path: String, rules: [String]) -> Bool {
        var best: (length: Int, protected: Bool) = (-1, false)
        for rule in ["+etc", "-etc/apk"] + rules {
            guard let sign = rule.first, "+-!@".contains(sign) else { continue }
            var dir = String(rule.dropFirst())
            while dir.hasPrefix("/") { dir.removeFirst() }
            while dir.hasSuffix("/") { dir.removeLast() }
            guard path == dir || path.hasPrefix(dir + "/"), dir.count >= best.length else { continue }
            // `@dir` protects only symlinks' targets; harden keeps files there as apk keeps them: not protected.
            best = (dir.count, sign == "+")
        }
        return best.protected
    }

    /// The rules of `/etc/apk/protected_paths.d/*.list` files (their lines, in file-name order).
    public static func protectedRules(_ files: [(name: String, bytes: [UInt8])]) -> [String] {
        files.sorted { $0.name < $1.name }.flatMap {
            String(decoding: $0.bytes, as: UTF8.self).split(whereSeparator: \.isNewline).map {
                $0.trimming(" \t")
            }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        }
    }
}

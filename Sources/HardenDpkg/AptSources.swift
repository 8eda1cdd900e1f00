// harden — an image's APT sources (deb822 `.sources` and one-line `.list` files), completed with the release's
// security and updates suites, or the distribution's standard mirrors when the image has none (distroless).
import HardenCore
import HardenPackages

/// One suite of one archive: `URI dists/SUITE/{COMPONENT…}`.
public struct AptSource: Sendable, Hashable, CustomStringConvertible {
    public var uri: String
    public var suite: String
    public var components: [String]
    /// The keyring files (or an inline key block) the suite's signature must verify with.
    public var signedBy: String?
    /// Where it came from: the image's file, or why harden added it.
    public var origin: String

    public init(uri: String, suite: String, components: [String], signedBy: String? = nil, origin: String) {
        var u = uri
        while u.hasSuffix("/") { u.removeLast() }
        self.uri = u
        self.suite = suite
        self.components = components
        self.signedBy = signedBy
        self.origin = origin
    }

    public var description: String { "\(uri) \(suite) \(components.joined(separator: " "))" }
}

public enum AptSources {
    /// A deb822 `.sources` file. Entries that are disabled (`Enabled: no`) or not binary (`Types: deb-src`) are left out.
    public static func parseDeb822(_ bytes: [UInt8], file: String) throws -> [AptSource] {
        var out: [AptSource] = []
        for s in try Deb822.parse(bytes, source: file) {
            guard (s["Types"] ?? "").split(whereSeparator: \.isWhitespace).contains("deb") else { continue }
            if let e = s["Enabled"]?.lowercased(), e == "no" || e == "false" { continue }
            let uris = (s["URIs"] ?? "").split(whereSeparator: \.isWhitespace).map(String.init)
            let suites = (s["Suites"] ?? "").split(whereSeparator: \.isWhitespace).map(String.init)
            let comps = (s["Components"] ?? "").split(whereSeparator: \.isWhitespace).map(String.init)
            for u in uris {
                for suite in suites {
                    out.append(
                        AptSource(uri: u, suite: suite, components: comps, signedBy: s["Signed-By"], origin: file))
                }
            }
        }
        return out
    }

    /// A one-line `sources.list`: `deb [options] URI SUITE COMPONENT…`.
    public static func parseOneLine(_ bytes: [UInt8], file: String) -> [AptSource] {
        var out: [AptSource] = []
        for raw in String(decoding: bytes, as: UTF8.self).textLines() {
            var line = Substring(raw)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            var words = line.split(whereSeparator: \.isWhitespace).map(String.init)
            guard words.first == "deb" else { continue }
            words.removeFirst()
            var signedBy: String?
            if words.first?.hasPrefix("[") == true {
                var options: [String] = []
                while let w = words.first {
                    words.removeFirst()
                    options.append(w.trimming("[]"))
                    if w.hasSuffix("]") { break }
                }
                for o in options where o.hasPrefix("signed-by=") { signedBy = String(o.dropFirst("signed-by=".count)) }
            }
            guard words.count >= 2 else { continue }
            out.append(
                AptSource(
                    uri: words[0], suite: words[1], components: Array(words.dropFirst(2)), signedBy: signedBy,
                    origin: file))
        }
        return out
    }

    /// The image's sources, completed: the `-security` and `-updates` suites of the release when missing, or the
    /// standard mirrors of the distribution when there are no sources at all. `mirror` replaces every URI's
    /// scheme and host (its path is kept: `debian`, `debian-security`). Returns the sources and what was added.
    public static func complete(
        _ sources: [AptSource], osRelease: [String: String], mirror: String?
    ) throws -> (sources: [AptSource], notes: [String]) {
        var notes: [String] = []
        var list = sources
        let id = osRelease["ID"] ?? ""
        let codename = osRelease["VERSION_CODENAME"] ?? ""
        let isUbuntu = id == "ubuntu"
        if list.isEmpty {
            guard !codename.isEmpty, id == "debian" || isUbuntu else {
                throw HardenError(
                    .unsupported,
                    "the image has no APT sources and its os-release names no Debian or Ubuntu release (ID=\(id))")
            }
            let base = isUbuntu ? "http://archive.ubuntu.com/ubuntu" : "http://deb.debian.org/debian"
            list.append(
                AptSource(
                    uri: base, suite: codename, components: ["main"],
                    origin: "the \(id) \(codename) mirror (no APT sources in the image)"))
            notes.append("the image has no APT sources: using \(base) \(codename)")
        }
        if !codename.isEmpty, let release = list.first(where: { $0.suite == codename }) {
            if !list.contains(where: { $0.suite == codename + "-security" }) {
                let uri =
                    isUbuntu
                    ? release.uri.replacingAll("archive.ubuntu.com", with: "security.ubuntu.com")
                    : (release.uri.hasSuffix("/debian")
                        ? String(release.uri.dropLast("/debian".count)) + "/debian-security"
                        : release.uri + "-security")
                list.append(
                    AptSource(
                        uri: uri, suite: codename + "-security", components: release.components,
                        signedBy: release.signedBy,
                        origin: "added by harden"))
                notes.append("added \(uri) \(codename)-security (the image's sources do not list it)")
            }
            if !list.contains(where: { $0.suite == codename + "-updates" }) {
                list.append(
                    AptSource(
                        uri: release.uri, suite: codename + "-updates", components: release.components,
                        signedBy: release.signedBy,
                        origin: "added by harden"))
                notes.append("added \(release.uri) \(codename)-updates (the image's sources do not list it)")
            }
        }
        if let mirror {
            guard let origin = URLParts(mirror) else {
                throw HardenError(.invalidArgument, "--repo \(mirror): not an http(s) URL")
            }
            list = list.map { s in
                var s = s
                if let u = URLParts(s.uri) { s.uri = origin.schemeAndHost + u.path }
                return s
            }
            notes.append("every repository is fetched from \(origin.schemeAndHost) (--repo)")
        }
        var seen = Set<String>()
        return (list.filter { seen.insert($0.uri + " " + $0.suite).inserted }, notes)
    }

    /// `KEY=value` lines of os-release, quotes removed.
    public static func osRelease(_ bytes: [UInt8]) -> [String: String] {
        var out: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).textLines() {
            guard let eq = line.firstIndex(of: "=") else { continue }
            out[String(line[..<eq])] = String(line[line.index(after: eq)...]).trimming("\"' ")
        }
        return out
    }
}

/// `scheme://host[:port]` and the path of an http(s) URL.
struct URLParts {
    var schemeAndHost: String
    var path: String

    init?(_ url: String) {
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else { return nil }
        let afterScheme = url.index(url.startIndex, offsetBy: lower.hasPrefix("https://") ? 8 : 7)
        let slash = url[afterScheme...].firstIndex(of: "/") ?? url.endIndex
        guard slash > afterScheme else { return nil }
        schemeAndHost = String(url[..<slash])
        var p = String(url[slash...])
        while p.hasSuffix("/") { p.removeLast() }
        path = p
    }
}

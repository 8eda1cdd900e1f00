// harden — the rpm repositories an image is configured with: dnf/yum/tdnf `.repo` files (/etc/yum.repos.d,
// /etc/distro.repos.d, /etc/tdnf, zypper's /etc/zypp/repos.d), INI sections with `baseurl`/`metalink`/`mirrorlist`,
// `enabled`, `gpgcheck`, `repo_gpgcheck` and `gpgkey`, and dnf's variables (`$releasever`, `$basearch`, `$arch`,
// /etc/dnf/vars). Pure functions over bytes.
import HardenCore

public struct YumRepository: Sendable, Equatable {
    public var id: String
    public var name: String?
    public var baseURLs: [String]
    public var metalink: String?
    public var mirrorlist: String?
    public var enabled: Bool
    /// Each package's signature must verify (dnf's default: on).
    public var gpgCheck: Bool
    /// repomd.xml's detached signature (repomd.xml.asc) must verify.
    public var repoGPGCheck: Bool
    /// Key locations: `file:///etc/pki/rpm-gpg/…` (a file of the image) or URLs.
    public var gpgKeys: [String]
    /// The file it was read from (messages).
    public var file: String
}

public enum YumRepositories {
    /// The repositories of one `.repo` file, variables substituted. zypper's files use the same keys (`type=rpm-md`).
    public static func parse(_ bytes: [UInt8], file: String, variables: [String: String]) -> [YumRepository] {
        var out: [YumRepository] = []
        var section: String?
        var values: [String: [String]] = [:]
        var lastKey: String?
        func flush() {
            guard let id = section else { return }
            func one(_ k: String) -> String? { values[k].flatMap { $0.isEmpty ? nil : $0.joined(separator: " ") } }
            func flag(_ k: String, _ d: Bool) -> Bool {
                guard let v = one(k)?.lowercased() else { return d }
                return ["1", "yes", "true", "on"].contains(v)
            }
            func urls(_ k: String) -> [String] {
                (values[k] ?? []).flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" }) }
                    .map { substitute(String($0), variables) }
            }
            out.append(
                YumRepository(
                    id: id, name: one("name").map { substitute($0, variables) }, baseURLs: urls("baseurl"),
                    metalink: one("metalink").map { substitute($0, variables) },
                    mirrorlist: one("mirrorlist").map { substitute($0, variables) }, enabled: flag("enabled", true),
                    gpgCheck: flag("gpgcheck", true), repoGPGCheck: flag("repo_gpgcheck", false),
                    gpgKeys: urls("gpgkey"), file: file))
        }
        for raw in String(decoding: bytes, as: UTF8.self).split(
            omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        {
            let line = raw.trimming(" \t\r")
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                flush()
                section = String(line.dropFirst().dropLast()).trimming(" \t")
                values = [:]
                lastKey = nil
                continue
            }
            // A continuation line (indented) adds to the previous key (baseurl and gpgkey lists).
            if let first = raw.first, first == " " || first == "\t", let k = lastKey {
                values[k, default: []].append(line)
                continue
            }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimming(" \t").lowercased()
            values[key] = [line[line.index(after: eq)...].trimming(" \t")]
            lastKey = key
        }
        flush()
        return out
    }

    /// `$name` and `${name}` replaced by the variable's value (unknown ones left as they are).
    public static func substitute(_ text: String, _ variables: [String: String]) -> String {
        guard text.contains("$") else { return text }
        var out = ""
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            var after = rest[rest.index(after: dollar)...]
            let braced = after.first == "{"
            if braced { after = after.dropFirst() }
            let name = after.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            let closes = !braced || after.dropFirst(name.count).first == "}"
            if !name.isEmpty, closes, let value = variables[String(name)] {
                out += value
                rest = after.dropFirst(name.count + (braced ? 1 : 0))
            } else {
                out += "$"
                rest = rest[rest.index(after: dollar)...]
            }
        }
        return out + rest
    }

    /// dnf's variables for an image: `releasever` from os-release's VERSION_ID (its major part, as dnf's
    /// distribution packages define it for RHEL-family images; whole for Fedora), `basearch` and `arch` from the
    /// platform, then /etc/dnf/vars and /etc/yum/vars files (`name` → first line), which win.
    public static func variables(
        osID: String?, versionID: String?, architecture: String, files: [(name: String, bytes: [UInt8])]
    ) -> [String: String] {
        var v: [String: String] = [:]
        if let versionID {
            v["releasever"] = osID == "fedora" ? versionID : String(versionID.prefix { $0 != "." })
            v["releasever_major"] = String(versionID.prefix { $0 != "." })
        }
        v["basearch"] = rpmArchitecture(architecture)
        v["arch"] = rpmArchitecture(architecture)
        for f in files {
            let first = String(decoding: f.bytes, as: UTF8.self).split(whereSeparator: \.isNewline).first
            if let first { v[f.name] = first.trimming(" \t\r") }
        }
        return v
    }

    /// rpm's architecture name of an OCI architecture (`amd64` → `x86_64`, `arm64` → `aarch64`).
    public static func rpmArchitecture(_ oci: String) -> String {
        switch oci {
        case "amd64": return "x86_64"
        case "arm64": return "aarch64"
        case "386": return "i686"
        case "arm": return "armv7hl"
        default: return oci
        }
    }
}

// harden — one streaming pass over an image's layers for the image checks: the merged file tree, the account
// files, and secrets (by name, by extension and by content), including those a later layer deleted.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages

/// A secret found in a layer.
public struct SecretHit: Codable, Sendable, Hashable {
    /// Absolute path in the image.
    public var path: String
    /// What matched: `name`, `extension` or the content rule (`private-key`, `aws-access-key-id`, …).
    public var rule: String
    public var layer: Int
    /// False when a later layer deleted or replaced the file: the bytes are still in the image's layer blob.
    public var present: Bool
}

/// What the checks read from an image's file systems.
public struct ImageInspection {
    public var tree: FileTree
    /// Final contents of the account files (`etc/passwd`, `etc/group`, `etc/shadow`), when present.
    public var accounts: [String: [UInt8]]
    public var secrets: [SecretHit]
    /// Regular-file bytes of the merged root file system.
    public var contentBytes: Int64

    /// Reads every layer once, streaming.
    public static func inspect(_ image: Image, limits: DecompressionLimits = .default) throws -> ImageInspection {
        let tree = FileTree()
        tree.capturePaths = ["etc/passwd", "etc/group", "etc/shadow"]
        var hits: [(hit: SecretHit, key: ContentKey)] = []
        for index in image.layers.indices {
            tree.begin(layer: index)
            var entryIndex = 0
            try image.forEachEntry(inLayer: index, limits: limits) { entry, body in
                let key = ContentKey(layer: index, entry: entryIndex)
                entryIndex += 1
                let path = entry.path.normalized
                if entry.type == .regular {
                    if let rule = SecretRules.byName(path) {
                        hits.append(
                            (SecretHit(path: path.absoluteDescription, rule: rule, layer: index, present: true), key))
                    } else if !tree.capturePaths.contains(path), SecretRules.scansContent(path, size: entry.size) {
                        let bytes = try body.readWholeBody(limit: SecretRules.contentLimit)
                        if let rule = SecretRules.byContent(bytes) {
                            hits.append(
                                (
                                    SecretHit(path: path.absoluteDescription, rule: rule, layer: index, present: true),
                                    key
                                ))
                        }
                        try tree.add(entry, body: nil)
                        return
                    }
                }
                try tree.add(entry, body: body)
            }
        }
        var accounts: [String: [UInt8]] = [:]
        for name in ["etc/passwd", "etc/group", "etc/shadow"] {
            if let node = tree.nodes[RawPath(name)], let key = node.content, let bytes = tree.captured[key] {
                accounts[name] = bytes
            }
        }
        // A hit is present when the final tree still holds that very entry.
        let secrets = hits.map { item -> SecretHit in
            var hit = item.hit
            hit.present = tree.nodes[RawPath(String(hit.path.dropFirst()))]?.content == item.key
            return hit
        }
        return ImageInspection(tree: tree, accounts: accounts, secrets: secrets, contentBytes: tree.contentSize)
    }
}

/// Secret files by name, extension and content (the Dockle credential list, extended with content rules
/// for private keys and cloud/API tokens).
public enum SecretRules {
    static let contentLimit = 512 << 10

    static let environmentPatterns = [
        "PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY", "APIKEY", "PRIVATE_KEY", "ACCESS_KEY", "CREDENTIAL", "AUTH",
    ]

    /// Names of environment variables (`NAME=value` entries) that look like secrets: also `…_KEY` names (Dockle's
    /// rule), except GPG key ids; never names of files or paths that hold a secret. Check CIS-DI-0010 reports them;
    /// minify strips them with --strip-secret-env.
    public static func environment(_ env: [String]) -> [String] {
        env.compactMap { e in
            let name = String(e.prefix { $0 != "=" })
            let upper = name.uppercased()
            if ["_FILE", "_PATH", "_DIR", "GPG_KEY", "GPG_KEYS"].contains(where: { upper.hasSuffix($0) }) {
                return nil
            }
            return environmentPatterns.contains { upper.contains($0) } || upper.hasSuffix("_KEY") || upper == "KEY"
                ? name : nil
        }
    }

    static let names: Set<String> = [
        "credentials", "credentials.json", "credential", "credential.json", "password.txt", "passwords.txt",
        "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "secret_token.rb", "carrierwave.rb", "omniauth.rb",
        "database.yml", "credentials.xml", ".env", ".htpasswd", ".netrc", ".pgpass", ".git-credentials", ".s3cfg",
        ".dockercfg", "terraform.tfstate", "terraform.tfvars", "service-account.json", "keystore.jks",
    ]
    static let extensions: Set<String> = [
        "secret", "ovpn", "private_key", "cscfg", "rdp", "mdf", "sdf", "bek", "tpm", "fve", "jks", "psafe3",
        "agilekeychain", "keychain", "pcap", "gnucash", "kwallet", "tblk", "p12", "pfx", "keystore", "kdbx",
    ]
    /// Directories whose files are documentation or data of packages, not configuration.
    static let skippedPrefixes: [String] = [
        "usr/share/doc/", "usr/share/man/", "usr/share/info/", "usr/share/locale/", "usr/share/i18n/",
        "usr/share/zoneinfo/", "usr/share/mime/", "usr/share/perl", "usr/include/", "var/lib/dpkg/", "var/lib/apt/",
        "usr/share/common-licenses/", "proc/", "sys/",
    ]
    static let skippedExtensions: Set<String> = [
        "pyc", "so", "mo", "gz", "xz", "bz2", "zst", "png", "jpg", "gif", "ttf", "woff", "woff2", "a", "o",
    ]

    /// The name or extension rule a path matches, if any.
    public static func byName(_ path: RawPath) -> String? {
        let name = String(decoding: path.lastComponent, as: UTF8.self).lowercased()
        let text = path.description
        if names.contains(name) {
            // Django settings and the like are too common in installed packages to flag there.
            if text.contains("-packages/") && name != ".env" { return nil }
            return "name"
        }
        if name == "settings.py" && !text.contains("-packages/") && !text.hasPrefix("usr/lib/") { return "name" }
        if name == "config.json" && text.hasSuffix(".docker/config.json") { return "name" }
        if let dot = name.lastIndex(of: "."), dot != name.startIndex,
            extensions.contains(String(name[name.index(after: dot)...]))
        {
            return "extension"
        }
        return nil
    }

    /// Whether a regular file's content is worth reading for secrets.
    public static func scansContent(_ path: RawPath, size: Int64) -> Bool {
        guard size >= 20, size <= Int64(contentLimit) else { return false }
        let text = path.description
        if skippedPrefixes.contains(where: { text.hasPrefix($0) }) { return false }
        let name = String(decoding: path.lastComponent, as: UTF8.self)
        if let dot = name.lastIndex(of: "."),
            skippedExtensions.contains(String(name[name.index(after: dot)...]).lowercased())
        {
            return false
        }
        return true
    }

    /// The content rule `bytes` match, if any. ELF and other binaries are skipped.
    public static func byContent(_ bytes: [UInt8]) -> String? {
        if bytes.starts(with: [0x7F, 0x45, 0x4C, 0x46]) { return nil }
        let n = bytes.count
        var i = 0
        while i < n {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "-"):
                if matches(bytes, i, "-----BEGIN "),
                    let end = firstIndex(of: Array("-----".utf8), in: bytes, from: i + 11, within: 48)
                {
                    let label = String(decoding: bytes[(i + 11)..<end], as: UTF8.self)
                    if label.hasSuffix("PRIVATE KEY") || label == "PGP PRIVATE KEY BLOCK" { return "private-key" }
                }
            case UInt8(ascii: "A"):
                if (matches(bytes, i, "AKIA") || matches(bytes, i, "ASIA")) && boundary(bytes, i - 1)
                    && run(bytes, i + 4, 16, upperAlnum)
                    && boundary(bytes, i + 20)
                {
                    return "aws-access-key-id"
                }
            case UInt8(ascii: "a"):
                if matches(bytes, i, "aws_secret_access_key") { return "aws-secret-access-key" }
            case UInt8(ascii: "g"):
                if matches(bytes, i, "ghp_") || matches(bytes, i, "gho_") || matches(bytes, i, "ghs_")
                    || matches(bytes, i, "ghu_")
                {
                    if boundary(bytes, i - 1) && run(bytes, i + 4, 36, alnum) { return "github-token" }
                } else if matches(bytes, i, "github_pat_")
                    && run(bytes, i + 11, 22, { alnum($0) || $0 == UInt8(ascii: "_") })
                {
                    return "github-token"
                }
            case UInt8(ascii: "x"):
                if matches(bytes, i, "xox") && i + 4 < n && "baprs".utf8.contains(bytes[i + 3])
                    && bytes[i + 4] == UInt8(ascii: "-")
                    && run(bytes, i + 5, 10, { alnum($0) || $0 == UInt8(ascii: "-") })
                {
                    return "slack-token"
                }
            case UInt8(ascii: "s"):
                if matches(bytes, i, "sk_live_") && run(bytes, i + 8, 24, alnum) { return "stripe-live-key" }
            case UInt8(ascii: "\""):
                if matches(bytes, i, "\"type\": \"service_account\"")
                    && firstIndex(of: Array("\"private_key\"".utf8), in: bytes, from: 0, within: n) != nil
                {
                    return "gcp-service-account-key"
                }
            default:
                break
            }
            i += 1
        }
        return nil
    }

    private static func matches(_ b: [UInt8], _ i: Int, _ s: StaticString) -> Bool {
        let count = s.utf8CodeUnitCount
        guard i + count <= b.count else { return false }
        return s.withUTF8Buffer { p in
            for k in 0..<count where b[i + k] != p[k] { return false }
            return true
        }
    }

    private static func firstIndex(of needle: [UInt8], in b: [UInt8], from start: Int, within span: Int) -> Int? {
        let last = min(b.count - needle.count, start + span)
        guard start <= last else { return nil }
        for i in start...last where b[i] == needle[0] && b[i..<(i + needle.count)].elementsEqual(needle) { return i }
        return nil
    }

    private static func run(_ b: [UInt8], _ from: Int, _ count: Int, _ ok: (UInt8) -> Bool) -> Bool {
        guard from + count <= b.count else { return false }
        for k in from..<(from + count) where !ok(b[k]) { return false }
        return true
    }

    private static func upperAlnum(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) }
    private static func alnum(_ c: UInt8) -> Bool { upperAlnum(c) || (c >= 0x61 && c <= 0x7A) }
    private static func boundary(_ b: [UInt8], _ i: Int) -> Bool { i < 0 || i >= b.count || !alnum(b[i]) }
}

// harden — runtimes installed without a package manager (official images put CPython, Node.js, OpenJDK, Go, Redis,
// PostgreSQL… under /usr/local or /opt from tarballs): recognised by the version strings their own executables and
// libraries carry, each with a purl and the CPEs NVD files them under. A file a package database owns is never
// reported again here.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages

/// One runtime the binary cataloger recognises.
public struct BinaryClassifier: Sendable {
    /// Package name (`python`, `node`, `openjdk`, …), also the `pkg:generic` name.
    public var name: String
    /// `vendor:product` pairs NVD uses for it: the only CPEs harden matches (no free CPE guessing).
    public var cpes: [(vendor: String, product: String)]
    /// The anchors to look for in a file of this name, or nil when the name is not one of this runtime's.
    var anchors: @Sendable (_ fileName: String) -> [String]?
    /// The version from the evidence of one file.
    var version: @Sendable (_ fileName: String, _ evidence: BinaryEvidence) -> String?

    public func cpeStrings(_ version: String) -> [String] {
        cpes.map { "cpe:2.3:a:\($0.vendor):\($0.product):\(CPE.escape(version)):*:*:*:*:*:*:*" }
    }
}

public enum CPE {
    /// Escapes a CPE 2.3 formatted-string component (`+`, `:` and other punctuation get a backslash).
    public static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            if c.isLetter || c.isNumber || c == "_" || c == "." || c == "-" {
                out.append(c)
            } else {
                out += "\\" + String(c)
            }
        }
        return out
    }

    /// The components of a CPE 2.3 formatted string, split at unescaped colons and unescaped
    /// (`cpe:2.3:a:nodejs:node.js:18.0.0:*:…` → `["cpe", "2.3", "a", "nodejs", "node.js", "18.0.0", "*", …]`).
    public static func split(_ cpe: String) -> [String] {
        var out: [String] = []
        var current = ""
        var escaped = false
        for c in cpe {
            if escaped {
                current.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == ":" {
                out.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        out.append(current)
        return out
    }
}

public struct BinaryCataloger: Cataloger {
    public var name: String { "binary" }
    public init() {}

    /// Every classifier, in the order they are tried.
    public static let classifiers: [BinaryClassifier] = [
        BinaryClassifier(
            name: "python", cpes: [("python", "python"), ("python_software_foundation", "python")],
            anchors: { file in
                // python3.11, python2.7, libpython3.11.so.1.0: the version in the name anchors the full one.
                guard let minor = pythonMinor(file) else { return nil }
                return pythonAnchors(minor)
            },
            version: { file, e in
                guard let minor = pythonMinor(file) else { return nil }
                // PY_VERSION (`3.11.7\0`) on its own; in a release build the linker merges it into the tail of a
                // longer string ending the same way — pyenv's prefix `…/versions/3.11.7`, the build directory
                // `…/Python-3.11.7` — so those anchors find it there.
                for anchor in pythonAnchors(minor) {
                    let found = firstMatch(e, anchor: anchor) { after in
                        let v = versionPrefix(after, minimumParts: 1, allowSuffix: { $0.isLetter || $0.isNumber })
                        return v.flatMap { v in after.dropFirst(v.utf8.count).first == 0 ? minor + "." + v : nil }
                    }
                    if let found { return found }
                }
                return nil
            }),
        BinaryClassifier(
            name: "node", cpes: [("nodejs", "node.js")],
            anchors: { file in file == "node" || file == "nodejs" || file.hasPrefix("libnode.so") ? ["node.js/v"] : nil
            },
            version: { _, e in firstMatch(e, anchor: "node.js/v") { versionPrefix($0) } }),
        BinaryClassifier(
            name: "openjdk", cpes: [("oracle", "openjdk"), ("oracle", "jdk"), ("oracle", "jre")],
            anchors: { file in file == "java" ? ["\0openjdk\0java\0"] : nil },
            version: { _, e in
                // The launcher's `\0openjdk\0java\0DOT_VERSION\0FULL_VERSION\0` strings (`0.0`, `17.0.9+9-Debian-1`):
                // the release is the full version up to its build (`+`) or vendor (`-`) suffix.
                firstMatch(e, anchor: "\0openjdk\0java\0") { after in
                    let parts = after.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
                    guard parts.count >= 2 else { return nil }
                    let full = String(decoding: parts[1], as: UTF8.self)
                    let v = String(full.prefix { $0 != "+" && $0 != "-" })
                    return v.first?.isNumber == true && v.contains(".") ? v : nil
                }
            }),
        BinaryClassifier(
            name: "nginx", cpes: [("f5", "nginx"), ("nginx", "nginx")],
            anchors: { file in file == "nginx" ? ["nginx/"] : nil },
            version: { _, e in firstMatch(e, anchor: "nginx/") { versionPrefix($0) } }),
        BinaryClassifier(
            name: "redis", cpes: [("redis", "redis"), ("redislabs", "redis")],
            anchors: { file in
                ["redis-server", "redis-check-rdb", "redis-check-aof", "redis-sentinel"].contains(file)
                    ? ["\0c11-builtin\0", "\0atomic-builtin\0", "\0sync-builtin\0", "\0pthread-mutex\0"] : nil
            },
            version: { _, e in
                // REDIS_VERSION sits just before the name of the atomics API it was built with.
                for w in e.windows where w.anchor.count > 8 {
                    let head = w.bytes[..<w.before]
                    guard let nul = head.dropLast().lastIndex(of: 0) else { continue }
                    let v = Array(head[(nul + 1)...])
                    if let version = versionPrefix(ArraySlice(v)), version.utf8.count == v.count { return version }
                }
                return nil
            }),
        BinaryClassifier(
            name: "postgresql", cpes: [("postgresql", "postgresql")],
            anchors: { file in file == "postgres" || file == "postmaster" ? ["(PostgreSQL) "] : nil },
            version: { _, e in firstMatch(e, anchor: "(PostgreSQL) ") { versionPrefix($0, minimumParts: 2) } }),
        BinaryClassifier(
            name: "httpd", cpes: [("apache", "http_server")],
            anchors: { file in file == "httpd" || file == "apache2" ? ["Apache/"] : nil },
            version: { _, e in firstMatch(e, anchor: "Apache/") { versionPrefix($0) } }),
        BinaryClassifier(
            name: "php", cpes: [("php", "php")],
            anchors: { file in isPHP(file) ? ["X-Powered-By: PHP/"] : nil },
            version: { _, e in firstMatch(e, anchor: "X-Powered-By: PHP/") { versionPrefix($0) } }),
        BinaryClassifier(
            name: "ruby", cpes: [("ruby-lang", "ruby")],
            anchors: { file in file == "ruby" || file.hasPrefix("libruby") ? ["ruby "] : nil },
            version: { _, e in
                // RUBY_DESCRIPTION: `ruby 3.1.2p20 (2022-04-12 revision 4491bb740a) [x86_64-linux]`.
                firstMatch(e, anchor: "ruby ") { after in
                    guard let v = versionPrefix(after) else { return nil }
                    let rest = after.dropFirst(v.utf8.count)
                    let patch =
                        rest.first == UInt8(ascii: "p") ? rest.dropFirst().prefix { $0 >= 0x30 && $0 <= 0x39 } : []
                    return rest.dropFirst(patch.isEmpty ? 0 : patch.count + 1).starts(with: Array(" (".utf8)) ? v : nil
                }
            }),
        BinaryClassifier(
            name: "openssl", cpes: [("openssl", "openssl")],
            anchors: { file in
                file == "openssl" || file.hasPrefix("libcrypto.so") || file.hasPrefix("libssl.so") ? ["OpenSSL "] : nil
            },
            version: { _, e in
                // `OpenSSL 3.0.11 19 Sep 2023`, `OpenSSL 1.1.1w  11 Sep 2023`: a version, then a space and the date.
                firstMatch(e, anchor: "OpenSSL ") { after in
                    guard let v = versionPrefix(after, allowSuffix: { $0.isLetter }),
                        after.dropFirst(v.utf8.count).first == 0x20
                    else {
                        return nil
                    }
                    return v
                }
            }),
        BinaryClassifier(
            name: "busybox", cpes: [("busybox", "busybox")],
            anchors: { file in file == "busybox" ? ["BusyBox v"] : nil },
            version: { _, e in firstMatch(e, anchor: "BusyBox v") { versionPrefix($0) } }),
        BinaryClassifier(
            name: "curl", cpes: [("haxx", "curl"), ("haxx", "libcurl")],
            anchors: { file in
                file == "curl" ? ["curl/"] : file.hasPrefix("libcurl") && file.contains(".so") ? ["libcurl/"] : nil
            },
            version: { file, e in firstMatch(e, anchor: file == "curl" ? "curl/" : "libcurl/") { versionPrefix($0) } }),
    ]

    /// The anchors to capture for a file of this name (all classifiers), or nil when no classifier wants it.
    public static func anchors(forFileName file: String) -> [[UInt8]]? {
        var out: [[UInt8]] = []
        for c in classifiers { if let a = c.anchors(file) { out += a.map { Array($0.utf8) } } }
        return out.isEmpty ? nil : out
    }

    /// The anchors for a file name as a tar entry spells it: called for every entry, so names that no classifier can
    /// want (by first letter) are turned away before any string is made.
    static func anchors(forFileName name: [UInt8]) -> [[UInt8]]? {
        guard let f = name.first else { return nil }
        switch f {
        case UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "c"), UInt8(ascii: "h"), UInt8(ascii: "j"),
            UInt8(ascii: "l"),
            UInt8(ascii: "n"), UInt8(ascii: "o"), UInt8(ascii: "p"), UInt8(ascii: "r"):
            return anchors(forFileName: String(decoding: name, as: UTF8.self))
        default: return nil
        }
    }

    public func catalog(_ context: CatalogContext) -> [SoftwarePackage] {
        var found: [String: (classifier: BinaryClassifier, version: String, files: [RawPath])] = [:]
        func add(_ c: BinaryClassifier, _ version: String, _ path: RawPath) {
            let key = "\(c.name)@\(version)"
            found[key, default: (c, version, [])].files.append(path)
        }
        for (path, bytes) in context.capturedFiles() {
            let file = String(decoding: path.lastComponent, as: UTF8.self)
            if file == "release", let (name, version) = Self.javaRelease(bytes, path: path, context: context) {
                if let c = Self.classifiers.first(where: { $0.name == name }) { add(c, version, path) }
                continue
            }
            guard let evidence = BinaryEvidence.capture(bytes) else { continue }
            // The Go toolchain: `go` whose build information names cmd/go.
            if file == "go", let g = evidence.goBuildInfo, let info = GoBinaryCataloger.parse(g), info.path == "cmd/go",
                info.goVersion.hasPrefix("go")
            {
                add(Self.goToolchain, String(info.goVersion.dropFirst(2).prefix { $0 != " " }), path)
                continue
            }
            for c in Self.classifiers where c.anchors(file) != nil {
                if let v = c.version(file, evidence) { add(c, v, path) }
            }
        }
        return found.values.map { entry in
            let files = entry.files.map(\.absoluteDescription).sorted()
            let first = entry.files.min() ?? .root
            return SoftwarePackage(
                id: "binary:\(entry.classifier.name)@\(entry.version)", type: .binary, name: entry.classifier.name,
                version: entry.version, architecture: nil, sourceName: nil, sourceVersion: nil, licenses: [],
                purl: PURL(type: "generic", name: entry.classifier.name, version: entry.version).description,
                layer: context.layer(of: first),
                locations: files, files: files, ownedBy: nil, maintainer: nil, installedSize: nil, foundBy: "binary",
                metadata: ["classifier": entry.classifier.name], cpes: entry.classifier.cpeStrings(entry.version))
        }.sorted()
    }

    public static var goToolchainClassifier: BinaryClassifier { goToolchain }

    static let goToolchain = BinaryClassifier(
        name: "go", cpes: [("golang", "go")], anchors: { _ in nil }, version: { _, _ in nil })

    /// A JDK's or JRE's `release` file (`JAVA_VERSION="17.0.8"`) beside its `bin/java` or `lib/`.
    static func javaRelease(_ bytes: [UInt8], path: RawPath, context: CatalogContext) -> (String, String)? {
        guard let dir = path.parent,
            context.exists(dir.appending(Array("lib".utf8))) || context.exists(dir.appending(Array("bin".utf8)))
        else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).textLines() where line.hasPrefix("JAVA_VERSION=") {
            let v = line.dropFirst("JAVA_VERSION=".count).trimming("\" ")
            if v.first?.isNumber == true { return ("openjdk", v) }
        }
        return nil
    }

    /// `php`, `php8.2`, `php-fpm8.2`, `php-cgi`, `libphp.so`, `libphp8.so`.
    static func isPHP(_ file: String) -> Bool {
        if file.hasPrefix("libphp") { return file.contains(".so") }
        for stem in ["php-fpm", "php-cgi", "php"] where file.hasPrefix(stem) {
            return file.dropFirst(stem.count).allSatisfy { $0.isNumber || $0 == "." }
        }
        return false
    }

    /// `python3.11`, `libpython3.11.so.1.0`, `libpython3.11d.so` → `3.11`.
    static func pythonMinor(_ file: String) -> String? {
        var s = Substring(file)
        if s.hasPrefix("libpython") {
            s = s.dropFirst(9)
        } else if s.hasPrefix("python") {
            s = s.dropFirst(6)
        } else {
            return nil
        }
        var digits = s.prefix { $0.isNumber || $0 == "." }
        if digits.hasSuffix(".") { digits = digits.dropLast() }
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty }), parts[0] == "2" || parts[0] == "3" else {
            return nil
        }
        let rest = s.dropFirst(digits.count)
        guard
            rest.isEmpty || rest.hasPrefix(".so") || rest.hasPrefix("d.so") || rest.hasPrefix("m.so")
                || rest.hasPrefix("t.so")
        else {
            return nil
        }
        return String(digits)
    }

    /// The first version any window of `anchor` yields, given the bytes after the anchor.
    /// Where CPython's version string is found: alone, or as the tail of a path (see the python classifier).
    static func pythonAnchors(_ minor: String) -> [String] { ["\0\(minor).", "/Python-\(minor).", "/\(minor)."] }

    static func firstMatch(_ e: BinaryEvidence, anchor: String, _ parse: (ArraySlice<UInt8>) -> String?) -> String? {
        let a = Array(anchor.utf8)
        for w in e.windows where w.anchor == a {
            if let v = parse(w.bytes[(w.before + a.count)...]) { return v }
        }
        return nil
    }

    /// A dotted version at the start of `bytes` (`1.22.1`, `3.0.11`; at least `minimumParts` numbers), with an
    /// optional suffix of characters `allowSuffix` accepts right after the last number (`1.1.1w`, `3.12.0rc1`).
    static func versionPrefix(
        _ bytes: ArraySlice<UInt8>, minimumParts: Int = 3, allowSuffix: (Character) -> Bool = { _ in false }
    ) -> String? {
        var out = ""
        var parts = 0
        var inNumber = false
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let c = bytes[i]
            if c >= 0x30 && c <= 0x39 {
                if !inNumber { parts += 1 }
                inNumber = true
                out.append(Character(UnicodeScalar(c)))
            } else if c == UInt8(ascii: "."), inNumber, i + 1 < bytes.endIndex,
                bytes[i + 1] >= 0x30 && bytes[i + 1] <= 0x39
            {
                inNumber = false
                out.append(".")
            } else {
                break
            }
            i += 1
        }
        guard parts >= minimumParts else { return nil }
        while i < bytes.endIndex, bytes[i] < 0x80, allowSuffix(Character(UnicodeScalar(bytes[i]))) {
            out.append(Character(UnicodeScalar(bytes[i])))
            i += 1
        }
        return out
    }
}

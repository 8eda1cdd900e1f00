// harden — apk v2 packages and signed APKINDEX files built in code for the apk patcher's tests. Signatures are made
// by openssl (RSA, PKCS#1 v1.5 over SHA-1, as abuild signs), so harden's own verifier is checked against it.
import Crypto
import Foundation
import HardenArchive
import HardenCore
import HardenSystem

public enum ApkFixture {
    /// An apk installed database of two packages (libfoo: two libraries and a README; tool: one program), and what it
    /// must become when only `/usr/lib/libfoo.so.1` (and its directories) stays (the minify tests' database).
    public static let installed = """
        C:Q1abc=
        P:libfoo
        V:1.2-r0
        A:x86_64
        L:MIT
        o:foo
        F:usr
        F:usr/lib
        M:0:0:755
        R:libfoo.so.1
        a:0:0:755
        Z:Q1one=
        R:libfoo-extra.so
        a:0:0:755
        Z:Q1two=
        F:usr/share/foo
        R:README
        Z:Q1three=

        C:Q1def=
        P:tool
        V:3-r1
        A:x86_64
        L:GPL-2.0-only
        F:usr/bin
        R:tool
        Z:Q1four=

        """

    /// libfoo's record cut after its first file (with that file's `a:` and `Z:` lines), then the end of the database.
    public static let onlyLibfooLeft = installed.split(separator: "\n").prefix(12).joined(separator: "\n") + "\n\n"

    public struct Package: Sendable {
        public var name: String
        public var version: String
        public var arch = "x86_64"
        public var origin: String?
        public var depends: [String] = []
        public var provides: [String] = []
        public var installIf: [String] = []
        /// Path (relative) → content.
        public var files: [String: String] = [:]
        public var symlinks: [String: String] = [:]
        /// `.post-install`, `.trigger`, … → script.
        public var scripts: [String: String] = [:]
        public var triggers: [String] = []
        public var buildDate = 1_700_000_000

        public init(
            name: String, version: String, origin: String? = nil, depends: [String] = [], provides: [String] = [],
            installIf: [String] = [], files: [String: String] = [:], symlinks: [String: String] = [:],
            scripts: [String: String] = [:], triggers: [String] = []
        ) {
            self.name = name
            self.version = version
            self.origin = origin
            self.depends = depends
            self.provides = provides
            self.installIf = installIf
            self.files = files
            self.symlinks = symlinks
            self.scripts = scripts
            self.triggers = triggers
        }

        /// Every directory above a file or symlink, parents first.
        public var directories: [String] {
            var dirs = Set<String>()
            for p in Array(files.keys) + Array(symlinks.keys) {
                var parts = p.split(separator: "/").dropLast()
                while !parts.isEmpty {
                    dirs.insert(parts.joined(separator: "/"))
                    parts = parts.dropLast()
                }
            }
            return dirs.sorted()
        }
    }

    /// What to break in a package or an index.
    public enum Tamper: String, Sendable, CaseIterable {
        case none, dataHash, unknownKey, escapingPath
    }

    /// A throwaway 2048-bit RSA key made by openssl: the private key's path and the public key (PEM).
    public static func makeKey(_ dir: String, name: String = "harden-test.rsa") throws -> (key: String, pub: [UInt8]) {
        try HostFS.makeDirectories(dir)
        let key = dir + "/" + name
        for argv in [
            ["openssl", "genrsa", "-out", key, "2048"],
            ["openssl", "rsa", "-in", key, "-pubout", "-out", key + ".pub"],
        ] {
            let (s, o) = try runProcess(argv)
            guard s == 0 else { throw HardenError(.io, "\(argv.joined(separator: " ")): \(o)") }
        }
        return (key, try HostFS.readFile(key + ".pub"))
    }

    /// openssl's PKCS#1 v1.5 signature of `bytes` over SHA-1.
    public static func sign(_ bytes: [UInt8], key: String) throws -> [UInt8] {
        let tmp = try HostFS.makeTemporaryDirectory(prefix: "harden-apk-sign")
        defer { try? HostFS.removeTree(tmp) }
        try HostFS.writeFileAtomically(tmp + "/in", bytes)
        let (s, o) = try runProcess(["openssl", "dgst", "-sha1", "-sign", key, "-out", tmp + "/sig", tmp + "/in"])
        guard s == 0 else { throw HardenError(.io, "openssl dgst -sign: \(o)") }
        return try HostFS.readFile(tmp + "/sig")
    }

    /// A tar segment (no end-of-archive blocks: apk's signature and control streams).
    static func segment(_ entries: [FixtureEntry]) throws -> [UInt8] {
        var bytes = try Fixtures.tar(entries)
        while bytes.count >= 512, bytes.suffix(512).allSatisfy({ $0 == 0 }) { bytes.removeLast(512) }
        return bytes
    }

    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] { try Fixtures.compress(bytes, .gzip) }

    /// The signature stream of `signed` by `key` named `keyName` in /etc/apk/keys.
    static func signatureStream(_ signed: [UInt8], key: String, keyName: String) throws -> [UInt8] {
        try gzip(try segment([.file(raw: Array(".SIGN.RSA.\(keyName)".utf8), try sign(signed, key: key))]))
    }

    /// A signed v2 .apk of `p`.
    public static func apk(_ p: Package, key: String, keyName: String, tamper: Tamper = .none) throws -> [UInt8] {
        // As abuild writes them: each file's and symlink's SHA-1 embedded (apk 3 refuses files without one).
        func embedded(_ e: FixtureEntry, _ hashed: String) -> FixtureEntry {
            var e = e
            e.entry.apkRecords["APK-TOOLS.checksum.SHA1"] = Array(
                Hex.encode(Insecure.SHA1.hash(data: Array(hashed.utf8))).utf8)
            return e
        }
        var data: [FixtureEntry] = p.directories.map { .dir($0) }
        for (path, content) in p.files.sorted(by: { $0.key < $1.key }) {
            data.append(embedded(.file(tamper == .escapingPath ? "../../" + path : path, content), content))
        }
        for (path, target) in p.symlinks.sorted(by: { $0.key < $1.key }) {
            data.append(embedded(.symlink(path, target), target))
        }
        let dataStream = try gzip(try Fixtures.tar(data))
        var datahash = Hex.encode(SHA256.hash(data: dataStream))
        if tamper == .dataHash { datahash = String(repeating: "0", count: 64) }
        var info = [
            "pkgname = \(p.name)", "pkgver = \(p.version)", "pkgdesc = \(p.name) for harden's tests",
            "url = https://harden.dev", "builddate = \(p.buildDate)", "packager = harden tests",
            "size = \(installedSize(p))", "arch = \(p.arch)", "origin = \(p.origin ?? p.name)", "license = MIT",
        ]
        info += p.depends.map { "depend = \($0)" } + p.provides.map { "provides = \($0)" }
        if !p.installIf.isEmpty { info.append("install_if = \(p.installIf.joined(separator: " "))") }
        if !p.triggers.isEmpty { info.append("triggers = \(p.triggers.joined(separator: " "))") }
        info.append("datahash = \(datahash)")
        var control: [FixtureEntry] = [
            .file(".PKGINFO", "# Generated by harden tests\n" + info.joined(separator: "\n") + "\n")
        ]
        for (name, script) in p.scripts.sorted(by: { $0.key < $1.key }) {
            control.append(.file(name, script, mode: 0o755))
        }
        let controlStream = try gzip(try segment(control))
        let sig = try signatureStream(
            controlStream, key: key, keyName: tamper == .unknownKey ? "other.rsa.pub" : keyName)
        return sig + controlStream + dataStream
    }

    static func installedSize(_ p: Package) -> Int { p.files.values.reduce(0) { $0 + $1.utf8.count } }

    /// "Q1" and the base64 SHA-1 of `bytes`.
    public static func q1(_ bytes: [UInt8]) -> String {
        "Q1" + Data(Insecure.SHA1.hash(data: bytes)).base64EncodedString()
    }

    /// The control stream's checksum of an .apk built here (the index's `C:`).
    public static func checksum(ofApk bytes: [UInt8]) throws -> String {
        let first = try Inflate.gzipMember(bytes, at: 0, limit: 1 << 20, what: "apk")
        let control = try Inflate.gzipMember(bytes, at: first.end, limit: 1 << 20, what: "apk")
        return q1(Array(bytes[first.end..<control.end]))
    }

    /// The package's index record (no trailing blank line).
    public static func indexRecord(_ p: Package, apk: [UInt8]) throws -> String {
        var lines = [
            "C:\(try checksum(ofApk: apk))", "P:\(p.name)", "V:\(p.version)", "A:\(p.arch)", "S:\(apk.count)",
            "I:\(installedSize(p))", "T:\(p.name) for harden's tests", "U:https://harden.dev", "L:MIT",
            "o:\(p.origin ?? p.name)", "m:harden tests", "t:\(p.buildDate)",
        ]
        if !p.depends.isEmpty { lines.append("D:\(p.depends.joined(separator: " "))") }
        if !p.provides.isEmpty { lines.append("p:\(p.provides.joined(separator: " "))") }
        if !p.installIf.isEmpty { lines.append("i:\(p.installIf.joined(separator: " "))") }
        return lines.joined(separator: "\n")
    }

    /// The record /lib/apk/db/installed has for `p` (its index record, its directories and files with checksums).
    public static func installedRecord(_ p: Package, apk: [UInt8]) throws -> String {
        var lines = [try indexRecord(p, apk: apk)]
        var byDir: [String: [String]] = [:]
        for f in Array(p.files.keys) + Array(p.symlinks.keys) {
            let parts = f.split(separator: "/")
            byDir[parts.dropLast().joined(separator: "/"), default: []].append(String(parts.last!))
        }
        for d in p.directories {
            lines.append("F:\(d)")
            for name in (byDir[d] ?? []).sorted() {
                let path = d + "/" + name
                lines.append("R:\(name)")
                lines.append("Z:\(q1(Array((p.files[path] ?? p.symlinks[path] ?? "").utf8)))")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// A signed APKINDEX.tar.gz of `records`.
    public static func index(
        _ records: [String], key: String, keyName: String, description: String = "harden-test", tamper: Tamper = .none
    ) throws -> [UInt8] {
        let text = records.map { $0 + "\n\n" }.joined()
        let stream = try gzip(try Fixtures.tar([.file("DESCRIPTION", description), .file("APKINDEX", text)]))
        return try signatureStream(stream, key: key, keyName: tamper == .unknownKey ? "other.rsa.pub" : keyName)
            + stream
    }

    /// A repository directory: `root/<arch>/` with each package's .apk and the signed index.
    public static func repository(
        root: String, packages: [Package], key: String, keyName: String, tamper: Tamper = .none,
        tampered: String? = nil
    ) throws {
        let dir = root + "/x86_64"
        try HostFS.makeDirectories(dir)
        var records: [String] = []
        for p in packages {
            let bytes = try apk(p, key: key, keyName: keyName, tamper: p.name == tampered ? tamper : .none)
            try HostFS.writeFileAtomically(dir + "/\(p.name)-\(p.version).apk", bytes)
            records.append(try indexRecord(p, apk: bytes))
        }
        try HostFS.writeFileAtomically(
            dir + "/APKINDEX.tar.gz",
            try index(records, key: key, keyName: keyName, tamper: tampered == nil ? tamper : .none))
    }
}

// harden — Debian packages and APT repositories built in code for the patch tests.
import Crypto
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenSystem

#if canImport(Glibc)
import Glibc
#endif

/// Debian packages and APT repositories made here: real `.deb` files (ar + control.tar.gz + data.tar.gz), Packages
/// and Release indexes, signed by `gpg` with a throwaway key.
public enum DebFixture {
    public struct Package: Sendable {
        public var name: String
        public var version: String
        public var architecture = "amd64"
        public var source: String?
        public var depends: String?
        /// Files under the root (path without leading slash → content).
        public var files: [String: String]
        public var conffiles: [String] = []
        public var postinst: String?
        /// Files with binary content (ELF libraries built by the test).
        public var binaries: [String: [UInt8]] = [:]

        public init(
            name: String, version: String, source: String? = nil, depends: String? = nil, files: [String: String],
            conffiles: [String] = [], postinst: String? = nil
        ) {
            self.name = name
            self.version = version
            self.source = source
            self.depends = depends
            self.files = files
            self.conffiles = conffiles
            self.postinst = postinst
        }

        public var control: String {
            var c =
                "Package: \(name)\nVersion: \(version)\nArchitecture: \(architecture)\nMaintainer: Test <t@example.org>\n"
            if let source { c += "Source: \(source)\n" }
            if let depends { c += "Depends: \(depends)\n" }
            c += "Description: fixture package \(name)\n a package built by the tests\n"
            return c
        }

        /// Every directory on the way to the files, then the files, in order.
        public var paths: [String] {
            var dirs = Set<String>()
            for f in Array(files.keys) + Array(binaries.keys) {
                var parts = f.split(separator: "/").dropLast()
                while !parts.isEmpty {
                    dirs.insert(parts.joined(separator: "/"))
                    parts = parts.dropLast()
                }
            }
            return dirs.sorted() + (Array(files.keys) + Array(binaries.keys)).sorted()
        }

        public func md5(_ path: String) -> String {
            Insecure.MD5.hash(data: Array((files[path] ?? "").utf8)).map { String(format: "%02x", $0) }.joined()
        }

        /// The `.deb` bytes.
        public func deb() throws -> [UInt8] {
            var control: [FixtureEntry] = [.file("control", self.control)]
            control.append(
                .file(
                    "md5sums",
                    files.keys.sorted().filter { !conffiles.contains("/" + $0) }.map { "\(md5($0))  \($0)\n" }.joined())
            )
            if !conffiles.isEmpty { control.append(.file("conffiles", conffiles.map { $0 + "\n" }.joined())) }
            if let postinst { control.append(.file("postinst", postinst, mode: 0o755)) }
            var data: [FixtureEntry] = [.dir(".")]
            for p in paths {
                if let b = binaries[p] {
                    data.append(.file(raw: Array(("./" + p).utf8), b))
                } else {
                    data.append(files[p].map { .file("./" + p, $0) } ?? .dir("./" + p))
                }
            }
            func member(_ name: String, _ bytes: [UInt8]) -> [UInt8] {
                var h = Array(name.utf8) + [UInt8](repeating: 0x20, count: 16 - name.utf8.count)
                h += Array("0           0     0     100644  ".utf8)
                let size = String(bytes.count)
                h += Array(size.utf8) + [UInt8](repeating: 0x20, count: 10 - size.utf8.count) + [0x60, 0x0a]
                return h + bytes + (bytes.count % 2 == 1 ? [0x0a] : [])
            }
            return Array("!<arch>\n".utf8) + member("debian-binary", Array("2.0\n".utf8))
                + member("control.tar.gz", try Fixtures.compress(try Fixtures.tar(control), .gzip))
                + member("data.tar.gz", try Fixtures.compress(try Fixtures.tar(data), .gzip))
        }

        /// The dpkg status stanza of this package installed.
        public var statusStanza: String {
            var s = control.replacingOccurrences(
                of: "Package: \(name)\n", with: "Package: \(name)\nStatus: install ok installed\n")
            if !conffiles.isEmpty {
                s = s.replacingOccurrences(
                    of: "Description:",
                    with: "Conffiles:\n" + conffiles.map { " \($0) \(md5(String($0.dropFirst())))\n" }.joined()
                        + "Description:")
            }
            return s
        }

        /// info/NAME.list as dpkg writes it.
        public var list: String { (["/."] + paths.map { "/" + $0 }).joined(separator: "\n") + "\n" }
    }

    /// A throwaway signing key in `home`; returns its armoured public key.
    public static func makeKey(home: String) throws -> [UInt8] {
        try HostFS.makeDirectories(home)
        _ = chmod(home, 0o700)
        let (s, o) = try runProcess([
            "gpg", "--batch", "--homedir", home, "--passphrase", "", "--quick-gen-key",
            "harden test <test@example.org>", "ed25519", "sign",
            "1y",
        ])
        guard s == 0 else { throw HardenError(.io, "gpg --quick-gen-key: \(o)") }
        let (s2, key) = try runProcess(["sh", "-c", "gpg --batch --homedir '\(home)' --armor --export"])
        guard s2 == 0 else { throw HardenError(.io, "gpg --export: \(key)") }
        return Array(key.utf8)
    }

    /// Writes `dists/SUITE/{InRelease, main/binary-ARCH/Packages.gz}` (one index per architecture of `packages`,
    /// amd64 when they are all `all`; `all` packages listed in each) and `pool/` for `packages` under `root`.
    /// `tamper` changes what is signed or served, to test that each check refuses it.
    public enum Tamper: Sendable { case none, packagesHash, debHash, expired, contentAfterSigning }

    public static func repository(
        root: String, suite: String, packages: [Package], gpgHome: String, tamper: Tamper = .none,
        date: String = "Sat, 01 Nov 2025 00:00:00 UTC", architectures given: [String]? = nil
    ) throws {
        try HostFS.makeDirectories(root + "/pool/main")
        var stanzas: [(architecture: String, text: String)] = []
        for p in packages {
            let deb = try p.deb()
            let file = "pool/main/\(p.name)_\(p.version)_\(p.architecture).deb"
            try HostFS.writeFileAtomically(root + "/" + file, deb)
            var sha = HardenOCI.Digest.sha256(of: deb).encoded
            if tamper == .debHash { sha = String(sha.reversed()) }
            let text = p.control.replacingOccurrences(
                of: "Description:", with: "Filename: \(file)\nSize: \(deb.count)\nSHA256: \(sha)\nDescription:")
            stanzas.append((p.architecture, text + "\n"))
        }
        var architectures = given ?? Set(packages.map(\.architecture)).subtracting(["all"]).sorted()
        if architectures.isEmpty { architectures = ["amd64"] }
        var hashes = ""
        for arch in architectures {
            try HostFS.makeDirectories(root + "/dists/\(suite)/main/binary-\(arch)")
            let index = stanzas.filter { $0.architecture == arch || $0.architecture == "all" }.map(\.text).joined()
            let gz = try Fixtures.compress(Array(index.utf8), .gzip)
            try HostFS.writeFileAtomically(root + "/dists/\(suite)/main/binary-\(arch)/Packages.gz", gz)
            var gzSHA = HardenOCI.Digest.sha256(of: gz).encoded
            if tamper == .packagesHash { gzSHA = String(gzSHA.reversed()) }
            hashes += " \(gzSHA) \(gz.count) main/binary-\(arch)/Packages.gz\n"
        }
        let validUntil = tamper == .expired ? "Valid-Until: Sun, 02 Nov 2025 00:00:00 UTC\n" : ""
        let release = """
            Origin: Test
            Suite: \(suite)
            Codename: \(suite)
            Date: \(date)
            \(validUntil)Architectures: \(architectures.joined(separator: " "))
            Components: main
            SHA256:
            \(hashes)
            """
        let dir = root + "/dists/\(suite)"
        try HostFS.writeFileAtomically(dir + "/Release", Array(release.utf8))
        let (s, o) = try runProcess([
            "gpg", "--batch", "--homedir", gpgHome, "--yes", "--digest-algo", "SHA256", "--clearsign", "-o",
            dir + "/InRelease",
            dir + "/Release",
        ])
        guard s == 0 else { throw HardenError(.io, "gpg --clearsign: \(o)") }
        if tamper == .contentAfterSigning {
            let signed = String(decoding: try HostFS.readFile(dir + "/InRelease"), as: UTF8.self)
            try HostFS.writeFileAtomically(
                dir + "/InRelease", Array(signed.replacingOccurrences(of: "Origin: Test", with: "Origin: Evil").utf8))
        }
    }
}

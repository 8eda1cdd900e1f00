// harden — the native update-ca-certificates: OpenSSL's subject hash against `openssl x509 -subject_hash`, the
// /etc/ssl/certs update against the real update-ca-certificates on the same state, the postinst's configuration
// rewrite.
import Foundation
import HardenArchive
import HardenCore
import HardenPackages
import HardenPatch
import HardenSystem
import HardenTestSupport
import Testing

@Suite(.enabled(if: Prerequisites.programs("openssl", "update-ca-certificates")))
struct CACertificatesTests {
    /// A self-signed certificate with `subject` (an openssl -subj string), as PEM.
    static func certificate(_ dir: String, _ subject: String, extra: [String] = []) throws -> [UInt8] {
        let (s, o) = try runProcess(
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                dir + "/k.pem",
                "-out", dir + "/c.pem", "-days", "2", "-subj", subject,
            ] + extra)
        try #require(s == 0, "openssl req \(subject): \(o)")
        return try HostFS.readFile(dir + "/c.pem")
    }

    static func opensslHash(_ path: String) throws -> String {
        let (s, o) = try runProcess(["openssl", "x509", "-noout", "-subject_hash", "-in", path])
        try #require(s == 0, "\(o)")
        return o.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func theSubjectHashIsOpenSSLsForTheSystemsCertificates() throws {
        let dir = "/usr/share/ca-certificates/mozilla"
        let names = try HostFS.listDirectory(dir).filter { $0.hasSuffix(".crt") }.sorted()
        try #require(names.count > 100, "the host's ca-certificates (scripts/setup.sh)")
        let (s, o) = try runProcess([
            "sh", "-c",
            "cd \(dir) && for f in *.crt; do echo \"$(openssl x509 -noout -subject_hash -in \"$f\") $f\"; done",
        ])
        try #require(s == 0, "\(o)")
        var theirs: [String: String] = [:]
        for line in o.split(separator: "\n") {
            let f = line.split(separator: " ", maxSplits: 1)
            theirs[String(f[1])] = String(f[0])
        }
        for name in names {
            let (certs, _) = PEM.certificates(try HostFS.readFile(dir + "/" + name))
            try #require(certs.count == 1, "\(name)")
            let ours = String(format: "%08x", try X509Name.subjectHash(certificate: certs[0]))
            #expect(ours == theirs[name], "\(name)")
        }
    }

    @Test(arguments: [
        ("/CN=  Mixed   CASE\tName /O=Ex  Ample Inc.", [String]()),
        ("/C=DE/O=Org+OU=Unit/CN=multi valued", ["-multivalue-rdn"]),
        ("/CN=Grüße ÄÖÜ  Straße/O=Ünïcödé", ["-utf8"]),
        ("/emailAddress=Someone@Example.ORG/CN=x", []),
    ])
    func theSubjectHashCanonicalizesLikeOpenSSL(subject: String, extra: [String]) throws {
        try withTemporaryDirectory { dir in
            let pem = try Self.certificate(dir, subject, extra: extra)
            let ours = String(
                format: "%08x", try X509Name.subjectHash(certificate: PEM.certificates(pem).certificates[0]))
            #expect(ours == (try Self.opensslHash(dir + "/c.pem")))
        }
    }

    static func digest(_ b: [UInt8]) -> String {
        var h = StreamHasher()
        h.update(b)
        return h.finalizeHex()
    }

    /// Lines of the real tool's state of a directory: name → link target (prefix mapped) or file digest.
    static func listing(_ dir: String, mapping: [(String, String)]) throws -> [String: String] {
        var out: [String: String] = [:]
        for name in try HostFS.listDirectory(dir) {
            let p = dir + "/" + name
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: p) {
                out[name] = mapping.reduce(target) { t, m in t.hasPrefix(m.0) ? m.1 + t.dropFirst(m.0.count) : t }
            } else {
                out[name] = "file " + Self.digest(try HostFS.readFile(p))
            }
        }
        return out
    }

    static func listing(_ etc: [String: CACertificateStore.Entry]) -> [String: String] {
        etc.compactMapValues { e in
            switch e {
            case .link(let t): return t
            case .file(let b): return "file " + digest(b)
            case .other: return nil
            }
        }
    }

    @Test func theCertsDirectoryIsWhatUpdateCACertificatesMakes() throws {
        try withTemporaryDirectory { dir in
            // Five certificates: two with the same subject (one hash, links .0 and .1), one deselected, one removed
            // from the package (its old links are stale), one local.
            let subjects = [
                "/CN=Alpha Root", "/CN=Twin Root", "/CN=twin  ROOT", "/CN=Deselected Root", "/O=Local/CN=Local Root",
            ]
            var pems: [[UInt8]] = []
            for s in subjects { pems.append(try Self.certificate(dir, s)) }
            let certsDir = dir + "/share"
            let localDir = dir + "/local"
            let etcDir = dir + "/etc"
            for d in [certsDir + "/test", localDir, etcDir] { try HostFS.makeDirectories(d) }
            let certs = [
                "test/Alpha_Root.crt": pems[0], "test/Twin (A).crt": pems[1], "test/Twin, B.crt": pems[2],
                "test/Desel.crt": pems[3],
            ]
            for (rel, b) in certs { try HostFS.writeFileAtomically(certsDir + "/" + rel, b) }
            try HostFS.writeFileAtomically(localDir + "/local.crt", pems[4])
            let conf = "# comment\ntest/Alpha_Root.crt\ntest/Twin (A).crt\ntest/Twin, B.crt\n!test/Desel.crt\n"
            try HostFS.writeFileAtomically(dir + "/ca.conf", Array(conf.utf8))
            // The state before: a link to a certificate the new version dropped, its hash link, the deselected one's link.
            let etcBefore: [String: CACertificateStore.Entry] = [
                "Gone.pem": .link("/usr/share/ca-certificates/test/Gone.crt"), "00000000.0": .link("Gone.pem"),
                "Desel.pem": .link("/usr/share/ca-certificates/test/Desel.crt"),
            ]
            for (name, e) in etcBefore {
                guard case .link(let t) = e else { continue }
                let real =
                    t.hasPrefix("/usr/share/ca-certificates")
                    ? certsDir + t.dropFirst("/usr/share/ca-certificates".count) : t
                try FileManager.default.createSymbolicLink(atPath: etcDir + "/" + name, withDestinationPath: real)
            }
            let (s, o) = try runProcess([
                "update-ca-certificates", "--certsconf", dir + "/ca.conf", "--certsdir", certsDir, "--localcertsdir",
                localDir,
                "--etccertsdir", etcDir, "--hooksdir", "",
            ])
            try #require(s == 0, "update-ca-certificates: \(o)")
            let theirs = try Self.listing(
                etcDir,
                mapping: [(certsDir, "/usr/share/ca-certificates"), (localDir, "/usr/local/share/ca-certificates")])

            let store = CACertificateStore(
                conf: Array(conf.utf8), certificates: certs, localCertificates: ["local.crt": pems[4]], etc: etcBefore)
            let update = store.update()
            #expect(update.conf == nil, "a configuration naming every certificate is left as it is")
            var ours = etcBefore
            for (name, change) in update.etc { ours[name] = change }
            #expect(Self.listing(ours) == theirs)
            #expect(
                theirs.keys.filter { $0.hasSuffix(".1") }.count == 1, "the twins share a hash: \(theirs.keys.sorted())")
            #expect(update.hashLinks == 4)
        }
    }

    @Test func thePostinstTrustsNewCertificatesAndDeselectsVanishedOnes() {
        let conf = "# header\nmozilla/Kept.crt\n!mozilla/Disabled.crt\nmozilla/Vanished.crt\n"
        let store = CACertificateStore(
            conf: Array(conf.utf8),
            certificates: ["mozilla/Kept.crt": [], "mozilla/Disabled.crt": [], "mozilla/New.crt": []],
            localCertificates: [:],
            etc: [:])
        let update = store.update()
        #expect(
            update.conf.map { String(decoding: $0, as: UTF8.self) }
                == "# header\nmozilla/Kept.crt\n!mozilla/Disabled.crt\n!mozilla/Vanished.crt\nmozilla/New.crt\n")
        #expect(update.confOld == Array(conf.utf8))
    }

    @Test func malformedCertificatesAreSkippedNotFatal() {
        #expect(
            PEM.certificates(Array("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n".utf8)).certificates
                .isEmpty)
        #expect(throws: HardenError.self) { try X509Name.subjectHash(certificate: [0x30, 0x82, 0xff]) }
        #expect(throws: HardenError.self) { try X509Name.subjectHash(certificate: [0x30, 0x03, 0x02, 0x01, 0x00]) }
    }
}

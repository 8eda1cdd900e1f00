// harden — what `update-ca-certificates` does when ca-certificates is upgraded, done natively: the postinst's
// update of /etc/ca-certificates.conf (new certificates trusted, vanished ones deselected), the /etc/ssl/certs
// symlinks, the bundle ca-certificates.crt, and the subject-hash links `openssl rehash` makes (OpenSSL's
// canonical X509_NAME hash). Pure functions over bytes.
import Crypto
import Foundation
import HardenArchive
import HardenCore
import HardenDpkg
import HardenOCI
import HardenPackages

// MARK: - DER and PEM

/// A minimal DER reader: one TLV at a time.
struct DERReader {
    struct Element {
        var tag: UInt8
        /// The whole element (header + content).
        var raw: ArraySlice<UInt8>
        var content: ArraySlice<UInt8>
    }
    var bytes: ArraySlice<UInt8>

    var isAtEnd: Bool { bytes.isEmpty }

    mutating func next() throws -> Element {
        let start = bytes.startIndex
        guard bytes.count >= 2 else { throw HardenError(.corrupt, "DER: truncated element") }
        let tag = bytes[start]
        guard tag & 0x1f != 0x1f else { throw HardenError(.unsupported, "DER: high tag numbers are not supported") }
        var i = start + 1
        var length = Int(bytes[i])
        i += 1
        if length & 0x80 != 0 {
            let n = length & 0x7f
            guard n >= 1, n <= 4, i + n <= bytes.endIndex else { throw HardenError(.corrupt, "DER: bad length") }
            length = 0
            for k in 0..<n { length = length << 8 | Int(bytes[i + k]) }
            i += n
        }
        guard length <= bytes.endIndex - i else {
            throw HardenError(.corrupt, "DER: element longer than its container")
        }
        let end = i + length
        defer { bytes = bytes[end...] }
        return Element(tag: tag, raw: bytes[start..<end], content: bytes[i..<end])
    }

    static func encode(tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [tag]
        let n = content.count
        if n < 0x80 {
            out.append(UInt8(n))
        } else {
            var len: [UInt8] = []
            var v = n
            while v > 0 {
                len.insert(UInt8(v & 0xff), at: 0)
                v >>= 8
            }
            out.append(0x80 | UInt8(len.count))
            out += len
        }
        return out + content
    }
}

public enum PEM {
    /// The DER bodies of the `CERTIFICATE` blocks of a PEM file (also `TRUSTED CERTIFICATE`, `X509 CERTIFICATE`), in order;
    /// `others` counts the blocks of other kinds (keys, CRLs).
    public static func certificates(_ bytes: [UInt8]) -> (certificates: [[UInt8]], others: Int) {
        let text = String(decoding: bytes, as: UTF8.self)
        var certs: [[UInt8]] = []
        var others = 0
        var label: String?
        var body = ""
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if let l = label {
                if line.hasPrefix("-----END ") {
                    if ["CERTIFICATE", "TRUSTED CERTIFICATE", "X509 CERTIFICATE"].contains(l) {
                        if let d = Data(base64Encoded: body) { certs.append(Array(d)) } else { others += 1 }
                    } else {
                        others += 1
                    }
                    label = nil
                } else if !line.contains(":") {
                    body += line
                }
            } else if line.hasPrefix("-----BEGIN "), line.hasSuffix("-----") {
                label = String(line.dropFirst(11).dropLast(5))
                body = ""
            }
        }
        return (certs, others)
    }
}

// MARK: - X.509 subject hash

public enum X509Name {
    /// OpenSSL's `X509_subject_name_hash` of a DER certificate: the first four bytes (little-endian) of the SHA-1 of the
    /// subject's canonical encoding.
    public static func subjectHash(certificate der: [UInt8]) throws -> UInt32 {
        let digest = Array(Insecure.SHA1.hash(data: try canonicalSubject(certificate: der)))
        return UInt32(digest[0]) | UInt32(digest[1]) << 8 | UInt32(digest[2]) << 16 | UInt32(digest[3]) << 24
    }

    /// The SHA-1 fingerprint of a DER certificate (what `openssl rehash` compares to skip duplicates).
    public static func fingerprint(_ der: [UInt8]) -> [UInt8] { Array(Insecure.SHA1.hash(data: der)) }

    static func canonicalSubject(certificate der: [UInt8]) throws -> [UInt8] {
        var outer = DERReader(bytes: der[...])
        let cert = try outer.next()
        guard cert.tag == 0x30 else { throw HardenError(.corrupt, "certificate: not a SEQUENCE") }
        var c = DERReader(bytes: cert.content)
        let tbs = try c.next()
        guard tbs.tag == 0x30 else { throw HardenError(.corrupt, "certificate: no tbsCertificate") }
        var t = DERReader(bytes: tbs.content)
        var e = try t.next()
        if e.tag == 0xa0 { e = try t.next() }  // [0] version
        _ = try t.next()  // signature algorithm
        _ = try t.next()  // issuer
        _ = try t.next()  // validity
        let subject = try t.next()
        guard e.tag == 0x02, subject.tag == 0x30 else {
            throw HardenError(.corrupt, "certificate: unexpected tbsCertificate layout")
        }
        return try canonical(name: subject.content)
    }

    /// The canonical encoding of a Name's content (its RDN SETs): string values as lower-cased, space-collapsed
    /// UTF8Strings, each RDN re-encoded as a DER SET, concatenated without the outer SEQUENCE.
    static func canonical(name content: ArraySlice<UInt8>) throws -> [UInt8] {
        var out: [UInt8] = []
        var rdns = DERReader(bytes: content)
        while !rdns.isAtEnd {
            let set = try rdns.next()
            guard set.tag == 0x31 else { throw HardenError(.corrupt, "certificate: a name component is not a SET") }
            var atvs = DERReader(bytes: set.content)
            var encoded: [[UInt8]] = []
            while !atvs.isAtEnd {
                let atv = try atvs.next()
                guard atv.tag == 0x30 else { throw HardenError(.corrupt, "certificate: bad attribute") }
                var parts = DERReader(bytes: atv.content)
                let oid = try parts.next()
                let value = try parts.next()
                let v: [UInt8]
                if let text = try decodeString(tag: value.tag, value.content) {
                    v = DERReader.encode(tag: 0x0c, canonicalize(text))
                } else {
                    v = Array(value.raw)
                }
                encoded.append(DERReader.encode(tag: 0x30, Array(oid.raw) + v))
            }
            // DER orders the members of a SET OF by their encodings.
            encoded.sort { $0.lexicographicallyPrecedes($1) }
            out += DERReader.encode(tag: 0x31, encoded.flatMap { $0 })
        }
        return out
    }

    /// UTF-8 of the string types OpenSSL canonicalizes; nil for the others (kept as they are).
    static func decodeString(tag: UInt8, _ c: ArraySlice<UInt8>) throws -> [UInt8]? {
        func utf8(_ scalars: [UInt32]) -> [UInt8] {
            var s = String.UnicodeScalarView()
            for v in scalars { s.append(Unicode.Scalar(v) ?? "\u{FFFD}") }
            return Array(String(s).utf8)
        }
        switch tag {
        case 0x0c: return Array(c)  // UTF8String
        case 0x13, 0x16, 0x1a, 0x14:  // Printable, IA5, Visible, T61 (one byte per character, as OpenSSL reads them)
            return utf8(c.map(UInt32.init))
        case 0x1e:  // BMPString
            guard c.count % 2 == 0 else { throw HardenError(.corrupt, "certificate: odd BMPString") }
            return utf8(
                stride(from: c.startIndex, to: c.endIndex, by: 2).map { UInt32(c[$0]) << 8 | UInt32(c[$0 + 1]) })
        case 0x1c:  // UniversalString
            guard c.count % 4 == 0 else { throw HardenError(.corrupt, "certificate: bad UniversalString") }
            return utf8(
                stride(from: c.startIndex, to: c.endIndex, by: 4).map {
                    UInt32(c[$0]) << 24 | UInt32(c[$0 + 1]) << 16 | UInt32(c[$0 + 2]) << 8 | UInt32(c[$0 + 3])
                })
        default: return nil
        }
    }

    /// Leading and trailing ASCII white space dropped, inner runs of it made one space, ASCII letters lower-cased.
    static func canonicalize(_ s: [UInt8]) -> [UInt8] {
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0d).contains(b) }
        var from = s.startIndex
        var to = s.endIndex
        while from < to, isSpace(s[from]) { from += 1 }
        while to > from, isSpace(s[to - 1]) { to -= 1 }
        var out: [UInt8] = []
        var i = from
        while i < to {
            if isSpace(s[i]) {
                out.append(0x20)
                while i < to, isSpace(s[i]) { i += 1 }
            } else {
                out.append((0x41...0x5a).contains(s[i]) ? s[i] + 0x20 : s[i])
                i += 1
            }
        }
        return out
    }
}

// MARK: - update-ca-certificates

/// The state `update-ca-certificates` works on, and what it changes.
public struct CACertificateStore: Sendable {
    public enum Entry: Sendable, Equatable {
        case link(String)
        case file([UInt8])
        /// Something else (a directory, a file whose bytes were not read).
        case other
    }
    /// `/etc/ca-certificates.conf`, nil when absent.
    public var conf: [UInt8]?
    /// `*.crt` under /usr/share/ca-certificates after the upgrade, by path relative to it.
    public var certificates: [String: [UInt8]]
    /// `*.crt` under /usr/local/share/ca-certificates, by relative path.
    public var localCertificates: [String: [UInt8]]
    /// The entries of /etc/ssl/certs by name.
    public var etc: [String: Entry]
    /// Absolute link targets outside the certificate directories that exist (for the orphan-link test).
    public var existingTargets: Set<String>

    public init(
        conf: [UInt8]?, certificates: [String: [UInt8]], localCertificates: [String: [UInt8]], etc: [String: Entry],
        existingTargets: Set<String> = []
    ) {
        self.conf = conf
        self.certificates = certificates
        self.localCertificates = localCertificates
        self.etc = etc
        self.existingTargets = existingTargets
    }

    public struct Update: Sendable {
        /// New /etc/ca-certificates.conf (and the old one as .dpkg-old), nil when unchanged.
        public var conf: [UInt8]?
        public var confOld: [UInt8]?
        /// Changes in /etc/ssl/certs: name → new entry, or nil to remove.
        public var etc: [String: Entry?]
        public var added: Int
        public var removed: Int
        public var hashLinks: Int
    }

    static let certsDir = "/usr/share/ca-certificates"
    static let localDir = "/usr/local/share/ca-certificates"
    static let confHeader = """
        # This file lists certificates that you wish to use or to ignore to be
        # installed in /etc/ssl/certs.
        # update-ca-certificates(8) will update /etc/ssl/certs by reading this file.
        #
        # This is autogenerated by dpkg-reconfigure ca-certificates.
        # Certificates should be installed under /usr/share/ca-certificates
        # and files with extension '.crt' is recognized as available certs.
        #
        # line begins with # is comment.
        # line begins with ! is certificate filename to be deselected.
        #

        """

    /// The package's configure step with debconf's defaults (`trust_new_crts=yes`), then `update-ca-certificates`.
    public func update() -> Update {
        let available = certificates.keys.sorted()
        let availableSet = Set(available)
        var conf = self.conf
        var confOld: [UInt8]?
        var confChanged = false
        // The postinst's rewrite of the configuration.
        if let old = conf {
            let lines = String(decoding: old, as: UTF8.self).textLines(omittingEmpty: false).map(String.init)
            let body = lines.last == "" ? Array(lines.dropLast()) : lines
            let disabled = Set(body.filter { $0.hasPrefix("!") }.map { String($0.dropFirst()) })
            let enabled = available.filter { !disabled.contains($0) }
            let enabledSet = Set(enabled)
            var out: [String] = []
            for raw in body {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.hasPrefix("#") {
                    out.append(line)
                    continue
                }
                let ca = line.hasPrefix("!") ? String(line.dropFirst()) : line
                if enabledSet.contains(ca) {
                    out.append(ca)
                } else if availableSet.contains(ca) || line.hasPrefix("!") {
                    out.append("!" + ca)
                } else if !ca.isEmpty, localCertificates[ca] != nil {
                    out.append(ca)
                } else {
                    out.append("!" + ca)
                }
            }
            for ca in enabled where !out.contains(where: { $0.hasPrefix(ca) }) { out.append(ca) }
            for ca in available where !enabledSet.contains(ca) && !out.contains(where: { $0.hasPrefix("!" + ca) }) {
                out.append("!" + ca)
            }
            let new = Array(out.map { $0 + "\n" }.joined().utf8)
            if new != old {
                confOld = old
                conf = new
                confChanged = true
            }
        } else {
            conf = Array((Self.confHeader + available.map { $0 + "\n" }.joined()).utf8)
            confChanged = true
        }

        // update-ca-certificates (no hooks): fresh when the configuration is empty.
        var etc = self.etc
        var added = 0
        var removed = 0
        func exists(_ target: String) -> Bool {
            if target.hasPrefix(Self.certsDir + "/") {
                return certificates[String(target.dropFirst(Self.certsDir.count + 1))] != nil
            }
            if target.hasPrefix(Self.localDir + "/") {
                return localCertificates[String(target.dropFirst(Self.localDir.count + 1))] != nil
            }
            if !target.hasPrefix("/") {
                if case .link(let next)? = etc[target] { return next != target && exists(next) }
                return etc[target] != nil
            }
            return existingTargets.contains(target)
        }
        let confText = String(decoding: conf ?? [], as: UTF8.self)
        if confText.isEmpty {
            for (name, entry) in etc {
                if case .link(let target) = entry,
                    target.hasPrefix(Self.certsDir) || target.hasPrefix(Self.localDir) || !exists(target)
                {
                    etc[name] = nil
                }
            }
        }
        var bundle: [UInt8] = []
        var bundled = false
        func add(_ target: String, bytes: [UInt8]) {
            var base = String(target.split(separator: "/").last ?? "")
            if base.hasSuffix(".crt") { base.removeLast(4) }
            let pem =
                base.replacingOccurrences(of: " ", with: "_").replacingOccurrences(of: "(", with: "=")
                .replacingOccurrences(of: ")", with: "=").replacingOccurrences(of: ",", with: "_") + ".pem"
            if etc[pem] != .link(target) {
                etc[pem] = .link(target)
                added += 1
            }
            bundle += bytes
            if let last = bytes.last, last != 0x0a { bundle.append(0x0a) }
            bundled = true
        }
        let lines = confText.textLines().map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for line in lines where line.hasPrefix("!") {
            var base = String(line.dropFirst().split(separator: "/").last ?? "")
            if base.hasSuffix(".crt") { base.removeLast(4) }
            if case .link = etc[base + ".pem"] {
                etc[base + ".pem"] = nil
                removed += 1
            }
        }
        for line in lines where !line.hasPrefix("!") && !line.hasPrefix("#") {
            guard let bytes = certificates[line] else { continue }
            add(Self.certsDir + "/" + line, bytes: bytes)
        }
        for rel in localCertificates.keys.sorted() { add(Self.localDir + "/" + rel, bytes: localCertificates[rel]!) }
        var hashLinks = 0
        if added > 0 || removed > 0 {
            for (name, entry) in etc {
                if case .link(let target) = entry, !exists(target) { etc[name] = nil }
            }
            hashLinks = Self.rehash(
                &etc,
                read: { target in
                    if target.hasPrefix(Self.certsDir + "/") {
                        return certificates[String(target.dropFirst(Self.certsDir.count + 1))]
                    }
                    if target.hasPrefix(Self.localDir + "/") {
                        return localCertificates[String(target.dropFirst(Self.localDir.count + 1))]
                    }
                    return nil
                })
        }
        if bundled { etc["ca-certificates.crt"] = .file(bundle) }

        var changes: [String: Entry?] = [:]
        for (name, entry) in etc where self.etc[name] != entry { changes[name] = .some(entry) }
        for name in self.etc.keys where etc[name] == nil { changes[name] = .some(nil) }
        return Update(
            conf: confChanged ? conf : nil, confOld: confOld, etc: changes, added: added, removed: removed,
            hashLinks: hashLinks)
    }

    static func isHashLink(_ name: String) -> (hash: UInt32, id: Int)? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 8, let h = UInt32(parts[0], radix: 16),
            parts[0].allSatisfy(\.isHexDigit),
            let id = Int(parts[1]), parts[1].allSatisfy(\.isASCII), parts[1].allSatisfy(\.isNumber)
        else { return nil }
        return (h, id)
    }

    /// `openssl rehash` of the directory: `HASH.N` links to every file holding exactly one certificate, existing links
    /// kept where still right, duplicates (same fingerprint) skipped. Returns the number of hash links.
    static func rehash(_ etc: inout [String: Entry], read: (String) -> [UInt8]?) -> Int {
        struct Item {
            var file: String
            var oldID: Int?
            var needed: Bool
            var fingerprint: [UInt8]?
        }
        var buckets: [UInt32: [Item]] = [:]
        var order: [UInt32] = []
        func bytes(of name: String, depth: Int = 0) -> [UInt8]? {
            switch etc[name] {
            case .file(let b)?: return b
            case .link(let t)?:
                if t.hasPrefix("/") { return read(t) }
                return depth < 8 ? bytes(of: t, depth: depth + 1) : nil
            default: return nil
            }
        }
        for name in etc.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            if let (hash, id) = isHashLink(name) {
                guard case .link(let target)? = etc[name] else { continue }
                if buckets[hash] == nil { order.append(hash) }
                var items = buckets[hash] ?? []
                if let k = items.firstIndex(where: { $0.file == target }) {
                    items[k].oldID = min(items[k].oldID ?? id, id)
                } else {
                    items.append(Item(file: target, oldID: id, needed: false, fingerprint: nil))
                }
                buckets[hash] = items
                continue
            }
            let lower = name.lowercased()
            guard [".pem", ".crt", ".cer"].contains(where: { lower.hasSuffix($0) }), let b = bytes(of: name) else {
                continue
            }
            let (certs, others) = PEM.certificates(b)
            guard certs.count == 1, others == 0, let hash = try? X509Name.subjectHash(certificate: certs[0]) else {
                continue
            }
            let fp = X509Name.fingerprint(certs[0])
            if buckets[hash] == nil { order.append(hash) }
            var items = buckets[hash] ?? []
            if items.contains(where: { $0.fingerprint == fp }) { continue }  // a duplicate certificate
            if let k = items.firstIndex(where: { $0.file == name }) {
                if !items[k].needed {
                    items[k].needed = true
                    items[k].fingerprint = fp
                }
            } else {
                items.append(Item(file: name, oldID: nil, needed: true, fingerprint: fp))
            }
            buckets[hash] = items
        }
        var links = 0
        for hash in order {
            let items = buckets[hash]!
            let needed = items.filter(\.needed).count
            var used = Set(items.compactMap { i in i.oldID.flatMap { $0 < needed ? $0 : nil } })
            var next = 0
            let prefix = String(format: "%08x.", hash)
            for item in items {
                if let old = item.oldID, old < needed {
                    links += 1  // kept as it is
                } else if item.needed {
                    while used.contains(next) { next += 1 }
                    etc[prefix + String(next)] = .link(item.file)
                    used.insert(next)
                    links += 1
                } else if let old = item.oldID {
                    etc[prefix + String(old)] = nil
                }
            }
        }
        return links
    }
}

/// Where the image's certificate state is, found in its tree before the layer is written (the bytes are read with the
/// conffiles).
public struct CACertificateInputs: Sendable {
    static let certsPrefix = RawPath("usr/share/ca-certificates")
    static let localPrefix = RawPath("usr/local/share/ca-certificates")
    static let etcDir = RawPath("etc/ssl/certs")
    static let conf = RawPath("etc/ca-certificates.conf")

    /// `*.crt` files by path relative to their directory.
    var certificates: [String: RawPath] = [:]
    var localCertificates: [String: RawPath] = [:]
    /// /etc/ssl/certs: symlinks with their targets, regular files (bytes read), others.
    var etc: [String: CACertificateStore.Entry] = [:]
    var etcFiles: [String: RawPath] = [:]
    /// Absolute targets of the links in /etc/ssl/certs that exist elsewhere in the image.
    var existingTargets: Set<String> = []

    var paths: Set<RawPath> {
        Set(certificates.values).union(localCertificates.values).union(etcFiles.values).union([Self.conf])
    }

    static func relative(_ path: RawPath, under prefix: RawPath) -> String? {
        let p = path.bytes
        let q = prefix.bytes
        guard p.count > q.count + 1, p.starts(with: q), p[q.count] == UInt8(ascii: "/") else { return nil }
        return String(decoding: p[(q.count + 1)...], as: UTF8.self)
    }

    static func locate(_ tree: FileTree) -> CACertificateInputs {
        var out = CACertificateInputs()
        let certs = tree.resolveParents(certsPrefix)
        let local = tree.resolveParents(localPrefix)
        let etc = tree.resolveParents(etcDir)
        for (path, node) in tree.nodes {
            if let rel = relative(path, under: certs), rel.hasSuffix(".crt"),
                tree.resolve(path).flatMap({ tree.nodes[$0]?.type }) == .regular
            {
                out.certificates[rel] = path
            } else if let rel = relative(path, under: local), rel.hasSuffix(".crt"),
                tree.resolve(path).flatMap({ tree.nodes[$0]?.type }) == .regular
            {
                out.localCertificates[rel] = path
            } else if let name = relative(path, under: etc), !name.contains("/") {
                switch node.type {
                case .symlink:
                    let target = String(decoding: node.linkTarget, as: UTF8.self)
                    out.etc[name] = .link(target)
                    if target.hasPrefix("/"), tree.resolve(RawPath(String(target.dropFirst())).normalized) != nil {
                        out.existingTargets.insert(target)
                    }
                case .regular:
                    out.etcFiles[name] = path
                    out.etc[name] = .other
                default:
                    out.etc[name] = .other
                }
            }
        }
        return out
    }
}

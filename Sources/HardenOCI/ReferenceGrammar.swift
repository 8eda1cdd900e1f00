// harden — the distribution spec's reference grammar, checked byte by byte (pure, fuzzable).
//
//   reference       := name [ ":" tag ] [ "@" digest ]
//   name            := [ domain "/" ] path-component [ "/" path-component ]*      (at most 255 bytes)
//   domain          := domain-name | "[" IPv6 "]"  [ ":" port ]
//   domain-name     := domain-component [ "." domain-component ]*
//   domain-component:= [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//   path-component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//   tag             := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//   digest          := algorithm ":" [a-fA-F0-9]{32,}, algorithm := [a-z0-9]+ ( [+._-] [a-z0-9]+ )*
//
// Everything is ASCII: a reference that passes holds no markup, no control character and no Unicode that a page or
// a log could misread.
import HardenCore

public enum ReferenceGrammar {
    /// Whether `text` (without `docker://`) is a valid registry reference.
    public static func isValid(_ text: String) -> Bool { problem(text) == nil }

    /// What makes `text` invalid, or nil.
    public static func problem(_ text: String) -> String? {
        var bytes = Array(text.utf8)[...]
        guard !bytes.isEmpty else { return "empty reference" }
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return "only printable ASCII is allowed" }
        if let at = bytes.firstIndex(of: UInt8(ascii: "@")) {
            if let p = digestProblem(bytes[(at + 1)...]) { return p }
            bytes = bytes[..<at]
        }
        // A tag follows the last ':' after the last '/'.
        let lastSlash = bytes.lastIndex(of: UInt8(ascii: "/")) ?? bytes.startIndex
        if let colon = bytes[lastSlash...].lastIndex(of: UInt8(ascii: ":")) {
            if !isTag(bytes[(colon + 1)...]) { return "invalid tag" }
            bytes = bytes[..<colon]
        }
        guard bytes.count <= 255 else { return "name longer than 255 characters" }
        var parts = bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard !parts.isEmpty else { return "empty name" }
        if parts.count > 1, let first = parts.first, isDomainLike(first) {
            guard isDomain(first) else { return "invalid registry host" }
            parts.removeFirst()
        }
        for p in parts where !isPathComponent(p) {
            return
                "invalid repository path component \"\(String(decoding: p, as: UTF8.self))\" (lower-case letters, digits, . _ __ -)"
        }
        return nil
    }

    static func isAlnumLower(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
    static func isAlnum(_ b: UInt8) -> Bool { isAlnumLower(b) || (b >= 0x41 && b <= 0x5A) }

    /// A first component that names a registry host: it has a '.' or ':' or is `localhost` (as Docker decides).
    static func isDomainLike(_ c: ArraySlice<UInt8>) -> Bool {
        c.contains(UInt8(ascii: ".")) || c.contains(UInt8(ascii: ":")) || c.elementsEqual("localhost".utf8)
            || c.first == UInt8(ascii: "[")
    }

    static func isDomain(_ c: ArraySlice<UInt8>) -> Bool {
        var host = c
        if c.first == UInt8(ascii: "[") {
            guard let close = c.firstIndex(of: UInt8(ascii: "]")) else { return false }
            let inner = c[(c.startIndex + 1)..<close]
            guard !inner.isEmpty,
                inner.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") })
            else {
                return false
            }
            let rest = c[(close + 1)...]
            return rest.isEmpty || isPort(rest.dropFirst()) && rest.first == UInt8(ascii: ":")
        }
        if let colon = c.firstIndex(of: UInt8(ascii: ":")) {
            guard isPort(c[(colon + 1)...]) else { return false }
            host = c[..<colon]
        }
        let labels = host.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return !labels.isEmpty
            && labels.allSatisfy { l in
                guard let f = l.first, let e = l.last, isAlnum(f), isAlnum(e) else { return false }
                return l.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") }
            }
    }

    static func isPort(_ p: ArraySlice<UInt8>) -> Bool {
        guard !p.isEmpty, p.count <= 5, p.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
        return (Int(String(decoding: p, as: UTF8.self)) ?? 0) <= 65535
    }

    static func isPathComponent(_ c: ArraySlice<UInt8>) -> Bool {
        guard let f = c.first, let l = c.last, isAlnumLower(f), isAlnumLower(l) else { return false }
        var i = c.startIndex
        while i < c.endIndex {
            if isAlnumLower(c[i]) {
                i += 1
                continue
            }
            // A separator: ".", "_", "__" or a run of "-", then an alphanumeric.
            var j = i
            switch c[i] {
            case UInt8(ascii: "."): j += 1
            case UInt8(ascii: "_"): j += (j + 1 < c.endIndex && c[j + 1] == UInt8(ascii: "_")) ? 2 : 1
            case UInt8(ascii: "-"): while j < c.endIndex && c[j] == UInt8(ascii: "-") { j += 1 }
            default: return false
            }
            guard j < c.endIndex, isAlnumLower(c[j]) else { return false }
            i = j
        }
        return true
    }

    static func isTag(_ t: ArraySlice<UInt8>) -> Bool {
        guard let f = t.first, t.count <= 128, isAlnum(f) || f == UInt8(ascii: "_") else { return false }
        return t.allSatisfy {
            isAlnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
        }
    }

    static func digestProblem(_ d: ArraySlice<UInt8>) -> String? {
        guard let colon = d.firstIndex(of: UInt8(ascii: ":")) else { return "invalid digest" }
        let algorithm = d[..<colon]
        let encoded = d[(colon + 1)...]
        let separators: [UInt8] = Array("+._-".utf8)
        let pieces = algorithm.split(omittingEmptySubsequences: false) { separators.contains($0) }
        guard !algorithm.isEmpty, pieces.allSatisfy({ !$0.isEmpty && $0.allSatisfy(isAlnumLower) }) else {
            return "invalid digest algorithm"
        }
        guard encoded.count >= 32,
            encoded.allSatisfy({ isAlnum($0) && ($0 < 0x67 || $0 > 0x7A) && ($0 < 0x47 || $0 > 0x5A) })
        else {
            return "invalid digest"
        }
        return nil
    }
}

extension ImageReference {
    /// Parses a reference someone else sent (a fleet job): from its text alone, never looking at a file — a bare
    /// path is refused rather than probed (probing would tell the sender which files exist) — and a registry
    /// reference must follow the distribution grammar.
    public static func parseUntrusted(_ text: String) throws -> ImageReference {
        guard !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            throw HardenError(.invalidArgument, "image reference holds control characters")
        }
        let ref: ImageReference
        if hasTransport(text) {
            ref = try parse(text, detect: false)
        } else if ReferenceGrammar.isValid(text) {
            ref = .registry(text)
        } else {
            throw HardenError(
                .invalidArgument,
                "\(text.prefix(200)): not a registry reference (\(ReferenceGrammar.problem(text) ?? "")); local images need a transport (oci:, oci-archive:, docker-archive:, dir:)"
            )
        }
        if case .registry(let r) = ref, let problem = ReferenceGrammar.problem(r) {
            throw HardenError(.invalidArgument, "docker://\(r.prefix(200)): \(problem)")
        }
        return ref
    }
}

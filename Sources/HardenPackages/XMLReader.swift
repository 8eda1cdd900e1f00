// harden — a small streaming XML reader for the metadata formats harden reads (rpm's repomd.xml and primary.xml):
// start and end tags with attributes, text, CDATA; comments, processing instructions and DOCTYPE skipped; the five
// predefined entities and numeric character references decoded, no other entity expanded (no external entities,
// no entity bombs). A pure function over bytes.
import HardenCore

/// One event of an XML document.
public enum XMLEvent: Equatable, Sendable {
    /// A start tag (`selfClosing` for `<a/>`, which has no `end` event). Names keep their prefix (`rpm:entry`).
    case start(name: String, attributes: [String: String], selfClosing: Bool)
    case end(name: String)
    /// Character data between tags (entities decoded), CDATA included.
    case text(String)
}

public enum XMLReader {
    /// Calls `handle` for each event of `bytes`, in order. Throws naming `source` when a tag, comment or CDATA section
    /// is not terminated, an end tag does not match its start tag, or a reference is unknown.
    public static func read(_ bytes: [UInt8], source: String, _ handle: (XMLEvent) throws -> Void) throws {
        var i = 0
        var open: [String] = []
        let n = bytes.count
        func find(_ pattern: [UInt8], from start: Int) -> Int? {
            guard pattern.count <= n else { return nil }
            var k = start
            while k + pattern.count <= n {
                if bytes[k] == pattern[0], bytes[k..<(k + pattern.count)].elementsEqual(pattern) { return k }
                k += 1
            }
            return nil
        }
        func corrupt(_ what: String) -> HardenError { HardenError(.corrupt, "\(source): \(what) at byte \(i)") }
        while i < n {
            guard bytes[i] == UInt8(ascii: "<") else {
                let end = bytes[i...].firstIndex(of: UInt8(ascii: "<")) ?? n
                let text = try decode(bytes[i..<end], source: source)
                if !text.isEmpty { try handle(.text(text)) }
                i = end
                continue
            }
            if bytes[i...].starts(with: Array("<!--".utf8)) {
                guard let e = find(Array("-->".utf8), from: i + 4) else { throw corrupt("unterminated comment") }
                i = e + 3
            } else if bytes[i...].starts(with: Array("<![CDATA[".utf8)) {
                guard let e = find(Array("]]>".utf8), from: i + 9) else { throw corrupt("unterminated CDATA") }
                try handle(.text(String(decoding: bytes[(i + 9)..<e], as: UTF8.self)))
                i = e + 3
            } else if bytes[i...].starts(with: Array("<?".utf8)) {
                guard let e = find(Array("?>".utf8), from: i + 2) else { throw corrupt("unterminated instruction") }
                i = e + 2
            } else if bytes[i...].starts(with: Array("<!".utf8)) {
                // DOCTYPE (an internal subset is skipped whole; its entities are not used).
                var depth = 0
                var k = i + 2
                while k < n, !(bytes[k] == UInt8(ascii: ">") && depth == 0) {
                    if bytes[k] == UInt8(ascii: "[") { depth += 1 } else if bytes[k] == UInt8(ascii: "]") { depth -= 1 }
                    k += 1
                }
                guard k < n else { throw corrupt("unterminated declaration") }
                i = k + 1
            } else {
                guard let close = tagEnd(bytes, from: i + 1) else { throw corrupt("unterminated tag") }
                let body = bytes[(i + 1)..<close]
                i = close + 1
                if body.first == UInt8(ascii: "/") {
                    let name = String(decoding: body.dropFirst(), as: UTF8.self).trimming(" \t\r\n")
                    guard open.popLast() == name else { throw corrupt("</\(name)> does not close the open element") }
                    try handle(.end(name: name))
                    continue
                }
                let selfClosing = body.last == UInt8(ascii: "/")
                let (name, attributes) = try tag(selfClosing ? body.dropLast() : body, source: source)
                if !selfClosing { open.append(name) }
                try handle(.start(name: name, attributes: attributes, selfClosing: selfClosing))
            }
        }
        if let last = open.last { throw HardenError(.corrupt, "\(source): <\(last)> is not closed") }
    }

    /// The index of the `>` that ends a tag starting at `from` (quotes respected).
    static func tagEnd(_ bytes: [UInt8], from: Int) -> Int? {
        var quote: UInt8?
        var k = from
        while k < bytes.count {
            let c = bytes[k]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                quote = c
            } else if c == UInt8(ascii: ">") {
                return k
            }
            k += 1
        }
        return nil
    }

    /// A tag's name and attributes.
    static func tag(_ body: ArraySlice<UInt8>, source: String) throws -> (String, [String: String]) {
        var k = body.startIndex
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d }
        while k < body.endIndex, !isSpace(body[k]) { k += 1 }
        let name = String(decoding: body[body.startIndex..<k], as: UTF8.self)
        guard !name.isEmpty else { throw HardenError(.corrupt, "\(source): a tag without a name") }
        var attributes: [String: String] = [:]
        while k < body.endIndex {
            while k < body.endIndex, isSpace(body[k]) { k += 1 }
            guard k < body.endIndex else { break }
            let nameStart = k
            while k < body.endIndex, body[k] != UInt8(ascii: "="), !isSpace(body[k]) { k += 1 }
            let key = String(decoding: body[nameStart..<k], as: UTF8.self)
            while k < body.endIndex, isSpace(body[k]) { k += 1 }
            guard k < body.endIndex, body[k] == UInt8(ascii: "=") else {
                throw HardenError(.corrupt, "\(source): attribute \(key) of <\(name)> has no value")
            }
            k += 1
            while k < body.endIndex, isSpace(body[k]) { k += 1 }
            guard k < body.endIndex, body[k] == UInt8(ascii: "\"") || body[k] == UInt8(ascii: "'") else {
                throw HardenError(.corrupt, "\(source): attribute \(key) of <\(name)> is not quoted")
            }
            let quote = body[k]
            let valueStart = k + 1
            guard let valueEnd = body[valueStart...].firstIndex(of: quote) else {
                throw HardenError(.corrupt, "\(source): attribute \(key) of <\(name)> is not terminated")
            }
            attributes[key] = try decode(body[valueStart..<valueEnd], source: source)
            k = valueEnd + 1
        }
        return (name, attributes)
    }

    /// Text with the five predefined entities and numeric references decoded.
    static func decode(_ raw: ArraySlice<UInt8>, source: String) throws -> String {
        guard raw.contains(UInt8(ascii: "&")) else { return String(decoding: raw, as: UTF8.self) }
        var out = ""
        var text = Substring(String(decoding: raw, as: UTF8.self))
        while let amp = text.firstIndex(of: "&") {
            out += text[..<amp]
            guard let semi = text[amp...].firstIndex(of: ";") else {
                throw HardenError(.corrupt, "\(source): an unterminated entity reference")
            }
            let entity = text[text.index(after: amp)..<semi]
            switch entity {
            case "lt": out += "<"
            case "gt": out += ">"
            case "amp": out += "&"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                let scalar: UInt32? =
                    entity.hasPrefix("#x")
                    ? UInt32(entity.dropFirst(2), radix: 16) : entity.hasPrefix("#") ? UInt32(entity.dropFirst()) : nil
                guard let scalar, let u = Unicode.Scalar(scalar) else {
                    throw HardenError(.corrupt, "\(source): unknown entity &\(entity); (only the predefined ones)")
                }
                out.unicodeScalars.append(u)
            }
            text = text[text.index(after: semi)...]
        }
        return out + text
    }
}

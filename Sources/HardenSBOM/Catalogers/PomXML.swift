// harden — the identity of a Maven project from its pom.xml: a small, forgiving XML reader (comments, CDATA,
// processing instructions, attributes and namespace prefixes), no entity expansion beyond the five predefined ones.
import Foundation
import HardenCore
import HardenPackages

public struct PomXML: Sendable, Equatable {
    public var groupId: String?
    public var artifactId: String
    public var version: String?
    public var licenses: [String]

    /// Reads `/project/{groupId,artifactId,version}` with the parent's group and version as fallbacks and
    /// `${…}` references to `<properties>` and `project.*` resolved. Nil when there is no artifact id.
    public static func parse(_ bytes: [UInt8]) -> PomXML? {
        var values: [String: String] = [:]
        var properties: [String: String] = [:]
        var licenses: [String] = []
        for (path, text) in elements(bytes) {
            let t = text.trimming(" \t\r\n")
            if path.count == 2, path[0] == "project" {
                values[path[1]] = t
            } else if path.count == 3, path[0] == "project", path[1] == "parent" {
                values["parent." + path[2]] = t
            } else if path.count == 3, path[0] == "project", path[1] == "properties" {
                properties[path[2]] = t
            } else if path.count == 4, path[0] == "project", path[1] == "licenses", path[2] == "license",
                path[3] == "name", !t.isEmpty
            {
                licenses.append(t)
            }
        }
        func resolve(_ value: String?, depth: Int = 0) -> String? {
            guard var v = value, !v.isEmpty else { return nil }
            var guardCount = 0
            while let open = v.range(of: "${"), let close = v[open.upperBound...].firstIndex(of: "}"), guardCount < 16 {
                guardCount += 1
                let key = String(v[open.upperBound..<close])
                let replacement: String?
                switch key {
                case "project.version", "pom.version", "version":
                    replacement = values["version"] ?? values["parent.version"]
                case "project.groupId", "pom.groupId", "groupId":
                    replacement = values["groupId"] ?? values["parent.groupId"]
                case "project.artifactId", "pom.artifactId": replacement = values["artifactId"]
                case "project.parent.version", "parent.version": replacement = values["parent.version"]
                case "project.parent.groupId", "parent.groupId": replacement = values["parent.groupId"]
                default: replacement = properties[key]
                }
                guard let r = replacement, !r.contains("${" + key + "}") else { return nil }
                v.replaceSubrange(open.lowerBound...close, with: r)
            }
            return v.contains("${") ? nil : v
        }
        guard let artifact = resolve(values["artifactId"]) else { return nil }
        return PomXML(
            groupId: resolve(values["groupId"]) ?? resolve(values["parent.groupId"]), artifactId: artifact,
            version: resolve(values["version"]) ?? resolve(values["parent.version"]), licenses: licenses)
    }

    /// Every leaf element's path (local names) and text, in document order.
    static func elements(_ bytes: [UInt8]) -> [([String], String)] {
        var out: [([String], String)] = []
        var stack: [String] = []
        var text: [UInt8] = []
        var i = 0
        let n = bytes.count
        func starts(_ s: String, at j: Int) -> Bool {
            let u = Array(s.utf8)
            return j + u.count <= n && bytes[j..<(j + u.count)].elementsEqual(u)
        }
        func skip(to end: String, from j: Int) -> Int {
            let u = Array(end.utf8)
            var k = j
            while k + u.count <= n {
                if bytes[k] == u[0] && bytes[k..<(k + u.count)].elementsEqual(u) { return k + u.count }
                k += 1
            }
            return n
        }
        func localName(_ raw: ArraySlice<UInt8>) -> String {
            let s = String(decoding: raw, as: UTF8.self)
            return s.split(separator: ":").last.map(String.init) ?? s
        }
        while i < n {
            if bytes[i] != UInt8(ascii: "<") {
                text.append(bytes[i])
                i += 1
                continue
            }
            if starts("<!--", at: i) {
                i = skip(to: "-->", from: i + 4)
                continue
            }
            if starts("<![CDATA[", at: i) {
                let end = skip(to: "]]>", from: i + 9)
                text += bytes[(i + 9)..<max(i + 9, end - 3)]
                i = end
                continue
            }
            if starts("<?", at: i) || starts("<!", at: i) {
                i = skip(to: ">", from: i + 2)
                continue
            }
            let close = bytes[i + 1 < n ? i + 1 : i] == UInt8(ascii: "/")
            var j = i + (close ? 2 : 1)
            let nameStart = j
            while j < n,
                !(bytes[j] == 0x20 || bytes[j] == 0x09 || bytes[j] == 0x0a || bytes[j] == 0x0d
                    || bytes[j] == UInt8(ascii: ">")
                    || bytes[j] == UInt8(ascii: "/"))
            {
                j += 1
            }
            let name = localName(bytes[nameStart..<j])
            // Skip attributes (quoted values may hold '>').
            var quote: UInt8?
            var selfClosing = false
            while j < n {
                let c = bytes[j]
                if let q = quote {
                    if c == q { quote = nil }
                } else if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                    quote = c
                } else if c == UInt8(ascii: ">") {
                    selfClosing = j > 0 && bytes[j - 1] == UInt8(ascii: "/")
                    break
                }
                j += 1
            }
            i = j + 1
            if close {
                if stack.last == name {
                    out.append((stack, unescape(String(decoding: text, as: UTF8.self))))
                    stack.removeLast()
                } else if let k = stack.lastIndex(of: name) {
                    stack.removeSubrange(k...)
                }
                text = []
            } else if !selfClosing {
                stack.append(name)
                text = []
                if stack.count > 64 { return out }  // deeper than any pom: not one
            }
        }
        return out
    }

    static func unescape(_ s: String) -> String {
        guard s.contains("&") else { return s }
        return s.replacingAll("&lt;", with: "<").replacingAll("&gt;", with: ">").replacingAll("&quot;", with: "\"")
            .replacingAll("&apos;", with: "'").replacingAll("&amp;", with: "&")
    }
}

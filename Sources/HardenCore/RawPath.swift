// harden — file paths as bytes, because tar names and Linux file names need not be UTF-8.

/// A path inside an image or archive, kept as the exact bytes it was stored with.
///
/// `normalized` form (what the file tree uses) is relative, has no empty, `.` or `..` components and no
/// leading or trailing slash; the root itself is the empty path.
public struct RawPath: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ string: String) { self.bytes = Array(string.utf8) }
    public init(stringLiteral value: String) { self.init(value) }

    public static let root = RawPath([UInt8]())

    public var isRoot: Bool { bytes.isEmpty }

    /// The path as text; bytes that are not UTF-8 are shown as `\xNN`.
    public var description: String {
        if let s = String(validating: bytes, as: UTF8.self) { return s }
        var out = ""
        var i = 0
        while i < bytes.count {
            // Decode as much valid UTF-8 as possible, escape the rest byte by byte.
            var j = i + 1
            var best: String?
            while j <= min(bytes.count, i + 4) {
                if let s = String(validating: bytes[i..<j], as: UTF8.self) {
                    best = s
                    break
                }
                j += 1
            }
            if let best {
                out += best
                i = j
            } else {
                out += "\\x" + Hex.encode([bytes[i]])
                i += 1
            }
        }
        return out
    }

    /// The path as it appears in the image: `/` followed by the normalized path.
    public var absoluteDescription: String { "/" + description }

    public static func < (lhs: RawPath, rhs: RawPath) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }

    public static func == (lhs: RawPath, rhs: RawPath) -> Bool { lhs.bytes == rhs.bytes }

    /// Hashes the bytes in one call (the synthesised conformance hashes byte by byte).
    public func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    /// The components between slashes, without empty ones.
    public var components: [ArraySlice<UInt8>] {
        bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
    }

    /// The last component (the whole path if it has no slash).
    public var lastComponent: [UInt8] {
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return bytes }
        return Array(bytes[(slash + 1)...])
    }

    /// The parent path, or `nil` for the root.
    public var parent: RawPath? {
        if bytes.isEmpty { return nil }
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return .root }
        return RawPath(Array(bytes[..<slash]))
    }

    public func appending(_ component: [UInt8]) -> RawPath {
        if bytes.isEmpty { return RawPath(component) }
        return RawPath(bytes + [UInt8(ascii: "/")] + component)
    }

    /// Lexical normalisation with the root as a floor: `..` never climbs above the root, so
    /// `../../etc/passwd` and `/etc/passwd` both become `etc/passwd`.
    public var normalized: RawPath {
        if isNormalized { return self }
        // Common tar forms: "./usr/bin/x", "usr/share/" — strip and check again before the general walk.
        var b = bytes[...]
        while b.starts(with: [UInt8(ascii: "."), UInt8(ascii: "/")]) { b = b.dropFirst(2) }
        while b.first == UInt8(ascii: "/") { b = b.dropFirst() }
        while b.last == UInt8(ascii: "/") { b = b.dropLast() }
        if b.count == 1 && b.first == UInt8(ascii: ".") { return .root }
        let trimmed = RawPath(Array(b))
        if trimmed.isNormalized { return trimmed }
        var parts: [ArraySlice<UInt8>] = []
        for c in components {
            if c.count == 1 && c.first == UInt8(ascii: ".") { continue }
            if c.count == 2 && c.first == UInt8(ascii: ".") && c.last == UInt8(ascii: ".") {
                if !parts.isEmpty { parts.removeLast() }
                continue
            }
            parts.append(c)
        }
        return RawPath(Array(parts.joined(separator: [UInt8(ascii: "/")])))
    }

    /// True when the path has no empty, `.` or `..` component and no leading or trailing slash.
    public var isNormalized: Bool {
        let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")
        return bytes.withUnsafeBufferPointer { b -> Bool in
            let n = b.count
            if n == 0 { return true }
            if b[0] == slash || b[n - 1] == slash { return false }
            var start = 0
            var i = 0
            while i <= n {
                if i == n || b[i] == slash {
                    let len = i - start
                    if len == 0 { return false }
                    if b[start] == dot && (len == 1 || (len == 2 && b[start + 1] == dot)) { return false }
                    start = i + 1
                }
                i += 1
            }
            return true
        }
    }

    /// True when a lexical walk of the path ever tries to climb above its start (`..` past the root).
    public var climbsAboveRoot: Bool {
        // No ".." anywhere: cannot climb.
        var sawDotDot = false
        bytes.withUnsafeBufferPointer { b in
            var i = 0
            while i + 1 < b.count {
                if b[i] == UInt8(ascii: ".") && b[i + 1] == UInt8(ascii: ".") {
                    sawDotDot = true
                    return
                }
                i += 1
            }
        }
        if !sawDotDot { return false }
        var depth = 0
        for c in components {
            if c.count == 1 && c.first == UInt8(ascii: ".") { continue }
            if c.count == 2 && c.first == UInt8(ascii: ".") && c.last == UInt8(ascii: ".") {
                depth -= 1
                if depth < 0 { return true }
            } else {
                depth += 1
            }
        }
        return false
    }

    /// True when `self` equals `other` or lies below it.
    public func isWithin(_ other: RawPath) -> Bool {
        if other.isRoot { return true }
        guard bytes.count >= other.bytes.count, bytes.starts(with: other.bytes) else { return false }
        return bytes.count == other.bytes.count || bytes[other.bytes.count] == UInt8(ascii: "/")
    }
}

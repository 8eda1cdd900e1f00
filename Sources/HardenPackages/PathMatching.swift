// harden — byte tests on a layer entry's path, for capture rules (called for every entry of every layer, so none of
// them allocates: a string literal's UTF-8 is read in place).
import HardenCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension RawPath {
    /// True when the path ends with `suffix`.
    public func ends(with suffix: StaticString) -> Bool {
        let n = suffix.utf8CodeUnitCount
        guard bytes.count >= n else { return false }
        return bytes.withUnsafeBytes { b in memcmp(b.baseAddress! + (b.count - n), suffix.utf8Start, n) == 0 }
    }

    /// True when the path starts with `prefix`.
    public func starts(with prefix: StaticString) -> Bool {
        let n = prefix.utf8CodeUnitCount
        guard bytes.count >= n else { return false }
        return bytes.withUnsafeBytes { b in memcmp(b.baseAddress!, prefix.utf8Start, n) == 0 }
    }

    /// True when the path is exactly `other`.
    public func equals(_ other: StaticString) -> Bool {
        let n = other.utf8CodeUnitCount
        guard bytes.count == n else { return false }
        return n == 0 || bytes.withUnsafeBytes { b in memcmp(b.baseAddress!, other.utf8Start, n) == 0 }
    }

    /// True when `needle` occurs in the path.
    public func contains(_ needle: StaticString) -> Bool {
        let n = needle.utf8CodeUnitCount
        guard n > 0, bytes.count >= n else { return n == 0 }
        let first = Int32(needle.utf8Start.pointee)
        return bytes.withUnsafeBytes { b in
            let base = b.baseAddress!
            var i = 0
            let last = b.count - n
            while i <= last {
                guard let hit = memchr(base + i, first, last - i + 1) else { return false }
                let j = base.distance(to: UnsafeRawPointer(hit))
                if memcmp(base + j, needle.utf8Start, n) == 0 { return true }
                i = j + 1
            }
            return false
        }
    }

    /// True when the last component is `name`.
    public func named(_ name: StaticString) -> Bool {
        let n = name.utf8CodeUnitCount
        guard bytes.count >= n else { return false }
        if bytes.count > n && bytes[bytes.count - n - 1] != UInt8(ascii: "/") { return false }
        return ends(with: name)
    }

    /// True when the parent directory is exactly `directory` (no allocation, unlike `parent == …`).
    public func isDirectlyIn(_ directory: StaticString) -> Bool {
        let n = directory.utf8CodeUnitCount
        guard bytes.count > n + 1, bytes[n] == UInt8(ascii: "/"), starts(with: directory) else { return false }
        return !bytes[(n + 1)...].contains(UInt8(ascii: "/"))
    }
}

// harden — byte tests on a layer entry's path, for capture rules (called for every entry of every layer).
import HardenCore

extension RawPath {
    /// True when the path ends with `suffix`.
    public func ends(with suffix: String) -> Bool {
        let s = suffix.utf8
        return bytes.count >= s.count && bytes.suffix(s.count).elementsEqual(s)
    }

    /// True when `needle` occurs in the path.
    public func contains(_ needle: String) -> Bool {
        let n = Array(needle.utf8)
        guard n.count <= bytes.count, let first = n.first else { return false }
        var i = 0
        let last = bytes.count - n.count
        while i <= last {
            if bytes[i] == first && bytes[i..<(i + n.count)].elementsEqual(n) { return true }
            i += 1
        }
        return false
    }

    /// True when the last component is `name`.
    public func named(_ name: String) -> Bool { lastComponent.elementsEqual(name.utf8) }
}

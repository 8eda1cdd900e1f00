// harden — RPM version ordering: epoch, then rpmvercmp of version and release, with `~` and `^`.

public struct RpmVersion: VersionComparator {
    public init() {}

    public func isValid(_ version: String) -> Bool { !version.isEmpty && !version.contains(" ") }

    public func compare(_ a: String, _ b: String) -> Int {
        let x = Self.split(a), y = Self.split(b)
        if x.epoch != y.epoch { return x.epoch < y.epoch ? -1 : 1 }
        let v = Self.rpmvercmp(x.version, y.version)
        if v != 0 { return v }
        return Self.rpmvercmp(x.release, y.release)
    }

    static func split(_ s: String) -> (epoch: Int, version: String, release: String) {
        var rest = Substring(s)
        var epoch = 0
        if let colon = rest.firstIndex(of: ":"), let e = Int(rest[..<colon]) {
            epoch = e
            rest = rest[rest.index(after: colon)...]
        }
        if let dash = rest.lastIndex(of: "-") {
            return (epoch, String(rest[..<dash]), String(rest[rest.index(after: dash)...]))
        }
        return (epoch, String(rest), "")
    }

    static func rpmvercmp(_ a: String, _ b: String) -> Int {
        if a == b { return 0 }
        let x = Array(a.utf8), y = Array(b.utf8)
        var i = 0, j = 0
        func alnum(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x7a) }
        func digit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        let tilde = UInt8(ascii: "~"), caret = UInt8(ascii: "^")
        while i < x.count || j < y.count {
            while i < x.count && !alnum(x[i]) && x[i] != tilde && x[i] != caret { i += 1 }
            while j < y.count && !alnum(y[j]) && y[j] != tilde && y[j] != caret { j += 1 }
            if (i < x.count && x[i] == tilde) || (j < y.count && y[j] == tilde) {
                if !(i < x.count && x[i] == tilde) { return 1 }
                if !(j < y.count && y[j] == tilde) { return -1 }
                i += 1
                j += 1
                continue
            }
            if (i < x.count && x[i] == caret) || (j < y.count && y[j] == caret) {
                if i >= x.count { return -1 }
                if j >= y.count { return 1 }
                if x[i] != caret { return 1 }
                if y[j] != caret { return -1 }
                i += 1
                j += 1
                continue
            }
            if i >= x.count || j >= y.count { break }
            let numeric = digit(x[i])
            let si = i, sj = j
            if numeric {
                while i < x.count && digit(x[i]) { i += 1 }
                while j < y.count && digit(y[j]) { j += 1 }
            } else {
                while i < x.count && alnum(x[i]) && !digit(x[i]) { i += 1 }
                while j < y.count && alnum(y[j]) && !digit(y[j]) { j += 1 }
            }
            if j == sj { return numeric ? 1 : -1 }
            var p = Array(x[si..<i]), q = Array(y[sj..<j])
            if numeric {
                while p.count > 1 && p.first == 0x30 { p.removeFirst() }
                while q.count > 1 && q.first == 0x30 { q.removeFirst() }
                if p.count != q.count { return p.count < q.count ? -1 : 1 }
            }
            if p != q { return p.lexicographicallyPrecedes(q) ? -1 : 1 }
        }
        if i >= x.count && j >= y.count { return 0 }
        return i >= x.count ? -1 : 1
    }
}

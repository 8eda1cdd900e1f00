// harden — overlay mounts for the container's root file system (root only).
import HardenCore
import HardenSystem

#if canImport(Glibc)
import Glibc
#endif

/// Mounting (root only).
public enum Mounts {
    /// Mounts an overlay of `lower` (read-only) with `upper`/`work` (read-write) at `target`.
    public static func mountOverlay(lower: String, upper: String, work: String, target: String) throws {
        for p in [lower, upper, work, target] where p.contains(",") || p.contains(":") {
            throw HardenError(.invalidArgument, "\(p): overlay paths cannot contain ',' or ':'")
        }
        let options = "lowerdir=\(lower),upperdir=\(upper),workdir=\(work)"
        guard mount("overlay", target, "overlay", 0, options) == 0 else {
            throw HardenError(.io, "\(target): cannot mount the overlay: \(errnoText())")
        }
    }

    /// Unmounts `target`; a busy mount is detached lazily so nothing stays behind.
    public static func unmount(_ target: String) throws {
        if umount2(target, 0) == 0 { return }
        let e = errno
        if e == EINVAL || e == ENOENT { return }  // not mounted
        guard umount2(target, Int32(MNT_DETACH)) == 0 else {
            throw HardenError(.io, "\(target): cannot unmount: \(errnoText())")
        }
    }

    /// Mount points under `prefix`, from /proc/self/mountinfo.
    public static func mounts(under prefix: String) -> [String] {
        guard let bytes = try? HostFS.readFile("/proc/self/mountinfo", limit: 16 << 20) else { return [] }
        var out: [String] = []
        for line in String(decoding: bytes, as: UTF8.self).textLines() {
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { continue }
            let point = unescapeMountField(String(fields[4]))
            if point == prefix || point.hasPrefix(prefix.hasSuffix("/") ? prefix : prefix + "/") { out.append(point) }
        }
        return out
    }

    /// mountinfo escapes space, tab, newline and backslash as \ooo.
    static func unescapeMountField(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 3 < b.count,
                let v = UInt8(String(decoding: b[(i + 1)..<min(i + 4, b.count)], as: UTF8.self), radix: 8)
            {
                out.append(v)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

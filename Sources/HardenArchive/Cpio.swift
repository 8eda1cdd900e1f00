// harden — the cpio "newc" archive an rpm payload holds (magic 070701, or 070702 with CRCs), and rpm's "stripped"
// form (07070X: only an index into the header's file list). Only names and contents are taken from it: an rpm's
// file metadata comes from its signed header. Pure function over bytes; every length is checked.
import HardenCore

public enum Cpio {
    public struct Member: Sendable, Equatable {
        /// The name as archived (rpm writes `./usr/bin/x`), or nil for a stripped entry.
        public var name: String?
        /// The header file index of a stripped entry.
        public var fileIndex: Int?
        public var mode: UInt32
        public var inode: UInt32
        public var links: UInt32
        public var data: Range<Int>
    }

    /// Every member up to `TRAILER!!!`. `sizeOfFile` gives a stripped entry's size (from the header's list).
    public static func members(
        _ b: [UInt8], source: String, sizeOfFile: (Int) -> Int? = { _ in nil }
    ) throws -> [Member] {
        var out: [Member] = []
        var at = 0
        func hex(_ i: Int) throws -> Int {
            var v = 0
            for c in b[(at + 6 + i * 8)..<(at + 14 + i * 8)] {
                guard let d = Int(String(UnicodeScalar(c)), radix: 16) else {
                    throw HardenError(.corrupt, "\(source): cpio header at offset \(at) has a bad number")
                }
                v = v << 4 | d
            }
            return v
        }
        func pad4(_ n: Int) -> Int { (n + 3) & ~3 }
        while true {
            guard at + 6 <= b.count else { throw HardenError(.corrupt, "\(source): cpio archive has no trailer") }
            let magic = String(decoding: b[at..<(at + 6)], as: UTF8.self)
            if magic == "07070X" {
                guard at + 14 <= b.count else { throw HardenError(.corrupt, "\(source): truncated cpio entry") }
                let index = try hex(0)
                let start = pad4(at + 14)
                guard let size = sizeOfFile(index), start <= b.count, size <= b.count - start else {
                    throw HardenError(.corrupt, "\(source): stripped cpio entry for file \(index) does not fit")
                }
                out.append(
                    Member(name: nil, fileIndex: index, mode: 0, inode: 0, links: 0, data: start..<(start + size)))
                at = pad4(start + size)
                continue
            }
            guard magic == "070701" || magic == "070702", at + 110 <= b.count else {
                throw HardenError(.corrupt, "\(source): no cpio newc header at offset \(at)")
            }
            let mode = try hex(1), inode = try hex(0), links = try hex(4), size = try hex(6), nameSize = try hex(11)
            guard nameSize >= 1, nameSize <= 4096 else {
                throw HardenError(.corrupt, "\(source): cpio name of \(nameSize) bytes at offset \(at)")
            }
            let nameStart = at + 110
            let dataStart = pad4(nameStart + nameSize)
            guard dataStart <= b.count, size <= b.count - dataStart else {
                throw HardenError(.corrupt, "\(source): cpio entry at offset \(at) runs past the archive")
            }
            let name = String(decoding: b[nameStart..<(nameStart + nameSize - 1)], as: UTF8.self)
            if name == "TRAILER!!!" { return out }
            out.append(
                Member(
                    name: name, fileIndex: nil, mode: UInt32(mode), inode: UInt32(inode), links: UInt32(links),
                    data: dataStart..<(dataStart + size)))
            at = pad4(dataStart + size)
        }
    }
}

// harden — the two older rpm database files, read natively: BerkeleyDB hash `Packages` (RHEL/CentOS 7–8, Amazon
// Linux 2) and rpm's own NDB `Packages.db` (SLES, openSUSE). Both hold the same header blobs as `rpmdb.sqlite`.
// Pure functions over bytes: every offset is checked, every chain bounded.
import HardenCore

public enum RpmBerkeleyDB {
    static let hashMagic: UInt32 = 0x0006_1561
    static let pageHeaderSize = 26

    /// The header blobs of a BerkeleyDB hash database (`Packages`): the data items of every hash page, with values
    /// too large for a page followed through their overflow-page chains.
    public static func values(_ b: [UInt8]) throws -> [[UInt8]] {
        guard b.count >= 512 else { throw HardenError(.corrupt, "too short for a BerkeleyDB file (\(b.count) bytes)") }
        var swapped = false
        if le32(b, 12) != hashMagic {
            guard be32(b, 12) == hashMagic else {
                throw HardenError(.unsupported, "not a BerkeleyDB hash database (magic \(hex(le32(b, 12))))")
            }
            swapped = true
        }
        func u32(_ at: Int) -> Int { Int(swapped ? be32(b, at) : le32(b, at)) }
        func u16(_ at: Int) -> Int {
            Int(swapped ? UInt16(b[at]) << 8 | UInt16(b[at + 1]) : UInt16(b[at + 1]) << 8 | UInt16(b[at]))
        }
        let pageSize = u32(20)
        guard [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536].contains(pageSize) else {
            throw HardenError(.corrupt, "BerkeleyDB page size \(pageSize) is not a power of two from 512 to 65536")
        }
        guard b[24] == 0 else { throw HardenError(.unsupported, "encrypted BerkeleyDB databases are not read") }
        guard b[25] == 8 else {
            throw HardenError(.unsupported, "BerkeleyDB page 0 is of type \(b[25]), not hash metadata")
        }
        let pages = b.count / pageSize
        let lastPage = min(u32(32), pages - 1)
        var out: [[UInt8]] = []
        var total = 0
        for page in 1...max(1, lastPage) where page <= lastPage {
            let p = page * pageSize
            let type = b[p + 25]
            guard type == 13 || type == 2 else { continue }  // sorted (P_HASH) and pre-4.6 unsorted hash pages
            let entries = u16(p + 20)
            guard entries % 2 == 0, pageHeaderSize + entries * 2 <= pageSize else {
                throw HardenError(.corrupt, "BerkeleyDB page \(page): \(entries) index entries do not fit")
            }
            let offsets = (0..<entries).map { u16(p + pageHeaderSize + $0 * 2) }
            for i in stride(from: 1, to: entries, by: 2) {
                let at = offsets[i]
                guard at >= pageHeaderSize, at < pageSize else {
                    throw HardenError(.corrupt, "BerkeleyDB page \(page): item offset \(at)")
                }
                switch b[p + at] {
                case 1:  // H_KEYDATA: the bytes up to the previous item (items grow down from the page's end)
                    let end = i == 0 ? pageSize : offsets[i - 1]
                    guard end > at + 1, end <= pageSize else { continue }
                    out.append(Array(b[(p + at + 1)..<(p + end)]))
                case 3:  // H_OFFPAGE: the value lives in a chain of overflow pages
                    guard at + 12 <= pageSize else {
                        throw HardenError(.corrupt, "BerkeleyDB page \(page): truncated off-page item")
                    }
                    let value = try overflow(
                        b, first: u32(p + at + 4), length: u32(p + at + 8), pageSize: pageSize, u32: u32, u16: u16)
                    total += value.count
                    guard total <= 1 << 30 else { throw HardenError(.limitExceeded, "more than 1 GiB of rpm headers") }
                    out.append(value)
                default: continue  // duplicates (H_DUPLICATE, H_OFFDUP) are not used by rpm
                }
            }
        }
        return out
    }

    static func overflow(
        _ b: [UInt8], first: Int, length: Int, pageSize: Int, u32: (Int) -> Int, u16: (Int) -> Int
    ) throws -> [UInt8] {
        guard length <= 256 << 20 else { throw HardenError(.corrupt, "BerkeleyDB off-page item of \(length) bytes") }
        var out: [UInt8] = []
        out.reserveCapacity(length)
        var page = first
        var seen = Set<Int>()
        while page != 0, out.count < length {
            guard seen.insert(page).inserted, (page + 1) * pageSize <= b.count else {
                throw HardenError(.corrupt, "BerkeleyDB overflow chain through page \(page) loops or leaves the file")
            }
            let p = page * pageSize
            guard b[p + 25] == 7 else { throw HardenError(.corrupt, "BerkeleyDB page \(page) is not an overflow page") }
            let n = min(u16(p + 22), pageSize - pageHeaderSize, length - out.count)  // HOFFSET: bytes on this page
            out += b[(p + pageHeaderSize)..<(p + pageHeaderSize + n)]
            page = u32(p + 16)
        }
        guard out.count == length else {
            throw HardenError(.corrupt, "BerkeleyDB off-page item is \(out.count) of \(length) bytes")
        }
        return out
    }
}

public enum RpmNDB {
    static let headerMagic: UInt32 = 0x506d_7052  // "RpmP"
    static let slotMagic: UInt32 = 0x746f_6c53  // "Slot"
    static let blobMagic: UInt32 = 0x5362_6c42  // "BlbS"
    static let slotPageSize = 4096

    /// True when `b` starts like an NDB `Packages.db`.
    public static func looksLikeNDB(_ b: [UInt8]) -> Bool { b.count >= 32 && le32(b, 0) == headerMagic }

    /// The header blobs of an NDB database: a 32-byte header, slot pages of 16-byte slots (the first page starts
    /// after the header), each used slot pointing (in 16-byte units) at a blob header and its data.
    public static func values(_ b: [UInt8]) throws -> [[UInt8]] {
        guard looksLikeNDB(b) else { throw HardenError(.unsupported, "not an rpm NDB database (no RpmP magic)") }
        guard le32(b, 4) == 0 else { throw HardenError(.unsupported, "rpm NDB version \(le32(b, 4)) is not 0") }
        let slotPages = Int(le32(b, 12))
        guard slotPages > 0, slotPages <= 2048, slotPages * slotPageSize <= b.count else {
            throw HardenError(.corrupt, "rpm NDB: \(slotPages) slot pages do not fit the file")
        }
        var out: [[UInt8]] = []
        var total = 0
        for at in stride(from: 32, to: slotPages * slotPageSize, by: 16) {
            guard le32(b, at) == slotMagic else {
                throw HardenError(.corrupt, "rpm NDB: bad slot magic at offset \(at)")
            }
            let pkg = le32(b, at + 4)
            guard pkg != 0 else { continue }
            let blob = Int(le32(b, at + 8)) * 16
            guard blob >= slotPages * slotPageSize, blob + 16 <= b.count else {
                throw HardenError(.corrupt, "rpm NDB: package \(pkg)'s blob offset \(blob) is outside the data area")
            }
            guard le32(b, blob) == blobMagic, le32(b, blob + 4) == pkg else {
                throw HardenError(.corrupt, "rpm NDB: no blob for package \(pkg) at offset \(blob)")
            }
            let length = Int(le32(b, blob + 12))
            guard blob + 16 + length <= b.count else {
                throw HardenError(.corrupt, "rpm NDB: package \(pkg)'s blob runs past the file")
            }
            total += length
            guard total <= 1 << 30 else { throw HardenError(.limitExceeded, "more than 1 GiB of rpm headers") }
            out.append(Array(b[(blob + 16)..<(blob + 16 + length)]))
        }
        return out
    }
}

@inline(__always) func le32(_ b: [UInt8], _ i: Int) -> UInt32 {
    UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
}
@inline(__always) func be32(_ b: [UInt8], _ i: Int) -> UInt32 {
    UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
}
private func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

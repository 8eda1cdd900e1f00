// harden — rewriting a ZIP archive with some entries replaced (a library jar nested in a Spring Boot jar or a war):
// every other entry keeps its compressed bytes, attributes, comment and order; replaced entries are written stored
// (uncompressed, as Spring Boot's loader needs nested jars); bytes before the first entry (an executable jar's launch
// script) are kept, with offsets that count them as the original did. No data descriptors are written: each local
// header carries its sizes and CRC.
import CZlib
import HardenCore

extension ZipArchive {
    /// The archive with the entries named in `replacing` given new contents (and those in `renaming` new names), or
    /// throws when an entry is missing, a new name is taken, or the archive uses ZIP64 records (never rewritten).
    public func rewrite(
        replacing: [String: [UInt8]], renaming: [String: String] = [:], what: String
    ) throws -> [UInt8] {
        guard !isZip64, bytes.count < 0xffff_ffff else {
            throw HardenError(.unsupported, "\(what): ZIP64 archives are not rewritten")
        }
        let names = Set(entries.map(\.name))
        if let missing = (replacing.keys.sorted() + renaming.keys.sorted()).first(where: { !names.contains($0) }) {
            throw HardenError(.notFound, "\(what): no entry \(missing)")
        }
        if let taken = renaming.values.sorted().first(where: { names.contains($0) }) {
            throw HardenError(.invalidArgument, "\(what): an entry \(taken) exists already")
        }
        func u16(_ i: Int) -> Int { Int(bytes[i]) | Int(bytes[i + 1]) << 8 }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + replacing.values.reduce(0) { $0 + $1.count })
        let firstEntry = entries.map(\.localHeaderOffset).min() ?? endOfCentralDirectory
        out += bytes[0..<min(firstEntry, bytes.count)]
        var central: [UInt8] = []
        for e in entries {
            let h = e.localHeaderOffset, c = e.centralOffset
            guard h >= 0, h + 30 <= bytes.count, c + 46 <= bytes.count else {
                throw HardenError(.corrupt, "\(what): corrupt zip entry \(e.name)")
            }
            let nameLen = u16(h + 26), extraLen = u16(h + 28)
            let start = h + 30 + nameLen + extraLen
            guard start + e.compressedSize <= bytes.count else {
                throw HardenError(.corrupt, "\(what): zip entry \(e.name) runs past the archive")
            }
            let data: ArraySlice<UInt8>
            var method = Int(e.method), crc = e.crc32, size = e.uncompressedSize
            if let new = replacing[e.name] {
                guard new.count < 0xffff_ffff else {
                    throw HardenError(.unsupported, "\(what): \(e.name) would need ZIP64")
                }
                data = new[...]
                method = 0
                size = new.count
                crc = new.withUnsafeBufferPointer { UInt32(CZlib.crc32(0, $0.baseAddress, uInt($0.count))) }
            } else {
                data = bytes[start..<(start + e.compressedSize)]
            }
            let offset = out.count
            let name = renaming[e.name].map { Array($0.utf8) } ?? Array(bytes[(h + 30)..<(h + 30 + nameLen)])
            // Local header: the original's version, flags (no data descriptor), time and extra, the new name and sizes.
            out += [0x50, 0x4b, 0x03, 0x04]
            out += bytes[(h + 4)..<(h + 6)]
            Self.put16(&out, u16(h + 6) & ~0x0008)
            Self.put16(&out, method)
            out += bytes[(h + 10)..<(h + 14)]
            Self.put32(&out, Int(crc))
            Self.put32(&out, data.count)
            Self.put32(&out, size)
            Self.put16(&out, name.count)
            Self.put16(&out, extraLen)
            out += name
            out += bytes[(h + 30 + nameLen)..<start]
            out += data
            // Central record: copied, with the new offset, flags, method, CRC, sizes and name.
            let cNameLen = u16(c + 28), cExtraLen = u16(c + 30), cCommentLen = u16(c + 32)
            var record = Array(bytes[c..<(c + 46)])
            if let newName = renaming[e.name] {
                record += Array(newName.utf8)
                Self.set16(&record, 28, newName.utf8.count)
            } else {
                record += bytes[(c + 46)..<(c + 46 + cNameLen)]
            }
            record += bytes[(c + 46 + cNameLen)..<(c + 46 + cNameLen + cExtraLen + cCommentLen)]
            Self.set16(&record, 8, u16(c + 8) & ~0x0008)
            Self.set16(&record, 10, method)
            Self.set32(&record, 16, Int(crc))
            Self.set32(&record, 20, data.count)
            Self.set32(&record, 24, size)
            Self.set32(&record, 42, offset)
            central += record
        }
        let centralStart = out.count
        out += central
        guard out.count < 0xffff_ffff else { throw HardenError(.unsupported, "\(what): would need ZIP64") }
        // End record: the original's disk numbers and comment, the new central directory's place.
        let eocd = endOfCentralDirectory
        var end = Array(bytes[eocd..<bytes.count])
        Self.set16(&end, 8, entries.count)
        Self.set16(&end, 10, entries.count)
        Self.set32(&end, 12, central.count)
        Self.set32(&end, 16, centralStart)
        out += end
        return out
    }

    static func put16(_ out: inout [UInt8], _ v: Int) { out += [UInt8(v & 0xff), UInt8((v >> 8) & 0xff)] }
    static func put32(_ out: inout [UInt8], _ v: Int) {
        out += [UInt8(v & 0xff), UInt8((v >> 8) & 0xff), UInt8((v >> 16) & 0xff), UInt8((v >> 24) & 0xff)]
    }
    static func set16(_ b: inout [UInt8], _ at: Int, _ v: Int) {
        b[at] = UInt8(v & 0xff)
        b[at + 1] = UInt8((v >> 8) & 0xff)
    }
    static func set32(_ b: inout [UInt8], _ at: Int, _ v: Int) {
        set16(&b, at, v & 0xffff)
        set16(&b, at + 2, (v >> 16) & 0xffff)
    }
}

// harden — what the dynamic loader needs from an ELF file: its interpreter (PT_INTERP) and its dynamic section
// (DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_SONAME). Our own parser, never `ldd`: it works on images without ldd,
// on foreign architectures, and it never runs anything from the image.
import HardenCore

/// The parts of an ELF file that decide which other files it loads.
public struct ELFDependencies: Sendable, Equatable {
    public var is64Bit: Bool
    public var machine: UInt16
    /// ET_EXEC 2, ET_DYN 3 (shared objects and PIE executables).
    public var type: UInt16
    public var interpreter: String?
    public var needed: [String] = []
    public var rpath: [String] = []
    public var runpath: [String] = []
    public var soname: String?

    public init(is64Bit: Bool, machine: UInt16, type: UInt16) {
        self.is64Bit = is64Bit
        self.machine = machine
        self.type = type
    }
}

public enum ELF {
    /// True when `prefix` (the first bytes of a file) starts with the ELF magic.
    public static func isELF(_ prefix: some Collection<UInt8>) -> Bool {
        prefix.starts(with: [0x7f, 0x45, 0x4c, 0x46])
    }

    /// Parses the file read through `read(offset, count)` (which returns fewer bytes at the end of the file).
    /// Every offset and size is checked: a malformed file gives an error naming the problem, never a crash.
    public static func parse(size: Int, read: (Int, Int) throws -> [UInt8]) throws -> ELFDependencies {
        let ident = try read(0, 64)
        guard ident.count >= 52, isELF(ident) else { throw HardenError(.corrupt, "not an ELF file") }
        let elfClass = ident[4], dataEncoding = ident[5]
        guard elfClass == 1 || elfClass == 2 else {
            throw HardenError(.corrupt, "ELF class \(elfClass) is not 32 or 64-bit")
        }
        guard dataEncoding == 1 || dataEncoding == 2 else {
            throw HardenError(.corrupt, "ELF data encoding \(dataEncoding) is unknown")
        }
        let r = FieldReader(bigEndian: dataEncoding == 2, is64: elfClass == 2)
        guard !r.is64 || ident.count >= 64 else { throw HardenError(.corrupt, "truncated ELF header") }
        var out = ELFDependencies(is64Bit: r.is64, machine: r.u16(ident, 18), type: r.u16(ident, 16))
        let phoff = r.is64 ? Int(clamping: r.u64(ident, 32)) : Int(r.u32(ident, 28))
        let phentsize = Int(r.u16(ident, r.is64 ? 54 : 42))
        let phnum = Int(r.u16(ident, r.is64 ? 56 : 44))
        guard phnum > 0 else { return out }  // relocatable objects and such: nothing is loaded
        guard phentsize >= (r.is64 ? 56 : 32), phnum <= 4096, phoff >= 0, phoff <= size,
            phentsize * phnum <= size - phoff
        else {
            throw HardenError(.corrupt, "program header table out of bounds")
        }
        let table = try read(phoff, phentsize * phnum)
        guard table.count == phentsize * phnum else { throw HardenError(.corrupt, "truncated program header table") }

        struct Segment {
            var type: UInt32
            var offset: Int
            var vaddr: UInt64
            var filesz: Int
        }
        var segments: [Segment] = []
        for i in 0..<phnum {
            let b = i * phentsize
            let type = r.u32(table, b)
            let offset = r.is64 ? Int(clamping: r.u64(table, b + 8)) : Int(r.u32(table, b + 4))
            let vaddr = r.is64 ? r.u64(table, b + 16) : UInt64(r.u32(table, b + 8))
            let filesz = r.is64 ? Int(clamping: r.u64(table, b + 32)) : Int(r.u32(table, b + 16))
            segments.append(Segment(type: type, offset: offset, vaddr: vaddr, filesz: filesz))
        }
        func inFile(_ s: Segment) -> Bool {
            s.offset >= 0 && s.filesz >= 0 && s.offset <= size && s.filesz <= size - s.offset
        }

        if let interp = segments.first(where: { $0.type == 3 }) {  // PT_INTERP
            guard inFile(interp), interp.filesz <= 4096 else { throw HardenError(.corrupt, "PT_INTERP out of bounds") }
            out.interpreter = cString(try read(interp.offset, interp.filesz), at: 0)
        }
        guard let dynamic = segments.first(where: { $0.type == 2 }) else { return out }  // PT_DYNAMIC: static
        guard inFile(dynamic), dynamic.filesz <= 16 << 20 else {
            throw HardenError(.corrupt, "PT_DYNAMIC out of bounds")
        }
        let dyn = try read(dynamic.offset, dynamic.filesz)
        let entSize = r.is64 ? 16 : 8
        var strtab: UInt64?
        var strsz = 0
        var entries: [(tag: Int64, value: UInt64)] = []
        var at = 0
        while at + entSize <= dyn.count {
            let tag = r.is64 ? Int64(bitPattern: r.u64(dyn, at)) : Int64(Int32(bitPattern: r.u32(dyn, at)))
            let value = r.is64 ? r.u64(dyn, at + 8) : UInt64(r.u32(dyn, at + 4))
            if tag == 0 { break }  // DT_NULL
            if tag == 5 { strtab = value }  // DT_STRTAB
            if tag == 10 { strsz = Int(clamping: value) }  // DT_STRSZ
            entries.append((tag, value))
            at += entSize
        }
        guard let strtab else {
            if entries.contains(where: { [1, 14, 15, 29].contains($0.tag) }) {
                throw HardenError(.corrupt, "dynamic section has names but no DT_STRTAB")
            }
            return out
        }
        // DT_STRTAB is a virtual address: find the PT_LOAD segment that maps it.
        guard
            let load = segments.first(where: {
                $0.type == 1 && inFile($0) && strtab >= $0.vaddr && strtab - $0.vaddr < UInt64($0.filesz)
            })
        else {
            throw HardenError(.corrupt, "DT_STRTAB address is not in any loaded segment")
        }
        let strOffset = load.offset + Int(strtab - load.vaddr)
        let available = load.offset + load.filesz - strOffset
        let length = min(strsz > 0 ? strsz : available, available, 8 << 20)
        guard strOffset >= 0, length >= 0, strOffset <= size else {
            throw HardenError(.corrupt, "string table out of bounds")
        }
        let strings = try read(strOffset, length)
        func name(_ v: UInt64) throws -> String {
            guard v < UInt64(strings.count) else {
                throw HardenError(.corrupt, "dynamic string offset \(v) beyond the string table")
            }
            return cString(strings, at: Int(v))
        }
        for e in entries {
            switch e.tag {
            case 1: out.needed.append(try name(e.value))
            case 14: out.soname = try name(e.value)
            case 15: out.rpath += try name(e.value).split(separator: ":").map(String.init)
            case 29: out.runpath += try name(e.value).split(separator: ":").map(String.init)
            default: break
            }
        }
        return out
    }

    /// Parses bytes already in memory.
    public static func parse(_ bytes: [UInt8]) throws -> ELFDependencies {
        try parse(size: bytes.count) { offset, count in
            guard offset >= 0, offset <= bytes.count else { return [] }
            return Array(bytes[offset..<min(bytes.count, offset + max(0, count))])
        }
    }

    static func cString(_ bytes: [UInt8], at offset: Int) -> String {
        guard offset >= 0, offset < bytes.count else { return "" }
        let end = bytes[offset...].firstIndex(of: 0) ?? bytes.count
        return String(decoding: bytes[offset..<end], as: UTF8.self)
    }
}

/// Reads fixed-size fields with bounds checks (out-of-range reads give 0; callers check sizes first).
struct FieldReader {
    let bigEndian: Bool
    let is64: Bool

    func u16(_ b: [UInt8], _ at: Int) -> UInt16 {
        guard at >= 0, at + 2 <= b.count else { return 0 }
        return bigEndian ? UInt16(b[at]) << 8 | UInt16(b[at + 1]) : UInt16(b[at + 1]) << 8 | UInt16(b[at])
    }
    func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
        guard at >= 0, at + 4 <= b.count else { return 0 }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(b[at + (bigEndian ? 3 - i : i)]) << (8 * UInt32(i)) }
        return v
    }
    func u64(_ b: [UInt8], _ at: Int) -> UInt64 {
        guard at >= 0, at + 8 <= b.count else { return 0 }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(b[at + (bigEndian ? 7 - i : i)]) << (8 * UInt64(i)) }
        return v
    }
}

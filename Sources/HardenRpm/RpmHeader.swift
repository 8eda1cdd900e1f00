// harden — an rpm header kept as rpm stores it: the index entries (tag, type, offset, count) over one data store,
// read without loss so that the bytes a signature covers stay the bytes written back. What `rpm -i` stores in its
// database is the package's header (its immutable region unchanged) with the signature's tags and the install-time
// tags appended after it, sorted by tag; `installed(adding:)` builds exactly that. Pure functions over bytes.
import HardenCore

public struct RpmHeader: Sendable, Equatable {
    /// The on-disk header types.
    public enum TagType: UInt32, Sendable {
        case null = 0, char, int8, int16, int32, int64, string, bin, stringArray, i18nString

        var alignment: Int {
            switch self {
            case .int16: return 2
            case .int32: return 4
            case .int64: return 8
            default: return 1
            }
        }
    }

    public struct Entry: Sendable, Equatable {
        public var tag: Int
        public var type: TagType
        public var offset: Int
        public var count: Int
    }

    /// A value to append.
    public enum Value: Sendable, Equatable {
        case int32([UInt32]), char([UInt8]), bin([UInt8]), string(String), strings([String])
    }

    public var entries: [Entry]
    public var store: [UInt8]

    /// The 8-byte magic a header has inside a package file (not in the database).
    public static let magic: [UInt8] = [0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0]

    /// Parses a header blob (index count, data length, entries, data) starting at `at`; returns it and the offset
    /// after it. Every entry must lie inside the data store.
    public static func parse(_ b: [UInt8], at: Int = 0, source: String) throws -> (RpmHeader, end: Int) {
        func be32(_ i: Int) -> Int { Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3]) }
        guard at >= 0, at + 8 <= b.count else { throw HardenError(.corrupt, "\(source): truncated rpm header") }
        let il = be32(at), dl = be32(at + 4)
        guard il > 0, il <= 65_536, dl <= 256 << 20, at + 8 + il * 16 + dl <= b.count else {
            throw HardenError(.corrupt, "\(source): rpm header of \(il) entries and \(dl) data bytes does not fit")
        }
        var entries: [Entry] = []
        entries.reserveCapacity(il)
        for i in 0..<il {
            let e = at + 8 + i * 16
            guard let type = TagType(rawValue: UInt32(be32(e + 4))) else {
                throw HardenError(.corrupt, "\(source): rpm header entry \(i) has unknown type \(be32(e + 4))")
            }
            let tag = be32(e), offset = Int(Int32(truncatingIfNeeded: be32(e + 8))), count = be32(e + 12)
            let isRegionTrailer = i == 0 && (tag == 61 || tag == 62 || tag == 63)
            guard offset >= 0, offset <= dl, count <= dl + 1 || isRegionTrailer else {
                throw HardenError(.corrupt, "\(source): rpm header tag \(tag) points outside its data")
            }
            entries.append(Entry(tag: tag, type: type, offset: offset, count: count))
        }
        let start = at + 8 + il * 16
        return (RpmHeader(entries: entries, store: Array(b[start..<(start + dl)])), start + dl)
    }

    /// The header as the database stores it (no magic).
    public var blob: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(8 + entries.count * 16 + store.count)
        func put(_ v: Int) { out += withUnsafeBytes(of: UInt32(truncatingIfNeeded: v).bigEndian, Array.init) }
        put(entries.count)
        put(store.count)
        for e in entries {
            put(e.tag)
            put(Int(e.type.rawValue))
            put(e.offset)
            put(e.count)
        }
        return out + store
    }

    public func entry(_ tag: Int) -> Entry? { entries.first { $0.tag == tag } }

    /// The bytes of an entry: strings up to their terminators, numbers by their width.
    func bytes(_ e: Entry) -> ArraySlice<UInt8>? {
        switch e.type {
        case .string, .i18nString, .stringArray:
            var end = e.offset
            var left = e.type == .stringArray ? e.count : 1
            while left > 0 {
                guard let z = store[end...].firstIndex(of: 0) else { return nil }
                end = z + 1
                left -= 1
            }
            return store[e.offset..<end]
        default:
            let width: Int = [.int16: 2, .int32: 4, .int64: 8][e.type] ?? 1
            guard e.offset + e.count * width <= store.count else { return nil }
            return store[e.offset..<(e.offset + e.count * width)]
        }
    }

    public func string(_ tag: Int) -> String? {
        guard let e = entry(tag), e.type == .string || e.type == .i18nString, let b = bytes(e) else { return nil }
        return String(decoding: b.dropLast(), as: UTF8.self)
    }

    public func strings(_ tag: Int) -> [String] {
        guard let e = entry(tag) else { return [] }
        if e.type == .string || e.type == .i18nString { return string(tag).map { [$0] } ?? [] }
        guard e.type == .stringArray, let b = bytes(e) else { return [] }
        return b.dropLast().split(separator: 0, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
    }

    /// Integer values of any width (int8/char, int16, int32, int64), unsigned.
    public func integers(_ tag: Int) -> [UInt64] {
        guard let e = entry(tag), let b = bytes(e) else { return [] }
        let width: Int
        switch e.type {
        case .char, .int8: width = 1
        case .int16: width = 2
        case .int32: width = 4
        case .int64: width = 8
        default: return []
        }
        return stride(from: b.startIndex, to: b.endIndex, by: width).map { i in
            b[i..<(i + width)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        }
    }

    public func binary(_ tag: Int) -> [UInt8]? {
        guard let e = entry(tag), e.type == .bin, e.offset + e.count <= store.count else { return nil }
        return Array(store[e.offset..<(e.offset + e.count)])
    }

    /// This header with `values` appended after its entries (aligned as rpm aligns them), sorted by tag; tags it
    /// already has are skipped, as rpm's `headerPut` for the legacy signature tags does.
    public func adding(_ values: [(tag: Int, value: Value)]) -> RpmHeader {
        var out = self
        for (tag, value) in values.sorted(by: { $0.tag < $1.tag }) where out.entry(tag) == nil {
            let type: TagType
            var data: [UInt8]
            let count: Int
            switch value {
            case .int32(let v):
                (type, count) = (.int32, v.count)
                data = v.flatMap { withUnsafeBytes(of: $0.bigEndian, Array.init) }
            case .char(let v): (type, count, data) = (.char, v.count, v)
            case .bin(let v): (type, count, data) = (.bin, v.count, v)
            case .string(let s): (type, count, data) = (.string, 1, Array(s.utf8) + [0])
            case .strings(let s): (type, count, data) = (.stringArray, s.count, s.flatMap { Array($0.utf8) + [0] })
            }
            while out.store.count % type.alignment != 0 { out.store.append(0) }
            out.entries.append(Entry(tag: tag, type: type, offset: out.store.count, count: count))
            out.store += data
        }
        return out
    }

    /// The value of an entry to copy into another header (the signature tags rpm merges into the installed one).
    public func value(_ tag: Int) -> Value? {
        guard let e = entry(tag) else { return nil }
        switch e.type {
        case .int32: return .int32(integers(tag).map { UInt32(truncatingIfNeeded: $0) })
        case .char, .int8: return .char(integers(tag).map { UInt8(truncatingIfNeeded: $0) })
        case .bin: return binary(tag).map(Value.bin)
        case .string: return string(tag).map(Value.string)
        case .stringArray: return .strings(strings(tag))
        default: return nil
        }
    }
}

/// The tags harden reads and writes (rpm's numbers).
public enum RpmTag {
    public static let name = 1000, version = 1001, release = 1002, epoch = 1003, arch = 1022, sourceRPM = 1044
    public static let fileSizes = 1028, fileModes = 1030, fileRdevs = 1033, fileMtimes = 1034, fileDigests = 1035
    public static let fileLinkTos = 1036, fileFlags = 1037, fileUserName = 1039, fileGroupName = 1040
    public static let fileStates = 1029, fileCaps = 5010, longFileSizes = 5008, fileDigestAlgo = 5011
    public static let provideName = 1047, requireFlags = 1048, requireName = 1049, requireVersion = 1050
    public static let provideFlags = 1112, provideVersion = 1113
    public static let conflictFlags = 1053, conflictName = 1054, conflictVersion = 1055
    public static let obsoleteName = 1090, obsoleteFlags = 1114, obsoleteVersion = 1115
    public static let dirIndexes = 1116, baseNames = 1117, dirNames = 1118
    public static let payloadFormat = 1124, payloadCompressor = 1125, payloadDigest = 5092, payloadDigestAlgo = 5093
    public static let installTime = 1008, archiveSize = 1046, installColor = 1127, installTID = 1128
    public static let group = 1016, triggerName = 1066, fileTriggerName = 5069, transFileTriggerName = 5079
    public static let recommendName = 5046, suggestName = 5049, supplementName = 5052, enhanceName = 5055
    // The signature header's tags.
    public static let sigSize = 1000, sigMD5 = 1004, sigPayloadSize = 1007, sigDSA = 267, sigRSA = 268
    public static let sigSHA1 = 269, sigSHA256 = 273
    // The installed header's names for the legacy signature tags.
    public static let installedSigSize = 257, installedSigMD5 = 261
}

// harden — one entry of a tar archive, in the union of what ustar, GNU and PAX can say.
import HardenCore

/// The kind of a tar entry (the ustar `typeflag`).
public enum TarEntryType: Sendable, Hashable {
    case regular, hardlink, symlink, characterDevice, blockDevice, directory, fifo
    /// A type harden does not handle (contiguous files, GNU volume headers, …); kept so callers can report it.
    case other(UInt8)

    public init(flag: UInt8) {
        switch flag {
        case UInt8(ascii: "0"), 0, UInt8(ascii: "7"): self = .regular
        case UInt8(ascii: "1"): self = .hardlink
        case UInt8(ascii: "2"): self = .symlink
        case UInt8(ascii: "3"): self = .characterDevice
        case UInt8(ascii: "4"): self = .blockDevice
        case UInt8(ascii: "5"): self = .directory
        case UInt8(ascii: "6"): self = .fifo
        default: self = .other(flag)
        }
    }

    public var flag: UInt8 {
        switch self {
        case .regular: UInt8(ascii: "0")
        case .hardlink: UInt8(ascii: "1")
        case .symlink: UInt8(ascii: "2")
        case .characterDevice: UInt8(ascii: "3")
        case .blockDevice: UInt8(ascii: "4")
        case .directory: UInt8(ascii: "5")
        case .fifo: UInt8(ascii: "6")
        case .other(let f): f
        }
    }

    /// Short name used in tables and JSON.
    public var name: String {
        switch self {
        case .regular: "file"
        case .hardlink: "hardlink"
        case .symlink: "symlink"
        case .characterDevice: "char"
        case .blockDevice: "block"
        case .directory: "dir"
        case .fifo: "fifo"
        case .other(let f): "type-\(f)"
        }
    }
}

/// A tar entry's header, after PAX and GNU extensions are folded in.
public struct TarEntry: Sendable, Hashable {
    /// The name exactly as stored (not normalized).
    public var path: RawPath
    public var type: TarEntryType
    /// Permission bits plus setuid/setgid/sticky (`0o7777`).
    public var mode: UInt32
    public var uid: Int
    public var gid: Int
    public var uname: String
    public var gname: String
    /// Bytes of content the entry has (for sparse files, the expanded size).
    public var size: Int64
    /// Seconds since the epoch.
    public var mtime: Int64
    /// Symlink target, or the path a hardlink points to.
    public var linkTarget: [UInt8]
    public var devMajor: UInt32
    public var devMinor: UInt32
    /// Extended attributes from `SCHILY.xattr.*` PAX records.
    public var xattrs: [String: [UInt8]]
    /// For sparse files: the data regions (offset, length) in the expanded file.
    public var sparseMap: [SparseRegion]?
    /// apk's own PAX records (`APK-TOOLS.checksum.SHA1`: the file's SHA-1 in hexadecimal), kept for the apk
    /// patcher; other vendors' records are not kept.
    public var apkRecords: [String: [UInt8]] = [:]

    public struct SparseRegion: Sendable, Hashable {
        public var offset: Int64
        public var length: Int64
        public init(offset: Int64, length: Int64) {
            self.offset = offset
            self.length = length
        }
    }

    public init(
        path: RawPath, type: TarEntryType, mode: UInt32 = 0o644, uid: Int = 0, gid: Int = 0,
        uname: String = "", gname: String = "", size: Int64 = 0, mtime: Int64 = 0, linkTarget: [UInt8] = [],
        devMajor: UInt32 = 0, devMinor: UInt32 = 0, xattrs: [String: [UInt8]] = [:], sparseMap: [SparseRegion]? = nil
    ) {
        self.path = path
        self.type = type
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.uname = uname
        self.gname = gname
        self.size = size
        self.mtime = mtime
        self.linkTarget = linkTarget
        self.devMajor = devMajor
        self.devMinor = devMinor
        self.xattrs = xattrs
        self.sparseMap = sparseMap
    }
}

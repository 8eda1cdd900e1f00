// harden — what an rpm header says about its package: identity (name, EVR, arch), its files with their metadata
// and its dependencies, in the same types the repository metadata uses.
import HardenCore

/// One file of a package, as its header lists it.
public struct RpmFile: Sendable, Equatable {
    public var path: String
    public var mode: UInt16
    public var size: Int64
    public var user: String
    public var group: String
    public var flags: UInt32
    /// Hex digest (the header's algorithm), empty for non-regular files.
    public var digest: String
    public var linkTo: String
    public var mtime: UInt32

    public static let configFlag: UInt32 = 1 << 0, docFlag: UInt32 = 1 << 1, noReplaceFlag: UInt32 = 1 << 4
    public static let ghostFlag: UInt32 = 1 << 6

    public var isConfig: Bool { flags & Self.configFlag != 0 }
    public var isGhost: Bool { flags & Self.ghostFlag != 0 }
    public var isDirectory: Bool { mode & 0o170000 == 0o040000 }
    public var isRegular: Bool { mode & 0o170000 == 0o100000 }
    public var isSymlink: Bool { mode & 0o170000 == 0o120000 }
}

extension RpmHeader {
    public var name: String { string(RpmTag.name) ?? "" }
    public var arch: String { string(RpmTag.arch) ?? "noarch" }
    public var epoch: String? { integers(RpmTag.epoch).first.map(String.init) }
    /// `[epoch:]version-release`.
    public var evr: String {
        (epoch.map { $0 == "0" ? "" : $0 + ":" } ?? "") + (string(RpmTag.version) ?? "") + "-"
            + (string(RpmTag.release) ?? "")
    }

    /// The files, in header order (the order FILESTATES and the other per-file tags follow).
    public var files: [RpmFile] {
        let dirs = strings(RpmTag.dirNames), bases = strings(RpmTag.baseNames)
        let index = integers(RpmTag.dirIndexes), modes = integers(RpmTag.fileModes)
        let sizes = integers(RpmTag.longFileSizes).isEmpty ? integers(RpmTag.fileSizes) : integers(RpmTag.longFileSizes)
        let users = strings(RpmTag.fileUserName), groups = strings(RpmTag.fileGroupName)
        let flags = integers(RpmTag.fileFlags), digests = strings(RpmTag.fileDigests)
        let links = strings(RpmTag.fileLinkTos), mtimes = integers(RpmTag.fileMtimes)
        var out: [RpmFile] = []
        for (i, base) in bases.enumerated() {
            guard i < index.count, Int(index[i]) < dirs.count else { break }
            func at<T>(_ a: [T], _ d: T) -> T { i < a.count ? a[i] : d }
            out.append(
                RpmFile(
                    path: dirs[Int(index[i])] + base, mode: UInt16(truncatingIfNeeded: at(modes, 0)),
                    size: Int64(at(sizes, 0)), user: at(users, "root"), group: at(groups, "root"),
                    flags: UInt32(truncatingIfNeeded: at(flags, 0)), digest: at(digests, ""), linkTo: at(links, ""),
                    mtime: UInt32(truncatingIfNeeded: at(mtimes, 0))))
        }
        return out
    }

    /// A dependency list (provides, requires, conflicts, obsoletes) from its name, flags and version tags.
    public func relations(name: Int, flags: Int, version: Int) -> [RpmRelation] {
        let names = strings(name), fl = integers(flags), versions = strings(version)
        return names.enumerated().map { i, n in
            let f = i < fl.count ? UInt32(truncatingIfNeeded: fl[i]) : 0
            var r = RpmRelation(name: n, pre: f & (1 << 6 | 1 << 9 | 1 << 10) != 0)
            r.flag = RpmRelation.Flag(senseFlags: f)
            let v = i < versions.count ? versions[i] : ""
            if !v.isEmpty, r.flag != nil {
                var rest = Substring(v)
                if let c = rest.firstIndex(of: ":") {
                    r.epoch = String(rest[..<c])
                    rest = rest[rest.index(after: c)...]
                }
                if let d = rest.lastIndex(of: "-") {
                    r.version = String(rest[..<d])
                    r.release = String(rest[rest.index(after: d)...])
                } else {
                    r.version = String(rest)
                }
            }
            return r
        }
    }

    public var provides: [RpmRelation] {
        relations(name: RpmTag.provideName, flags: RpmTag.provideFlags, version: RpmTag.provideVersion)
    }
    public var requires: [RpmRelation] {
        relations(name: RpmTag.requireName, flags: RpmTag.requireFlags, version: RpmTag.requireVersion)
    }
    public var conflicts: [RpmRelation] {
        relations(name: RpmTag.conflictName, flags: RpmTag.conflictFlags, version: RpmTag.conflictVersion)
    }
    public var obsoletes: [RpmRelation] {
        relations(name: RpmTag.obsoleteName, flags: RpmTag.obsoleteFlags, version: RpmTag.obsoleteVersion)
    }
}

extension RpmRelation.Flag {
    /// From rpm's sense bits (LESS 2, GREATER 4, EQUAL 8).
    init?(senseFlags f: UInt32) {
        switch f & 0xe {
        case 8: self = .eq
        case 2: self = .lt
        case 10: self = .le
        case 4: self = .gt
        case 12: self = .ge
        default: return nil
        }
    }
}

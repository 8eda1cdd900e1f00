// harden — an rpm repository's metadata (createrepo's format, what dnf, yum, tdnf and zypper read): repomd.xml (the
// signed root: which files, their checksums and sizes) and primary.xml (each package's EVR, checksum, location and
// dependencies). Pure functions over bytes; the patcher checks each file against repomd before reading it.
import HardenCore
import HardenPackages

/// repomd.xml: the metadata files of a repository, by type (`primary`, `filelists`, `other`, `modules`, …).
public struct RepoMD: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var type: String
        /// Relative to the repository's base URL (`repodata/…-primary.xml.gz`).
        public var location: String
        public var checksumType: String
        public var checksum: String
        public var size: Int64?
        public var openChecksum: String?
    }
    public var revision: String?
    public var entries: [String: Entry]

    public static func parse(_ bytes: [UInt8], source: String) throws -> RepoMD {
        var entries: [String: Entry] = [:]
        var revision: String?
        var current: Entry?
        var path: [String] = []
        var text = ""
        try XMLReader.read(bytes, source: source) { event in
            switch event {
            case .start(let name, let attributes, let selfClosing):
                text = ""
                if name == "data" {
                    current = Entry(type: attributes["type"] ?? "", location: "", checksumType: "", checksum: "")
                } else if name == "checksum" {
                    current?.checksumType = attributes["type"] ?? ""
                } else if name == "location" {
                    current?.location = attributes["href"] ?? ""
                }
                if !selfClosing { path.append(name) }
            case .text(let t):
                text += t
            case .end(let name):
                path.removeLast()
                let value = text.trimming(" \t\r\n")
                switch name {
                case "checksum": current?.checksum = value.lowercased()
                case "open-checksum": current?.openChecksum = value.lowercased()
                case "size": current?.size = Int64(value)
                case "revision" where path.last == "repomd": revision = value
                case "data":
                    if let c = current { entries[c.type] = c }
                    current = nil
                default: break
                }
                text = ""
            }
        }
        guard entries["primary"] != nil else { throw HardenError(.corrupt, "\(source): no primary metadata listed") }
        for e in entries.values where e.location.isEmpty || e.checksum.isEmpty {
            throw HardenError(.corrupt, "\(source): the \(e.type) entry has no location or checksum")
        }
        return RepoMD(revision: revision, entries: entries)
    }
}

/// A dependency as rpm metadata writes it: a name (a package, a virtual provide, `libc.so.6()(64bit)`, a file path)
/// and an optional version constraint.
public struct RpmRelation: Sendable, Hashable {
    public enum Flag: String, Sendable { case eq = "EQ", lt = "LT", le = "LE", gt = "GT", ge = "GE" }
    public var name: String
    public var flag: Flag?
    public var epoch: String?
    public var version: String?
    public var release: String?
    /// `pre="1"`: needed before the package's scriptlets run (Requires(pre)).
    public var pre = false

    public init(
        name: String, flag: Flag? = nil, epoch: String? = nil, version: String? = nil, release: String? = nil,
        pre: Bool = false
    ) {
        self.name = name
        self.flag = flag
        self.epoch = epoch
        self.version = version
        self.release = release
        self.pre = pre
    }

    /// `[epoch:]version[-release]` of the constraint, nil when there is none.
    public var evr: String? {
        guard let version else { return nil }
        return (epoch.map { $0 == "0" ? "" : $0 + ":" } ?? "") + version + (release.map { "-" + $0 } ?? "")
    }
}

/// One package of primary.xml.
public struct RpmRepoPackage: Sendable, Equatable {
    public var name: String
    public var arch: String
    public var epoch: String
    public var version: String
    public var release: String
    public var checksumType: String
    public var checksum: String
    /// Relative to the repository's base URL.
    public var location: String
    public var size: Int64
    public var sourceRPM: String?
    public var provides: [RpmRelation] = []
    public var requires: [RpmRelation] = []
    public var obsoletes: [RpmRelation] = []
    public var conflicts: [RpmRelation] = []
    /// The files primary.xml lists (createrepo keeps /etc, */bin/*, /usr/lib/sendmail: what dependencies name).
    public var files: [String] = []

    public init(
        name: String, arch: String, epoch: String, version: String, release: String, checksumType: String,
        checksum: String, location: String, size: Int64, sourceRPM: String? = nil
    ) {
        self.name = name
        self.arch = arch
        self.epoch = epoch
        self.version = version
        self.release = release
        self.checksumType = checksumType
        self.checksum = checksum
        self.location = location
        self.size = size
        self.sourceRPM = sourceRPM
    }

    /// `[epoch:]version-release`, as rpm compares them.
    public var evr: String { (epoch == "0" || epoch.isEmpty ? "" : epoch + ":") + version + "-" + release }
    public var nevra: String { "\(name)-\(evr).\(arch)" }

    /// The packages of a primary.xml (already decompressed and checked against repomd).
    public static func primary(_ bytes: [UInt8], source: String) throws -> [RpmRepoPackage] {
        var out: [RpmRepoPackage] = []
        var current: RpmRepoPackage?
        var section: String?
        var text = ""
        try XMLReader.read(bytes, source: source) { event in
            switch event {
            case .start(let name, let a, _):
                text = ""
                switch name {
                case "package":
                    current = RpmRepoPackage(
                        name: "", arch: "", epoch: "0", version: "", release: "", checksumType: "", checksum: "",
                        location: "", size: 0)
                case "version":
                    current?.epoch = a["epoch"] ?? "0"
                    current?.version = a["ver"] ?? ""
                    current?.release = a["rel"] ?? ""
                case "checksum": current?.checksumType = a["type"] ?? ""
                case "location": current?.location = a["href"] ?? ""
                case "size": current?.size = a["package"].flatMap { Int64($0) } ?? 0
                case "rpm:provides", "rpm:requires", "rpm:obsoletes", "rpm:conflicts": section = name
                case "rpm:entry":
                    guard let n = a["name"] else { break }
                    let r = RpmRelation(
                        name: n, flag: a["flags"].flatMap { RpmRelation.Flag(rawValue: $0) }, epoch: a["epoch"],
                        version: a["ver"],
                        release: a["rel"], pre: a["pre"] == "1")
                    switch section {
                    case "rpm:provides": current?.provides.append(r)
                    case "rpm:requires": current?.requires.append(r)
                    case "rpm:obsoletes": current?.obsoletes.append(r)
                    case "rpm:conflicts": current?.conflicts.append(r)
                    default: break
                    }
                default: break
                }
            case .text(let t):
                text += t
            case .end(let name):
                let value = text.trimming(" \t\r\n")
                switch name {
                case "name" where section == nil: current?.name = value
                case "arch": current?.arch = value
                case "checksum": current?.checksum = value.lowercased()
                case "rpm:sourcerpm": current?.sourceRPM = value.isEmpty ? nil : value
                case "file": current?.files.append(value)
                case "rpm:provides", "rpm:requires", "rpm:obsoletes", "rpm:conflicts": section = nil
                case "package":
                    if let p = current {
                        guard !p.name.isEmpty, !p.location.isEmpty, !p.checksum.isEmpty else {
                            throw HardenError(.corrupt, "\(source): a package without name, location or checksum")
                        }
                        out.append(p)
                    }
                    current = nil
                default: break
                }
                text = ""
            }
        }
        return out
    }
}

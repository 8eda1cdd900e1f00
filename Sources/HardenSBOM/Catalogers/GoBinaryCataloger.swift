// harden — Go modules compiled into binaries, from the build information the Go linker embeds.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages

public struct GoBinaryCataloger: Cataloger {
    public var name: String { "go-binary" }
    public init() {}

    static let infoStart: [UInt8] = [
        0x30, 0x77, 0xaf, 0x0c, 0x92, 0x74, 0x08, 0x02, 0x41, 0xe1, 0xc1, 0x07, 0xe6, 0xd6, 0x18, 0xe6,
    ]

    public func catalog(_ context: CatalogContext) -> [SoftwarePackage] {
        var out: [SoftwarePackage] = []
        for (path, captured) in context.capturedFiles() {
            guard let bytes = BinaryEvidence.capture(captured)?.goBuildInfo else { continue }
            guard let info = Self.parse(bytes) else {
                context.warn(
                    "\(path.absoluteDescription): Go build information in an unsupported (pre-1.18) layout; skipped")
                continue
            }
            let layer = context.layer(of: path)
            let location = path.absoluteDescription
            func pkg(_ module: String, _ version: String) -> SoftwarePackage {
                SoftwarePackage(
                    id: "go-module:\(module)@\(version)", type: .goModule, name: module, version: version,
                    architecture: nil,
                    sourceName: nil, sourceVersion: nil, licenses: [],
                    // The toolchain's version is `go1.19.8`; the purl carries the plain version (as Go's vuln DB does).
                    purl: Self.purl(
                        module, module == "stdlib" && version.hasPrefix("go") ? String(version.dropFirst(2)) : version),
                    layer: layer,
                    locations: [location], files: [location], ownedBy: nil, maintainer: nil, installedSize: nil,
                    foundBy: "go-binary",
                    metadata: ["binary": location, "goVersion": info.goVersion])
            }
            if !info.goVersion.isEmpty { out.append(pkg("stdlib", info.goVersion)) }
            if let main = info.main { out.append(pkg(main.path, main.version)) }
            for d in info.deps { out.append(pkg(d.path, d.version)) }
        }
        return out
    }

    static func purl(_ module: String, _ version: String) -> String {
        let parts = module.split(separator: "/").map(String.init)
        if parts.count > 1 {
            return PURL(
                type: "golang", namespace: parts.dropLast().joined(separator: "/"), name: parts.last ?? module,
                version: version
            )
            .description
        }
        return PURL(type: "golang", name: module, version: version).description
    }

    public struct Module: Sendable {
        public var path: String
        public var version: String
    }
    public struct Info: Sendable {
        public var goVersion: String
        public var main: Module?
        public var deps: [Module]
        /// The `path` line: the main package's import path (present with and without modules).
        public var path: String?
        /// `build` settings in order (`-ldflags`, `vcs.revision`, `vcs.time`, `GOOS`, …).
        public var settings: [String: String] = [:]
    }

    /// Parses the inline-string build information (Go 1.18+): a 32-byte header, then two varint-prefixed strings.
    public static func parse(_ b: [UInt8]) -> Info? {
        guard b.count >= 32, b[15] & 0x2 != 0 else { return nil }
        var at = 32
        func varint() -> Int? {
            var v = 0
            var shift = 0
            while at < b.count, shift < 63 {
                let byte = b[at]
                at += 1
                v |= Int(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return v }
                shift += 7
            }
            return nil
        }
        func bytes() -> ArraySlice<UInt8>? {
            guard let n = varint(), n >= 0, n <= b.count - at else { return nil }
            defer { at += n }
            return b[at..<(at + n)]
        }
        guard let goVersionBytes = bytes(), var raw = bytes() else { return nil }
        let goVersion = String(decoding: goVersionBytes, as: UTF8.self)
        // The module information is framed by 16-byte sentinels (not UTF-8: strip them as bytes).
        if raw.count >= 33, raw.prefix(16).elementsEqual(infoStart) { raw = raw.dropFirst(16).dropLast(16) }
        let modinfo = String(decoding: raw, as: UTF8.self)
        var info = Info(goVersion: goVersion, main: nil, deps: [])
        for line in modinfo.textLines() {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 2 else { continue }
            switch f[0] {
            case "mod": info.main = Module(path: f[1], version: f.count > 2 && !f[2].isEmpty ? f[2] : "(devel)")
            case "dep": info.deps.append(Module(path: f[1], version: f.count > 2 ? f[2] : ""))
            case "=>":
                // Replacement of the previous dependency.
                if !info.deps.isEmpty, f.count > 2, !f[2].isEmpty {
                    info.deps[info.deps.count - 1] = Module(path: f[1], version: f[2])
                }
            case "path": info.path = f[1]
            case "build":
                let kv = f.dropFirst().joined(separator: "\t")
                if let eq = kv.firstIndex(of: "=") {
                    info.settings[String(kv[..<eq])] = String(kv[kv.index(after: eq)...])
                }
            default: break
            }
        }
        // Built without modules (GOPATH builds, some distribution packages): the main package's path is the module.
        if info.main == nil, let path = info.path, !path.isEmpty, path != "command-line-arguments" {
            info.main = Module(path: path, version: "(devel)")
        }
        // `(devel)`: the version the build stamped with `-ldflags -X …version=…`, else a pseudo-version from VCS.
        if let main = info.main, main.version == "(devel)" {
            if let v = ldflagsVersion(info.settings["-ldflags"] ?? "") {
                info.main?.version = v
            } else if let rev = info.settings["vcs.revision"], rev.count >= 12, let time = info.settings["vcs.time"],
                let stamp = pseudoVersionTime(time)
            {
                info.main?.version = "v0.0.0-\(stamp)-\(rev.prefix(12))"
            }
        }
        return info
    }

    /// Symbols builds set to the program's version with `-X` (`main.version`, `…/version.Version`, `main.gitVersion`).
    static let versionSymbols: Set<String> = [
        "version", "gitversion", "buildversion", "appversion", "releaseversion", "semver", "gittag",
    ]

    /// The version set by `-X pkg.version=v1.2.3` (also `-X=…` and quoted values), as a module version (`v1.2.3`).
    public static func ldflagsVersion(_ flags: String) -> String? {
        var text = flags
        if text.count >= 2, text.first == "\"", text.last == "\"" { text = String(text.dropFirst().dropLast()) }
        let tokens = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map { $0.trimming("'\"") }
        var assignments: [String] = []
        var i = 0
        while i < tokens.count {
            if tokens[i] == "-X" || tokens[i] == "--X", i + 1 < tokens.count {
                assignments.append(tokens[i + 1])
                i += 2
                continue
            }
            if tokens[i].hasPrefix("-X=") { assignments.append(String(tokens[i].dropFirst(3))) }
            i += 1
        }
        for a in assignments {
            guard let eq = a.firstIndex(of: "=") else { continue }
            let symbol = a[..<eq]
            let value = String(a[a.index(after: eq)...]).trimming("'\"")
            let last = symbol.split(separator: ".").last.map { $0.lowercased() } ?? ""
            guard versionSymbols.contains(last) else { continue }
            let bare = value.hasPrefix("v") ? String(value.dropFirst()) : value
            guard let first = bare.first, first.isNumber, bare.contains(".") else { continue }
            return "v" + bare
        }
        return nil
    }

    /// `2023-04-05T12:34:56Z` → `20230405123456` (Go pseudo-versions use UTC).
    static func pseudoVersionTime(_ time: String) -> String? {
        let digits = time.filter(\.isNumber)
        guard time.hasSuffix("Z"), digits.count == 14 else { return nil }
        return digits
    }
}

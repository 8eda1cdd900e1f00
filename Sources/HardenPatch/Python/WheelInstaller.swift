// harden — installing a wheel natively, as the binary distribution format specifies: every file checked against the
// wheel's RECORD, `.data` scheme directories mapped (purelib/platlib/scripts/headers/data), `#!python` scripts given
// the image's interpreter, console and GUI entry points written as scripts, and a new RECORD (with hashes), INSTALLER
// and REQUESTED. Nothing of the wheel runs; nothing is written outside the install scheme.
import Crypto
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages

/// Where a site directory's schemes are, in the image (tree paths).
public struct PythonScheme: Sendable {
    public var site: RawPath
    public var prefix: RawPath
    public var interpreter: String
    public var pythonVersion: String

    public init(site: RawPath, prefix: RawPath, interpreter: String, pythonVersion: String) {
        self.site = site
        self.prefix = prefix
        self.interpreter = interpreter
        self.pythonVersion = pythonVersion
    }

    public var bin: RawPath { prefix.isRoot ? RawPath("bin") : RawPath(prefix.description + "/bin") }

    /// The scheme of `site` (`usr/local/lib/python3.11/dist-packages` → prefix `usr/local`): the interpreter is
    /// the prefix's own (a virtualenv, an official image's /usr/local) when the tree has one, else /usr/bin/python3.
    public static func of(_ site: RawPath, target: PythonTarget, tree: FileTree) -> PythonScheme {
        let parts = site.description.split(separator: "/").map(String.init)
        let lib = parts.lastIndex { $0 == "lib" || $0 == "lib64" } ?? 0
        let prefix = RawPath(parts.prefix(lib).joined(separator: "/"))
        let version = "\(target.major).\(target.minor)"
        let bin = prefix.isRoot ? "bin" : prefix.description + "/bin"
        let interpreter =
            ["python\(version)", "python\(target.major)"].lazy.map { bin + "/" + $0 }.first {
                tree.nodes[RawPath($0)] != nil
            }.map { "/" + $0 } ?? "/usr/bin/python\(target.major)"
        return PythonScheme(site: site, prefix: prefix, interpreter: interpreter, pythonVersion: version)
    }
}

/// A file the patch layer writes.
public struct LayerFile: Sendable {
    public var path: RawPath
    public var bytes: [UInt8]
    public var mode: UInt32
    /// A symbolic link to this target instead of a file (`bytes` empty).
    public var symlink: [UInt8]? = nil
}

public enum WheelInstaller {
    /// The files `wheel` installs under `scheme`, the new RECORD last. `name`: the wheel's file name (messages).
    public static func files(
        wheel bytes: [UInt8], name: String, scheme: PythonScheme, requested: Bool
    ) throws -> [LayerFile] {
        func bad(_ why: String) -> HardenError { HardenError(.corrupt, "\(name): \(why)") }
        let zip: ZipArchive
        do { zip = try ZipArchive(bytes) } catch let e as HardenError { throw bad(e.message) }
        let infos = Set(
            zip.entries.compactMap { e -> String? in
                let parts = e.name.split(separator: "/")
                return parts.count == 2 && parts[0].hasSuffix(".dist-info") && parts[1] == "WHEEL"
                    ? String(parts[0]) : nil
            })
        guard infos.count == 1, let distInfo = infos.first else { throw bad("not one .dist-info/WHEEL in the wheel") }
        let dataDir = String(distInfo.dropLast(".dist-info".count)) + ".data"
        let budget = InflationBudget(limit: 2 << 30)
        var contents: [String: [UInt8]] = [:]
        for e in zip.entries where !e.name.hasSuffix("/") {
            try checkPath(e.name, wheel: name)
            guard contents[e.name] == nil else { throw bad("\(e.name) is in the archive twice") }
            contents[e.name] = try zip.read(e, budget: budget)
        }
        guard let record = contents[distInfo + "/RECORD"] else { throw bad("no \(distInfo)/RECORD") }
        try verify(record: record, contents: contents, distInfo: distInfo, wheel: name)
        var out: [LayerFile] = []
        for (path, body) in contents.sorted(by: { $0.key < $1.key }) where path != distInfo + "/RECORD" {
            if let (dest, mode, b) = try place(path, body, dataDir: dataDir, scheme: scheme, wheel: name) {
                out.append(LayerFile(path: dest, bytes: b, mode: mode))
            }
        }
        if let eps = contents[distInfo + "/entry_points.txt"] {
            out += entryPointScripts(eps, scheme: scheme)
        }
        let infoPath = RawPath(scheme.site.description + "/" + distInfo)
        out.removeAll { $0.path == infoPath.appending(Array("INSTALLER".utf8)) }
        out.append(
            LayerFile(path: infoPath.appending(Array("INSTALLER".utf8)), bytes: Array("harden\n".utf8), mode: 0o644))
        if requested {
            out.append(LayerFile(path: infoPath.appending(Array("REQUESTED".utf8)), bytes: [], mode: 0o644))
        }
        out.append(newRecord(out, recordPath: infoPath.appending(Array("RECORD".utf8)), site: scheme.site))
        return out
    }

    /// `files` (as `files(wheel:…)` returned them, RECORD last) with `extra` added and the RECORD written again.
    public static func adding(_ extra: [LayerFile], to files: [LayerFile], site: RawPath) -> [LayerFile] {
        guard let record = files.last else { return extra }
        return (files.dropLast() + extra) + [
            newRecord(Array(files.dropLast()) + extra, recordPath: record.path, site: site)
        ]
    }

    /// Refuses absolute paths, `..`, backslashes, control characters and empty components (in archive entries and
    /// RECORD rows).
    static func checkPath(_ path: String, wheel: String) throws {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if path.hasPrefix("/") || path.contains("\\")
            || path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f })
            || parts.contains("..") || parts.contains("") || parts.contains(".")
        {
            throw HardenError(.unsafe, "\(wheel): unsafe path \"\(path)\" in the wheel")
        }
    }

    /// Every file against its RECORD row (sha256, size); every RECORD path must be safe and present.
    static func verify(record: [UInt8], contents: [String: [UInt8]], distInfo: String, wheel: String) throws {
        var listed = Set<String>()
        for row in PythonRecord.rows(record) where !(row.first ?? "").isEmpty {
            let path = row[0]
            try checkPath(path, wheel: wheel)
            listed.insert(path)
            guard row.count >= 2, !row[1].isEmpty else { continue }  // RECORD itself, signatures
            guard let body = contents[path] else {
                throw HardenError(.corrupt, "\(wheel): RECORD lists \(path), which the wheel does not have")
            }
            let parts = row[1].split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0] == "sha256" else {
                throw HardenError(.corrupt, "\(wheel): RECORD hash of \(path) is not sha256: \(row[1])")
            }
            guard urlsafeBase64(Array(SHA256.hash(data: body))) == parts[1] else {
                throw HardenError(.corrupt, "\(wheel): \(path) does not match its RECORD hash")
            }
        }
        for path in contents.keys where !listed.contains(path) && !path.hasPrefix(distInfo + "/RECORD") {
            throw HardenError(.corrupt, "\(wheel): \(path) is not in the wheel's RECORD")
        }
    }

    /// Where one archive file goes; nil for files not installed.
    static func place(
        _ path: String, _ body: [UInt8], dataDir: String, scheme: PythonScheme, wheel: String
    ) throws -> (RawPath, UInt32, [UInt8])? {
        guard path.hasPrefix(dataDir + "/") else {
            return (RawPath(scheme.site.description + "/" + path), 0o644, body)
        }
        let rest = path.dropFirst(dataDir.count + 1)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        let key = rest[..<slash], tail = String(rest[rest.index(after: slash)...])
        func under(_ dir: RawPath) -> RawPath { RawPath((dir.isRoot ? "" : dir.description + "/") + tail) }
        switch key {
        case "purelib", "platlib": return (under(scheme.site), 0o644, body)
        case "scripts": return (under(scheme.bin), 0o755, interpreterLine(body, scheme: scheme))
        case "headers":
            let inc = RawPath(
                (scheme.prefix.isRoot ? "" : scheme.prefix.description + "/") + "include/python\(scheme.pythonVersion)")
            return (under(inc), 0o644, body)
        case "data": return (under(scheme.prefix), 0o644, body)
        default: throw HardenError(.corrupt, "\(wheel): unknown .data scheme \(key)")
        }
    }

    /// `#!python` (and `#!pythonw`) become the image's interpreter.
    static func interpreterLine(_ body: [UInt8], scheme: PythonScheme) -> [UInt8] {
        let first = body.prefix { $0 != 0x0a }
        guard first.starts(with: Array("#!python".utf8)) else { return body }
        return Array("#!\(scheme.interpreter)".utf8) + body[first.count...]
    }

    /// console_scripts and gui_scripts, written like pip's launchers.
    static func entryPointScripts(_ bytes: [UInt8], scheme: PythonScheme) -> [LayerFile] {
        var section = ""
        var out: [LayerFile] = []
        for raw in String(decoding: bytes, as: UTF8.self).textLines() {
            let line = raw.trimming(" ")
            if line.hasPrefix("[") {
                section = String(line.dropFirst().dropLast())
                continue
            }
            guard section == "console_scripts" || section == "gui_scripts", let eq = line.firstIndex(of: "=") else {
                continue
            }
            let name = line[..<eq].trimming(" ")
            let target = line[line.index(after: eq)...].split(separator: "[").first.map { $0.trimming(" ") } ?? ""
            let parts = target.split(separator: ":", maxSplits: 1).map { $0.trimming(" ") }
            guard !name.isEmpty, !name.contains("/"), name != "..", parts.count == 2 else { continue }
            let attr = parts[1]
            let head = String(attr.split(separator: ".").first ?? "")
            let script = """
                #!\(scheme.interpreter)
                # -*- coding: utf-8 -*-
                import re
                import sys
                from \(parts[0]) import \(head)
                if __name__ == "__main__":
                    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
                    sys.exit(\(attr)())

                """
            out.append(LayerFile(path: scheme.bin.appending(Array(name.utf8)), bytes: Array(script.utf8), mode: 0o755))
        }
        return out
    }

    /// The installed RECORD: every file relative to the site directory, with its hash and size; RECORD itself last.
    static func newRecord(_ files: [LayerFile], recordPath: RawPath, site: RawPath) -> LayerFile {
        var lines: [String] = []
        for f in files {
            let rel = relative(f.path, from: site)
            lines.append(
                PythonRecord.row(
                    rel, hash: "sha256=" + urlsafeBase64(Array(SHA256.hash(data: f.bytes))), size: "\(f.bytes.count)"))
        }
        lines.append(PythonRecord.row(relative(recordPath, from: site), hash: "", size: ""))
        return LayerFile(path: recordPath, bytes: Array((lines.joined(separator: "\n") + "\n").utf8), mode: 0o644)
    }

    /// `path` relative to the directory `base` (`../../../bin/x` for a script beside a site directory).
    public static func relative(_ path: RawPath, from base: RawPath) -> String {
        let p = path.description.split(separator: "/"), b = base.description.split(separator: "/")
        var common = 0
        while common < min(p.count, b.count), p[common] == b[common] { common += 1 }
        return (Array(repeating: "..", count: b.count - common) + p[common...].map(String.init)).joined(separator: "/")
    }

    /// RFC 4648 base64url without padding (the RECORD hash encoding).
    public static func urlsafeBase64(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(
            of: "/", with: "_"
        ).replacingOccurrences(of: "=", with: "")
    }
}

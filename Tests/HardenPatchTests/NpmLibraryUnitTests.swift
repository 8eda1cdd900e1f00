import Foundation
import HardenArchive
import HardenCore
import HardenPackages
import HardenPatch
import HardenTestSupport
import Testing

@Suite struct NpmRangeTests {
    /// Ranges checked against npm's own semver module (the reference implementation), run with the host's node.
    @Test func rangesAgreeWithNodeSemver() throws {
        // npm's own copy: under `npm root -g` (npm from nodejs.org or Debian's npm), or Debian's shared module.
        let (_, root) = try runProcess(["npm", "root", "-g"])
        let semver = [
            root.trimmingCharacters(in: .whitespacesAndNewlines) + "/npm/node_modules/semver",
            "/usr/share/nodejs/semver",
        ]
        .first { FileManager.default.fileExists(atPath: $0) }
        let module = try #require(semver, "npm's semver module not found (nodejs/npm from scripts/setup.sh)")
        let ranges = [
            "^1.2.3", "~1.2.3", "1.x", "1.2.x", "*", "", ">=1.0.0 <2.0.0", "1.2.3 - 2.3.4", "1.2 - 2", "^0.2.3",
            "^0.0.3",
            "~1", "^1.2.3-beta.2", "<1.2", "<=1.2", ">1.2", ">=1.2", "0.9.x", "~1.0.0", "1.0.0 || >=2.1.0 <3", "=1.0.1",
            "^0", "^0.0", "~0.2", ">= 1.2.3", "1", "~>1.2", "<2.0.0-0",
        ]
        let versions = [
            "1.2.3", "1.2.4", "1.3.0", "2.0.0", "2.3.4", "2.3.5", "0.2.5", "0.3.0", "0.0.3", "0.0.4", "1.2.3-beta.3",
            "1.2.4-beta.1", "1.1.9", "0.9.3", "1.0.1", "2.1.0", "3.0.0", "0.0.0", "1.0.0", "2.0.0-rc.1", "1.2.0",
        ]
        let script = """
            const semver = require(process.argv[1]);
            const ranges = JSON.parse(process.argv[2]), versions = JSON.parse(process.argv[3]);
            for (const r of ranges) console.log(versions.map(v => semver.satisfies(v, r) ? "1" : "0").join(""));
            """
        let encode = { (a: [String]) in String(decoding: try JSONEncoder().encode(a), as: UTF8.self) }
        let (status, out) = try runProcess(["node", "-e", script, module, try encode(ranges), try encode(versions)])
        try #require(status == 0, "node: \(out)")
        let lines = out.split(separator: "\n").map(String.init)
        try #require(lines.count == ranges.count, "\(out)")
        for (i, r) in ranges.enumerated() {
            let range = try #require(NpmRange.parse(r), "\(r) does not parse")
            let ours = versions.map { range.contains($0) ? "1" : "0" }.joined()
            #expect(ours == lines[i], "\(r): ours \(ours), node-semver \(lines[i])")
        }
        for bad in ["^a.b", "1.2.3.4", ">=1.2.3-", "1 - 2 - 3"] { #expect(NpmRange.parse(bad) == nil, "\(bad)") }
    }
}

@Suite struct OrderedJSONTests {
    @Test func rendersLikeJavaScript() throws {
        let text = """
            {
              "name": "a\\u00e9\\"\\\\\\n",
              "lockfileVersion": 3,
              "n": -1.5e3,
              "packages": {
                "": {},
                "node_modules/b": {
                  "version": "1.0.0",
                  "list": [
                    true,
                    null,
                    []
                  ]
                }
              }
            }

            """
        var json = try OrderedJSON.parse(Array(text.utf8), source: "lock")
        #expect(json.keys == ["name", "lockfileVersion", "n", "packages"])
        // Written back exactly as JSON.stringify(v, null, 2) wrote it, non-ASCII unescaped.
        let rendered = json.rendered()
        #expect(rendered == text.replacingOccurrences(of: "\\u00e9", with: "é"))
        json["packages"]?["node_modules/b"]?["version"] = .string("1.0.2")
        #expect(json.rendered().contains("\"version\": \"1.0.2\""))
        for bad in ["{", "{\"a\" 1}", "[1,]", "\"\u{01}\"", "{} x", "nul"] {
            #expect(throws: HardenError.self, "\(bad)") { try OrderedJSON.parse(Array(bad.utf8), source: "t") }
        }
        let deep = String(repeating: "[", count: 300) + String(repeating: "]", count: 300)
        #expect(throws: HardenError.self) { try OrderedJSON.parse(Array(deep.utf8), source: "deep") }
    }
}

@Suite struct NpmTarballTests {
    static func tgz(_ entries: [TarEntry], bodies: [[UInt8]]) throws -> [UInt8] {
        let sink = MemoryWriter()
        let gz = try GzipWriter(sink)
        let tar = TarWriter(gz)
        for (e, b) in zip(entries, bodies) { try tar.append(e, body: b) }
        try tar.finish()
        try gz.finish()
        return sink.bytes
    }

    static func file(_ path: String, _ text: String, mode: UInt32 = 0o644) -> (TarEntry, [UInt8]) {
        let b = Array(text.utf8)
        return (TarEntry(path: RawPath(path), type: .regular, mode: mode, size: Int64(b.count)), b)
    }

    @Test func placesFilesUnderTheCopy() throws {
        let items = [
            Self.file("package/package.json", "{\"name\":\"x\",\"version\":\"1.0.1\"}"),
            Self.file("package/bin/x.js", "#!/usr/bin/env node\n", mode: 0o755),
        ]
        let files = try NpmTarball.files(
            try Self.tgz(items.map(\.0), bodies: items.map(\.1)), into: RawPath("app/node_modules/x"), name: "x@1.0.1")
        #expect(files.map(\.path.description) == ["app/node_modules/x/package.json", "app/node_modules/x/bin/x.js"])
        #expect(files[1].mode == 0o755 && files[0].mode == 0o644)
    }

    @Test func hostileTarballsAreRefused() throws {
        let pkg = Self.file("package/package.json", "{}")
        let cases: [(String, TarEntry, [UInt8])] = [
            ("traversal", Self.file("package/../../etc/passwd", "x").0, Array("x".utf8)),
            ("absolute", Self.file("/etc/passwd", "x").0, Array("x".utf8)),
            ("symlink", TarEntry(path: RawPath("package/link"), type: .symlink, linkTarget: Array("/etc".utf8)), []),
            ("twice", pkg.0, pkg.1),
        ]
        for (what, entry, body) in cases {
            let bytes = try Self.tgz([pkg.0, entry], bodies: [pkg.1, body])
            #expect(throws: HardenError.self, "\(what)") {
                try NpmTarball.files(bytes, into: RawPath("app/node_modules/x"), name: "x@1")
            }
        }
        let noManifest = try Self.tgz([Self.file("package/index.js", "").0], bodies: [[]])
        #expect(throws: HardenError.self) { try NpmTarball.files(noManifest, into: RawPath("a"), name: "x@1") }
    }

    @Test func lockfilesGetTheNewVersionInBothTrees() throws {
        let lock = """
            {
              "lockfileVersion": 2,
              "packages": {
                "node_modules/a": {
                  "version": "1.0.0",
                  "resolved": "https://r/a-1.0.0.tgz",
                  "integrity": "sha512-old"
                },
                "node_modules/a/node_modules/@s/b": {
                  "version": "0.1.0"
                }
              },
              "dependencies": {
                "a": {
                  "version": "1.0.0",
                  "dependencies": {
                    "@s/b": {
                      "version": "0.1.0"
                    }
                  }
                }
              }
            }

            """
        let m = NpmManifest(
            version: "0.1.5", dependencies: [:], tarball: "https://r/b-0.1.5.tgz", integrity: "sha512-new", shasum: nil,
            deprecated: false)
        let out = try #require(
            try NpmLockfile.update(
                Array(lock.utf8), path: RawPath("srv/app/package-lock.json"),
                upgrades: [(RawPath("srv/app/node_modules/a/node_modules/@s/b"), m)]))
        let json = try OrderedJSON.parse(out, source: "out")
        #expect(json["packages"]?["node_modules/a/node_modules/@s/b"]?["version"]?.stringValue == "0.1.5")
        // Fields the entry did not have stay absent; the nested v1 tree is updated too.
        #expect(json["packages"]?["node_modules/a/node_modules/@s/b"]?["integrity"] == nil)
        #expect(json["dependencies"]?["a"]?["dependencies"]?["@s/b"]?["version"]?.stringValue == "0.1.5")
        #expect(json["packages"]?["node_modules/a"]?["version"]?.stringValue == "1.0.0")
        // A lockfile of another app is left alone.
        #expect(
            try NpmLockfile.update(
                Array(lock.utf8), path: RawPath("other/package-lock.json"),
                upgrades: [(RawPath("srv/app/node_modules/a"), m)]) == nil)
    }
}

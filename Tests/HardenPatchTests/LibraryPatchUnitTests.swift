import Crypto
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenPatch
import HardenTestSupport
import Testing

@Suite struct PythonRequirementTests {
    @Test func requirementLinesParse() throws {
        let r = try PythonRequirement.parse("urllib3 (<1.24,>=1.21.1) ; python_version >= \"3.6\"")
        #expect(r.name == "urllib3" && r.key == "urllib3")
        #expect(r.specifier.description == "<1.24,>=1.21.1")
        #expect(r.applies(in: ["python_version": "3.11"]))
        #expect(!r.applies(in: ["python_version": "3.5"]))
        let s = try PythonRequirement.parse("PySocks!=1.5.7,>=1.5.6; extra == 'socks'")
        #expect(s.key == "pysocks" && !s.applies(in: ["python_version": "3.11"]))
        #expect(s.applies(in: ["extra": "socks"]))
        let e = try PythonRequirement.parse("Charset_Normalizer[unicode_backport] <4,>=2")
        #expect(e.key == "charset-normalizer" && e.extras == ["unicode_backport"])
        let u = try PythonRequirement.parse("pkg @ https://example.com/pkg.whl")
        #expect(u.url == "https://example.com/pkg.whl" && u.specifier.clauses.isEmpty)
        for bad in ["", ">=1.0", "x (>=)", "x ; python_version >>> '3'", "x; os_name == 'a' and", "x; foo == 'a'"] {
            #expect(throws: HardenError.self, "\(bad)") { try PythonRequirement.parse(bad) }
        }
    }

    @Test func markersEvaluateForTheImageInterpreter() throws {
        let env = PythonTarget(
            major: 3, minor: 11, fullVersion: "3.11.2", machine: "x86_64", libc: .glibc(major: 2, minor: 36)
        ).markerEnvironment
        let cases: [(String, Bool)] = [
            ("python_version < \"3.8\"", false),
            ("python_version >= '3.7' and platform_system == 'Linux'", true),
            ("(sys_platform == 'win32' or sys_platform == 'cygwin') and python_version > '3'", false),
            ("platform_machine in 'x86_64 aarch64'", true),
            ("'linux' not in sys_platform", false),
            ("python_full_version ~= '3.11.0'", true),
            ("implementation_name == \"pypy\"", false),
            ("extra == \"Socks\"", false),
        ]
        for (text, want) in cases {
            #expect(try PythonMarker.parse(text).evaluate(env) == want, "\(text)")
        }
    }

    /// The specifier semantics, checked against python's `packaging` (the reference implementation), with
    /// pre-releases allowed: how `pip check` tests installed versions, and how the resolver uses it (its candidates
    /// are never pre-releases).
    @Test func specifiersAgreeWithPythonPackaging() throws {
        let specs = [
            ">=1.21.1,<1.24", "~=2.2", "~=1.4.5", "==1.2.*", "!=1.5.7,>=1.5.6", "<2.0", ">1.0", ">=1.0,!=1.1.*",
            "==2.0",
            "<3,>=1.21.1", "===1.0",
        ]
        let versions = [
            "1.21.1", "1.23", "1.24", "1.24.0rc1", "2.2", "2.3.1", "3.0", "1.4.5", "1.4.9", "1.5", "1.2.0", "1.2.9",
            "1.3", "1.5.7", "2.0", "2.0.post1", "1.0.post1", "1.1.5", "1.0", "2.0+local", "1.0.dev1", "0.9",
        ]
        let script = """
            import sys
            from packaging.specifiers import SpecifierSet
            specs, versions = sys.argv[1].split("|"), sys.argv[2].split("|")
            for s in specs:
                print("".join("1" if SpecifierSet(s).contains(v, prereleases=True) else "0" for v in versions))
            """
        let (status, out) = try runProcess([
            "python3", "-c", script, specs.joined(separator: "|"), versions.joined(separator: "|"),
        ])
        try #require(status == 0, "python packaging: \(out)")
        let lines = out.split(separator: "\n").map(String.init)
        try #require(lines.count == specs.count)
        for (i, s) in specs.enumerated() {
            let spec = try PythonSpecifier.parse(s)
            let ours = versions.map { spec.contains($0, prereleases: true) ? "1" : "0" }.joined()
            #expect(ours == lines[i], "\(s): ours \(ours), packaging \(lines[i]) over \(versions)")
        }
    }

    @Test func eggInfoRequiresSections() {
        let reqs = PythonEnvironment.eggRequires(
            "six>=1.0\n\n[socks]\nPySocks\n\n[:python_version < \"3\"]\nfutures\n[:python_version >= \"3\"]\nidna\n")
        let env = ["python_version": "3.11"]
        #expect(reqs.filter { $0.applies(in: env) }.map(\.key) == ["six", "idna"])
    }
}

@Suite struct WheelTagTests {
    let glibc = PythonTarget(
        major: 3, minor: 11, fullVersion: "3.11.2", machine: "x86_64", libc: .glibc(major: 2, minor: 36))

    @Test func wheelNamesParse() {
        let w = WheelName.parse("charset_normalizer-3.4.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
        #expect(w?.distribution == "charset_normalizer" && w?.version == "3.4.0")
        #expect(w?.platforms == ["manylinux_2_17_x86_64", "manylinux2014_x86_64"])
        #expect(WheelName.parse("pkg-1.0-1-py3-none-any.whl")?.build == "1")
        #expect(WheelName.parse("pkg-1.0.tar.gz") == nil)
        #expect(WheelName.parse("pkg-1.0-py3-none.whl") == nil)
    }

    @Test func compatibilityFollowsTheInterpreterAndLibc() throws {
        func rank(_ file: String, _ t: PythonTarget) -> Int? { WheelName.parse(file).flatMap { t.rank($0) } }
        #expect(rank("a-1-cp311-cp311-manylinux_2_17_x86_64.whl", glibc) != nil)
        #expect(rank("a-1-cp311-cp311-manylinux_2_39_x86_64.whl", glibc) == nil, "needs a newer glibc")
        #expect(rank("a-1-cp311-cp311-musllinux_1_1_x86_64.whl", glibc) == nil)
        #expect(rank("a-1-cp312-cp312-manylinux_2_17_x86_64.whl", glibc) == nil)
        #expect(rank("a-1-cp311-cp311-manylinux_2_17_aarch64.whl", glibc) == nil)
        #expect(rank("a-1-cp38-abi3-manylinux2014_x86_64.whl", glibc) != nil)
        #expect(rank("a-1-cp312-abi3-manylinux2014_x86_64.whl", glibc) == nil)
        #expect(rank("a-1-py2.py3-none-any.whl", glibc) != nil)
        #expect(rank("a-1-py2-none-any.whl", glibc) == nil)
        // A compiled wheel is preferred to the pure one, the specific ABI to abi3.
        let compiled = try #require(rank("a-1-cp311-cp311-manylinux_2_17_x86_64.whl", glibc))
        let abi3 = try #require(rank("a-1-cp37-abi3-manylinux_2_17_x86_64.whl", glibc))
        let pure = try #require(rank("a-1-py3-none-any.whl", glibc))
        #expect(compiled < abi3 && abi3 < pure)
        let musl = PythonTarget(
            major: 3, minor: 12, fullVersion: "3.12.1", machine: "aarch64", libc: .musl(major: 1, minor: 2))
        #expect(rank("a-1-cp312-cp312-musllinux_1_1_aarch64.whl", musl) != nil)
        #expect(rank("a-1-cp312-cp312-manylinux_2_17_aarch64.whl", musl) == nil)
    }
}

@Suite struct WheelInstallerTests {
    static func record(_ files: [(String, [UInt8])], distInfo: String) -> [UInt8] {
        var lines = files.map { name, data in
            "\(name),sha256=\(WheelInstaller.urlsafeBase64(Array(SHA256.hash(data: data)))),\(data.count)"
        }
        lines.append("\(distInfo)/RECORD,,")
        return Array(lines.joined(separator: "\n").utf8)
    }

    static func wheel(
        _ files: [(String, [UInt8])], distInfo: String = "demo-2.0.dist-info", record: [UInt8]? = nil
    )
        throws -> [UInt8]
    {
        let rec = record ?? Self.record(files, distInfo: distInfo)
        return try ZipFixture.build(files.map { ZipFixture.Entry($0.0, $0.1) } + [.init(distInfo + "/RECORD", rec)])
    }

    static let scheme = PythonScheme(
        site: RawPath("usr/local/lib/python3.11/dist-packages"), prefix: RawPath("usr/local"),
        interpreter: "/usr/bin/python3", pythonVersion: "3.11")

    static let goodFiles: [(String, [UInt8])] = [
        ("demo/__init__.py", Array("VERSION = '2.0'\n".utf8)),
        ("demo-2.0.dist-info/METADATA", Array("Metadata-Version: 2.1\nName: demo\nVersion: 2.0\n".utf8)),
        ("demo-2.0.dist-info/WHEEL", Array("Wheel-Version: 1.0\nRoot-Is-Purelib: true\n".utf8)),
        ("demo-2.0.dist-info/entry_points.txt", Array("[console_scripts]\ndemo-cli = demo.cli:main.run\n".utf8)),
        ("demo-2.0.data/scripts/legacy", Array("#!python\nprint('hi')\n".utf8)),
        ("demo-2.0.data/headers/demo.h", Array("int x;\n".utf8)),
    ]

    @Test func installsEveryScheme() throws {
        let files = try WheelInstaller.files(
            wheel: try Self.wheel(Self.goodFiles), name: "demo-2.0-py3-none-any.whl", scheme: Self.scheme,
            requested: true)
        let byPath = Dictionary(files.map { ($0.path.description, $0) }, uniquingKeysWith: { a, _ in a })
        let site = "usr/local/lib/python3.11/dist-packages"
        #expect(byPath["\(site)/demo/__init__.py"] != nil)
        #expect(byPath["usr/local/include/python3.11/demo.h"] != nil)
        let legacy = try #require(byPath["usr/local/bin/legacy"])
        #expect(String(decoding: legacy.bytes, as: UTF8.self) == "#!/usr/bin/python3\nprint('hi')\n")
        #expect(legacy.mode == 0o755)
        let cli = String(decoding: try #require(byPath["usr/local/bin/demo-cli"]).bytes, as: UTF8.self)
        #expect(cli.hasPrefix("#!/usr/bin/python3\n") && cli.contains("from demo.cli import main"))
        #expect(cli.contains("sys.exit(main.run())"))
        #expect(byPath["\(site)/demo-2.0.dist-info/INSTALLER"]?.bytes == Array("harden\n".utf8))
        #expect(byPath["\(site)/demo-2.0.dist-info/REQUESTED"] != nil)
        // The new RECORD lists every file with its hash, scripts relative to the site directory, itself last.
        let record = try #require(byPath["\(site)/demo-2.0.dist-info/RECORD"])
        let rows = PythonRecord.rows(record.bytes)
        #expect(rows.last == ["demo-2.0.dist-info/RECORD", "", ""])
        #expect(rows.contains { $0[0] == "../../../bin/demo-cli" && $0[1].hasPrefix("sha256=") })
        for f in files where f.path.description != "\(site)/demo-2.0.dist-info/RECORD" {
            let rel = WheelInstaller.relative(f.path, from: Self.scheme.site)
            let row = try #require(rows.first { $0[0] == rel }, "\(rel) not in RECORD")
            #expect(row[1] == "sha256=" + WheelInstaller.urlsafeBase64(Array(SHA256.hash(data: f.bytes))))
            #expect(row[2] == "\(f.bytes.count)")
        }
    }

    @Test func hostileWheelsAreRefused() throws {
        let name = "demo-2.0-py3-none-any.whl"
        func install(_ bytes: [UInt8]) throws {
            _ = try WheelInstaller.files(wheel: bytes, name: name, scheme: Self.scheme, requested: false)
        }
        // A RECORD hash that does not match the file.
        var tampered = Self.goodFiles
        let rec = Self.record(tampered, distInfo: "demo-2.0.dist-info")
        tampered[0].1 = Array("import os; os.system('id')\n".utf8)
        #expect(throws: HardenError.self) { try install(try Self.wheel(tampered, record: rec)) }
        // `..` and absolute paths, in the archive and in RECORD.
        for path in ["../../../etc/cron.d/x", "/etc/passwd", "demo/../../x", "demo//x", "demo/a.py\n/etc/x.py\t/tmp/e"]
        {
            var files = Self.goodFiles
            files.append((path, Array("x".utf8)))
            let error = #expect(throws: HardenError.self, "\(path)") { try install(try Self.wheel(files)) }
            #expect(error?.message.contains(name) == true)
            var recOnly = Self.record(Self.goodFiles, distInfo: "demo-2.0.dist-info")
            recOnly += Array("\n\(path),sha256=AAAA,1\n".utf8)
            #expect(throws: HardenError.self, "RECORD \(path)") {
                try install(try Self.wheel(Self.goodFiles, record: recOnly))
            }
        }
        // A file the RECORD does not list, and a file listed twice in the archive.
        var unlisted = try ZipFixture.build(
            Self.goodFiles.map { ZipFixture.Entry($0.0, $0.1) } + [
                .init("demo-2.0.dist-info/RECORD", Self.record(Self.goodFiles, distInfo: "demo-2.0.dist-info")),
                .init("demo/extra.py", Array("x = 1\n".utf8)),
            ])
        #expect(throws: HardenError.self) { try install(unlisted) }
        unlisted = try Self.wheel(Self.goodFiles + [Self.goodFiles[0]])
        #expect(throws: HardenError.self) { try install(unlisted) }
        #expect(throws: HardenError.self) { try install(Array("not a zip".utf8)) }
    }

    @Test func relativePathsAndRecordQuoting() {
        #expect(
            WheelInstaller.relative(RawPath("usr/local/bin/x"), from: RawPath("usr/local/lib/python3.11/dist-packages"))
                == "../../../bin/x")
        #expect(WheelInstaller.relative(RawPath("a/b/c"), from: RawPath("a/b")) == "c")
        let row = PythonRecord.row("odd,\"name\".py", hash: "sha256=x", size: "1")
        #expect(PythonRecord.rows(Array(row.utf8)) == [["odd,\"name\".py", "sha256=x", "1"]])
    }
}

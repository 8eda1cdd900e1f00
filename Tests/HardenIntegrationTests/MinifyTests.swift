// harden — `harden minify` on the real test images: the result serves the same probes under its seccomp
// profile, is read by skopeo, umoci and syft, and tells the truth about what is left.
import Foundation
import HardenCore
import HardenOCI
import HardenPackages
import HardenProfile
import HardenRuntime
import HardenSBOM
import HardenSystem
import HardenTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct MinifyTests {
    static let cases: [(tag: String, probe: String, minimumReduction: Double)] = [
        ("nginx", "80:GET:/", 90), ("flask", "5000:GET:/", 80),
    ]

    @Test(arguments: ["nginx", "flask"])
    func minifiedImageServesTheSameProbesAndTellsTheTruth(tag: String) throws {
        try RuntimeTests.require()
        try TestImages.requireTools("skopeo", "syft")
        let c = try #require(Self.cases.first { $0.tag == tag })
        try withTemporaryDirectory { dir in
            let run = dir + "/run"
            var (s, o) = try RuntimeTests.harden(
                ["profile", "oci:\(TestImages.layout):\(tag)", "--http-probe", c.probe, "-o", dir + "/p.json"],
                runDir: run)
            try #require(s == 0, "\(o)")
            (s, o) = try RuntimeTests.harden(
                [
                    "minify", "oci:\(TestImages.layout):\(tag)", "--profile", dir + "/p.json", "-o",
                    "oci:\(dir)/out:min",
                    "--report", dir + "/report.json", "--seccomp", dir + "/seccomp.json", "--k8s", dir + "/k8s.yaml",
                ], runDir: run)
            try #require(s == 0, "\(o)")
            let report =
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/report.json")))
                as? [String: Any] ?? [:]
            let verification = report["verification"] as? [String: Any] ?? [:]
            #expect(verification["ran"] as? Bool == true && verification["passed"] as? Bool == true, "\(verification)")
            let reduction = report["reductionPercent"] as? Double ?? 0
            #expect(reduction >= c.minimumReduction, "reduction \(reduction)%")
            // The seccomp profile denies by default and allows what was seen.
            let seccomp =
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/seccomp.json")))
                as? [String: Any] ?? [:]
            #expect(seccomp["defaultAction"] as? String == "SCMP_ACT_ERRNO")
            #expect(String(decoding: try HostFS.readFile(dir + "/k8s.yaml"), as: UTF8.self).contains("drop: [ALL]"))

            // Independent readers.
            (s, o) = try runProcess(["skopeo", "inspect", "oci:\(dir)/out:min"])
            #expect(s == 0, "skopeo: \(o)")
            (s, o) = try runProcess(["umoci", "unpack", "--image", "\(dir)/out:min", dir + "/bundle"])
            try #require(s == 0, "umoci: \(o)")
            let rootfs = dir + "/bundle/rootfs"
            // No setuid/setgid file is left.
            (s, o) = try runProcess(["find", rootfs, "-xdev", "-type", "f", "-perm", "/6000"])
            #expect(s == 0 && o.trimming(" \n").isEmpty, "setuid/setgid files: \(o)")
            // The dpkg database lists only packages that still have files, and every package that does.
            let status = String(
                decoding: try HostFS.readFile(rootfs + "/var/lib/dpkg/status", limit: 64 << 20), as: UTF8.self)
            let listed = status.split(separator: "\n").filter { $0.hasPrefix("Package: ") }.map {
                String($0.dropFirst(9))
            }
            #expect(!listed.isEmpty)
            for name in listed {
                let list =
                    (try? HostFS.readFile("\(rootfs)/var/lib/dpkg/info/\(name).list"))
                    ?? (try? HostFS.readFile("\(rootfs)/var/lib/dpkg/info/\(name):amd64.list")) ?? []
                let files = String(decoding: list, as: UTF8.self).split(separator: "\n").map(String.init)
                #expect(
                    files.contains { p in
                        var st = stat()
                        return lstat(rootfs + p, &st) == 0 && (st.st_mode & S_IFMT) != S_IFDIR
                    }, "\(name) is listed but has no file left")
            }
            #expect(
                HostFS.exists(rootfs + "/etc/os-release") && HostFS.exists(rootfs + "/usr/share/harden/sbom.cdx.json"))
            // dpkg itself agrees: nothing its database lists is missing, and every file list names only what is there.
            (s, o) = try runProcess(["dpkg", "--root=" + rootfs, "--verify"])
            #expect(s == 0 && o.trimming(" \n").isEmpty, "dpkg --verify: \(o)")
            for name in listed {
                (s, o) = try runProcess(["dpkg", "--root=" + rootfs, "-L", name])
                #expect(s == 0, "dpkg -L \(name): \(o)")
                let gone = o.split(separator: "\n").filter { p in
                    var st = stat()
                    return p.hasPrefix("/") && lstat(rootfs + p, &st) != 0
                }
                #expect(gone.isEmpty, "dpkg -L \(name) lists files that are not there: \(gone.prefix(5))")
            }
            // harden's SBOM of the result equals syft's.
            (s, o) = try runProcess(
                ["syft", "-q", "oci-dir:\(dir)/out", "-o", "json=\(dir)/syft.json"],
                environment: ["SYFT_CHECK_FOR_APP_UPDATE": "false"])
            try #require(s == 0, "syft: \(o)")
            let json =
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/syft.json", limit: 1 << 28)))
                as? [String: Any]
            let artifacts = json?["artifacts"] as? [[String: Any]] ?? []
            let theirs = SBOMRealImageTests.keys(
                types: artifacts.map { $0["type"] as? String ?? "" },
                names: artifacts.map { $0["name"] as? String ?? "" },
                versions: artifacts.map { $0["version"] as? String ?? "" })
            let sbom = try SBOMBuilder(cache: nil).build(
                try ImageLoader.open(.ociLayout(path: dir + "/out", tag: "min")), reference: "min")
            let ours = SBOMRealImageTests.keys(
                types: sbom.packages.map(\.type.rawValue), names: sbom.packages.map(\.name),
                versions: sbom.packages.map(\.version))
            #expect(
                ours == theirs,
                "harden only: \(ours.subtracting(theirs).sorted()); syft only: \(theirs.subtracting(ours).sorted())")
            #expect(Set(listed).isSubset(of: Set(sbom.packages.filter { $0.type == .deb }.map(\.name))))
            // Every package left keeps its licences (its copyright file stays).
            let original = try SBOMBuilder(cache: nil).build(
                try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: tag)), reference: tag)
            let licences = Dictionary(original.packages.map { ($0.id, $0.licenses) }, uniquingKeysWith: { a, _ in a })
            for p in sbom.packages where p.type == .deb {
                #expect(p.licenses == licences[p.id], "\(p.id): \(p.licenses) after, \(licences[p.id] ?? []) before")
            }
            // And it runs again, by itself, with the same probe.
            (s, o) = try RuntimeTests.harden(
                [
                    "profile", "oci:\(dir)/out:min", "--http-probe", c.probe, "--seccomp", dir + "/seccomp.json", "-o",
                    dir + "/again.json",
                ],
                runDir: run)
            #expect(s == 0, "\(o)")
            #expect(try RuntimeTests.leftovers(runDir: run) == [])
        }
    }

    /// An Alpine image: `/lib/apk/db/installed` keeps the packages left, each listing only its files left, so that
    /// scanners see exactly what is there.
    @Test func apkDatabaseListsWhatIsLeft() throws {
        try withTemporaryDirectory { dir in
            let rootfs = try Self.minifySynthetic(
                dir,
                [
                    .dir("etc"), .file("etc/alpine-release", "3.19.1\n"),
                    .file("etc/os-release", "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n"),
                    .dir("lib"), .dir("lib/apk"), .dir("lib/apk/db"),
                    .file("lib/apk/db/installed", ApkFixture.installed),
                    .dir("usr"), .dir("usr/lib"), .file("usr/lib/libfoo.so.1", "foo", mode: 0o755),
                    .file("usr/lib/libfoo-extra.so", "extra", mode: 0o755),
                    .dir("usr/share"), .dir("usr/share/foo"), .file("usr/share/foo/README", "readme"), .dir("usr/bin"),
                    .file("usr/bin/tool", "tool", mode: 0o755),
                ], used: ["/usr/lib/libfoo.so.1"])
            let db = String(decoding: try HostFS.readFile(rootfs + "/lib/apk/db/installed"), as: UTF8.self)
            #expect(db == ApkFixture.onlyLibfooLeft)
            let sbom = try SBOMBuilder(cache: nil).build(
                try ImageLoader.open(.ociLayout(path: dir + "/out", tag: "min")), reference: "min")
            #expect(sbom.packages.map(\.id) == ["apk:libfoo@1.2-r0"])
            #expect(sbom.packages.first?.files == ["/usr/lib/libfoo.so.1"] && sbom.packages.first?.licenses == ["MIT"])
            #expect(HostFS.exists(rootfs + "/etc/alpine-release") && !HostFS.exists(rootfs + "/usr/bin/tool"))
        }
    }

    /// An RPM image: the packages removed leave the SQLite rpmdb (every table), the packages left stay in it.
    @Test func rpmDatabaseListsWhatIsLeft() throws {
        try withTemporaryDirectory { dir in
            let db = try Fixtures.rpmdb(
                dir + "/rpmdb.sqlite",
                packages: [
                    Fixtures.rpmPackage(
                        name: "openssl-libs", version: "3.0.7", release: "25.el9", arch: "x86_64",
                        files: ["/usr/lib64/libssl.so.3"]),
                    Fixtures.rpmPackage(
                        name: "vim-minimal", version: "8.2.2637", release: "20.el9", arch: "x86_64",
                        files: ["/usr/bin/vi"]),
                ])
            let rootfs = try Self.minifySynthetic(
                dir,
                [
                    .dir("etc"), .file("etc/os-release", "ID=rhel\nVERSION_ID=\"9.3\"\n"), .dir("var"), .dir("var/lib"),
                    .dir("var/lib/rpm"),
                    .file(raw: Array("var/lib/rpm/rpmdb.sqlite".utf8), db),
                    .dir("usr"), .dir("usr/lib64"), .file("usr/lib64/libssl.so.3", "ssl", mode: 0o755), .dir("usr/bin"),
                    .file("usr/bin/vi", "vi", mode: 0o755),
                ], used: ["/usr/lib64/libssl.so.3"])
            let sbom = try SBOMBuilder(cache: nil).build(
                try ImageLoader.open(.ociLayout(path: dir + "/out", tag: "min")), reference: "min")
            #expect(sbom.packages.map(\.id) == ["rpm:openssl-libs@3.0.7-25.el9:x86_64"])
            let (s, o) = try runProcess([
                "sqlite3", rootfs + "/var/lib/rpm/rpmdb.sqlite", "SELECT key FROM Name; SELECT key FROM Basenames;",
            ])
            #expect(s == 0 && o == "openssl-libs\nlibssl.so.3\n", "\(o)")
            #expect(!HostFS.exists(rootfs + "/usr/bin/vi"))
        }
    }

    /// A distroless image (one dpkg control file per package in status.d, md5sums beside it): the files of the
    /// packages removed go, those left keep their control file and name only their files left.
    @Test func distrolessStatusDirectoryListsWhatIsLeft() throws {
        try withTemporaryDirectory { dir in
            let rootfs = try Self.minifySynthetic(
                dir,
                [
                    .dir("etc"), .file("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n"), .dir("var"),
                    .dir("var/lib"),
                    .dir("var/lib/dpkg"),
                    .dir("var/lib/dpkg/status.d"),
                    .file(
                        "var/lib/dpkg/status.d/libssl3",
                        "Package: libssl3\nVersion: 3.0.11-1\nArchitecture: amd64\nSource: openssl\n"),
                    .file(
                        "var/lib/dpkg/status.d/libssl3.md5sums",
                        "aa11  usr/lib/libssl.so.3\nbb22  usr/share/doc/libssl3/changelog.gz\n"),
                    .file("var/lib/dpkg/status.d/tzdata", "Package: tzdata\nVersion: 2024a-1\nArchitecture: all\n"),
                    .file("var/lib/dpkg/status.d/tzdata.md5sums", "cc33  usr/share/zoneinfo/UTC\n"),
                    .dir("usr"), .dir("usr/lib"), .file("usr/lib/libssl.so.3", "ssl", mode: 0o755),
                    .dir("usr/share"), .dir("usr/share/doc"), .dir("usr/share/doc/libssl3"),
                    .file("usr/share/doc/libssl3/changelog.gz", "log"),
                    .dir("usr/share/zoneinfo"), .file("usr/share/zoneinfo/UTC", "TZif"),
                ], used: ["/usr/lib/libssl.so.3"])
            #expect(
                try HostFS.listDirectory(rootfs + "/var/lib/dpkg/status.d").sorted() == ["libssl3", "libssl3.md5sums"])
            #expect(
                String(decoding: try HostFS.readFile(rootfs + "/var/lib/dpkg/status.d/libssl3.md5sums"), as: UTF8.self)
                    == "aa11  usr/lib/libssl.so.3\n")
            let sbom = try SBOMBuilder(cache: nil).build(
                try ImageLoader.open(.ociLayout(path: dir + "/out", tag: "min")), reference: "min")
            #expect(sbom.packages.map(\.name) == ["libssl3"])
            #expect(
                !HostFS.exists(rootfs + "/usr/share/zoneinfo/UTC")
                    && !HostFS.exists(rootfs + "/usr/share/doc/libssl3/changelog.gz"))
        }
    }

    /// Minifies a one-layer image built from `entries` (no verification), with a profile that used `used`; returns
    /// the unpacked result (the image is at `dir/out:min`).
    static func minifySynthetic(_ dir: String, _ entries: [FixtureEntry], used: [String]) throws -> String {
        try Fixtures.ociLayout(
            at: dir + "/img", images: [(tag: "t", layers: [try Fixtures.layer(entries)], config: ContainerConfig())])
        let image = try ImageLoader.open(.ociLayout(path: dir + "/img", tag: "t"))
        let profile = RuntimeProfile(
            image: .init(
                reference: "t", configDigest: Digest.sha256(of: image.configBytes).description,
                manifestDigest: image.manifestDigest.description,
                platform: "linux/amd64"),
            runs: [],
            files: used.map {
                .init(
                    path: $0, operations: ["read"], count: 1, firstProcess: nil, type: .file, target: nil, failures: nil
                )
            },
            executables: [], ports: [], uids: [], gids: [], syscalls: [], packages: [],
            summary: .init(files: used.count, missingFiles: 0, executables: 0, packagesUsed: 0, packagesUnused: 0))
        try HostFS.writeFileAtomically(dir + "/p.json", try JSONCoding.encode(profile))
        var (s, o) = try RuntimeTests.harden(
            ["minify", "oci:\(dir)/img:t", "--profile", dir + "/p.json", "--no-verify", "-o", "oci:\(dir)/out:min"],
            runDir: dir + "/run")
        try #require(s == 0, "\(o)")
        (s, o) = try runProcess(["umoci", "unpack", "--image", "\(dir)/out:min", dir + "/bundle"])
        try #require(s == 0, "umoci: \(o)")
        return dir + "/bundle/rootfs"
    }

    /// A probe that needs a file the profile never saw: verification fails and names the file.
    @Test func verificationNamesTheMissingFile() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            let run = dir + "/run"
            var (s, o) = try RuntimeTests.harden(
                [
                    "profile", "oci:\(TestImages.layout):nginx", "--http-probe", "80", "--exec-probe",
                    "cat /etc/os-release",
                    "-o", dir + "/p.json",
                ], runDir: run)
            try #require(s == 0, "\(o)")
            // The same profile, but the exec probe now reads a file the run never touched.
            var profile = try RuntimeTests.profile(dir + "/p.json")
            let i = try #require(profile.runs[0].probes.firstIndex { $0.kind == .exec })
            profile.runs[0].probes[i].spec = "cat /etc/nginx/fastcgi_params"
            try HostFS.writeFileAtomically(dir + "/edited.json", try JSONCoding.encode(profile))
            (s, o) = try RuntimeTests.harden(
                [
                    "minify", "oci:\(TestImages.layout):nginx", "--profile", dir + "/edited.json", "-o",
                    "oci:\(dir)/out:min",
                ], runDir: run)
            #expect(s == 2, "\(o)")
            #expect(
                o.contains("cat /etc/nginx/fastcgi_params")
                    && o.contains("/etc/nginx/fastcgi_params, which the minified image does not have"), "\(o)")
            #expect(!HostFS.exists(dir + "/out"), "no image is written when verification fails")
            #expect(try RuntimeTests.leftovers(runDir: run) == [])
        }
    }

    /// --python-bytecode: modules whose source Python only stat-ed stay as sourceless bytecode; the app still serves
    /// the same probe, the app's own script (read at start) keeps its source, and no package disappears.
    @Test func pythonModulesCanBeKeptAsBytecodeOnly() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            let run = dir + "/run"
            var (s, o) = try RuntimeTests.harden(
                ["profile", "oci:\(TestImages.layout):flask", "--http-probe", "5000:GET:/", "-o", dir + "/p.json"],
                runDir: run)
            try #require(s == 0, "\(o)")
            (s, o) = try RuntimeTests.harden(
                [
                    "minify", "oci:\(TestImages.layout):flask", "--profile", dir + "/p.json", "-o",
                    "oci:\(dir)/plain:min",
                    "--report", dir + "/plain.json", "--no-verify",
                ], runDir: run)
            try #require(s == 0, "\(o)")
            (s, o) = try RuntimeTests.harden(
                [
                    "minify", "oci:\(TestImages.layout):flask", "--profile", dir + "/p.json", "-o",
                    "oci:\(dir)/out:min",
                    "--report", dir + "/report.json", "--python-bytecode",
                ], runDir: run)
            try #require(s == 0, "\(o)")
            let plain =
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/plain.json"))) as? [String: Any]
                ?? [:]
            let report =
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/report.json")))
                as? [String: Any] ?? [:]
            let verification = report["verification"] as? [String: Any] ?? [:]
            #expect(
                verification["passed"] as? Bool == true && (verification["missingFiles"] as? [String])?.isEmpty == true,
                "\(verification)")
            #expect(
                (report["reductionPercent"] as? Double ?? 0) > (plain["reductionPercent"] as? Double ?? 100),
                "bytecode only is smaller")
            #expect(
                (report["packagesRemoved"] as? [String])?.sorted() == (plain["packagesRemoved"] as? [String])?.sorted(),
                "no package may disappear")
            (s, o) = try runProcess(["umoci", "unpack", "--image", "\(dir)/out:min", dir + "/bundle"])
            try #require(s == 0, "umoci: \(o)")
            let root = dir + "/bundle/rootfs"
            #expect(HostFS.exists(root + "/app/app.py"), "the app's own script was read: its source stays")
            #expect(
                HostFS.exists(root + "/usr/lib/python3/dist-packages/flask/app.pyc")
                    && !HostFS.exists(root + "/usr/lib/python3/dist-packages/flask/app.py"))
            #expect(!HostFS.exists(root + "/usr/lib/python3/dist-packages/flask/__pycache__/app.cpython-311.pyc"))
            let status = String(
                decoding: try HostFS.readFile(root + "/var/lib/dpkg/status", limit: 64 << 20), as: UTF8.self)
            #expect(status.contains("Package: python3-flask\n"))
            #expect(try RuntimeTests.leftovers(runDir: run) == [])
        }
    }

    /// Presets decide with the vulnerability database: standard drops unused packages with any known
    /// vulnerability, light only those with high or critical ones; aggressive drops every unused package.
    @Test func presetsDropWhatTheySay() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            try HostFS.makeDirectories(dir + "/osv")
            func advisory(_ id: String, _ package: String, _ vector: String) throws {
                let json =
                    #"{"id":"\#(id)","modified":"2026-01-01T00:00:00Z","severity":[{"type":"CVSS_V3","score":"\#(vector)"}],"affected":[{"package":{"ecosystem":"Debian:12","name":"\#(package)"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"99:0"}]}]}]}"#
                try HostFS.writeFileAtomically("\(dir)/osv/\(id).json", Array(json.utf8))
            }
            try advisory("TEST-1", "tar", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")  // critical
            try advisory("TEST-2", "gzip", "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N")  // low
            let db = dir + "/v.sqlite"
            var (s, o) = try runProcess([hardenBinary, "db", "import", "--db", db, dir + "/osv"])
            try #require(s == 0, "\(o)")
            let run = dir + "/run"
            (s, o) = try RuntimeTests.harden(
                ["profile", "oci:\(TestImages.layout):nginx", "--http-probe", "80", "-o", dir + "/p.json"], runDir: run)
            try #require(s == 0, "\(o)")
            func removed(_ preset: String) throws -> Set<String> {
                let (s, o) = try RuntimeTests.harden(
                    [
                        "minify", "oci:\(TestImages.layout):nginx", "--profile", dir + "/p.json", "--preset", preset,
                        "--db", db,
                        "-o", "oci:\(dir)/\(preset):min", "--report", "\(dir)/\(preset).json",
                    ], runDir: run)
                try #require(s == 0, "\(preset): \(o)")
                let report =
                    try JSONSerialization.jsonObject(with: Data(try HostFS.readFile("\(dir)/\(preset).json")))
                    as? [String: Any] ?? [:]
                #expect((report["verification"] as? [String: Any])?["passed"] as? Bool == true)
                return Set(
                    (report["packagesRemoved"] as? [String] ?? []).compactMap {
                        $0.split(separator: "@").first.map { String($0.dropFirst(4)) }
                    })
            }
            let standard = try removed("standard"), light = try removed("light"), aggressive = try removed("aggressive")
            #expect(
                standard.contains("tar") && standard.contains("gzip") && !standard.contains("sed"),
                "\(standard.sorted())")
            #expect(light.contains("tar") && !light.contains("gzip") && !light.contains("sed"), "\(light.sorted())")
            #expect(aggressive.contains("sed") && aggressive.contains("gzip"))
            // Package managers go in every preset unless used (a shell stays when a kept script names it in #!).
            #expect(light.contains("apt"))
            #expect(try RuntimeTests.leftovers(runDir: run) == [])
        }
    }

    /// `scan --profile` says which vulnerable packages the app used (pip-installed requests: yes; Django: no).
    @Test func scanWithAProfileMarksUsedPackages() throws {
        try RuntimeTests.require()
        try SharedFeeds.require()
        try withTemporaryDirectory { dir in
            let db = dir + "/v.sqlite"
            var (s, o) = try runProcess([
                hardenBinary, "db", "import", "--db", db, SharedFeeds.directory + "/osv-PyPI-all.zip",
            ])
            try #require(s == 0, "\(o)")
            (s, o) = try RuntimeTests.harden(
                ["profile", "oci:\(TestImages.layout):pyapp", "-o", dir + "/p.json"], runDir: dir + "/run")
            try #require(s == 0, "\(o)")
            (s, o) = try RuntimeTests.harden(
                [
                    "scan", "--db", db, "oci:\(TestImages.layout):pyapp", "--profile", dir + "/p.json", "--format",
                    "json", "-o",
                    dir + "/scan.json",
                ], runDir: dir + "/run")
            try #require(s == 0, "\(o)")
            let report =
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/scan.json"))) as? [String: Any]
                ?? [:]
            let findings = report["findings"] as? [[String: Any]] ?? []
            func used(_ name: String) -> Set<Bool> {
                Set(
                    findings.filter { ($0["package"] as? [String: Any])?["name"] as? String == name }.compactMap {
                        $0["packageUsed"] as? Bool
                    })
            }
            #expect(used("requests") == [true] && used("urllib3") == [true])
            #expect(used("Django") == [false])
            (s, o) = try RuntimeTests.harden(
                ["scan", "--db", db, "oci:\(TestImages.layout):base", "--profile", dir + "/p.json"],
                runDir: dir + "/run")
            #expect(s == 1 && o.contains("not of"), "\(o)")
        }
    }

    @Test func aProfileOfAnotherImageIsRefused() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            var (s, o) = try RuntimeTests.harden(
                ["profile", "oci:\(TestImages.layout):nginx", "--http-probe", "80", "-o", dir + "/p.json"],
                runDir: dir + "/run")
            try #require(s == 0, "\(o)")
            (s, o) = try RuntimeTests.harden(
                ["minify", "oci:\(TestImages.layout):base", "--profile", dir + "/p.json", "-o", "oci:\(dir)/out:min"],
                runDir: dir + "/run")
            #expect(s == 1 && o.contains("the profile is of image") && o.contains("not of"), "\(o)")
            // A profile whose digest was tampered with is refused the same way.
            var profile = try RuntimeTests.profile(dir + "/p.json")
            profile.image.configDigest = "sha256:" + String(repeating: "0", count: 64)
            try HostFS.writeFileAtomically(dir + "/bad.json", try JSONCoding.encode(profile))
            (s, o) = try RuntimeTests.harden(
                [
                    "minify", "oci:\(TestImages.layout):nginx", "--profile", dir + "/bad.json", "-o",
                    "oci:\(dir)/out:min",
                ],
                runDir: dir + "/run")
            #expect(s == 1 && o.contains("the profile is of image sha256:0000"), "\(o)")
            #expect(!HostFS.exists(dir + "/out"))
        }
    }
}

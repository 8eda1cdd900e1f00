// harden — runtimes installed without a package manager, on a real image (scripts/build-test-images.sh `runtimes`:
// PyPI wheels shipping Node.js, an OpenJDK runtime and redis-server, and Debian binaries copied out of their packages):
// every one found with the version its own package metadata states, more than syft finds, nothing reported twice
// on Debian images whose package database owns the same programs, and the SBOM outputs still validate.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenSBOM
import HardenSystem
import HardenTestSupport
import Testing

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct SBOMRuntimesTests {
    static func runtimesSBOM() throws -> (SBOM, CatalogContext) {
        try SBOMBuilder(cache: nil).catalog(
            try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: "runtimes")), reference: "runtimes")
    }

    /// A small file of the image's top layer, read with the tar reader.
    static func fileFromTopLayer(_ path: String) throws -> String {
        let image = try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: "runtimes"))
        let tar = TarReader(try image.openLayer(image.layers.count - 1), name: "runtimes")
        while let e = try tar.next() {
            if e.path.normalized == RawPath(path) {
                return String(decoding: try tar.readWholeBody(limit: 1 << 20), as: UTF8.self)
            }
        }
        throw HardenError(.notFound, "\(path) is not in the runtimes image's top layer")
    }

    @Test func everyRuntimeWithTheVersionItsPackageStates() throws {
        try TestImages.require()
        let (sbom, _) = try Self.runtimesSBOM()
        let expectedText = try Self.fileFromTopLayer("usr/local/share/harden-test/expected")
        let expected = expectedText.textLines().map { $0.split(separator: " ").map(String.init) }
        #expect(expected.count == 12)
        let binaries = sbom.packages.filter { $0.type == .binary }
        #expect(
            Set(binaries.map { "\($0.name) \($0.version)" }) == Set(expected.map { "\($0[0]) \($0[1])" }),
            "\(binaries.map(\.id))")
        for e in expected {
            let p = try #require(binaries.first { $0.name == e[0] }, "\(e[0])")
            #expect(p.files.contains(e[2]), "\(e[0]): \(p.files)")
            #expect(p.purl == "pkg:generic/\(e[0])@\(e[1])")
            #expect(p.cpes?.first?.contains(":\(e[1]):") == true, "\(p.cpes ?? [])")
            #expect(p.ownedBy == nil)
        }
    }

    /// CPython built from source into /usr/local (this machine's pyenv build, copied as the official python images
    /// lay it out): its version string is tail-merged into pyenv's prefix path, yet python is found at its exact version
    /// with the NVD CPE; Debian's own python3.11 (owned by python3.11-minimal) is reported once, as the deb.
    @Test func cpythonBuiltFromSourceIsFoundAtItsExactVersion() throws {
        let prefix = try runProcess(["python3", "-c", "import sys; print(sys.base_prefix)"]).output.trimmingCharacters(
            in: .whitespacesAndNewlines)
        let lib = prefix + "/lib/libpython3.11.so.1.0"
        try #require(HostFS.exists(lib), "this machine's pyenv CPython 3.11 (with --enable-shared) at \(prefix)")
        try #require(HostFS.exists("/usr/bin/python3.11"), "Debian's python3.11-minimal")
        let version = try runProcess(["python3", "-c", "import platform; print(platform.python_version())"]).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try withTemporaryDirectory { dir in
            let entries: [FixtureEntry] = [
                .file("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"),
                .file(
                    "var/lib/dpkg/status",
                    "Package: python3.11-minimal\nStatus: install ok installed\nVersion: 3.11.2-6+deb12u4\nArchitecture: amd64\nSource: python3.11\n\n"
                ),
                .file("var/lib/dpkg/info/python3.11-minimal.list", "/usr/bin/python3.11\n"),
                .file(
                    raw: Array("usr/bin/python3.11".utf8), try HostFS.readFile("/usr/bin/python3.11", limit: 1 << 30)),
                .file(raw: Array("usr/local/lib/libpython3.11.so.1.0".utf8), try HostFS.readFile(lib, limit: 1 << 30)),
                .file(
                    raw: Array("usr/local/bin/python3.11".utf8),
                    try HostFS.readFile(prefix + "/bin/python3.11", limit: 1 << 30)),
            ]
            try Fixtures.ociLayout(
                at: dir + "/img", images: [(tag: "t", layers: [try Fixtures.layer(entries)], config: nil)])
            let (sbom, _) = try SBOMBuilder(cache: nil).catalog(
                try ImageLoader.open(.ociLayout(path: dir + "/img", tag: "t")), reference: "pyenv")
            let pythons = sbom.packages.filter { $0.name == "python" }
            #expect(pythons.map(\.version) == [version], "\(sbom.packages.map(\.id))")
            #expect(pythons.first?.files.contains("/usr/local/lib/libpython3.11.so.1.0") == true)
            #expect(pythons.first?.files.contains("/usr/bin/python3.11") == false, "Debian's is the deb's")
            #expect(pythons.first?.cpes?.contains("cpe:2.3:a:python:python:\(version):*:*:*:*:*:*:*") == true)
            #expect(sbom.packages.filter { $0.name == "python3.11-minimal" }.count == 1)
        }
    }

    @Test func syftFindsNoRuntimeHardenMisses() throws {
        try TestImages.require()
        try TestImages.requireTools("syft")
        try withTemporaryDirectory { dir in
            let (status, out) = try runProcess(
                ["syft", "-q", "oci-archive:\(TestImages.directory)/runtimes.oci.tar", "-o", "json=\(dir)/syft.json"],
                environment: ["SYFT_CHECK_FOR_APP_UPDATE": "false"])
            try #require(status == 0, "syft failed: \(out)")
            let json =
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/syft.json", limit: 1 << 28)))
                as? [String: Any]
            let artifacts = (json?["artifacts"] as? [[String: Any]] ?? []).filter { $0["type"] as? String == "binary" }
            // syft's binary classifiers: every file it classifies, harden classifies with the same version.
            let theirs = Set(
                artifacts.flatMap { a in
                    ((a["locations"] as? [[String: Any]]) ?? []).compactMap { l in
                        (l["path"] as? String).map { "\($0) \(a["version"] as? String ?? "")" }
                    }
                })
            let (sbom, _) = try Self.runtimesSBOM()
            let ours = Set(
                sbom.packages.filter { $0.type == .binary }.flatMap { p in p.files.map { "\($0) \(p.version)" } })
            #expect(theirs.count >= 6, "syft found \(theirs.sorted())")
            #expect(theirs.subtracting(ours).sorted() == [], "classified by syft only")
            #expect(ours.count > theirs.count)
        }
    }

    @Test(arguments: ["nginx", "node", "jvm", "postgres", "flask"])
    func runtimesAPackageDatabaseOwnsAreNotReportedTwice(tag: String) throws {
        try TestImages.require()
        let (sbom, context) = try SBOMBuilder(cache: nil).catalog(
            try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: tag)), reference: tag)
        #expect(sbom.packages.filter { $0.type == .binary }.map(\.id) == [])
        // The classifiers did see the runtime: its evidence was captured (so the absence is ownership, not blindness).
        let program =
            [
                "nginx": "usr/sbin/nginx", "node": "usr/lib/x86_64-linux-gnu/libnode.so.108",
                "jvm": "usr/lib/jvm/java-17-openjdk-amd64/release",
                "postgres": "usr/lib/postgresql/15/bin/postgres", "flask": "usr/bin/python3.11",
            ][tag] ?? ""
        #expect(context.content(RawPath(program)) != nil, "\(program) was not captured")
    }

    @Test(arguments: ["cyclonedx", "spdx"])
    func outputsWithRuntimesValidate(kind: String) throws {
        try TestImages.require()
        try withTemporaryDirectory { dir in
            let (sbom, _) = try Self.runtimesSBOM()
            let text = try SBOMEncoder.render(sbom, format: kind == "spdx" ? .spdxJSON : .cyclonedxJSON)
            #expect(
                text.contains(kind == "spdx" ? "cpe23Type" : "\"cpe\" : \"cpe:2.3:a:")
                    || text.contains("\"cpe\":\"cpe:2.3:a:"))
            try HostFS.writeFileAtomically(dir + "/sbom.json", Array(text.utf8))
            let (status, out) = try runProcess([
                "python3", packageRoot + "/scripts/validate.py", kind, dir + "/sbom.json",
            ])
            #expect(status == 0, "\(out)")
        }
    }
}

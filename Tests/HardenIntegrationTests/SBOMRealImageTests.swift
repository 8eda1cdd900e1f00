// harden — SBOMs of the real test images: compared with syft, validated by the reference libraries.
import Foundation
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
struct SBOMRealImageTests {
    /// (type, name, version) of deb and python packages, python names PEP 503-normalised.
    static func keys(types: [String], names: [String], versions: [String]) -> Set<String> {
        var out = Set<String>()
        for (i, t) in types.enumerated() where t == "deb" || t == "python" {
            out.insert("\(t) \(t == "python" ? PURL.pep503(names[i]) : names[i]) \(versions[i])")
        }
        return out
    }

    @Test(arguments: TestImages.tags)
    func packagesEqualSyfts(tag: String) throws {
        try TestImages.require()
        try TestImages.requireTools("syft")
        try withTemporaryDirectory { dir in
            let (status, out) = try runProcess(
                ["syft", "-q", "oci-archive:\(TestImages.directory)/\(tag).oci.tar", "-o", "json=\(dir)/syft.json"],
                environment: ["SYFT_CHECK_FOR_APP_UPDATE": "false"])
            try #require(status == 0, "syft failed: \(out)")
            let json =
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/syft.json", limit: 1 << 28)))
                as? [String: Any]
            let artifacts = json?["artifacts"] as? [[String: Any]] ?? []
            let theirs = Self.keys(
                types: artifacts.map { $0["type"] as? String ?? "" },
                names: artifacts.map { $0["name"] as? String ?? "" },
                versions: artifacts.map { $0["version"] as? String ?? "" })
            let image = try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: tag))
            let sbom = try SBOMBuilder(cache: nil).build(image, reference: tag)
            let ours = Self.keys(
                types: sbom.packages.map(\.type.rawValue), names: sbom.packages.map(\.name),
                versions: sbom.packages.map(\.version))
            #expect(theirs.count > 50)
            // No differences remain on these images; any new one must be listed here with its justification.
            #expect(ours.subtracting(theirs).sorted() == [], "found by harden only")
            #expect(theirs.subtracting(ours).sorted() == [], "found by syft only")
            if tag == "flask" {
                let flask = try #require(sbom.packages.first { $0.type == .python && $0.name == "Flask" })
                #expect(flask.ownedBy == "deb:python3-flask", "Debian's Flask must be marked as OS-owned")
            }
            #expect(sbom.os?.id == "debian" && sbom.os?.codename == "bookworm")
            #expect(sbom.packages.filter { $0.type == .deb }.allSatisfy { $0.layer != nil })
        }
    }

    @Test func layerOfEachPackageIsTheOneThatIntroducedIt() throws {
        try TestImages.require()
        let sbom = try SBOMBuilder(cache: nil).build(
            try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: "nginx")), reference: "nginx")
        #expect(sbom.packages.first { $0.name == "nginx-light" || $0.name == "nginx" }?.layer?.index == 1)
        #expect(sbom.packages.first { $0.name == "libc6" }?.layer?.index == 0)
        let libc = try #require(sbom.packages.first { $0.name == "libc6" })
        // dpkg lists /lib/x86_64-linux-gnu/libc.so.6; under usr-merge that is /usr/lib/… in the image.
        #expect(libc.files.contains("/usr/lib/x86_64-linux-gnu/libc.so.6"), "\(libc.files.count) files")
        #expect(libc.sourceName == "glibc")
    }

    @Test(arguments: ["cyclonedx", "spdx"])
    func outputsValidateWithTheReferenceLibraries(kind: String) throws {
        try TestImages.require()
        try #require(
            (try? runProcess(["python3", "-c", "import cyclonedx, spdx_tools"]).status) == 0,
            "cyclonedx-python-lib and spdx-tools are missing: run scripts/setup.sh")
        try withTemporaryDirectory { dir in
            let sbom = try SBOMBuilder(cache: nil).build(
                try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: "flask")), reference: "flask")
            let text = try SBOMEncoder.render(sbom, format: kind == "spdx" ? .spdxJSON : .cyclonedxJSON)
            try HostFS.writeFileAtomically(dir + "/sbom.json", Array(text.utf8))
            let script = packageRoot + "/scripts/validate.py"
            let (status, out) = try runProcess(["python3", script, kind, dir + "/sbom.json"])
            #expect(status == 0, "\(out)")
            // The validator must be able to fail: a broken document is rejected.
            let broken =
                kind == "spdx"
                ? text.replacingOccurrences(of: "\"SPDXRef-DOCUMENT\"", with: "\"not an id\"")
                : text.replacingOccurrences(of: "\"operating-system\"", with: "\"no-such-type\"")
            try HostFS.writeFileAtomically(dir + "/broken.json", Array(broken.utf8))
            #expect(try runProcess(["python3", script, kind, dir + "/broken.json"]).status != 0)
        }
    }

    /// ISA-L's inflate and zlib's, and one thread or several (`--jobs 1`: layers one after the other, no read-ahead;
    /// `--jobs 2`: layers side by side, each decompressed ahead of its parsing) give every test image the same SBOM
    /// and the same inspect output (layer digests, sizes, files).
    @Test(arguments: TestImages.tags)
    func theSameResultWithISALAndZlibAndAnyJobs(tag: String) throws {
        try TestImages.require()
        try withTemporaryDirectory { dir in
            var outputs: [(String, String)] = []
            for (inflate, jobs) in [("isal", "2"), ("zlib", "2"), ("isal", "1"), ("zlib", "1")] {
                var text = ""
                for command in [["sbom", "--format", "json"], ["inspect", "--format", "json"]] {
                    let (s, o) = try runProcess(
                        [hardenBinary] + command + [
                            "--jobs", jobs, "-o", dir + "/out", "oci:\(TestImages.layout):\(tag)",
                        ],
                        environment: [
                            "HARDEN_CACHE_DIR": dir + "/cache-\(inflate)-\(jobs)", "HARDEN_INFLATE": inflate,
                        ])
                    try #require(s == 0, "\(inflate) --jobs \(jobs) \(command): \(o)")
                    // Timestamps aside, byte for byte.
                    text += String(decoding: try HostFS.readFile(dir + "/out", limit: 1 << 28), as: UTF8.self)
                        .split(separator: "\n").filter { !$0.contains("\"created\"") && !$0.contains("Timestamp") }
                        .joined(separator: "\n")
                }
                outputs.append(("\(inflate) --jobs \(jobs)", text))
            }
            #expect(outputs[0].1.contains("\"packages\""), "\(tag): an SBOM was written")
            for (name, text) in outputs.dropFirst() {
                #expect(text == outputs[0].1, "\(tag): \(name) disagrees with \(outputs[0].0)")
            }
        }
    }

    /// `-o` naming a device (`/dev/null`) writes to it: the atomic rename used for files would replace the device
    /// node with a file (found when a benchmark's `-o /dev/null` turned the host's /dev/null into a file).
    @Test func outputToADeviceLeavesTheDevice() throws {
        try TestImages.require()
        try withTemporaryDirectory { dir in
            let (m, mo) = try runProcess(["mknod", "-m", "666", dir + "/null", "c", "1", "3"])
            try #require(m == 0, "mknod needs root: \(mo)")
            let (s, o) = try runProcess(
                [hardenBinary, "sbom", "--quiet", "-o", dir + "/null", "oci:\(TestImages.layout):base"],
                environment: ["HARDEN_CACHE_DIR": dir + "/cache"])
            #expect(s == 0, "\(o)")
            var st = stat()
            #expect(lstat(dir + "/null", &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR, "still a character device")
            #expect(try HostFS.listDirectory(dir).sorted() == ["cache", "null"], "no temporary file left")
        }
    }

    @Test func sbomCommandWritesEveryFormat() throws {
        try TestImages.require()
        try #require(HostFS.exists(hardenBinary), "build harden first (swift build)")
        try withTemporaryDirectory { dir in
            for format in ["table", "json", "cyclonedx-json", "spdx-json"] {
                let (status, out) = try runProcess(
                    [
                        hardenBinary, "sbom", "--quiet", "--format", format, "-o", dir + "/out",
                        "\(TestImages.directory)/base.docker.tar",
                    ],
                    environment: ["HARDEN_CACHE_DIR": dir + "/cache"])
                #expect(status == 0, "\(format): \(out)")
                let text = String(decoding: try HostFS.readFile(dir + "/out", limit: 1 << 26), as: UTF8.self)
                #expect(text.contains("libc6"), "\(format)")
            }
        }
    }
}

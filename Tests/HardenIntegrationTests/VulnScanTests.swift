// harden — vulnerability matching on real images and real feeds, checked by an independent matcher.
import Foundation
import HardenCore
import HardenOCI
import HardenPackages
import HardenSBOM
import HardenSystem
import HardenTestSupport
import HardenVulnDB
import Testing

#if canImport(Glibc)
import Glibc
#endif

enum SharedFeeds {
    static let directory = packageRoot + "/../shared/feeds"
    static func require() throws {
        try #require(HostFS.exists(directory + "/osv-PyPI-all.zip"), "shared feeds missing at \(directory)")
    }
}

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct VulnScanTests {
    /// The pip-installed packages of the pyapp image (scripts/build-test-images.sh).
    static let pipPackages = [
        "requests 2.19.0", "urllib3 1.23", "jinja2 2.10", "MarkupSafe 2.1.3", "idna 2.7", "certifi 2018.4.16",
        "chardet 3.0.4", "django 3.2.24", "pyyaml 6.0.1",
    ]

    @Test func pipInstalledPackagesMatchAnIndependentOSVEvaluation() throws {
        try TestImages.require()
        try SharedFeeds.require()
        try #require(
            HostFS.exists(TestImages.directory + "/pyapp.oci.tar"),
            "pyapp image missing: run scripts/build-test-images.sh")
        try withTemporaryDirectory { dir in
            let zip = SharedFeeds.directory + "/osv-PyPI-all.zip"
            _ = try VulnerabilityDatabase.importFeeds(try FeedParser.load(zip), into: dir + "/v.sqlite")
            let db = try VulnerabilityDatabase(readingAt: dir + "/v.sqlite")
            let sbom = try SBOMBuilder(cache: nil).build(
                try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: "pyapp")), reference: "pyapp")
            // The SBOM sees exactly the pip packages as not OS-owned.
            let free = Set(
                sbom.packages.filter { $0.type == .python && $0.ownedBy == nil }.map {
                    "\(PURL.pep503($0.name)) \($0.version)"
                })
            #expect(
                free
                    == Set(
                        Self.pipPackages.map { p in
                            let s = p.split(separator: " ")
                            return "\(PURL.pep503(String(s[0]))) \(s[1])"
                        }))
            let findings = try Matcher(database: db).match(sbom)
            // Expected: computed by a separate Python script with `packaging` and the OSV rules.
            try HostFS.writeFileAtomically(
                dir + "/pkgs.txt", Array((Self.pipPackages.joined(separator: "\n") + "\n").utf8))
            let (status, out) = try runProcess([
                "sh", "-c", "python3 '\(packageRoot)/Tests/Tools/osv-expected.py' '\(zip)' < '\(dir)/pkgs.txt'",
            ])
            try #require(status == 0, "independent matcher failed: \(out)")
            var expected: [String: Set<String>] = [:]
            for line in out.split(separator: "\n") {
                let f = line.split(separator: " ")
                guard f.count == 3 else { continue }
                expected[PURL.pep503(String(f[0])), default: []].insert(String(f[2]))
            }
            #expect(expected.values.reduce(0) { $0 + $1.count } >= 10, "the test image should carry known advisories")
            var ours: [String: Set<String>] = [:]
            for f in findings where f.package.type == "python" {
                // A finding merges aliases; count the PyPA advisory ids it stands for.
                let ids = Set(f.ids.filter { $0.hasPrefix("PYSEC-") || $0.hasPrefix("GHSA-") })
                ours[PURL.pep503(f.package.name), default: []].formUnion(ids)
            }
            for name in Set(expected.keys).union(ours.keys).sorted() {
                #expect(
                    ours[name, default: []].intersection(expected[name, default: []]) == expected[name, default: []],
                    "\(name): missing advisories")
                #expect(
                    ours[name, default: []].subtracting(expected[name, default: []]).allSatisfy { id in
                        // Extra ids may only be aliases of expected advisories (never a separate false positive).
                        findings.contains {
                            $0.ids.contains(id) && !$0.ids.filter { expected[name, default: []].contains($0) }.isEmpty
                        }
                    }, "\(name): unexpected advisories")
            }
            // Fixed versions give no findings; Debian-owned Python packages (pip, setuptools) are not matched against PyPA.
            #expect(!findings.contains { $0.package.name == "PyYAML" })
            #expect(
                !findings.contains {
                    $0.package.name == "pip" || $0.package.name == "setuptools" || $0.package.name == "wheel"
                })
            // One finding per (vulnerability, package).
            #expect(Set(findings.map { "\($0.id)|\($0.package.ref)" }).count == findings.count)
        }
    }

    @Test func debianOwnedFlaskIsNotMatchedAgainstPyPA() throws {
        try TestImages.require()
        try SharedFeeds.require()
        try withTemporaryDirectory { dir in
            _ = try VulnerabilityDatabase.importFeeds(
                try FeedParser.load(SharedFeeds.directory + "/osv-PyPI-all.zip"), into: dir + "/v.sqlite")
            let sbom = try SBOMBuilder(cache: nil).build(
                try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: "flask")), reference: "flask")
            let findings = try Matcher(database: try VulnerabilityDatabase(readingAt: dir + "/v.sqlite")).match(sbom)
            // Flask 2.2.2, Werkzeug 2.2.2 and Jinja2 3.1.2 have PyPA advisories, but Debian ships them: no PyPA findings.
            #expect(findings.filter { $0.package.type == "python" }.isEmpty)
        }
    }

    static let trackerFixture = """
        {
          "glibc": {
            "CVE-2099-0001": {"description": "fixed in a later point release", "scope": "remote",
              "releases": {"bookworm": {"status": "resolved", "repositories": {"bookworm": "2.36-9+deb12u1"},
                                        "fixed_version": "2.36-9+deb12u99", "urgency": "high"}}},
            "CVE-2099-0002": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "2.36-9+deb12u1", "urgency": "low"}}},
            "CVE-2099-0003": {"releases": {"bookworm": {"status": "open", "urgency": "unimportant", "nodsa": "Minor issue", "nodsa_reason": "ignored"}}},
            "CVE-2099-0004": {"releases": {"bookworm": {"status": "undetermined", "urgency": "not yet assigned"}}},
            "CVE-2099-0005": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "0", "urgency": "unimportant"}}},
            "CVE-2099-0006": {"releases": {"bullseye": {"status": "open", "urgency": "medium"}}},
            "TEMP-0000000-ABCDEF": {"releases": {"bookworm": {"status": "open", "urgency": "low"}}}
          },
          "libcap2": {
            "CVE-2099-0020": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "1:2.66-4+deb12u9", "urgency": "medium*"}}},
            "CVE-2099-0021": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "2.99-1", "urgency": "medium"}}}
          },
          "e2fsprogs": {
            "CVE-2099-0030": {"releases": {"bookworm": {"status": "open", "urgency": "low", "nodsa": "", "nodsa_reason": "postponed"}}}
          },
          "bash": {
            "CVE-2099-0040": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "5.2.15-2+b1", "urgency": "medium"}}}
          }
        }
        """

    @Test func debianTrackerFixtureOnTheRealBaseImage() throws {
        try TestImages.require()
        try withTemporaryDirectory { dir in
            try HostFS.writeFileAtomically(dir + "/tracker.json", Array(Self.trackerFixture.utf8))
            _ = try VulnerabilityDatabase.importFeeds(
                try FeedParser.load(dir + "/tracker.json"), into: dir + "/v.sqlite")
            let sbom = try SBOMBuilder(cache: nil).build(
                try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: "base")), reference: "base")
            let findings = try Matcher(database: try VulnerabilityDatabase(readingAt: dir + "/v.sqlite")).match(sbom)
            func packages(_ id: String) -> Set<String> { Set(findings.filter { $0.id == id }.map(\.package.name)) }
            // Matched through the source package: every binary of glibc.
            #expect(packages("CVE-2099-0001") == ["libc6", "libc-bin"])
            #expect(findings.first { $0.id == "CVE-2099-0001" }?.severity == .high)
            #expect(findings.first { $0.id == "CVE-2099-0001" }?.fixedVersions == ["2.36-9+deb12u99"])
            #expect(packages("CVE-2099-0002").isEmpty, "already fixed")
            #expect(findings.first { $0.id == "CVE-2099-0003" }?.fixState == .wontFix)
            #expect(findings.first { $0.id == "CVE-2099-0003" }?.severity == .negligible)
            #expect(packages("CVE-2099-0004").isEmpty, "undetermined is not reported")
            #expect(packages("CVE-2099-0005").isEmpty, "fixed_version 0 means never affected")
            #expect(packages("CVE-2099-0006").isEmpty, "another release")
            #expect(!findings.contains { $0.id.hasPrefix("TEMP-") })
            // Epochs: 1:2.66-4+deb12u3 < 1:2.66-4+deb12u9, but > 2.99-1 (epoch 0).
            #expect(packages("CVE-2099-0020") == ["libcap2"])
            #expect(findings.first { $0.id == "CVE-2099-0020" }?.severity == .medium)
            #expect(packages("CVE-2099-0021").isEmpty)
            // Open with a postponed no-DSA: still reported as not fixed, for every binary of e2fsprogs.
            let e2 = findings.filter { $0.id == "CVE-2099-0030" }
            #expect(Set(e2.map(\.package.name)).isSuperset(of: ["e2fsprogs", "libcom-err2", "libext2fs2", "libss2"]))
            #expect(e2.allSatisfy { $0.fixState == .notFixed })
            // binNMU: bash 5.2.15-2+b13 is built from source 5.2.15-2, which is compared (and is below 5.2.15-2+b1).
            #expect(packages("CVE-2099-0040") == ["bash"])
            #expect(findings.first { $0.id == "CVE-2099-0040" }?.matchedOn.contains("source bash 5.2.15-2") == true)
        }
    }

    @Test func scanCommandGatesAndWritesEveryFormat() throws {
        try TestImages.require()
        try SharedFeeds.require()
        try #require(HostFS.exists(hardenBinary), "build harden first (swift build)")
        try withTemporaryDirectory { dir in
            let env = ["HARDEN_DB": dir + "/v.sqlite", "HARDEN_CACHE_DIR": dir + "/cache"]
            let (s0, o0) = try runProcess(
                [hardenBinary, "db", "import", SharedFeeds.directory + "/osv-PyPI-all.zip"], environment: env)
            #expect(s0 == 0, "\(o0)")
            let image = "oci:\(TestImages.layout):pyapp"
            let (s1, o1) = try runProcess([hardenBinary, "scan", "--fail-on", "high", image], environment: env)
            #expect(s1 == 2, "high findings must fail the gate: \(o1)")
            #expect(o1.contains("CVE-2023-43804"))
            let (s2, _) = try runProcess([hardenBinary, "scan", "--fail-on", "critical", image], environment: env)
            #expect(s2 == 0)
            for format in ["json", "sarif", "cyclonedx-json"] {
                let (s, o) = try runProcess(
                    [hardenBinary, "scan", "--format", format, "-o", dir + "/out.\(format)", image], environment: env)
                #expect(s == 0, "\(format): \(o)")
            }
            let cdx =
                try JSONSerialization.jsonObject(
                    with: Data(try HostFS.readFile(dir + "/out.cyclonedx-json", limit: 1 << 26)))
                as? [String: Any]
            let refs = Set(((cdx?["components"] as? [[String: Any]]) ?? []).compactMap { $0["bom-ref"] as? String })
            let vulns = (cdx?["vulnerabilities"] as? [[String: Any]]) ?? []
            #expect(!vulns.isEmpty)
            #expect(
                vulns.allSatisfy { v in
                    ((v["affects"] as? [[String: Any]]) ?? []).allSatisfy { refs.contains($0["ref"] as? String ?? "") }
                })
            let (sv, ov) = try runProcess([
                "python3", packageRoot + "/scripts/validate.py", "cyclonedx", dir + "/out.cyclonedx-json",
            ])
            #expect(sv == 0, "\(ov)")
            let sarif =
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/out.sarif", limit: 1 << 26)))
                as? [String: Any]
            #expect(sarif?["version"] as? String == "2.1.0")
            let (ss, os) = try runProcess([
                "python3", packageRoot + "/scripts/validate.py", "sarif", dir + "/out.sarif",
            ])
            #expect(ss == 0, "SARIF must validate against the OASIS 2.1.0 schema: \(os)")
            // The validator can fail: a level outside the SARIF enumeration is rejected.
            let broken = String(decoding: try HostFS.readFile(dir + "/out.sarif", limit: 1 << 26), as: UTF8.self)
                .replacingOccurrences(of: "\"level\" : \"error\"", with: "\"level\" : \"catastrophic\"")
            try HostFS.writeFileAtomically(dir + "/broken.sarif", Array(broken.utf8))
            #expect(
                try runProcess(["python3", packageRoot + "/scripts/validate.py", "sarif", dir + "/broken.sarif"]).status
                    != 0)
            let (s3, o3) = try runProcess([hardenBinary, "db", "status", "--format", "json"], environment: env)
            #expect(s3 == 0 && o3.contains("osv-zip:PyPI"), "\(o3)")
            // A missing database is a one-line error, exit 1.
            let (s4, o4) = try runProcess(
                [hardenBinary, "scan", image], environment: ["HARDEN_DB": dir + "/none.sqlite"])
            #expect(s4 == 1 && o4.contains("none.sqlite") && o4.split(separator: "\n").count == 1, "\(o4)")
        }
    }

    /// A scratch directory with a database of the PyPI feed (the pyapp image's findings), and the environment
    /// that points harden at it.
    static func withPyPIDatabase(_ body: (_ dir: String, _ env: [String: String]) throws -> Void) throws {
        try TestImages.require()
        try SharedFeeds.require()
        try #require(HostFS.exists(hardenBinary), "build harden first (swift build)")
        try withTemporaryDirectory { dir in
            let env = ["HARDEN_DB": dir + "/v.sqlite", "HARDEN_CACHE_DIR": dir + "/cache"]
            _ = try runProcess(
                [hardenBinary, "db", "import", SharedFeeds.directory + "/osv-PyPI-all.zip"], environment: env)
            try body(dir, env)
        }
    }

    @Test func vexAndIgnoreRulesSuppressFindingsAndTheGate() throws {
        try Self.withPyPIDatabase { dir, env in
            let vex = """
                {"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.invalid/vex/1", "author": "test", "timestamp": "2026-01-01T00:00:00Z",
                 "version": 1, "statements": [{"vulnerability": {"name": "CVE-2023-43804"}, "products": [{"@id": "pkg:pypi/urllib3@1.23"}],
                 "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"}]}
                """
            try HostFS.writeFileAtomically(dir + "/vex.json", Array(vex.utf8))
            let ignore = """
                ignore:
                  - vulnerability: CVE-2024-3651
                    package: {name: idna, type: python}
                    until: 2999-12-31
                    reason: inputs are trusted
                  - vulnerability: CVE-2018-18074
                    until: 2000-01-01
                """
            try HostFS.writeFileAtomically(dir + "/ignore.yaml", Array(ignore.utf8))
            let image = "oci:\(TestImages.layout):pyapp"
            let (s1, o1) = try runProcess(
                [
                    hardenBinary, "scan", "--fail-on", "high", "--vex", dir + "/vex.json", "--ignore",
                    dir + "/ignore.yaml",
                    "--format", "json", "-o", dir + "/r.json", image,
                ], environment: env)
            #expect(s1 == 0, "both high findings are suppressed: \(o1)")
            #expect(o1.contains("expired"), "the expired rule is reported: \(o1)")
            let report =
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/r.json", limit: 1 << 26)))
                as? [String: Any]
            let findings = (report?["findings"] as? [[String: Any]]) ?? []
            let urllib3 = findings.first { $0["id"] as? String == "CVE-2023-43804" }
            let suppressed = urllib3?["suppressed"] as? [String: Any]
            #expect(
                suppressed?["kind"] as? String == "vex"
                    && suppressed?["justification"] as? String == "vulnerable_code_not_in_execute_path")
            #expect(
                (findings.first { $0["id"] as? String == "CVE-2024-3651" }?["suppressed"] as? [String: Any])?["kind"]
                    as? String == "ignore"
            )
            #expect(
                findings.first { $0["id"] as? String == "CVE-2018-18074" }?["suppressed"] == nil,
                "an expired rule no longer applies")
            // Broken inputs are one-line errors naming the file.
            try HostFS.writeFileAtomically(dir + "/bad.yaml", Array("ignore:\n  - colour: blue\n".utf8))
            let (s2, o2) = try runProcess(
                [hardenBinary, "scan", "--ignore", dir + "/bad.yaml", image], environment: env)
            #expect(s2 == 1 && o2.contains("bad.yaml") && o2.contains("colour"), "\(o2)")
        }
    }

    /// Supplier VEX: a CSAF 2.0 VEX directory (one file per CVE, as providers publish) and a CycloneDX VEX document,
    /// both schema-valid, suppress exactly the findings they name in a real image, by document.
    @Test func supplierVEXInCSAFAndCycloneDXSuppressesWhatItNames() throws {
        try Self.withPyPIDatabase { dir, env in
            let date = "2026-01-02T00:00:00Z"
            let csaf: [String: Any] = [
                "document": [
                    "category": "csaf_vex", "csaf_version": "2.0", "title": "urllib3 in the example app",
                    "publisher": ["category": "vendor", "name": "Example", "namespace": "https://example.invalid"],
                    "tracking": [
                        "id": "EX-CVE-2023-43804", "status": "final", "version": "1", "initial_release_date": date,
                        "current_release_date": date,
                        "revision_history": [["date": date, "number": "1", "summary": "Initial version."]],
                    ],
                ],
                "product_tree": [
                    "branches": [
                        [
                            "category": "vendor", "name": "Python Packaging Index",
                            "branches": [
                                [
                                    "category": "product_name", "name": "urllib3",
                                    "branches": [
                                        [
                                            "category": "product_version_range", "name": "vers:pypi/<1.24",
                                            "product": [
                                                "name": "urllib3 before 1.24", "product_id": "URLLIB3-OLD",
                                                "product_identification_helper": ["purl": "pkg:pypi/urllib3"],
                                            ],
                                        ]
                                    ],
                                ]
                            ],
                        ]
                    ]
                ],
                "vulnerabilities": [
                    [
                        "cve": "CVE-2023-43804", "product_status": ["known_not_affected": ["URLLIB3-OLD"]],
                        "flags": [["label": "vulnerable_code_not_in_execute_path", "product_ids": ["URLLIB3-OLD"]]],
                    ]
                ],
            ]
            try HostFS.makeDirectories(dir + "/csaf/2023")
            let csafFile = dir + "/csaf/2023/ex-cve-2023-43804.json"
            try HostFS.writeFileAtomically(csafFile, Array(try JSONSerialization.data(withJSONObject: csaf)))
            try HostFS.writeFileAtomically(dir + "/csaf/index.txt", Array("2023/ex-cve-2023-43804.json\n".utf8))
            let cdx: [String: Any] = [
                "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
                "components": [
                    [
                        "type": "library", "bom-ref": "idna-ref", "name": "idna", "version": "2.7",
                        "purl": "pkg:pypi/idna",
                    ]
                ],
                "vulnerabilities": [
                    [
                        "id": "CVE-2024-3651",
                        "analysis": ["state": "not_affected", "justification": "code_not_reachable"],
                        "affects": [["ref": "idna-ref"]],
                    ]
                ],
            ]
            try HostFS.writeFileAtomically(dir + "/cdx.json", Array(try JSONSerialization.data(withJSONObject: cdx)))
            for (kind, file) in [("csaf", csafFile), ("cyclonedx", dir + "/cdx.json")] {
                let (vs, vo) = try runProcess(["python3", packageRoot + "/scripts/validate.py", kind, file])
                #expect(vs == 0, "\(kind): \(vo)")
            }
            // The CSAF validator can fail: a document without tracking is rejected.
            var broken = csaf
            broken["document"] = ["category": "csaf_vex", "csaf_version": "2.0", "title": "t"]
            try HostFS.writeFileAtomically(
                dir + "/broken.json", Array(try JSONSerialization.data(withJSONObject: broken)))
            #expect(
                try runProcess(["python3", packageRoot + "/scripts/validate.py", "csaf", dir + "/broken.json"]).status
                    != 0)
            let image = "oci:\(TestImages.layout):pyapp"
            let (s1, o1) = try runProcess(
                [
                    hardenBinary, "scan", "--vex", dir + "/csaf", "--vex", dir + "/cdx.json", "--format", "json", "-o",
                    dir + "/r.json", image,
                ], environment: env)
            #expect(s1 == 0, "\(o1)")
            let report =
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/r.json", limit: 1 << 26)))
                as? [String: Any]
            let findings = (report?["findings"] as? [[String: Any]]) ?? []
            let suppressed = Dictionary(
                findings.compactMap { f in
                    (f["suppressed"] as? [String: Any]).map { (f["id"] as? String ?? "", $0) }
                }, uniquingKeysWith: { a, _ in a })
            #expect(Set(suppressed.keys) == ["CVE-2023-43804", "CVE-2024-3651"], "\(suppressed.keys)")
            #expect(suppressed["CVE-2023-43804"]?["source"] as? String == csafFile + " (CSAF)")
            #expect(suppressed["CVE-2023-43804"]?["justification"] as? String == "vulnerable_code_not_in_execute_path")
            #expect(suppressed["CVE-2024-3651"]?["source"] as? String == dir + "/cdx.json (CycloneDX)")
            #expect(findings.contains { $0["id"] as? String == "CVE-2018-18074" && $0["suppressed"] == nil })
            // The table lists what was suppressed and by which document.
            let (s2, o2) = try runProcess(
                [hardenBinary, "scan", "--vex", dir + "/csaf", "--vex", dir + "/cdx.json", image], environment: env)
            #expect(s2 == 0 && o2.contains("CVE-2024-3651 idna") && o2.contains("\(dir)/cdx.json (CycloneDX)"), "\(o2)")
            // The policy's vex: (relative to the policy file) suppresses for `check`'s gate.
            let gate = "vulnerabilities:\n  fail_on: high\nchecks:\n  ignore: [CIS-DI-0004]\n"
            try HostFS.writeFileAtomically(dir + "/plain.yaml", Array(gate.utf8))
            let withVEX = gate.replacingOccurrences(of: "checks:", with: "  vex: [csaf, cdx.json]\nchecks:")
            try HostFS.writeFileAtomically(dir + "/policy.yaml", Array(withVEX.utf8))
            let (s4, o4) = try runProcess(
                [hardenBinary, "check", image, "--policy", dir + "/plain.yaml"], environment: env)
            #expect(s4 == 2 && o4.contains("CVE-2023-43804"), "\(o4)")
            let (s5, o5) = try runProcess(
                [hardenBinary, "check", image, "--policy", dir + "/policy.yaml"], environment: env)
            #expect(s5 == 0, "\(o5)")
            // A file that is no VEX is a one-line error naming it.
            try HostFS.writeFileAtomically(dir + "/sbom.json", Array(#"{"spdxVersion": "SPDX-2.3"}"#.utf8))
            let (s3, o3) = try runProcess([hardenBinary, "scan", "--vex", dir + "/sbom.json", image], environment: env)
            #expect(s3 == 1 && o3.contains("sbom.json: not a VEX document"), "\(o3)")
        }
    }

    /// VEX attached to the image as a signed attestation: applied with the supplier's key, refused (and said) with
    /// another key, applied unverified only with --vex-unsigned, and --vex image alone is a one-line error.
    @Test func vexAttachedToTheImageIsAppliedWhenItsSignatureVerifies() throws {
        try Self.withPyPIDatabase { dir, env in
            let layout = "oci:\(dir)/layout:v1"
            var (s, o) = try runProcess([hardenBinary, "convert", "oci:\(TestImages.layout):pyapp", layout])
            try #require(s == 0, "\(o)")
            try opensslKeyPair(dir, "supplier")
            try opensslKeyPair(dir, "other")
            let vex = """
                {"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.invalid/vex/attached", "author": "supplier",
                 "timestamp": "2026-01-01T00:00:00Z", "version": 1, "statements": [{"vulnerability": {"name": "CVE-2023-43804"},
                 "products": [{"@id": "pkg:pypi/urllib3@1.23"}], "status": "not_affected", "justification": "inline_mitigations_already_exist"}]}
                """
            try HostFS.writeFileAtomically(dir + "/vex.json", Array(vex.utf8))
            (s, o) = try runProcess([
                hardenBinary, "attest", layout, "--key", dir + "/supplier.pem", "--type", "openvex", "--predicate",
                dir + "/vex.json",
            ])
            try #require(s == 0, "\(o)")
            func suppressed(_ args: [String]) throws -> (status: Int32, output: String, source: String?) {
                let (s, o) = try runProcess(
                    [hardenBinary, "scan", layout, "--format", "json", "-o", dir + "/r.json"] + args, environment: env)
                guard s == 0 else { return (s, o, nil) }
                let report =
                    try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(dir + "/r.json", limit: 1 << 26)))
                    as? [String: Any]
                let f = ((report?["findings"] as? [[String: Any]]) ?? []).first {
                    $0["id"] as? String == "CVE-2023-43804"
                }
                return (s, o, (f?["suppressed"] as? [String: Any])?["source"] as? String)
            }
            let verified = try suppressed(["--vex", "image", "--vex-key", dir + "/supplier.pub"])
            #expect(verified.status == 0 && verified.source?.contains("verified by") == true, "\(verified)")
            let wrongKey = try suppressed(["--vex-key", dir + "/other.pub"])
            #expect(wrongKey.status == 0 && wrongKey.source == nil, "\(wrongKey)")
            #expect(
                wrongKey.output.contains("attached VEX") && wrongKey.output.contains("not used"), "\(wrongKey.output)")
            let unsigned = try suppressed(["--vex-unsigned"])
            #expect(unsigned.source?.hasSuffix("(unverified)") == true, "\(unsigned)")
            let plain = try suppressed([])
            #expect(plain.status == 0 && plain.source == nil, "without --vex image nothing attached is read")
            let bare = try suppressed(["--vex", "image"])
            #expect(bare.status == 1 && bare.output.contains("--vex-key"), "\(bare.output)")
        }
    }

    @Test func dbUpdateDownloadsFromALoopbackServerWithConditionalRequests() throws {
        try SharedFeeds.require()
        try #require(HostFS.exists(hardenBinary), "build harden first (swift build)")
        try withTemporaryDirectory { dir in
            try HostFS.makeDirectories(dir + "/www")
            _ = try runProcess([
                "cp", SharedFeeds.directory + "/osv-PyPI-all.zip",
                SharedFeeds.directory + "/alpine-secdb-v3.11-main.json", dir + "/www/",
            ])
            // python's http.server answers If-Modified-Since with 304; it listens on loopback only.
            let port = try BackgroundServer.python(
                directory: dir + "/www", log: dir + "/server.log", pidFile: dir + "/server.pid")
            defer { BackgroundServer.stop(pidFile: dir + "/server.pid") }
            try #require(port > 0)
            let env = ["HARDEN_DB": dir + "/db/v.sqlite"]
            let args = [
                hardenBinary, "db", "update", "--source", "pypi=http://127.0.0.1:\(port)/osv-PyPI-all.zip",
                "--source", "alpine=http://127.0.0.1:\(port)/alpine-secdb-v3.11-main.json",
            ]
            let (s1, o1) = try runProcess(args, environment: env)
            #expect(s1 == 0, "\(o1)")
            #expect(o1.contains("pypi: downloaded") && o1.contains("imported osv-zip:PyPI"), "\(o1)")
            let (s2, o2) = try runProcess(args, environment: env)
            #expect(s2 == 0 && o2.contains("pypi: not modified") && o2.contains("alpine: not modified"), "\(o2)")
            let log = String(decoding: try HostFS.readFile(dir + "/server.log"), as: UTF8.self)
            #expect(log.contains("\" 304 "), "the second request must be conditional: \(log.suffix(300))")
            let db = try VulnerabilityDatabase(readingAt: dir + "/db/v.sqlite")
            #expect(try db.sources().count == 2)
            // A missing feed is a clear error and leaves the database as it was.
            let (s3, o3) = try runProcess(
                [hardenBinary, "db", "update", "--source", "x=http://127.0.0.1:\(port)/missing.zip"], environment: env)
            #expect(s3 == 1 && o3.contains("404") && o3.contains("missing.zip"), "\(o3)")
            #expect(try VulnerabilityDatabase(readingAt: dir + "/db/v.sqlite").sources().count == 2)

            // The enrichment feeds update the same way: NVD (gzip), KEV, EPSS (gzip).
            try HostFS.writeFileAtomically(
                dir + "/www/nvdcve-2.0-2099.json", Array(SeverityGateTests.nvd(critical: true).utf8))
            _ = try runProcess(["gzip", "-f", dir + "/www/nvdcve-2.0-2099.json"])
            try HostFS.writeFileAtomically(
                dir + "/www/kev.json",
                Array(
                    #"{"catalogVersion": "1", "dateReleased": "2026-11-27T00:00:00Z", "vulnerabilities": [{"cveID": "CVE-2099-1001", "dateAdded": "2026-11-01"}]}"#
                        .utf8))
            try HostFS.writeFileAtomically(
                dir + "/www/epss.csv",
                Array(
                    "#model_version:v1,score_date:2026-11-28T00:00:00+0000\ncve,epss,percentile\nCVE-2099-1001,0.5,0.9\n"
                        .utf8))
            _ = try runProcess(["gzip", "-f", dir + "/www/epss.csv"])
            let enrich = [
                hardenBinary, "db", "update", "--source", "nvd=http://127.0.0.1:\(port)/nvdcve-2.0-2099.json.gz",
                "--source", "kev=http://127.0.0.1:\(port)/kev.json", "--source",
                "epss=http://127.0.0.1:\(port)/epss.csv.gz",
            ]
            let (s4, o4) = try runProcess(enrich, environment: env)
            #expect(
                s4 == 0 && o4.contains("known exploited") && o4.contains("EPSS scores") && o4.contains("CVE records"),
                "\(o4)")
            let (s5, o5) = try runProcess(enrich, environment: env)
            #expect(s5 == 0 && o5.contains("nvd: not modified") && o5.contains("epss: not modified"), "\(o5)")
            let updated = try VulnerabilityDatabase(readingAt: dir + "/db/v.sqlite")
            #expect(try updated.kev(of: "CVE-2099-1001") != nil && updated.epss(of: "CVE-2099-1001")?.score == 0.5)
            #expect(
                try updated.severities(of: "CVE-2099-1001").contains { $0.source == "nvd" && $0.severity == .critical })
        }
    }

    @Test func killDuringImportLeavesThePreviousDatabaseIntact() throws {
        try SharedFeeds.require()
        try #require(HostFS.exists(hardenBinary), "build harden first (swift build)")
        try withTemporaryDirectory { dir in
            let env = ["HARDEN_DB": dir + "/v.sqlite"]
            let (s0, o0) = try runProcess(
                [hardenBinary, "db", "import", SharedFeeds.directory + "/alpine-secdb-v3.11-main.json"],
                environment: env)
            try #require(s0 == 0, "\(o0)")
            let before = try VulnerabilityDatabase(readingAt: dir + "/v.sqlite").count("affected")
            // A large OSV directory makes the import last long enough to be killed in the middle.
            try HostFS.makeDirectories(dir + "/osv")
            for i in 0..<20_000 {
                let rec =
                    #"{"id":"TEST-\#(i)","modified":"2024-01-01T00:00:00Z","aliases":["CVE-2099-\#(i)"],"affected":[{"package":{"ecosystem":"PyPI","name":"pkg\#(i % 500)"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.\#(i)"}]}]}]}"#
                try HostFS.writeFileAtomically(dir + "/osv/\(i).json", Array(rec.utf8))
            }
            for delay in ["0.3", "0.8", "1.5"] {
                let (s, o) = try runProcess([
                    "sh", "-c",
                    "HARDEN_DB='\(dir)/v.sqlite' '\(hardenBinary)' db import '\(dir)/osv' & pid=$!; sleep \(delay); kill -9 $pid; wait $pid; echo killed=$?",
                ])
                #expect(s == 0, "\(o)")
                let db = try VulnerabilityDatabase(readingAt: dir + "/v.sqlite")
                let now = try db.count("affected")
                // Either the old database or the complete new one, never a partial one.
                #expect(now == before || now == before + 20_000, "after kill at \(delay)s: \(now) rows")
                #expect(try db.sources().count >= 1)
            }
            // The next import cleans up what the killed ones left.
            let (s1, o1) = try runProcess(
                [hardenBinary, "db", "import", SharedFeeds.directory + "/alpine-secdb-v3.11-community.json"],
                environment: env)
            #expect(s1 == 0, "\(o1)")
            #expect(try HostFS.listDirectory(dir).filter { $0.contains(".tmp-") }.isEmpty)
        }
    }
}

/// The seed's standard ("no critical vulnerabilities in production") on a real Debian image whose tracker data has no
/// urgency: NVD's score decides, unknown severities are gated as the policy says.
@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct SeverityGateTests {
    static let tracker = #"""
        {"glibc": {"CVE-2099-1001": {"description": "no urgency yet", "releases": {"bookworm": {"status": "resolved",
           "fixed_version": "2.36-9+deb12u99", "urgency": "not yet assigned"}}}},
         "zlib": {"CVE-2099-1002": {"releases": {"bookworm": {"status": "open", "urgency": "not yet assigned"}}}}}
        """#

    static func nvd(critical: Bool) -> String {
        let item = EnrichmentFixturesLite.cve(
            "CVE-2099-1001", vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", score: 9.8)
        return
            #"{"format": "NVD_CVE", "version": "2.0", "timestamp": "2026-11-28T00:00:00.000", "resultsPerPage": 1, "vulnerabilities": [\#(critical ? item : "")]}"#
    }

    @Test func noCriticalVulnerabilitiesFailsOnNVDsScoreAndUnknownsAreGatedAsTold() throws {
        try TestImages.require()
        try withTemporaryDirectory { dir in
            let image = "oci:\(TestImages.layout):base"
            try HostFS.writeFileAtomically(dir + "/tracker.json", Array(Self.tracker.utf8))
            try HostFS.writeFileAtomically(dir + "/nvd.json", Array(Self.nvd(critical: true).utf8))
            try HostFS.writeFileAtomically(
                dir + "/kev.json",
                Array(
                    #"{"catalogVersion": "1", "dateReleased": "2026-11-27T00:00:00Z", "vulnerabilities": [{"cveID": "CVE-2099-1001", "dateAdded": "2026-11-01", "dueDate": "2026-11-22", "knownRansomwareCampaignUse": "Unknown"}]}"#
                        .utf8))
            var (s, o) = try runProcess([
                hardenBinary, "db", "import", dir + "/tracker.json", dir + "/nvd.json", dir + "/kev.json", "--db",
                dir + "/v.sqlite",
            ])
            try #require(s == 0, "\(o)")

            // The tracker gives no urgency; NVD says critical: the gate fails, and the finding says who rated it.
            (s, o) = try runProcess([hardenBinary, "scan", image, "--db", dir + "/v.sqlite", "--fail-on", "critical"])
            #expect(s == 2, "\(o)")
            #expect(o.contains("gate (critical or higher)"), "\(o)")
            (s, o) = try runProcess([hardenBinary, "scan", image, "--db", dir + "/v.sqlite", "--format", "json"])
            let report = try #require(try JSONSerialization.jsonObject(with: Data(o.utf8)) as? [String: Any])
            let findings = report["findings"] as? [[String: Any]] ?? []
            let glibc = findings.filter { $0["id"] as? String == "CVE-2099-1001" }
            #expect(
                Set(glibc.compactMap { ($0["package"] as? [String: Any])?["name"] as? String }) == [
                    "libc6", "libc-bin",
                ])
            #expect(
                glibc.allSatisfy { $0["severity"] as? String == "critical" && $0["severitySource"] as? String == "nvd" }
            )
            #expect(glibc.allSatisfy { $0["group"] as? String == "CVE-2099-1001/glibc" && $0["kev"] != nil })
            // Known exploited: risk 100 + its CVSS 9.8, above every other finding.
            #expect(glibc.allSatisfy { $0["risk"] as? Double == 109.8 }, "\(glibc)")
            #expect(findings.first?["id"] as? String == "CVE-2099-1001")
            let counts = try #require(report["counts"] as? [String: Any])
            #expect(
                counts["vulnerabilities"] as? Int == 2 && counts["groups"] as? Int == 2
                    && counts["knownExploited"] as? Int == 1)
            #expect((counts["packageFindings"] as? Int ?? 0) >= 3)
            // The table: one row for glibc's CVE (both binaries listed), KEV column, the unknown warning.
            (s, o) = try runProcess([hardenBinary, "scan", image, "--db", dir + "/v.sqlite", "--fail-on", "high"])
            let row = o.split(separator: "\n").first { $0.contains("CVE-2099-1001") }.map(String.init) ?? ""
            #expect(row.contains("libc-bin, libc6") && row.contains("yes") && row.hasSuffix("109.8"), "\(o)")
            #expect(o.split(separator: "\n").first { $0.hasPrefix("SEVERITY") }?.hasSuffix("RISK") == true, "\(o)")
            #expect(o.split(separator: "\n").filter { $0.contains("CVE-2099-1001") }.count == 1)
            #expect(o.contains("findings of unknown severity are not gated"), "zlib's open CVE has no rating: \(o)")
            // --sort-by package: the JSON findings by package name.
            (s, o) = try runProcess([
                hardenBinary, "scan", image, "--db", dir + "/v.sqlite", "--format", "json", "--sort-by", "package",
            ])
            let byPackage = try #require(try JSONSerialization.jsonObject(with: Data(o.utf8)) as? [String: Any])
            let names = (byPackage["findings"] as? [[String: Any]] ?? []).compactMap {
                ($0["package"] as? [String: Any])?["name"] as? String
            }
            #expect(names.count >= 3 && names == names.sorted(), "\(names)")
            // CycloneDX carries the score as a rating of its own (method "other") beside the CVSS ones.
            (s, o) = try runProcess([
                hardenBinary, "scan", image, "--db", dir + "/v.sqlite", "--format", "cyclonedx-json",
            ])
            let cdx = try #require(try JSONSerialization.jsonObject(with: Data(o.utf8)) as? [String: Any])
            let glibcVuln = (cdx["vulnerabilities"] as? [[String: Any]] ?? []).first {
                $0["id"] as? String == "CVE-2099-1001"
            }
            let ratings = glibcVuln?["ratings"] as? [[String: Any]] ?? []
            #expect(
                ratings.contains {
                    ($0["source"] as? [String: Any])?["name"] as? String == "harden-risk"
                        && $0["method"] as? String == "other" && $0["score"] as? Double == 109.8
                } && ratings.contains { $0["method"] as? String == "CVSSv31" }, "\(ratings)")
            (s, o) = try runProcess([hardenBinary, "scan", image, "--db", dir + "/v.sqlite", "--fail-on-kev"])
            #expect(s == 2, "\(o)")

            // Without NVD data the finding is unknown: not gated by default (said), gated with --unknown fail and by
            // --fail-on unknown.
            try HostFS.writeFileAtomically(dir + "/nvd.json", Array(Self.nvd(critical: false).utf8))
            (s, o) = try runProcess([hardenBinary, "db", "import", dir + "/nvd.json", "--db", dir + "/v.sqlite"])
            try #require(s == 0, "\(o)")
            (s, o) = try runProcess([hardenBinary, "scan", image, "--db", dir + "/v.sqlite", "--fail-on", "critical"])
            #expect(s == 0 && o.contains("findings of unknown severity are not gated"), "\(o)")
            (s, o) = try runProcess([
                hardenBinary, "scan", image, "--db", dir + "/v.sqlite", "--fail-on", "critical", "--unknown", "fail",
            ])
            #expect(s == 2, "\(o)")
            (s, o) = try runProcess([hardenBinary, "scan", image, "--db", dir + "/v.sqlite", "--fail-on", "unknown"])
            #expect(s == 2, "\(o)")

            // The policy: fail_on critical with unknown fail / warn / ignore.
            for (unknown, status, warned) in [("fail", Int32(2), false), ("warn", 0, true), ("ignore", 0, false)] {
                try HostFS.writeFileAtomically(
                    dir + "/policy.yaml",
                    Array(
                        "vulnerabilities:\n  fail_on: critical\n  unknown: \(unknown)\nchecks:\n  ignore: [CIS-DI-0004]\n"
                            .utf8))
                (s, o) = try runProcess([
                    hardenBinary, "check", image, "--policy", dir + "/policy.yaml", "--db", dir + "/v.sqlite",
                ])
                #expect(s == status, "unknown: \(unknown): \(o)")
                #expect(o.contains("not gated") == warned, "unknown: \(unknown): \(o)")
            }
            try HostFS.writeFileAtomically(
                dir + "/policy.yaml",
                Array("vulnerabilities:\n  known_exploited: fail\nchecks:\n  ignore: [CIS-DI-0004]\n".utf8))
            (s, o) = try runProcess([
                hardenBinary, "check", image, "--policy", dir + "/policy.yaml", "--db", dir + "/v.sqlite",
            ])
            #expect(s == 2 && o.contains("vulnerabilities.known_exploited"), "\(o)")
        }
    }
}

enum EnrichmentFixturesLite {
    static func cve(_ id: String, vector: String, score: Double) -> String {
        #"{"cve": {"id": "\#(id)", "published": "2099-01-01T00:00:00.000", "lastModified": "2099-01-02T00:00:00.000", "vulnStatus": "Analyzed", "metrics": {"cvssMetricV31": [{"source": "nvd@nist.gov", "type": "Primary", "cvssData": {"version": "3.1", "vectorString": "\#(vector)", "baseScore": \#(score)}}]}}}"#
    }
}

/// The evidence of a remediation on the real nginx image: a removed package, a package reduced to its configuration
/// files and a used one get the right OpenVEX statements; the document is schema-valid; `scan --vex` of the hardened
/// image counts what the report counts; the hardened image's CycloneDX carries the same analysis.
@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct RemediationVEXTests {
    static let tracker = #"""
        {"bash": {"CVE-2099-2001": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "99.0-1", "urgency": "high"}}}},
         "nginx": {"CVE-2099-2002": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "99.0-1", "urgency": "medium"}}}}}
        """#

    @Test func minifyRefusesVexOutWithoutADatabaseBeforeAnyWork() throws {
        try TestImages.require()
        try withTemporaryDirectory { dir in
            let (s, o) = try runProcess([
                hardenBinary, "minify", "oci:\(TestImages.layout):nginx", "--profile", dir + "/never-read.json", "-o",
                "oci:\(dir)/out:x",
                "--db", dir + "/none.sqlite", "--vex-out", dir + "/vex.json",
            ])
            #expect(s == 1 && o.contains("--vex-out \(dir)/vex.json needs a vulnerability database"), "\(o)")
            #expect(!HostFS.exists(dir + "/out") && !HostFS.exists(dir + "/vex.json"))
        }
    }

    /// `run --vex`: a supplier's statement about the nginx source package suppresses its findings in the scans before
    /// and after (every binary built from it), the others still count.
    @Test func runAppliesSupplierVEXToTheScansBeforeAndAfter() throws {
        try TestImages.require()
        try withTemporaryDirectory { dir in
            try HostFS.writeFileAtomically(dir + "/tracker.json", Array(Self.tracker.utf8))
            var (s, o) = try runProcess([
                hardenBinary, "db", "import", dir + "/tracker.json", "--db", dir + "/v.sqlite",
            ])
            try #require(s == 0, "\(o)")
            let cdx = #"""
                {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "vulnerabilities": [{"id": "CVE-2099-2002",
                 "analysis": {"state": "not_affected", "justification": "requires_configuration"},
                 "affects": [{"ref": "pkg:deb/debian/nginx"}]}]}
                """#
            try HostFS.writeFileAtomically(dir + "/vendor.cdx.json", Array(cdx.utf8))
            (s, o) = try RuntimeTests.harden(
                [
                    "run", "oci:\(TestImages.layout):nginx", "--http-probe", "80:GET:/", "-o", "oci:\(dir)/out:nginx",
                    "--report-dir", dir + "/report", "--db", dir + "/v.sqlite", "--vex", dir + "/vendor.cdx.json",
                ], runDir: dir + "/run")
            try #require(s == 0, "\(o)")
            let record = try #require(
                try JSONSerialization.jsonObject(
                    with: Data(try HostFS.readFile(dir + "/report/report.json", limit: 1 << 26)))
                    as? [String: Any])
            let counts = record["vulnerabilities"] as? [String: Any]
            let before = (counts?["before"] as? [String: Int]) ?? [:]
            let after = (counts?["after"] as? [String: Int]) ?? [:]
            #expect(before["medium"] == nil && before["high"] == 1, "\(before)")
            #expect(after["medium"] == nil, "\(after)")
        }
    }

    @Test func runWritesOpenVEXThatScanAndTheSBOMAgreeWith() throws {
        try TestImages.require()
        try withTemporaryDirectory { dir in
            try HostFS.writeFileAtomically(dir + "/tracker.json", Array(Self.tracker.utf8))
            var (s, o) = try runProcess([
                hardenBinary, "db", "import", dir + "/tracker.json", "--db", dir + "/v.sqlite",
            ])
            try #require(s == 0, "\(o)")
            (s, o) = try RuntimeTests.harden(
                [
                    "run", "oci:\(TestImages.layout):nginx", "--http-probe", "80:GET:/", "-o", "oci:\(dir)/out:nginx",
                    "--report-dir",
                    dir + "/report", "--db", dir + "/v.sqlite", "--vex-out", dir + "/vex.json",
                ], runDir: dir + "/run")
            try #require(s == 0, "\(o)")
            let vexPath = dir + "/report/vex.openvex.json"
            #expect(try HostFS.readFile(vexPath) == (try HostFS.readFile(dir + "/vex.json")))
            let (vs, vo) = try runProcess(["python3", packageRoot + "/scripts/validate.py", "openvex", vexPath])
            #expect(vs == 0, "OpenVEX schema: \(vo)")

            let doc = try #require(
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(vexPath))) as? [String: Any])
            let statements = doc["statements"] as? [[String: Any]] ?? []
            func statement(_ id: String, _ package: String) -> [String: Any]? {
                statements.first { s in
                    (s["vulnerability"] as? [String: Any])?["name"] as? String == id
                        && ((s["products"] as? [[String: Any]])?.first?["subcomponents"] as? [[String: Any]] ?? [])
                            .contains {
                                ($0["@id"] as? String)?.hasPrefix("pkg:deb/debian/\(package)@") == true
                            }
                }
            }
            let manifest = try #require(
                (try JSONSerialization.jsonObject(
                    with: Data(try HostFS.readFile(dir + "/report/report.json", limit: 1 << 26)))
                    as? [String: Any])?["output"] as? [String: Any])
            let digest = try #require(manifest["manifestDigest"] as? String)
            let product = ((statements.first?["products"] as? [[String: Any]])?.first?["@id"] as? String) ?? ""
            #expect(
                product.hasPrefix("pkg:oci/nginx@sha256%3A") && product.hasSuffix(String(digest.dropFirst(7))),
                "\(product) vs \(digest)")

            let bash = try #require(statement("CVE-2099-2001", "bash"), "no statement for the removed bash")
            #expect(
                bash["status"] as? String == "not_affected"
                    && bash["justification"] as? String == "component_not_present")
            let common = try #require(statement("CVE-2099-2002", "nginx-common"), "no statement for nginx-common")
            #expect(
                common["status"] as? String == "not_affected"
                    && common["justification"] as? String == "vulnerable_code_not_present")
            #expect((common["impact_statement"] as? String)?.contains("/etc/nginx/nginx.conf") == true, "\(common)")
            // The binary is in nginx (used: affected, with what to do); nginx-light is an empty metapackage (removed).
            let used = try #require(statement("CVE-2099-2002", "nginx"), "no statement for nginx")
            #expect(
                used["status"] as? String == "affected"
                    && (used["action_statement"] as? String)?.contains("99.0-1") == true)
            #expect(statement("CVE-2099-2002", "nginx-light")?["justification"] as? String == "component_not_present")

            // scan --vex of the hardened image counts what the report counts.
            let record = try #require(
                try JSONSerialization.jsonObject(
                    with: Data(try HostFS.readFile(dir + "/report/report.json", limit: 1 << 26)))
                    as? [String: Any])
            let reportAfter = ((record["vulnerabilities"] as? [String: Any])?["after"] as? [String: Int]) ?? [:]
            (s, o) = try runProcess([
                hardenBinary, "scan", "oci:\(dir)/out:nginx", "--db", dir + "/v.sqlite", "--vex", vexPath, "--format",
                "json",
            ])
            try #require(s == 0, "\(o)")
            let scan = try #require(try JSONSerialization.jsonObject(with: Data(o.utf8)) as? [String: Any])
            #expect(
                (scan["summary"] as? [String: Int] ?? [:]) == reportAfter,
                "scan --vex \(scan["summary"] ?? "-") vs report \(reportAfter)")
            #expect(reportAfter["medium"] == 1, "only nginx's finding is left: \(reportAfter)")
            (s, o) = try runProcess([
                hardenBinary, "scan", "oci:\(dir)/out:nginx", "--db", dir + "/v.sqlite", "--format", "json",
            ])
            let plain = try #require(try JSONSerialization.jsonObject(with: Data(o.utf8)) as? [String: Any])
            #expect((plain["summary"] as? [String: Int])?["medium"] == 2, "without the VEX nginx-common still counts")

            // The hardened image's CycloneDX SBOM carries the same analysis.
            let cdx = try #require(
                try JSONSerialization.jsonObject(
                    with: Data(try HostFS.readFile(dir + "/report/sbom-after.cdx.json", limit: 1 << 26)))
                    as? [String: Any])
            let vulns = cdx["vulnerabilities"] as? [[String: Any]] ?? []
            let analysed = vulns.filter { ($0["analysis"] as? [String: Any])?["state"] as? String == "not_affected" }
            #expect(analysed.count == 1 && (analysed.first?["id"] as? String) == "CVE-2099-2002", "\(vulns)")
            let (cs, co) = try runProcess([
                "python3", packageRoot + "/scripts/validate.py", "cyclonedx", dir + "/report/sbom-after.cdx.json",
            ])
            #expect(cs == 0, "\(co)")
        }
    }
}

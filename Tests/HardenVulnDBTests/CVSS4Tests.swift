// harden — CVSS v4.0 scores checked against an independent implementation (python `cvss`) on random vectors.
import Foundation
import HardenPackages
import HardenSystem
import HardenTestSupport
import HardenVulnDB
import Testing

@Suite struct CVSS4Tests {
    /// Vectors from the FIRST specification's examples and calculator.
    @Test func knownVectors() {
        #expect(CVSS.v4Score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H") == 10.0)
        #expect(CVSS.v4Score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N") == 6.9)
        #expect(CVSS.v4Score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N") == 9.3)
        #expect(CVSS.v4Score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N") == 0.0)
        // Malformed: a missing mandatory metric, an unknown value, a repeated metric, another version.
        #expect(CVSS.v4Score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N") == nil)
        #expect(CVSS.v4Score("CVSS:4.0/AV:X/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N") == nil)
        #expect(CVSS.v4Score("CVSS:4.0/AV:N/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N") == nil)
        #expect(CVSS.v4Score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H") == nil)
        #expect(CVSS.v4Score("") == nil)
    }

    static func randomVector(_ rng: inout SeededGenerator) -> String {
        func pick(_ values: [String]) -> String { values.randomElement(using: &rng)! }
        var parts = [
            "CVSS:4.0", "AV:" + pick(["N", "A", "L", "P"]), "AC:" + pick(["L", "H"]), "AT:" + pick(["N", "P"]),
            "PR:" + pick(["N", "L", "H"]), "UI:" + pick(["N", "P", "A"]),
        ]
        for k in ["VC", "VI", "VA", "SC", "SI", "SA"] { parts.append(k + ":" + pick(["H", "L", "N"])) }
        // Threat and environmental metrics in a third of the vectors.
        if Int.random(in: 0..<3, using: &rng) == 0 {
            parts.append("E:" + pick(["X", "A", "P", "U"]))
            for k in ["CR", "IR", "AR"] { parts.append(k + ":" + pick(["X", "H", "M", "L"])) }
            parts.append("MAV:" + pick(["X", "N", "A", "L", "P"]))
            parts.append("MPR:" + pick(["X", "N", "L", "H"]))
            for k in ["MVC", "MVI", "MVA", "MSC"] { parts.append(k + ":" + pick(["X", "H", "L", "N"])) }
            for k in ["MSI", "MSA"] { parts.append(k + ":" + pick(["X", "S", "H", "L", "N"])) }
        }
        return parts.joined(separator: "/")
    }

    @Test(.enabled(if: Prerequisites.python("cvss"), "needs python cvss"))
    func agreesWithPythonCVSSOn20000RandomVectors() throws {
        try #require(
            (try? runProcess(["python3", "-c", "import cvss"]).status) == 0,
            "python cvss is needed: run scripts/setup.sh")
        var rng = SeededGenerator(seed: 0xC0551)
        let vectors = (0..<20_000).map { _ in Self.randomVector(&rng) }
        try withTemporaryDirectory { dir in
            try HostFS.writeFileAtomically(dir + "/vectors.txt", Array((vectors.joined(separator: "\n") + "\n").utf8))
            let (status, out) = try runProcess([
                "sh", "-c", "python3 '\(packageRoot)/Tests/Tools/cvss4-score.py' < '\(dir)/vectors.txt'",
            ])
            try #require(status == 0, "\(out.prefix(500))")
            let theirs = out.split(separator: "\n").map(String.init)
            try #require(theirs.count == vectors.count)
            var mismatches: [String] = []
            for (v, t) in zip(vectors, theirs) {
                let ours = CVSS.v4Score(v).map { String(format: "%.1f", $0) } ?? "invalid"
                if ours != t { mismatches.append("\(v): ours \(ours), python cvss \(t)") }
            }
            #expect(mismatches.isEmpty, "\(mismatches.count) of \(vectors.count) differ, e.g. \(mismatches.prefix(5))")
        }
    }
}

@Suite struct CVSS4FeedTests {
    @Test func anOSVRecordWithOnlyACVSSv4VectorGetsItsSeverity() throws {
        let record: [String: Any] = [
            "id": "GHSA-test-v4", "modified": "2026-01-01T00:00:00Z",
            "severity": [
                ["type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"]
            ],
            "affected": [
                [
                    "package": ["ecosystem": "PyPI", "name": "example"],
                    "ranges": [["type": "ECOSYSTEM", "events": [["introduced": "0"], ["fixed": "1.0"]]]],
                ]
            ],
        ]
        let advisory = try #require(try OSV.parse(record, name: "test.json"))
        let rating = try #require(advisory.severities.first { $0.type == "CVSS_V4" })
        #expect(rating.score == 9.3 && rating.severity == .critical)
    }
}

// harden — the risk score and the orders findings are listed in: the score's documented values, and properties of
// the order over random findings (total, known-exploited first, deterministic for equal scores).
import HardenVulnDB
import Testing

struct RiskOrderTests {
    static func finding(
        _ id: String, package: String = "p", severity: Severity, cvss: Double? = nil, kev: Bool = false,
        epss: Double? = nil
    ) -> Finding {
        var f = Finding(
            id: id, ids: [id],
            package: .init(ref: package, type: "deb", name: package, version: "1", purl: "", layer: nil, locations: []),
            matchedOn: "", fixState: .fixed, fixedVersions: [], severity: severity,
            ratings: cvss.map {
                [SeverityRating(source: "nvd", type: "CVSS_V3", vector: nil, score: $0, severity: severity)]
            }
                ?? [], summary: nil, sources: [], suppressed: nil)
        if kev {
            f.kev = KEVEntry(cve: id, dateAdded: "2026-01-01", dueDate: nil, knownRansomwareCampaignUse: nil, name: nil)
        }
        if let epss { f.epss = EPSSScore(score: epss, percentile: epss, date: nil) }
        return f
    }

    @Test func theScoreIsImpactTimesLikelihoodAndKnownExploitedAbove100() {
        #expect(Self.finding("a", severity: .critical, cvss: 9.8).riskScore == 9.8)
        #expect(abs(Self.finding("a", severity: .critical, cvss: 9.8, epss: 0.5).riskScore - 9.8 * 5.5) < 1e-9)
        #expect(Self.finding("a", severity: .high).riskScore == 8.0)  // no CVSS: the band's midpoint
        #expect(Self.finding("a", severity: .low, cvss: 2.1, kev: true).riskScore == 102.1)
        #expect(Self.finding("a", severity: .unknown, epss: 1).riskScore == 0)
    }

    @Test func theRiskOrderIsTotalKnownExploitedFirstAndDeterministic() {
        var rng = SystemRandomNumberGenerator()
        let severities = Severity.allCases
        for _ in 0..<20 {
            let findings = (0..<60).map { i in
                Self.finding(
                    "CVE-2099-\(Int.random(in: 1...15, using: &rng))", package: "p\(i % 7)",
                    severity: severities.randomElement(using: &rng)!,
                    cvss: Bool.random(using: &rng) ? Double(Int.random(in: 0...100, using: &rng)) / 10 : nil,
                    kev: Int.random(in: 0..<5, using: &rng) == 0,
                    epss: Bool.random(using: &rng) ? Double.random(in: 0...1, using: &rng) : nil)
            }
            let sorted = findings.sorted(by: Finding.byRiskScore)
            // Known exploited first; scores never increase down the list.
            let firstOther = sorted.firstIndex { $0.kev == nil } ?? sorted.count
            #expect(sorted[firstOther...].allSatisfy { $0.kev == nil })
            #expect(zip(sorted, sorted.dropFirst()).allSatisfy { $0.riskScore >= $1.riskScore })
            // Total and deterministic: any input order gives the same list.
            #expect(
                findings.shuffled(using: &rng).sorted(by: Finding.byRiskScore).map(Self.key) == sorted.map(Self.key))
            for a in findings.prefix(15) {
                #expect(!Finding.byRiskScore(a, a))
                for b in findings.prefix(15) where Self.key(a) != Self.key(b) {
                    #expect(Finding.byRiskScore(a, b) != Finding.byRiskScore(b, a))
                }
            }
            let byPackage = findings.sorted(by: FindingOrder.package.comparator)
            #expect(byPackage.map(\.package.name) == byPackage.map(\.package.name).sorted())
        }
    }

    static func key(_ f: Finding) -> String { "\(f.id)|\(f.package.name)|\(f.riskScore)" }
}

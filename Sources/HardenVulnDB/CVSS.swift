// harden — CVSS base scores computed from the vector: v3.x (FIRST CVSS v3.1 specification, section 7) and v4.0
// (FIRST CVSS v4.0 specification, section 8: MacroVector lookup and interpolation by severity distance).
import Foundation
import HardenPackages

public enum CVSS {
    /// The base score of a `CVSS:3.0/…` or `CVSS:3.1/…` vector, or nil if the vector is malformed.
    public static func v3BaseScore(_ vector: String) -> Double? {
        var m: [String: String] = [:]
        let parts = vector.split(separator: "/")
        guard let head = parts.first, head.hasPrefix("CVSS:3") else { return nil }
        for p in parts.dropFirst() {
            let kv = p.split(separator: ":", maxSplits: 1)
            guard kv.count == 2 else { return nil }
            m[String(kv[0])] = String(kv[1])
        }
        let av: [String: Double] = ["N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2]
        let ac: [String: Double] = ["L": 0.77, "H": 0.44]
        let ui: [String: Double] = ["N": 0.85, "R": 0.62]
        let cia: [String: Double] = ["H": 0.56, "L": 0.22, "N": 0]
        guard let s = m["S"], s == "U" || s == "C",
            let AV = m["AV"].flatMap({ av[$0] }), let AC = m["AC"].flatMap({ ac[$0] }),
            let UI = m["UI"].flatMap({ ui[$0] }),
            let prText = m["PR"], let C = m["C"].flatMap({ cia[$0] }), let I = m["I"].flatMap({ cia[$0] }),
            let A = m["A"].flatMap({ cia[$0] })
        else { return nil }
        let changed = s == "C"
        let PR: Double
        switch prText {
        case "N": PR = 0.85
        case "L": PR = changed ? 0.68 : 0.62
        case "H": PR = changed ? 0.5 : 0.27
        default: return nil
        }
        let iss = 1 - (1 - C) * (1 - I) * (1 - A)
        let impact = changed ? 7.52 * (iss - 0.029) - 3.25 * pow(iss - 0.02, 15) : 6.42 * iss
        let exploitability = 8.22 * AV * AC * PR * UI
        if impact <= 0 { return 0 }
        let raw = changed ? min(1.08 * (impact + exploitability), 10) : min(impact + exploitability, 10)
        return roundUp(raw)
    }

    /// CVSS v3.1 "Roundup": the smallest number with one decimal that is ≥ the input, robust to float error.
    static func roundUp(_ x: Double) -> Double {
        let i = Int((x * 100_000).rounded())
        if i % 10_000 == 0 { return Double(i) / 100_000 }
        return Double(i / 10_000 + 1) / 10
    }
    // MARK: CVSS v4.0

    static let v4Values: [String: Set<String>] = [
        "AV": ["N", "A", "L", "P"], "AC": ["L", "H"], "AT": ["N", "P"], "PR": ["N", "L", "H"], "UI": ["N", "P", "A"],
        "VC": ["H", "L", "N"], "VI": ["H", "L", "N"], "VA": ["H", "L", "N"], "SC": ["H", "L", "N"],
        "SI": ["H", "L", "N"],
        "SA": ["H", "L", "N"],
        "E": ["X", "A", "P", "U"], "CR": ["X", "H", "M", "L"], "IR": ["X", "H", "M", "L"], "AR": ["X", "H", "M", "L"],
        "MAV": ["X", "N", "A", "L", "P"], "MAC": ["X", "L", "H"], "MAT": ["X", "N", "P"], "MPR": ["X", "N", "L", "H"],
        "MUI": ["X", "N", "P", "A"],
        "MVC": ["X", "H", "L", "N"], "MVI": ["X", "H", "L", "N"], "MVA": ["X", "H", "L", "N"],
        "MSC": ["X", "H", "L", "N"],
        "MSI": ["X", "S", "H", "L", "N"], "MSA": ["X", "S", "H", "L", "N"],
        // Supplemental metrics: parsed, never scored.
        "S": ["X", "N", "P"], "AU": ["X", "N", "Y"], "R": ["X", "A", "U", "I"], "V": ["X", "D", "C"],
        "RE": ["X", "L", "M", "H"],
        "U": ["X", "Clear", "Green", "Amber", "Red"],
    ]
    static let v4Mandatory = ["AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA"]

    /// How far each metric value is from the most severe one, in tenths (the spec's severity distances).
    static let v4Levels: [String: [String: Double]] = [
        "AV": ["N": 0, "A": 0.1, "L": 0.2, "P": 0.3], "PR": ["N": 0, "L": 0.1, "H": 0.2],
        "UI": ["N": 0, "P": 0.1, "A": 0.2],
        "AC": ["L": 0, "H": 0.1], "AT": ["N": 0, "P": 0.1],
        "VC": ["H": 0, "L": 0.1, "N": 0.2], "VI": ["H": 0, "L": 0.1, "N": 0.2], "VA": ["H": 0, "L": 0.1, "N": 0.2],
        "SC": ["H": 0.1, "L": 0.2, "N": 0.3], "SI": ["S": 0, "H": 0.1, "L": 0.2, "N": 0.3],
        "SA": ["S": 0, "H": 0.1, "L": 0.2, "N": 0.3],
        "CR": ["H": 0, "M": 0.1, "L": 0.2], "IR": ["H": 0, "M": 0.1, "L": 0.2], "AR": ["H": 0, "M": 0.1, "L": 0.2],
        "E": ["A": 0, "P": 0.1, "U": 0.2],
    ]

    /// The most severe vectors of each EQ level (for EQ3 with EQ6 together), from which distances are measured.
    static let v4Maxima: (eq1: [[String]], eq2: [[String]], eq3eq6: [[[String]]], eq4: [[String]], eq5: [[String]]) = (
        eq1: [
            ["AV:N/PR:N/UI:N"], ["AV:A/PR:N/UI:N", "AV:N/PR:L/UI:N", "AV:N/PR:N/UI:P"],
            ["AV:P/PR:N/UI:N", "AV:A/PR:L/UI:P"],
        ],
        eq2: [["AC:L/AT:N"], ["AC:H/AT:N", "AC:L/AT:P"]],
        eq3eq6: [
            [["VC:H/VI:H/VA:H/CR:H/IR:H/AR:H"], ["VC:H/VI:H/VA:L/CR:M/IR:M/AR:H", "VC:H/VI:H/VA:H/CR:M/IR:M/AR:M"]],
            [
                ["VC:L/VI:H/VA:H/CR:H/IR:H/AR:H", "VC:H/VI:L/VA:H/CR:H/IR:H/AR:H"],
                [
                    "VC:L/VI:H/VA:L/CR:H/IR:M/AR:H", "VC:L/VI:H/VA:H/CR:H/IR:M/AR:M", "VC:H/VI:L/VA:H/CR:M/IR:H/AR:M",
                    "VC:H/VI:L/VA:L/CR:M/IR:H/AR:H", "VC:L/VI:L/VA:H/CR:H/IR:H/AR:M",
                ],
            ],
            [[], ["VC:L/VI:L/VA:L/CR:H/IR:H/AR:H"]],
        ],
        eq4: [["SC:H/SI:S/SA:S"], ["SC:H/SI:H/SA:H"], ["SC:L/SI:L/SA:L"]],
        eq5: [["E:A"], ["E:P"], ["E:U"]]
    )
    /// The depth of each EQ level, in tenths.
    static let v4Depth = (
        eq1: [1.0, 4, 5], eq2: [1.0, 2], eq3eq6: [[7.0, 6], [8.0, 8], [0.0, 10]], eq4: [6.0, 5, 4]
    )

    /// The score of a `CVSS:4.0/…` vector (base metrics, and threat/environmental ones when present), or nil if malformed.
    public static func v4Score(_ vector: String) -> Double? {
        let parts = vector.split(separator: "/")
        guard parts.first == "CVSS:4.0" else { return nil }
        var given: [String: String] = [:]
        for p in parts.dropFirst() {
            let kv = p.split(separator: ":", maxSplits: 1)
            guard kv.count == 2, let allowed = v4Values[String(kv[0])], allowed.contains(String(kv[1])),
                given[String(kv[0])] == nil
            else {
                return nil
            }
            given[String(kv[0])] = String(kv[1])
        }
        guard v4Mandatory.allSatisfy({ given[$0] != nil }) else { return nil }
        // The effective value of a metric: a modified metric overrides the base one; E defaults to A, CR/IR/AR to H.
        func m(_ k: String) -> String {
            let v = given[k] ?? "X"
            if k == "E" && v == "X" { return "A" }
            if (k == "CR" || k == "IR" || k == "AR") && v == "X" { return "H" }
            if let mod = given["M" + k], mod != "X" { return mod }
            return v
        }
        if ["VC", "VI", "VA", "SC", "SI", "SA"].allSatisfy({ m($0) == "N" }) { return 0 }
        let (av, pr, ui) = (m("AV"), m("PR"), m("UI"))
        let eq1 = av == "N" && pr == "N" && ui == "N" ? 0 : ((av == "N" || pr == "N" || ui == "N") && av != "P" ? 1 : 2)
        let eq2 = m("AC") == "L" && m("AT") == "N" ? 0 : 1
        let (vc, vi, va) = (m("VC"), m("VI"), m("VA"))
        let eq3 = vc == "H" && vi == "H" ? 0 : (vc == "H" || vi == "H" || va == "H" ? 1 : 2)
        let safety = m("MSI") == "S" || m("MSA") == "S"
        let eq4 = safety ? 0 : (m("SC") == "H" || m("SI") == "H" || m("SA") == "H" ? 1 : 2)
        let eq5 = ["A": 0, "P": 1, "U": 2][m("E")] ?? 0
        let eq6 =
            (m("CR") == "H" && vc == "H") || (m("IR") == "H" && vi == "H") || (m("AR") == "H" && va == "H") ? 0 : 1

        func score(_ e: [Int]) -> Double? { macroVectorScores[e.map(String.init).joined()] }
        guard let value = score([eq1, eq2, eq3, eq4, eq5, eq6]) else { return nil }
        // The next lower MacroVector of each EQ (EQ3 and EQ6 move together).
        let lower1 = score([eq1 + 1, eq2, eq3, eq4, eq5, eq6])
        let lower2 = score([eq1, eq2 + 1, eq3, eq4, eq5, eq6])
        let lower36: Double?
        switch (eq3, eq6) {
        case (1, 1), (0, 1): lower36 = score([eq1, eq2, eq3 + 1, eq4, eq5, eq6])
        case (1, 0): lower36 = score([eq1, eq2, eq3, eq4, eq5, eq6 + 1])
        case (0, 0):
            let candidates = [score([eq1, eq2, eq3, eq4, eq5, eq6 + 1]), score([eq1, eq2, eq3 + 1, eq4, eq5, eq6])]
                .compactMap { $0 }
            lower36 = candidates.max()
        default: lower36 = score([eq1, eq2, eq3 + 1, eq4, eq5, eq6 + 1])
        }
        let lower4 = score([eq1, eq2, eq3, eq4 + 1, eq5, eq6])
        let lower5 = score([eq1, eq2, eq3, eq4, eq5 + 1, eq6])

        // Distances from the first most-severe vector of this MacroVector that the vector does not exceed.
        func level(_ k: String, _ v: String) -> Double { v4Levels[k]?[v] ?? 0 }
        var distance: [String: Double] = [:]
        search: for a in v4Maxima.eq1[eq1] {
            for b in v4Maxima.eq2[eq2] {
                for c in v4Maxima.eq3eq6[eq3][eq6] {
                    for d in v4Maxima.eq4[eq4] {
                        for e in v4Maxima.eq5[eq5] {
                            var maxima: [String: String] = [:]
                            for pair in [a, b, c, d, e].joined(separator: "/").split(separator: "/") {
                                let kv = pair.split(separator: ":")
                                maxima[String(kv[0])] = String(kv[1])
                            }
                            distance = [:]
                            for (k, v) in maxima { distance[k] = level(k, m(k)) - level(k, v) }
                            if distance.values.allSatisfy({ $0 >= 0 }) { break search }
                        }
                    }
                }
            }
        }
        func sum(_ keys: [String]) -> Double { keys.reduce(0) { $0 + (distance[$1] ?? 0) } }
        let current = (
            eq1: sum(["AV", "PR", "UI"]), eq2: sum(["AC", "AT"]), eq3eq6: sum(["VC", "VI", "VA", "CR", "IR", "AR"]),
            eq4: sum(["SC", "SI", "SA"])
        )
        let step = 0.1
        var total = 0.0
        var existing = 0
        func add(_ lower: Double?, _ current: Double, _ depth: Double) {
            guard let lower, value - lower >= 0 else { return }
            existing += 1
            total += depth > 0 ? (value - lower) * (current / (depth * step)) : 0
        }
        add(lower1, current.eq1, v4Depth.eq1[eq1])
        add(lower2, current.eq2, v4Depth.eq2[eq2])
        add(lower36, current.eq3eq6, v4Depth.eq3eq6[eq3][eq6])
        add(lower4, current.eq4, v4Depth.eq4[eq4])
        add(lower5, 0, 0)  // EQ5 has one value per level: it never moves the score within a MacroVector
        let result = min(10, max(0, value - (existing == 0 ? 0 : total / Double(existing))))
        // Rounded half up to one decimal, robust to float error (as the spec's calculator).
        return ((result + 1e-6) * 10).rounded(.toNearestOrAwayFromZero) / 10
    }
}

// harden — CVSS v3.x base scores computed from the vector (FIRST CVSS v3.1 specification, section 7).
import Foundation

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
              let AV = m["AV"].flatMap({ av[$0] }), let AC = m["AC"].flatMap({ ac[$0] }), let UI = m["UI"].flatMap({ ui[$0] }),
              let prText = m["PR"], let C = m["C"].flatMap({ cia[$0] }), let I = m["I"].flatMap({ cia[$0] }), let A = m["A"].flatMap({ cia[$0] })
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
}

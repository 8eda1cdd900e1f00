/// The stages of `harden run`, in the order they run (`patch` only with `--patch`; `policy` is the gate's verdict,
/// recorded after the checks). The raw values are the names in report.json and on the terminal.
public enum StageName: String, Codable, Sendable, CaseIterable {
    case patch
    case sbomBefore = "sbom-before"
    case scanBefore = "scan-before"
    case profile
    case minify
    case scanAfter = "scan-after"
    case check
    case policy

    /// The stages a run shows as [N/M] on the terminal: every stage that does work (the policy verdict is part of
    /// `check`), `patch` only when the run patches.
    public static func shown(patching: Bool) -> [StageName] {
        allCases.filter { $0 != .policy && ($0 != .patch || patching) }
    }
}

// harden — counting YAML alias references before any parser sees the text: harden's YAML readers (policy files,
// Compose files) refuse documents with more than a few, because walking aliased nodes expands them ("billion laughs").

public enum YAMLAliases {
    /// Counts alias references in YAML text: a `*` that starts a token outside quoted scalars and comments. Errs on
    /// the side of counting (a `*` starting a word in a block scalar counts too), never under-counts.
    public static func count(_ text: String) -> Int {
        enum State { case plain, single, double, comment }
        var state = State.plain
        var count = 0
        var previous: UInt8 = UInt8(ascii: "\n")
        var escaped = false
        let tokenStart: Set<UInt8> = [
            UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "["),
            UInt8(ascii: "{"), UInt8(ascii: ","), UInt8(ascii: ":"), UInt8(ascii: "-"), UInt8(ascii: "?"),
        ]
        for b in text.utf8 {
            switch state {
            case .plain:
                if tokenStart.contains(previous) {
                    if b == UInt8(ascii: "*") { count += 1 }
                    if b == UInt8(ascii: "'") { state = .single }
                    if b == UInt8(ascii: "\"") { state = .double }
                }
                if b == UInt8(ascii: "#")
                    && (previous == UInt8(ascii: " ") || previous == UInt8(ascii: "\t")
                        || previous == UInt8(ascii: "\n"))
                {
                    state = .comment
                }
            case .single:
                if b == UInt8(ascii: "'") { state = .plain }  // '' (an escaped quote) leaves and re-enters at once
            case .double:
                if escaped {
                    escaped = false
                } else if b == UInt8(ascii: "\\") {
                    escaped = true
                } else if b == UInt8(ascii: "\"") {
                    state = .plain
                }
            case .comment:
                if b == UInt8(ascii: "\n") { state = .plain }
            }
            previous = b
            if state == .plain && b == UInt8(ascii: "'") { previous = UInt8(ascii: " ") }
        }
        return count
    }
}

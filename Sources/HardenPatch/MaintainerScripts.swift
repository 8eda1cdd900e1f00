import Foundation
// harden — which maintainer scripts a patch leaves undone. Scripts are never run; a `preinst` or `postinst` whose only
// work is what the patch does natively (the ldconfig trigger) or argument checking is not reported, every other one is
// listed by name so a person can judge.
import HardenCore
import HardenDpkg
import HardenPackages

enum MaintainerScripts {
    /// The `preinst`/`postinst` of a package that do more than harden does natively, by member name.
    static func notDoneNatively(_ members: [String: [UInt8]]) -> [String] {
        ["preinst", "postinst"].filter { name in
            members[name].map { !onlyNativeWork(String(decoding: $0, as: UTF8.self)) } ?? false
        }
    }

    /// Whether every command of a shell script is scaffolding (set, case labels, exit, messages) or `ldconfig`.
    static func onlyNativeWork(_ script: String) -> Bool {
        let scaffolding: Set<String> = [
            "set -e", "set -eu", "set -u", "exit 0", "exit 1", ";;", "esac", "fi", "ldconfig", ":", "true",
            #"case "$1" in"#, #"if [ "$1" = "configure" ]; then"#, #"if [ "$1" = configure ]; then"#,
        ]
        for raw in script.textLines() {
            var line = Substring(raw)
            if let hash = line.firstIndex(of: "#"), hash == line.startIndex || line[line.index(before: hash)] == " " {
                line = line[..<hash]
            }
            let l = line.trimmingCharacters(in: .whitespaces)
            if l.isEmpty || scaffolding.contains(l) { continue }
            // A case label: `configure)`, `abort-upgrade|abort-remove)`, `*)`.
            if l.hasSuffix(")"), l.dropLast().allSatisfy({ $0.isLetter || $0.isNumber || "-|*\"'_ ".contains($0) }) {
                continue
            }
            if l.hasPrefix("echo ") && l.hasSuffix(">&2") { continue }
            return false
        }
        return true
    }
}

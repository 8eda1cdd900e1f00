// harden — apk's installed database rewritten to what a minified image really holds. Pure functions over bytes.
import HardenCore
import HardenPackages

/// apk's `/lib/apk/db/installed`, filtered.
public enum ApkInstalled {
    /// The records whose `P:` is in `keeping`; inside each, `F:` directories and `R:` files (with the `a:`/`Z:` lines
    /// that describe them, and a directory's `M:`) only when present. Other fields stay byte for byte.
    public static func filter(_ installed: [UInt8], keeping: Set<String>, isPresent: (String) -> Bool) -> [UInt8] {
        var records: [String] = []
        for range in Deb822.stanzaRanges(installed) {
            let lines = exactLines(String(decoding: installed[range], as: UTF8.self), omittingEmpty: true)
            guard let name = lines.first(where: { $0.hasPrefix("P:") })?.dropFirst(2), keeping.contains(String(name))
            else { continue }
            var out: [Substring] = []
            var dir = ""
            var dirLines: [Substring] = []  // the current F: line and its M:, written once something under it stays
            var dirPresent = false
            var fileKept = false  // whether the a:/Z: lines that follow belong to a kept R:
            var inFile = false
            func flushDirectory() {
                if !dirLines.isEmpty, dirPresent { out += dirLines }
                dirLines = []
            }
            for line in lines {
                switch line.prefix(2) {
                case "F:":
                    flushDirectory()
                    dir = String(line.dropFirst(2))
                    dirPresent = isPresent("/" + dir)
                    dirLines = [line]
                    inFile = false
                case "M:" where !inFile && !dirLines.isEmpty:
                    dirLines.append(line)
                case "R:":
                    inFile = true
                    let path = "/" + (dir.isEmpty ? "" : dir + "/") + line.dropFirst(2)
                    fileKept = isPresent(path)
                    if fileKept {
                        flushDirectory()
                        out.append(line)
                    }
                case "a:" where inFile, "Z:" where inFile:
                    if fileKept { out.append(line) }
                default:
                    flushDirectory()
                    inFile = false
                    out.append(line)
                }
            }
            flushDirectory()
            records.append(out.joined(separator: "\n"))
        }
        return Array((records.joined(separator: "\n\n") + (records.isEmpty ? "" : "\n\n")).utf8)
    }
}

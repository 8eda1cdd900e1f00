// harden — end of life: release cycles of operating systems and runtimes with the date their free security support
// ends, read from Debian's `distro-info-data` CSVs (Debian, Ubuntu) and from endoflife.date-style JSON files (one per
// product: Alpine, RHEL-family, Amazon Linux, SUSE, Node.js, Python, Java, …), and the verdict for an image: its OS
// and the runtimes the binary cataloger found, each ended, ending (within 90 days) or supported.
import Foundation
import HardenCore
import HardenPackages
import HardenSystem

/// One release cycle of a product.
public struct EOLCycle: Codable, Sendable, Hashable {
    /// endoflife.date's product name (`debian`, `ubuntu`, `alpine`, `rhel`, `nodejs`, `python`, …).
    public var product: String
    /// `12`, `22.04`, `3.19`, `3.11`, `20`.
    public var cycle: String
    public var codename: String?
    public var releaseDate: String?
    /// The day free security support ends (`yyyy-mm-dd`); nil with `ended` when the data only says whether it has.
    public var eol: String?
    /// Without a date: whether support has ended (endoflife.date's `"eol": true|false`).
    public var ended: Bool?
    /// Paid or extended support after that (Debian ELTS, Ubuntu ESM, endoflife.date `extendedSupport`), informative.
    public var extendedSupport: String?

    public init(
        product: String, cycle: String, codename: String? = nil, releaseDate: String? = nil, eol: String? = nil,
        ended: Bool? = nil, extendedSupport: String? = nil
    ) {
        self.product = product
        self.cycle = cycle
        self.codename = codename
        self.releaseDate = releaseDate
        self.eol = eol
        self.ended = ended
        self.extendedSupport = extendedSupport
    }
}

/// What end of life means for one thing in an image.
public struct EOLStatus: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable {
        /// Past its end of life: no more security fixes.
        case ended
        /// Within `EOLData.warningDays` of it.
        case ending
        case supported
    }
    /// `os` or `runtime`.
    public var subject: String
    /// The name as found (`debian 10 (buster)`, `python 3.8.18`).
    public var name: String
    public var product: String
    public var cycle: String
    public var eol: String?
    /// Days until the end of life (negative: since).
    public var daysLeft: Int?
    public var state: State
    public var extendedSupport: String?
    /// Where the date comes from (`distro-info-data`, the imported file).
    public var source: String

    public init(
        subject: String, name: String, product: String, cycle: String, eol: String?, daysLeft: Int?, state: State,
        extendedSupport: String?, source: String
    ) {
        self.subject = subject
        self.name = name
        self.product = product
        self.cycle = cycle
        self.eol = eol
        self.daysLeft = daysLeft
        self.state = state
        self.extendedSupport = extendedSupport
        self.source = source
    }

    /// One line for people: `debian 10 (buster) reached its end of life on 2024-06-30 (distro-info-data)`.
    public var line: String {
        switch state {
        case .ended:
            return "\(name) reached its end of life" + (eol.map { " on \($0)" } ?? "") + " (\(source))"
                + (extendedSupport.map { "; extended support until \($0)" } ?? "")
        case .ending:
            return "\(name) reaches its end of life on \(eol ?? "?"): \(daysLeft ?? 0) days left (\(source))"
        case .supported:
            return "\(name) is supported until \(eol ?? "an unannounced date") (\(source))"
        }
    }
}

public enum EOLData {
    /// Within this many days of the end of life the state is `ending`.
    public static let warningDays = 90

    /// Where Debian's `distro-info-data` keeps its CSVs.
    public static let distroInfoDirectory = "/usr/share/distro-info"

    /// A `distro-info-data` CSV (`version,codename,series,created,release,eol[,eol-lts,eol-elts | ,eol-server,eol-esm…]`).
    /// Debian's free support ends with LTS (`eol-lts`), Ubuntu's with standard support (`eol`, or `eol-server` when
    /// later); ELTS/ESM are paid and reported as extended support. Rows without a version (sid, experimental) are
    /// skipped. Nil when the bytes are no distro-info CSV.
    public static func parseDistroInfo(_ bytes: [UInt8], name: String) throws -> [EOLCycle]? {
        let lines = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
        guard let header = lines.first?.split(separator: ",", omittingEmptySubsequences: false).map(String.init),
            Array(header.prefix(6)) == ["version", "codename", "series", "created", "release", "eol"]
        else { return nil }
        let ubuntu = header.contains("eol-server") || header.contains("eol-esm")
        let product = ubuntu ? "ubuntu" : "debian"
        var out: [EOLCycle] = []
        for (n, line) in lines.dropFirst().enumerated() {
            let at = name.isEmpty ? "line \(n + 2)" : "\(name):\(n + 2)"
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 3 else { throw HardenError(.corrupt, "\(at): fewer than 3 columns") }
            func column(_ key: String) -> String? {
                guard let i = header.firstIndex(of: key), i < f.count, !f[i].isEmpty else { return nil }
                return f[i]
            }
            guard let version = column("version")?.split(separator: " ").first.map(String.init) else { continue }
            for key in ["created", "release", "eol", "eol-lts", "eol-elts", "eol-server", "eol-esm"] {
                if let d = column(key), !isDate(d) {
                    throw HardenError(.corrupt, "\(at): \(key) \"\(d)\" is not a date")
                }
            }
            let eol =
                ubuntu
                ? [column("eol"), column("eol-server")].compactMap { $0 }.max()
                : (column("eol-lts") ?? column("eol"))
            out.append(
                EOLCycle(
                    product: product, cycle: version, codename: column("series"), releaseDate: column("release"),
                    eol: eol, extendedSupport: ubuntu ? column("eol-esm") : column("eol-elts")))
        }
        return out
    }

    /// An endoflife.date product file: `[{"cycle": "3.19", "releaseDate": "…", "eol": "2025-11-01" | true | false,
    /// "extendedSupport": "…" | bool, "codename": …}, …]`; the product is the file's name without `.json`.
    public static func parseEndOfLife(_ bytes: [UInt8], product: String, name: String) throws -> [EOLCycle] {
        guard let list = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [[String: Any]] else {
            throw HardenError(.corrupt, "\(name): not an endoflife.date product file (a JSON array of cycles)")
        }
        return try list.enumerated().map { i, c in
            let cycle: String
            if let s = c["cycle"] as? String {
                cycle = s
            } else if let n = c["cycle"] as? NSNumber {
                cycle = n.stringValue
            } else {
                throw HardenError(.corrupt, "\(name): cycle \(i) has no \"cycle\"")
            }
            var e = EOLCycle(product: product, cycle: cycle, codename: c["codename"] as? String)
            e.releaseDate = c["releaseDate"] as? String
            switch c["eol"] {
            case let d as String where isDate(d): e.eol = d
            case let b as Bool: e.ended = b
            case nil, is NSNull: break
            default: throw HardenError(.corrupt, "\(name): cycle \(cycle): eol must be a date or a boolean")
            }
            e.extendedSupport = (c["extendedSupport"] as? String).flatMap { isDate($0) ? $0 : nil }
            return e
        }
    }

    /// Every `*.json` of an endoflife.date-style directory (`harden db import eol:DIR`).
    public static func loadDirectory(_ dir: String) throws -> [EOLCycle] {
        var out: [EOLCycle] = []
        for name in try HostFS.listDirectory(dir).sorted() where name.hasSuffix(".json") {
            let product = String(name.dropLast(5)).lowercased()
            guard product.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }) else { continue }
            out += try parseEndOfLife(
                try HostFS.readFile(dir + "/" + name, limit: 16 << 20), product: product, name: name)
        }
        guard !out.isEmpty else { throw HardenError(.notFound, "\(dir): no endoflife.date product file (*.json)") }
        return out
    }

    /// Debian's or Ubuntu's cycles from this machine's `distro-info-data`, when installed.
    public static func hostDistroInfo(_ product: String) -> (cycles: [EOLCycle], source: String)? {
        guard product == "debian" || product == "ubuntu" else { return nil }
        let path = "\(distroInfoDirectory)/\(product).csv"
        guard let bytes = try? HostFS.readFile(path, limit: 4 << 20),
            let cycles = try? parseDistroInfo(bytes, name: path), !cycles.isEmpty
        else { return nil }
        return (cycles, "distro-info-data")
    }

    static func isDate(_ s: String) -> Bool {
        let u = Array(s.utf8)
        return u.count == 10 && u[4] == UInt8(ascii: "-") && u[7] == UInt8(ascii: "-")
            && u.enumerated().allSatisfy { i, c in i == 4 || i == 7 || (c >= 0x30 && c <= 0x39) }
    }
}

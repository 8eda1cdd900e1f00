// harden — an APT repository's Release file (after its signature is checked): the index files it vouches for.
import Foundation
import HardenCore
import HardenPackages

/// A verified `Release`: the files it vouches for and its validity.
public struct ReleaseFile: Sendable {
    public var stanza: Deb822Stanza
    public var date: Date?
    public var validUntil: Date?
    public var acquireByHash: Bool
    public var sha256: [String: (hash: String, size: Int64)]
    public var architectures: [String]

    public static func parse(_ bytes: [UInt8], source: String) throws -> ReleaseFile {
        guard let s = try Deb822.parse(bytes, source: source).first else {
            throw HardenError(.corrupt, "\(source): empty Release file")
        }
        var sums: [String: (String, Int64)] = [:]
        for line in (s["SHA256"] ?? "").textLines() {
            let f = line.split(whereSeparator: \.isWhitespace)
            guard f.count == 3, f[0].count == 64, let size = Int64(f[1]) else { continue }
            sums[String(f[2])] = (String(f[0]).lowercased(), size)
        }
        guard !sums.isEmpty else { throw HardenError(.corrupt, "\(source): the Release file lists no SHA256 sums") }
        return ReleaseFile(
            stanza: s, date: s["Date"].flatMap(Self.date), validUntil: s["Valid-Until"].flatMap(Self.date),
            acquireByHash: s["Acquire-By-Hash"]?.lowercased() == "yes", sha256: sums,
            architectures: (s["Architectures"] ?? "").split(separator: " ").map(String.init))
    }

    /// RFC 2822 dates as Release files write them ("Sat, 09 Nov 2024 10:32:48 UTC").
    public static func date(_ text: String) -> Date? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEE, d MMM yyyy HH:mm:ss zzz", "EEE, dd MMM yyyy HH:mm:ss Z"] {
            f.dateFormat = format
            if let d = f.date(from: text) { return d }
        }
        return nil
    }
}

// harden — reading a `.deb` natively: an `ar` archive of `debian-binary`, `control.tar.*` and `data.tar.*`
// (gzip, xz, zstd or none), read with the project's tar reader. No dpkg runs.
import HardenArchive
import HardenCore
import HardenPackages
import HardenSystem

public struct DebControl: Sendable {
    /// The `control` file's fields.
    public var fields: Deb822Stanza
    /// The other control members by name: md5sums, conffiles, triggers, shlibs, symbols, maintainer scripts…
    public var members: [String: [UInt8]]

    /// Conffiles the package declares (absolute paths), without the `remove-on-upgrade` ones.
    public var conffiles: [String] {
        String(decoding: members["conffiles"] ?? [], as: UTF8.self).textLines().compactMap { line in
            let f = line.split(separator: " ")
            guard let p = f.first, p.hasPrefix("/") else { return nil }
            return f.count > 1 && f[1] == "remove-on-upgrade" ? nil : String(p)
        }
    }

    /// md5sums by path (without the leading slash, as the file lists them).
    public var md5sums: [String: String] {
        var out: [String: String] = [:]
        for line in String(decoding: members["md5sums"] ?? [], as: UTF8.self).textLines() {
            guard line.count > 34 else { continue }
            out[String(line.dropFirst(34))] = String(line.prefix(32))
        }
        return out
    }
}

/// A package read whole: its control part and every data entry with its content (regular files).
public struct DecodedDeb: Sendable {
    public var control: DebControl
    public var entries: [(TarEntry, [UInt8])]
}

public enum DebFile {
    /// Reads `path` into memory (what the layer writer needs while the previous package is compressed).
    public static func decode(_ path: String, name: String) throws -> DecodedDeb {
        var entries: [(TarEntry, [UInt8])] = []
        let control = try read(path, name: name) { _, entry, tar in
            let body =
                entry.type == .regular
                ? try tar.bodyReader().readAll(limit: 4 << 30, name: "\(name): \(entry.path)") : []
            entries.append((entry, body))
        }
        return DecodedDeb(control: control, entries: entries)
    }

    static func decompressor(for member: String, _ reader: any ByteReader, name: String) throws -> any ByteReader {
        if member.hasSuffix(".xz") { return XzReader(reader, name: name) }
        if member.hasSuffix(".gz") { return GzipReader(reader, name: name) }
        if member.hasSuffix(".zst") { return ZstdReader(reader, name: name) }
        if member.hasSuffix(".tar") { return reader }
        throw HardenError(.unsupported, "\(name): unsupported compression of \(member)")
    }

    /// Reads `path`: the control part, then every entry of the data part in order (`body` gets the tar reader
    /// positioned at the entry's content).
    public static func read(
        _ path: String, name: String, data body: (DebControl, TarEntry, TarReader) throws -> Void
    ) throws -> DebControl {
        let ar = ArReader(try FileReader(path: path), name: name)
        guard let first = try ar.next(), first.name == "debian-binary" else {
            throw HardenError(.corrupt, "\(name): not a Debian package")
        }
        let version = try ar.body().readAll(limit: 64, name: name)
        guard String(decoding: version, as: UTF8.self).hasPrefix("2.") else {
            throw HardenError(
                .unsupported,
                "\(name): package format \(String(decoding: version, as: UTF8.self).trimming("\n")) is not 2.x")
        }
        var control: DebControl?
        var sawData = false
        while let m = try ar.next() {
            if m.name.hasPrefix("control.tar") {
                let tar = TarReader(
                    try decompressor(for: m.name, ar.body(), name: "\(name): \(m.name)"), name: "\(name): \(m.name)")
                var members: [String: [UInt8]] = [:]
                var fields: Deb822Stanza?
                while let e = try tar.next() {
                    guard e.type == .regular else { continue }
                    let file = String(decoding: e.path.normalized.bytes, as: UTF8.self)
                    guard !file.contains("/") else { continue }
                    let bytes = try tar.bodyReader().readAll(limit: 16 << 20, name: "\(name): \(file)")
                    if file == "control" {
                        fields = try Deb822.parse(bytes, source: "\(name): control").first
                    } else {
                        members[file] = bytes
                    }
                }
                guard let fields else { throw HardenError(.corrupt, "\(name): no control file") }
                control = DebControl(fields: fields, members: members)
            } else if m.name.hasPrefix("data.tar") {
                guard let control else { throw HardenError(.corrupt, "\(name): data.tar comes before control.tar") }
                let tar = TarReader(
                    try decompressor(for: m.name, ar.body(), name: "\(name): \(m.name)"), name: "\(name): \(m.name)")
                while let e = try tar.next() { try body(control, e, tar) }
                sawData = true
            }
        }
        guard let control, sawData else { throw HardenError(.corrupt, "\(name): missing control.tar or data.tar") }
        return control
    }
}

// harden — commands that read an image over every platform of an index (`--platform all`): which images, and how
// one output covers several platforms (sections, a JSON wrapper, SARIF runs, one file per platform).
import Foundation
import HardenCore
import HardenOCI
import HardenRegistry
import HardenSystem
import Logging

extension ImageOptions {
    /// The images a read-only command covers: with `--platform all` on a multi-platform image, every platform's (in
    /// the index's order, each named); otherwise the one image the options select — and, when that image is one
    /// platform of several and no platform was named, a note on standard error naming the others.
    func openEach(
        _ reference: ImageReference, logger: Logger, progress: Bool, quiet: Bool
    ) async throws -> [(platform: String?, image: Image)] {
        if platform == "all" {
            let transport = try transport(logger: logger, anyPlatform: true)
            guard let index = try await transport.platformIndex(of: reference) else {
                return [(nil, try await transport.open(reference))]
            }
            var out: [(platform: String?, image: Image)] = []
            for entry in index.platforms {
                out.append((entry.platform?.description, try await transport.open(reference, entry: entry)))
            }
            return out
        }
        let image = try await open(reference, logger: logger, progress: progress)
        if platform == nil, !quiet, let index = try? await transport(logger: logger).platformIndex(of: reference),
            index.platforms.count > 1
        {
            writeStandardError(
                "harden: note: \(reference) is a multi-platform image (\(index.platformList)); this is \(image.config.platform) — --platform all covers every one\n"
            )
        }
        return [(nil, image)]
    }
}

/// One output for several platforms.
enum PlatformOutput {
    /// Table sections, one per platform.
    static func sections(_ parts: [(platform: String?, text: String)]) -> String {
        guard parts.count > 1 || parts.first?.platform != nil else { return parts.first?.text ?? "" }
        return parts.map { "== \($0.platform ?? "?")\n\($0.text)" }.joined(separator: "\n")
    }

    /// A JSON document per platform wrapped in one: `{"image", "platforms": [{"platform", KEY: document}]}`.
    static func wrapJSON(image: String, key: String, _ parts: [(platform: String?, text: String)]) throws -> String {
        guard parts.count > 1 || parts.first?.platform != nil else { return parts.first?.text ?? "" }
        var platforms: [[String: Any]] = []
        for p in parts {
            platforms.append([
                "platform": p.platform ?? "", key: try JSONSerialization.jsonObject(with: Data(p.text.utf8)),
            ])
        }
        return try render(["image": image, "platforms": platforms])
    }

    /// One SARIF log holding each platform's runs, each run's `properties.platform` set.
    static func mergeSARIF(_ parts: [(platform: String?, text: String)]) throws -> String {
        guard parts.count > 1 || parts.first?.platform != nil else { return parts.first?.text ?? "" }
        var merged: [String: Any] = [:]
        var runs: [Any] = []
        for p in parts {
            guard var log = try JSONSerialization.jsonObject(with: Data(p.text.utf8)) as? [String: Any] else {
                throw HardenError(.internalError, "a SARIF log that is not a JSON object")
            }
            for case var run as [String: Any] in log["runs"] as? [Any] ?? [] {
                var properties = run["properties"] as? [String: Any] ?? [:]
                properties["platform"] = p.platform ?? ""
                run["properties"] = properties
                runs.append(run)
            }
            log["runs"] = nil
            merged.merge(log) { a, _ in a }
        }
        merged["runs"] = runs
        return try render(merged)
    }

    /// Writes one file per platform (`out.cdx.json` → `out.linux-arm64.cdx.json`) for formats that describe one
    /// image per document; with a single image, the file as given (or standard output).
    static func emitEach(
        _ parts: [(platform: String?, text: String)], to output: String?, format: String
    ) throws {
        guard parts.count > 1 || parts.first?.platform != nil else {
            try Output.emit(parts.first?.text ?? "", to: output)
            return
        }
        guard let output else {
            throw HardenError(
                .invalidArgument,
                "\(format) describes one image per document: give -o FILE (one file per platform is written beside it)")
        }
        for p in parts {
            let path = file(output, platform: p.platform ?? "unknown")
            try HostFS.writeFileAtomically(path, Array(p.text.utf8))
            writeStandardError("wrote \(path)\n")
        }
    }

    /// `dir/out.cdx.json` with platform linux/arm64/v8 → `dir/out.linux-arm64-v8.cdx.json`.
    static func file(_ path: String, platform: String) -> String {
        let slash = path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex
        let name = path[slash...]
        let tag = platform.replacingOccurrences(of: "/", with: "-")
        guard let dot = name.firstIndex(of: "."), dot != name.startIndex else { return path + "." + tag }
        return String(path[..<dot]) + "." + tag + String(path[dot...])
    }

    static func render(_ object: Any) throws -> String {
        let data = try JSONSerialization.data(
            withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}

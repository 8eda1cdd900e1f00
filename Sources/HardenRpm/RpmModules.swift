// harden — modularity (RHEL 8/9 AppStream, Fedora modules): a repository's modules.yaml (modulemd v2 documents with
// each stream's rpm artifacts, modulemd-defaults with the default stream) and the image's /etc/dnf/modules.d states,
// and dnf's filter: a package that belongs to a module stream is offered only when that stream is active (enabled,
// or the default of a module the image left alone), and a non-modular package of the same name as an active
// stream's package is hidden. Pure functions over bytes.
import HardenCore
import Yams

public struct RpmModuleStream: Sendable, Equatable {
    public var name: String
    public var stream: String
    /// NEVRAs (`name-epoch:version-release.arch`) of the stream's packages.
    public var artifacts: [String]
}

public struct RpmModuleMetadata: Sendable, Equatable {
    public var streams: [RpmModuleStream] = []
    /// Module name → its default stream.
    public var defaults: [String: String] = [:]

    public init(streams: [RpmModuleStream] = [], defaults: [String: String] = [:]) {
        self.streams = streams
        self.defaults = defaults
    }

    /// modules.yaml: every `modulemd` (v2, v3's packager form is not in repositories) and `modulemd-defaults` document.
    public static func parse(_ bytes: [UInt8], source: String) throws -> RpmModuleMetadata {
        var out = RpmModuleMetadata()
        do {
            let parser = try Parser(yaml: String(decoding: bytes, as: UTF8.self))
            while let doc = try parser.nextRoot() {
                guard let kind = doc["document"]?.string, let data = doc["data"] else { continue }
                switch kind {
                case "modulemd":
                    guard let name = data["name"]?.string, let stream = data["stream"]?.string else { continue }
                    let rpms = data["artifacts"]?["rpms"]?.sequence?.compactMap(\.string) ?? []
                    out.streams.append(RpmModuleStream(name: name, stream: stream, artifacts: rpms))
                case "modulemd-defaults":
                    if let module = data["module"]?.string, let stream = data["stream"]?.string {
                        out.defaults[module] = stream
                    }
                default: continue
                }
            }
        } catch {
            throw HardenError(.corrupt, "\(source): not module metadata YAML (\(error))")
        }
        return out
    }

    /// dnf's module states from /etc/dnf/modules.d/*.module (`[name]`, `stream=`, `state=enabled|disabled|…`).
    public static func states(_ files: [[UInt8]]) -> [String: (stream: String?, state: String)] {
        var out: [String: (stream: String?, state: String)] = [:]
        for bytes in files {
            var section: String?
            var values: [String: String] = [:]
            func flush() {
                if let s = section {
                    out[s] = (values["stream"].flatMap { $0.isEmpty ? nil : $0 }, values["state"] ?? "")
                }
            }
            for raw in String(decoding: bytes, as: UTF8.self).textLines() {
                let line = raw.trimming(" \t\r")
                if line.hasPrefix("["), line.hasSuffix("]") {
                    flush()
                    section = String(line.dropFirst().dropLast())
                    values = [:]
                } else if let eq = line.firstIndex(of: "=") {
                    values[line[..<eq].trimming(" \t").lowercased()] = line[line.index(after: eq)...].trimming(" \t")
                }
            }
            flush()
        }
        return out
    }

    /// The `name:stream` pairs dnf treats as active: enabled ones, and the default stream of every module the
    /// image has no state for (a disabled module, or one enabled at another stream, takes its default away).
    public func activeStreams(states: [String: (stream: String?, state: String)]) -> Set<String> {
        var out = Set<String>()
        for (module, s) in states where s.state == "enabled" {
            if let stream = s.stream ?? defaults[module] { out.insert("\(module):\(stream)") }
        }
        for (module, stream) in defaults where states[module] == nil || states[module]?.state == "" {
            out.insert("\(module):\(stream)")
        }
        return out
    }

    /// The packages dnf offers: modular ones only from active streams; non-modular ones unless an active stream
    /// ships a package of the same name.
    public func filter(_ packages: [RpmRepoPackage], active: Set<String>) -> [RpmRepoPackage] {
        guard !streams.isEmpty else { return packages }
        var streamOf: [String: Set<String>] = [:]
        var activeNames = Set<String>()
        for s in streams {
            let key = "\(s.name):\(s.stream)"
            for a in s.artifacts {
                streamOf[a, default: []].insert(key)
                if active.contains(key), let name = Self.name(ofNEVRA: a) { activeNames.insert(name) }
            }
        }
        return packages.filter { p in
            let nevra = "\(p.name)-\(p.epoch.isEmpty ? "0" : p.epoch):\(p.version)-\(p.release).\(p.arch)"
            if let keys = streamOf[nevra] { return !keys.isDisjoint(with: active) }
            return !activeNames.contains(p.name)
        }
    }

    /// `name` of `name-epoch:version-release.arch`.
    static func name(ofNEVRA s: String) -> String? {
        let parts = s.split(separator: "-")
        return parts.count >= 3 ? parts.dropLast(2).joined(separator: "-") : nil
    }
}

// harden — a profile recorded on one platform of a multi-platform image applied to another (`--profile-platform`):
// when the packages the application used are the same versions on both, the used paths are mapped through the
// architecture's names (Debian's multiarch triplets, the dynamic loader) and kept where the other platform's image
// has them. Verification on the other platform then proves the mapping.
import Foundation
import HardenCore
import HardenOCI
import HardenPackages
import HardenSBOM

public enum ProfileMapping {
    /// Debian's multiarch triplet of an OCI architecture.
    public static func triplet(_ architecture: String) -> String? {
        switch architecture {
        case "amd64": "x86_64-linux-gnu"
        case "arm64": "aarch64-linux-gnu"
        case "arm": "arm-linux-gnueabihf"
        case "386": "i386-linux-gnu"
        case "ppc64le": "powerpc64le-linux-gnu"
        case "s390x": "s390x-linux-gnu"
        case "riscv64": "riscv64-linux-gnu"
        case "mips64le": "mips64el-linux-gnuabi64"
        default: nil
        }
    }

    /// The glibc dynamic loader's file name and its canonical path on an architecture.
    public static func loader(_ architecture: String) -> (name: String, path: String)? {
        switch architecture {
        case "amd64": ("ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2")
        case "arm64": ("ld-linux-aarch64.so.1", "/lib/ld-linux-aarch64.so.1")
        case "arm": ("ld-linux-armhf.so.3", "/lib/ld-linux-armhf.so.3")
        case "386": ("ld-linux.so.2", "/lib/ld-linux.so.2")
        case "ppc64le": ("ld64.so.2", "/lib64/ld64.so.2")
        case "s390x": ("ld64.so.1", "/lib/ld64.so.1")
        case "riscv64": ("ld-linux-riscv64-lp64d.so.1", "/lib/ld-linux-riscv64-lp64d.so.1")
        default: nil
        }
    }

    /// Where `path` of a `from` image is on a `to` image, in the order to try: the path itself, then with the
    /// triplet and the loader's name replaced, then the loader's canonical path.
    public static func candidates(_ path: String, from: String, to: String) -> [String] {
        guard from != to else { return [path] }
        var out: [String] = []
        var mapped = path
        if let a = triplet(from), let b = triplet(to) { mapped = mapped.replacingOccurrences(of: a, with: b) }
        if let a = loader(from), let b = loader(to) {
            if path == a.path {
                out.append(b.path)
            } else if mapped.hasSuffix("/" + a.name) {
                mapped = String(mapped.dropLast(a.name.count)) + b.name
            }
        }
        if mapped != path { out.insert(mapped, at: 0) }
        out.append(path)
        return out
    }

    /// Why a profile cannot be mapped: the used packages that differ (name: from → to), empty when it can.
    public static func differences(_ source: RuntimeProfile, packages: [SoftwarePackage]) -> [String] {
        var target: [String: String] = [:]
        for p in packages { target["\(p.type.rawValue):\(p.name)"] = p.version }
        return source.packages.filter(\.used).compactMap { u in
            let key = "\(u.type):\(u.name)"
            let other = target[key]
            return other == u.version ? nil : "\(u.name) \(u.version) → \(other ?? "absent")"
        }
    }

    /// `source` (a profile of another platform of the same image) as a profile of `image`: nil, with the reasons,
    /// when a package the application used differs between the two.
    public static func map(
        _ source: RuntimeProfile, onto image: Image, reference: String, tree: FileTree, packages: [SoftwarePackage]
    ) -> (profile: RuntimeProfile?, differences: [String], dropped: Int) {
        let differences = differences(source, packages: packages)
        guard differences.isEmpty else { return (nil, differences, 0) }
        let from = ((try? Platform(parsing: source.image.platform)) ?? .defaultPlatform).architecture
        let to = image.config.platform.normalized.architecture
        let assembler = ProfileAssembler(tree: tree)
        var dropped = 0
        func place(_ path: String, missingOK: Bool) -> String? {
            let options = candidates(path, from: from, to: to)
            // A symlink counts even when its target is outside the image (`error.log` → `/dev/stderr`).
            if let hit = options.first(where: { assembler.isSymlink($0) || assembler.resolve($0).type != .missing }) {
                return hit
            }
            // Looked up and absent on the source: absent here too under its mapped name.
            return missingOK ? options.first : nil
        }
        var files: [String: RuntimeProfile.FileRecord] = [:]
        for f in source.files {
            guard let path = place(f.path, missingOK: f.type == .missing) else {
                dropped += 1
                continue
            }
            let (type, target) = assembler.resolve(path)
            var r = f
            r.path = path
            r.type = assembler.isSymlink(path) ? .symlink : type
            r.target = target
            files[path] = r
        }
        var out = source
        out.mappedFrom = source.image
        out.image = RuntimeProfile.ImageIdentity(
            reference: reference, configDigest: image.configDigest.description,
            manifestDigest: image.manifestDigest.description, platform: image.config.platform.description)
        out.files = files.values.sorted { $0.path < $1.path }
        out.executables = source.executables.map { e in
            var e = e
            e.path = place(e.path, missingOK: true) ?? e.path
            return e
        }
        out.packages = RuntimeProfile.packageUse(packages, paths: out.canonicalUsedPaths)
        out.summary = RuntimeProfile.summarize(out)
        return (out, [], dropped)
    }
}

// harden — wheel file names and compatibility tags (the binary distribution format spec, PEP 425, PEP 600, PEP 656):
// which wheels an image's interpreter can import, and which of them pip would prefer.

/// `{distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl`; each tag part may be a dotted set.
public struct WheelName: Sendable, Equatable {
    public var distribution: String
    public var version: String
    public var build: String?
    public var pythons: [String]
    public var abis: [String]
    public var platforms: [String]

    public static func parse(_ file: String) -> WheelName? {
        guard file.hasSuffix(".whl") else { return nil }
        let parts = file.dropLast(4).split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 5 || parts.count == 6, parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        let tags = parts.suffix(3).map { $0.split(separator: ".").map(String.init) }
        return WheelName(
            distribution: parts[0], version: parts[1], build: parts.count == 6 ? parts[2] : nil, pythons: tags[0],
            abis: tags[1], platforms: tags[2])
    }
}

/// The interpreter a wheel must suit: CPython X.Y on a Linux libc and architecture.
public struct PythonTarget: Sendable, Equatable {
    public enum Libc: Sendable, Equatable {
        case glibc(major: Int, minor: Int)
        case musl(major: Int, minor: Int)
    }
    public var major: Int
    public var minor: Int
    /// X.Y.Z, for `python_full_version` markers.
    public var fullVersion: String
    /// x86_64, aarch64, …
    public var machine: String
    public var libc: Libc?

    public init(major: Int, minor: Int, fullVersion: String, machine: String, libc: Libc?) {
        self.major = major
        self.minor = minor
        self.fullVersion = fullVersion
        self.machine = machine
        self.libc = libc
    }

    /// The PEP 508 marker environment of this interpreter.
    public var markerEnvironment: [String: String] {
        [
            "python_version": "\(major).\(minor)", "python_full_version": fullVersion, "os_name": "posix",
            "sys_platform": "linux", "platform_system": "Linux", "platform_machine": machine,
            "platform_python_implementation": "CPython", "implementation_name": "cpython",
            "implementation_version": fullVersion,
        ]
    }

    /// The platform tags the interpreter accepts, most specific first (`any` last).
    public var platformTags: [String] {
        var out: [String] = []
        switch libc {
        case .glibc(let major, let minor)?:
            for m in stride(from: minor, through: 5, by: -1) {
                out.append("manylinux_\(major)_\(m)_\(machine)")
                // The legacy aliases (PEP 600).
                if major == 2 && m == 17 { out.append("manylinux2014_\(machine)") }
                if major == 2 && m == 12 { out.append("manylinux2010_\(machine)") }
                if major == 2 && m == 5 { out.append("manylinux1_\(machine)") }
            }
        case .musl(let major, let minor)?:
            for m in stride(from: minor, through: 0, by: -1) { out.append("musllinux_\(major)_\(m)_\(machine)") }
        case nil: break
        }
        out.append("linux_\(machine)")
        out.append("any")
        return out
    }

    /// The preference of a (python, abi, platform) tag for this interpreter: lower is better, nil = incompatible.
    public func rank(python: String, abi: String, platform: String) -> Int? {
        let plats = platformTags
        guard let p = plats.firstIndex(of: platform) else { return nil }
        let cp = "cp\(major)\(minor)"
        let interp: Int
        if python == cp && (abi == cp || abi == "none") {
            interp = abi == cp ? 0 : 1
        } else if abi == "abi3", python.hasPrefix("cp\(major)"), let m = Int(python.dropFirst(3)), m <= minor {
            interp = 2 + (minor - m)
        } else if abi == "none", let m = Self.pyMinor(python, major: major), m <= minor {
            interp = 100 + (m < 0 ? 50 : minor - m)
        } else {
            return nil
        }
        // Platform-specific wheels beat pure ones; within those, the interpreter tag decides.
        return (platform == "any" ? 10_000 : p * 200) + interp
    }

    /// `py3` → -1 (any minor), `py311`/`cp311` with abi none → 11, else nil.
    static func pyMinor(_ tag: String, major: Int) -> Int? {
        if tag == "py\(major)" { return -1 }
        for prefix in ["py\(major)", "cp\(major)"] where tag.hasPrefix(prefix) && tag.count > prefix.count {
            return Int(tag.dropFirst(prefix.count))
        }
        return nil
    }

    /// The best rank over every tag a wheel's name expands to, nil when none suits.
    public func rank(_ wheel: WheelName) -> Int? {
        var best: Int?
        for py in wheel.pythons {
            for abi in wheel.abis {
                for plat in wheel.platforms {
                    if let r = rank(python: py, abi: abi, platform: plat) { best = min(best ?? r, r) }
                }
            }
        }
        return best
    }
}

// harden — version comparators checked against the native tools on 100,000 random pairs each.
import HardenPackages
import HardenSystem
import HardenTestSupport
import HardenVulnDB
import Testing

/// Runs `tool` with "A B" lines on stdin and returns its output lines.
func compareWithTool(_ argv: [String], pairs: [(String, String)], dir: String) throws -> [String] {
    let input = pairs.map { "\($0.0) \($0.1)" }.joined(separator: "\n") + "\n"
    try HostFS.writeFileAtomically(dir + "/pairs.txt", Array(input.utf8))
    let quoted = argv.map { "'\($0)'" }.joined(separator: " ")
    let (status, out) = try runProcess(["sh", "-c", "\(quoted) < '\(dir)/pairs.txt'"])
    try #require(status == 0, "\(argv[0]) failed: \(out.prefix(500))")
    return out.split(separator: "\n").map(String.init)
}

@Suite struct VersionPropertyTests {
    static func dpkgVersion(_ rng: inout SeededGenerator) -> String {
        let alnum = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ.+~")
        func part(_ n: Int, _ chars: [Character]) -> String {
            String((0..<n).map { _ in chars.randomElement(using: &rng) ?? "0" })
        }
        var v = ""
        if Int.random(in: 0..<5, using: &rng) == 0 { v += "\(Int.random(in: 0..<3, using: &rng)):" }
        v += String(Int.random(in: 0..<20, using: &rng))
        for _ in 0..<Int.random(in: 0..<4, using: &rng) {
            v += [".", "~", "+", "", "."].randomElement(using: &rng) ?? "."
            v +=
                Bool.random(using: &rng)
                ? String(Int.random(in: 0..<12, using: &rng)) : part(Int.random(in: 1...3, using: &rng), alnum)
        }
        if Bool.random(using: &rng) {
            v +=
                "-" + String(Int.random(in: 0..<5, using: &rng))
                + (Bool.random(using: &rng) ? part(Int.random(in: 0...4, using: &rng), alnum) : "")
        }
        return v
    }

    /// Pairs that are often close (same prefix), so equal and near-equal cases are well covered.
    static func pairs(_ count: Int, seed: UInt64, _ make: (inout SeededGenerator) -> String) -> [(String, String)] {
        var rng = SeededGenerator(seed: seed)
        var out: [(String, String)] = []
        while out.count < count {
            let a = make(&rng)
            let b: String
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: b = a
            case 1: b = a + (["~1", "0", ".0", "a", "+b", "-1", "~"].randomElement(using: &rng) ?? "")
            default: b = make(&rng)
            }
            out.append(Bool.random(using: &rng) ? (a, b) : (b, a))
        }
        return out
    }

    @Test(
        .enabled(
            if: Prerequisites.check(
                haveProgram("gcc") && HostFS.exists("/usr/include/dpkg/version.h"), "gcc and libdpkg-dev"),
            "needs gcc and libdpkg-dev"))
    func dpkgAgreesWithDpkgOn100000Pairs() throws {
        try #require(
            haveProgram("gcc") && HostFS.exists("/usr/include/dpkg/version.h"),
            "gcc and libdpkg-dev are needed: run scripts/setup.sh")
        try withTemporaryDirectory { dir in
            // libdpkg's dpkg_version_compare is the code behind `dpkg --compare-versions`.
            let (cc, ccOut) = try runProcess([
                "gcc", "-O2", "-o", dir + "/dpkg-compare", packageRoot + "/Tests/Tools/dpkg-compare.c", "-ldpkg",
            ])
            try #require(cc == 0, "cannot build the libdpkg helper: \(ccOut)")
            let pairs = Self.pairs(100_000, seed: 42, Self.dpkgVersion)
            let theirs = try compareWithTool([dir + "/dpkg-compare"], pairs: pairs, dir: dir)
            try #require(theirs.count == pairs.count)
            let ours = DpkgVersion()
            var mismatches: [String] = []
            var compared = 0
            for (i, (a, b)) in pairs.enumerated() {
                guard theirs[i] != "invalid" else { continue }
                compared += 1
                let r = ours.compare(a, b)
                if "\(r)" != theirs[i] { mismatches.append("\(a) vs \(b): ours \(r), dpkg \(theirs[i])") }
            }
            #expect(compared > 90_000)
            #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, e.g. \(mismatches.prefix(5))")
            // The helper itself agrees with the dpkg binary on a sample.
            for (a, b) in pairs.prefix(300) {
                let (lt, _) = try runProcess(["dpkg", "--compare-versions", a, "lt", b])
                #expect((lt == 0) == (ours.compare(a, b) < 0), "\(a) lt \(b)")
            }
        }
    }

    static func pep440Version(_ rng: inout SeededGenerator) -> String {
        var v = ""
        if Int.random(in: 0..<8, using: &rng) == 0 { v += "\(Int.random(in: 0..<3, using: &rng))!" }
        if Int.random(in: 0..<20, using: &rng) == 0 { v = "v" + v }
        v += (0..<Int.random(in: 1...4, using: &rng)).map { _ in String(Int.random(in: 0..<12, using: &rng)) }.joined(
            separator: ".")
        let seps = ["", ".", "-", "_"]
        if Int.random(in: 0..<3, using: &rng) == 0 {
            v +=
                (seps.randomElement(using: &rng) ?? "")
                + (["a", "b", "rc", "alpha", "beta", "c", "pre", "preview"].randomElement(using: &rng) ?? "a")
            if Int.random(in: 0..<4, using: &rng) != 0 {
                v += (seps.randomElement(using: &rng) ?? "") + String(Int.random(in: 0..<5, using: &rng))
            }
        }
        if Int.random(in: 0..<4, using: &rng) == 0 {
            if Bool.random(using: &rng) {
                v += "-\(Int.random(in: 0..<4, using: &rng))"
            } else {
                v +=
                    (seps.randomElement(using: &rng) ?? "")
                    + (["post", "rev", "r"].randomElement(using: &rng) ?? "post")
                if Bool.random(using: &rng) { v += String(Int.random(in: 0..<4, using: &rng)) }
            }
        }
        if Int.random(in: 0..<4, using: &rng) == 0 {
            v += (seps.randomElement(using: &rng) ?? "") + "dev"
            if Bool.random(using: &rng) { v += String(Int.random(in: 0..<4, using: &rng)) }
        }
        if Int.random(in: 0..<6, using: &rng) == 0 {
            v +=
                "+"
                + (0..<Int.random(in: 1...3, using: &rng)).map { _ in
                    Bool.random(using: &rng)
                        ? String(Int.random(in: 0..<20, using: &rng))
                        : (["ubuntu", "abc", "x1", "deb"].randomElement(using: &rng) ?? "a")
                }.joined(separator: [".", "-", "_"].randomElement(using: &rng) ?? ".")
        }
        if Int.random(in: 0..<50, using: &rng) == 0 {
            v += ["..", "+", "-", "x", "_"].randomElement(using: &rng) ?? ""
        }  // some invalid ones
        return Int.random(in: 0..<10, using: &rng) == 0 ? v.uppercased() : v
    }

    @Test(.enabled(if: Prerequisites.python("packaging"), "needs python packaging"))
    func pep440AgreesWithPackagingOn100000Pairs() throws {
        try #require(
            (try? runProcess(["python3", "-c", "import packaging"]).status) == 0,
            "python packaging is needed: run scripts/setup.sh")
        try withTemporaryDirectory { dir in
            let pairs = Self.pairs(100_000, seed: 7, Self.pep440Version)
            let theirs = try compareWithTool(
                ["python3", packageRoot + "/Tests/Tools/pep440-compare.py"], pairs: pairs, dir: dir)
            try #require(theirs.count == pairs.count)
            let ours = PEP440Version()
            var mismatches: [String] = []
            var compared = 0
            for (i, (a, b)) in pairs.enumerated() {
                let valid = ours.isValid(a) && ours.isValid(b)
                if theirs[i] == "invalid" || !valid {
                    if (theirs[i] == "invalid") != !valid {
                        mismatches.append("\(a) / \(b): validity ours \(valid), packaging \(theirs[i])")
                    }
                    continue
                }
                compared += 1
                let r = ours.compare(a, b)
                if "\(r)" != theirs[i] { mismatches.append("\(a) vs \(b): ours \(r), packaging \(theirs[i])") }
            }
            // Every pair agrees: on validity where packaging rejects a version, on order otherwise.
            #expect(compared > 80_000)
            #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, e.g. \(mismatches.prefix(5))")
        }
    }

    static func mavenVersion(_ rng: inout SeededGenerator) -> String {
        let words = [
            "alpha", "a", "beta", "b", "m", "milestone", "rc", "cr", "snapshot", "SNAPSHOT", "ga", "final",
            "Final", "release", "sp", "jre", "android", "x", "RELEASE", "",
        ]
        var v = String(Int.random(in: 0..<4, using: &rng))
        for _ in 0..<Int.random(in: 0..<5, using: &rng) {
            v += [".", "-", "", ".", "-"].randomElement(using: &rng) ?? "."
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: v += words.randomElement(using: &rng) ?? ""
            case 1: v += ["0", "00", "1", "2", "10", "007", "12345678901234567890"].randomElement(using: &rng) ?? "0"
            default: v += String(Int.random(in: 0..<3, using: &rng))
            }
        }
        return v
    }

    static let mavenArtifact = "/usr/share/java/maven3-artifact.jar"

    @Test(
        .enabled(
            if: Prerequisites.check(
                haveProgram("java") && HostFS.exists(mavenArtifact), "java and libmaven3-core-java"),
            "needs java and Maven's maven-artifact"))
    func mavenAgreesWithComparableVersionOn100000Pairs() throws {
        try #require(
            haveProgram("java") && HostFS.exists(Self.mavenArtifact),
            "java and libmaven3-core-java are needed: run scripts/setup.sh")
        try withTemporaryDirectory { dir in
            let pairs = Self.pairs(100_000, seed: 11, Self.mavenVersion).filter { !$0.0.isEmpty && !$0.1.isEmpty }
            let theirs = try compareWithTool(
                ["java", "-cp", Self.mavenArtifact, packageRoot + "/Tests/Tools/MavenCompare.java"], pairs: pairs,
                dir: dir)
            try #require(theirs.count == pairs.count)
            let ours = MavenVersion()
            var mismatches: [String] = []
            for (i, (a, b)) in pairs.enumerated() where "\(ours.compare(a, b).signum())" != theirs[i] {
                mismatches.append("\(a) vs \(b): ours \(ours.compare(a, b)), Maven \(theirs[i])")
            }
            #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, e.g. \(mismatches.prefix(8))")
        }
    }
}

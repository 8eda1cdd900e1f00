// harden — end of life: distro-info-data CSVs (a fixture and this machine's own), endoflife.date product files, the
// verdict for an OS and runtimes (ended, ending within 90 days, supported), the day arithmetic, bad input.
import Foundation
import HardenCore
import HardenPackages
import HardenSystem
import HardenVulnDB
import Testing

struct EOLTests {
    static let debianCSV = """
        version,codename,series,created,release,eol,eol-lts,eol-elts
        10,Buster,buster,2017-06-17,2019-07-06,2022-09-10,2024-06-30,2029-06-30
        12,Bookworm,bookworm,2021-08-14,2023-06-10,2026-07-11,2028-06-30,2033-06-30
        14,Forky,forky,2025-08-09
        ,Sid,sid,1993-08-16

        """
    static let ubuntuCSV = """
        version,codename,series,created,release,eol,eol-server,eol-esm,eol-legacy
        8.04 LTS,Hardy Heron,hardy,2007-10-19,2008-04-24,2011-05-12,2013-05-09
        22.04 LTS,Jammy Jellyfish,jammy,2021-10-14,2022-04-21,2027-06-01,2027-06-01,2032-04-21,2034-04-25

        """

    @Test func distroInfoCSVsGiveTheEndOfFreeSecuritySupport() throws {
        let debian = try #require(try EOLData.parseDistroInfo(Array(Self.debianCSV.utf8), name: "debian.csv"))
        #expect(debian.map(\.cycle) == ["10", "12", "14"], "sid has no version and is skipped")
        #expect(debian[0].product == "debian" && debian[0].eol == "2024-06-30" && debian[0].codename == "buster")
        #expect(debian[0].extendedSupport == "2029-06-30" && debian[2].eol == nil)
        let ubuntu = try #require(try EOLData.parseDistroInfo(Array(Self.ubuntuCSV.utf8), name: "ubuntu.csv"))
        #expect(ubuntu.map(\.cycle) == ["8.04", "22.04"])
        #expect(ubuntu[0].eol == "2013-05-09", "hardy's server support outlived its desktop")
        #expect(
            ubuntu[1].product == "ubuntu" && ubuntu[1].eol == "2027-06-01" && ubuntu[1].extendedSupport == "2032-04-21")
        #expect(try EOLData.parseDistroInfo(Array("cve,epss\n".utf8), name: "x.csv") == nil)
        do {
            _ = try EOLData.parseDistroInfo(
                Array((Self.debianCSV + "13,Trixie,trixie,2023-06-10,soon\n").utf8), name: "d.csv")
            Issue.record("a bad date must fail")
        } catch let e as HardenError {
            #expect(e.description.contains("d.csv:6") && e.description.contains("\"soon\""), "\(e)")
        }
    }

    @Test func thisMachinesDistroInfoDataParses() throws {
        let path = EOLData.distroInfoDirectory + "/debian.csv"
        try #require(HostFS.exists(path), "distro-info-data is installed by scripts/setup.sh")
        let debian = try #require(EOLData.hostDistroInfo("debian"))
        #expect(debian.cycles.first { $0.cycle == "10" }?.eol == "2024-06-30")
        #expect(debian.cycles.first { $0.cycle == "12" }?.codename == "bookworm")
        #expect(EOLData.hostDistroInfo("ubuntu")?.cycles.contains { $0.cycle == "22.04" } == true)
        #expect(EOLData.hostDistroInfo("alpine") == nil)
    }

    @Test func endOfLifeProductFiles() throws {
        let alpine = #"""
            [{"cycle": "3.19", "releaseDate": "2023-12-07", "eol": "2025-11-01", "latest": "3.19.4"},
             {"cycle": "3.15", "releaseDate": "2021-11-24", "eol": true},
             {"cycle": "edge", "eol": false}]
            """#
        let cycles = try EOLData.parseEndOfLife(Array(alpine.utf8), product: "alpine", name: "alpine.json")
        #expect(cycles.map(\.cycle) == ["3.19", "3.15", "edge"])
        #expect(cycles[0].eol == "2025-11-01" && cycles[1].ended == true && cycles[2].ended == false)
        let amazon = #"[{"cycle": 2023, "eol": "2029-06-30"}]"#
        #expect(
            try EOLData.parseEndOfLife(Array(amazon.utf8), product: "amazon-linux", name: "a.json")[0].cycle == "2023")
        #expect(throws: HardenError.self) {
            try EOLData.parseEndOfLife(Array(#"{"cycle": "1"}"#.utf8), product: "x", name: "x.json")
        }
        #expect(throws: HardenError.self) {
            try EOLData.parseEndOfLife(
                Array(#"[{"cycle": "1", "eol": "tomorrow"}]"#.utf8), product: "x", name: "x.json")
        }
    }

    static func runtime(_ name: String, _ version: String) -> SoftwarePackage {
        SoftwarePackage(
            id: "\(name)-\(version)", type: .binary, name: name, version: version, architecture: nil, sourceName: nil,
            sourceVersion: nil, licenses: [], purl: "pkg:generic/\(name)@\(version)", layer: nil,
            locations: ["/usr/local/bin/\(name)"], files: [], ownedBy: nil, maintainer: nil, installedSize: nil,
            foundBy: "binary", metadata: nil)
    }

    @Test func theVerdictForAnOSAndItsRuntimes() throws {
        let debian = try #require(try EOLData.parseDistroInfo(Array(Self.debianCSV.utf8), name: "debian.csv"))
        let python = [
            EOLCycle(product: "python", cycle: "3.8", eol: "2024-10-07"),
            EOLCycle(product: "python", cycle: "3.12", eol: "2028-10-31"),
        ]
        let node = [EOLCycle(product: "nodejs", cycle: "20", eol: "2026-04-30")]
        let temurin = [EOLCycle(product: "eclipse-temurin", cycle: "8", eol: "2026-12-31")]
        let lookup: (String) -> (cycles: [EOLCycle], source: String)? = { product in
            switch product {
            case "debian": return (debian, "distro-info-data")
            case "python": return (python, "eol:/data")
            case "nodejs": return (node, "eol:/data")
            case "eclipse-temurin": return (temurin, "eol:/data")
            default: return nil
            }
        }
        let packages = [
            Self.runtime("python", "3.8.18"), Self.runtime("python", "3.12.1"), Self.runtime("node", "20.10.0"),
            Self.runtime("openjdk", "1.8.0_392"), Self.runtime("curl", "8.5.0"),
        ]
        let buster = OSInfo(id: "debian", versionID: "10", codename: "buster")
        let s = EOLData.evaluate(os: buster, packages: packages, today: "2026-12-07", cycles: lookup)
        #expect(
            s.map(\.name) == [
                "debian 10 (buster)", "python 3.8.18", "python 3.12.1", "node 20.10.0", "openjdk 1.8.0_392",
            ])
        #expect(s.map(\.state) == [.ended, .ended, .supported, .ended, .ending])
        #expect(s[0].daysLeft == -890 && s[0].cycle == "10" && s[0].source == "distro-info-data")
        #expect(
            s[0].line
                == "debian 10 (buster) reached its end of life on 2024-06-30 (distro-info-data); extended support until 2029-06-30"
        )
        #expect(s[4].daysLeft == 24 && s[4].line.contains("24 days left"), "\(s[4].line)")
        // Bookworm is in LTS until mid-2028; within 90 days of that it is ending.
        let bookworm = OSInfo(id: "debian", versionID: "12", codename: "bookworm")
        #expect(
            EOLData.evaluate(os: bookworm, packages: [], today: "2026-12-07", cycles: lookup).first?.state == .supported
        )
        #expect(
            EOLData.evaluate(os: bookworm, packages: [], today: "2028-05-01", cycles: lookup).first?.state == .ending)
        // No data: nothing said; rolling releases have no end of life.
        #expect(
            EOLData.evaluate(
                os: OSInfo(id: "alpine", versionID: "3.19.1"), packages: [], today: "2026-12-07", cycles: lookup
            ).isEmpty)
        #expect(
            EOLData.evaluate(os: OSInfo(id: "wolfi", versionID: "20230201"), packages: [], today: "2026-12-07") { _ in
                Issue.record("wolfi is not looked up")
                return nil
            }.isEmpty)
    }

    @Test func alpineAndRHELFamilyCyclesAreFoundByMajorMinorOrMajor() throws {
        let lookup: (String) -> (cycles: [EOLCycle], source: String)? = { product in
            switch product {
            case "alpine": return ([EOLCycle(product: "alpine", cycle: "3.15", ended: true)], "eol")
            case "rocky-linux": return ([EOLCycle(product: "rocky-linux", cycle: "8", eol: "2029-05-31")], "eol")
            case "amazon-linux": return ([EOLCycle(product: "amazon-linux", cycle: "2", eol: "2026-06-30")], "eol")
            default: return nil
            }
        }
        let today = "2026-12-07"
        let alpine = EOLData.evaluate(
            os: OSInfo(id: "alpine", versionID: "3.15.11"), packages: [], today: today, cycles: lookup)
        #expect(
            alpine.first?.cycle == "3.15" && alpine.first?.state == .ended
                && alpine.first?.line.contains("reached") == true)
        let rocky = EOLData.evaluate(
            os: OSInfo(id: "rocky", versionID: "8.9"), packages: [], today: today, cycles: lookup)
        #expect(rocky.first?.product == "rocky-linux" && rocky.first?.cycle == "8" && rocky.first?.state == .supported)
        let al2 = EOLData.evaluate(os: OSInfo(id: "amzn", versionID: "2"), packages: [], today: today, cycles: lookup)
        #expect(al2.first?.state == .ended)
    }
}

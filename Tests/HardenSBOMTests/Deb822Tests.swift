// harden — the one deb822 reader: strict for repository metadata, tolerant for databases, and byte-exact stanza
// ranges for rewrites.
import HardenCore
import HardenPackages
import Testing

@Suite struct Deb822Tests {
    static let text = """
        Package: a
        Version: 1
        Description: short
         long line
         .
         after a blank

        # a comment
        Package: b\r
        Version: 2   \n
        """

    @Test func strictParseKeepsContinuationsRawSkipsCommentsAndTrims() throws {
        let stanzas = try Deb822.parse(Array(Self.text.utf8), source: "t")
        #expect(stanzas.count == 2)
        #expect(stanzas[0]["description"] == "short\n long line\n .\n after a blank")
        #expect(stanzas[1]["Package"] == "b" && stanzas[1]["Version"] == "2")
        // A stanza renders back as it was read.
        #expect(stanzas[0].rendered().hasPrefix("Package: a\nVersion: 1\nDescription: short\n long line\n"))
        // `wanted` keeps only the named fields (lowercase keys).
        let wanted = try Deb822.parse(Array(Self.text.utf8), source: "t", wanted: ["package"])
        #expect(wanted.map { $0.fields.map(\.key) } == [["Package"], ["Package"]])
    }

    @Test func strictParseNamesTheSourceAndLineOfABadLine() {
        #expect {
            try Deb822.parse(Array("Package: a\nnot a field\n".utf8), source: "/etc/apt/x.sources")
        } throws: { "\($0)".contains("/etc/apt/x.sources: line 2") }
        #expect {
            try Deb822.parse(Array(" continuation first\n".utf8), source: "s")
        } throws: { "\($0)".contains("continuation line without a field") }
    }

    @Test func tolerantParseFoldsContinuationsAndDropsOnlyTheBrokenStanza() {
        var reported: [(Int, String)] = []
        let bytes = Array("Package: a\nDescription: x\n y\n .\n z\n\nPackage: broken\nno colon\n\nPackage: c\n".utf8)
        let stanzas = Deb822.parse(bytes) { reported.append(($0, $1)) }
        #expect(stanzas.map { $0["Package"] } == ["a", "c"])
        #expect(stanzas[0]["Description"] == "x\ny\n\nz")
        #expect(stanzas[1].line == 10)
        #expect(reported.count == 1 && reported[0].0 == 8)
        // headerOnly stops after the first stanza (a METADATA file's body follows its headers).
        let header = Deb822.parse(Array("Name: p\nVersion: 1\n\nbody: not a header\n".utf8), headerOnly: true) { _, _ in
        }
        #expect(header.count == 1 && header[0]["Name"] == "p")
    }

    @Test func stanzaRangesCoverEachStanzaByteForByte() {
        let bytes = Array("\n\nA: 1\nB: 2\n \t\nC: 3\r\n\r\n\nD: 4".utf8)
        let ranges = Deb822.stanzaRanges(bytes)
        #expect(ranges.map { String(decoding: bytes[$0], as: UTF8.self) } == ["A: 1\nB: 2\n", "C: 3\r\n", "D: 4"])
        #expect(Deb822.stanzaRanges([]).isEmpty)
    }
}

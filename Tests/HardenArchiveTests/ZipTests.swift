// harden — the zip reader against real and hostile archives made here.
import Foundation
import HardenArchive
import HardenCore
import HardenTestSupport
import Testing

@Suite struct ZipTests {
    @Test func storedAndDeflatedEntriesReadBack() throws {
        let text = Array(String(repeating: "harden ", count: 1000).utf8)
        let zip = try ZipArchive(
            try ZipFixture.build([.init("a.txt", text), .init("b.bin", [1, 2, 3], deflate: false)]))
        #expect(zip.entries.map(\.name) == ["a.txt", "b.bin"])
        #expect(try zip.read(zip.entries[0]) == text)
        #expect(try zip.read(zip.entries[1]) == [1, 2, 3])
    }

    @Test func entriesSharingOneStreamAreRefused() throws {
        // The overlapping-entries bomb: 1,000 names for one deflated 64 MiB stream.
        let bytes = try ZipFixture.build(
            [.init("x.jar", [UInt8](repeating: 0, count: 64 << 20))], aliases: (0..<1000).map { "alias\($0).jar" })
        #expect(bytes.count < 512 << 10)
        let start = Date()
        do {
            _ = try ZipArchive(bytes)
            Issue.record("overlapping entries were accepted")
        } catch let e as HardenError {
            #expect(e.code == .limitExceeded && e.message.contains("overlap"), "\(e)")
        }
        #expect(Date().timeIntervalSince(start) < 1)
    }

    @Test func theBudgetStopsInflationBeforeItHappens() throws {
        let zip = try ZipArchive(
            try ZipFixture.build((0..<4).map { .init("e\($0)", [UInt8](repeating: 0, count: 1 << 20)) }))
        let budget = InflationBudget(limit: 3 << 20)
        for e in zip.entries.prefix(3) { #expect(try zip.read(e, budget: budget).count == 1 << 20) }
        #expect(throws: HardenError.self) { try zip.read(zip.entries[3], budget: budget) }
    }

    @Test func damagedArchivesFailWithOneLineErrors() throws {
        let good = try ZipFixture.build([.init("a.txt", Array("hello".utf8))])
        var truncated = good
        truncated.removeLast(30)
        for bytes in [truncated, Array(good.prefix(10)), [UInt8](repeating: 0x50, count: 100)] {
            do {
                let zip = try ZipArchive(bytes)
                for e in zip.entries { _ = try zip.read(e) }
            } catch let e as HardenError {
                #expect(!e.message.contains("\n"))
            }
        }
    }
}

/// The one-shot inflater shared by zip entries and Rust's audit data: raw and zlib-wrapped, with its output limit.
@Suite struct InflateTests {
    @Test func rawAndZlibStreamsWithinAndOverTheLimit() throws {
        var rng = SeededGenerator(for: "inflate")
        let text = (0..<300_000).map { _ in UInt8.random(in: 97...100, using: &rng) }
        let raw = try ZipFixture.deflate(text)
        #expect(try Inflate.bytes(raw, format: .raw, limit: text.count, what: "t") == text)
        // zlib: a two-byte header (deflate, 32 KiB window, check bits) + the raw stream + the Adler-32 of the text.
        var a: UInt32 = 1, b: UInt32 = 0
        for c in text {
            a = (a + UInt32(c)) % 65521
            b = (b + a) % 65521
        }
        let adler = (b << 16) | a
        let zlib = [0x78, 0x9c] + raw + [24, 16, 8, 0].map { UInt8((adler >> $0) & 0xff) }
        #expect(try Inflate.bytes(zlib, format: .zlib, limit: 1 << 20, what: "t") == text)
        #expect(try Inflate.bytes(try ZipFixture.deflate([]), format: .raw, limit: 0, what: "t") == [])
        let over = #expect(throws: HardenError.self) {
            try Inflate.bytes(raw, format: .raw, limit: text.count - 1, what: "entry x")
        }
        #expect(over?.code == .limitExceeded && over?.message.hasPrefix("entry x: inflates to more than") == true)
        #expect(throws: HardenError.self) {
            try Inflate.bytes(Array(raw.prefix(raw.count / 2)), format: .raw, limit: 1 << 20, what: "t")
        }
        #expect(throws: HardenError.self) { try Inflate.bytes(raw, format: .zlib, limit: 1 << 20, what: "t") }
    }
}

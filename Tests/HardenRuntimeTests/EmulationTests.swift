// harden — the emulation check: binfmt_misc handler files parsed, and the one-line errors that say what to install.
import Foundation
import HardenCore
import HardenOCI
import HardenRuntime
import HardenSystem
import HardenTestSupport
import Testing

struct EmulationTests {
    static let handler = """
        enabled
        interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
        flags: PF
        offset 0
        magic 7f454c460201010000000000000000000200b700
        mask ffffffffffffff00fffffffffffffffffeffffff

        """
    let amd64 = Platform(os: "linux", architecture: "amd64")
    let arm64 = Platform(os: "linux", architecture: "arm64")

    func binfmt(_ dir: String, register: Bool = true, handler: String? = Self.handler) throws -> String {
        let d = dir + "/binfmt"
        try HostFS.makeDirectories(d)
        if register { try HostFS.writeFileAtomically(d + "/register", []) }
        if let handler { try HostFS.writeFileAtomically(d + "/qemu-aarch64", Array(handler.utf8)) }
        return d
    }

    @Test func theHostsArchitectureRunsNativelyAndI386OnAmd64() throws {
        #expect(try Emulation.check(amd64, host: amd64, directory: "/nonexistent") == .native)
        #expect(
            try Emulation.check(Platform(os: "linux", architecture: "386"), host: amd64, directory: "/x") == .native)
        #expect(try Emulation.check(arm64, host: arm64, directory: "/x") == .native)
    }

    @Test func anEnabledFixBinaryHandlerRunsTheForeignPlatform() throws {
        try withTemporaryDirectory { dir in
            let d = try binfmt(dir)
            #expect(
                try Emulation.check(arm64, host: amd64, directory: d)
                    == .emulated(handler: "qemu-aarch64", interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P"))
        }
    }

    @Test(arguments: [
        ("unmounted", "binfmt_misc is not mounted"),
        ("missing", "no binfmt_misc handler qemu-aarch64 is registered"),
        ("disabled", "the handler qemu-aarch64 is disabled"),
        ("noF", "lacks the fix-binary flag"),
    ])
    func aMissingOrUnusableHandlerSaysWhatToInstall(state: String, message: String) throws {
        try withTemporaryDirectory { dir in
            let d: String
            switch state {
            case "unmounted": d = try binfmt(dir, register: false)
            case "missing": d = try binfmt(dir, handler: nil)
            case "disabled":
                d = try binfmt(dir, handler: Self.handler.replacingOccurrences(of: "enabled", with: "disabled"))
            default: d = try binfmt(dir, handler: Self.handler.replacingOccurrences(of: "flags: PF", with: "flags: P"))
            }
            let e = #expect(throws: HardenError.self) { try Emulation.check(arm64, host: amd64, directory: d) }
            #expect(e?.message.contains(message) == true, "\(e?.message ?? "")")
            #expect(e?.message.contains("linux/arm64") == true)
            if state != "noF" { #expect(e?.message.contains("qemu-user-static") == true) }
            #expect(e?.message.contains("\n") == false)
            #expect(e?.code == .notFound, "a missing emulator is an install step, not a platform to skip")
        }
    }

    @Test func platformsWithoutAnEmulatorAreUnsupported() throws {
        let e = #expect(throws: HardenError.self) {
            try Emulation.check(Platform(os: "windows", architecture: "amd64"), host: amd64)
        }
        #expect(e?.code == .unsupported)
        let f = #expect(throws: HardenError.self) {
            try Emulation.check(Platform(os: "linux", architecture: "wasm"), host: amd64)
        }
        #expect(f?.code == .unsupported)
    }

    @Test func aHandlerWithoutInterpreterIsCorrupt() {
        #expect(throws: HardenError.self) { try Emulation.parseHandler(Array("enabled\nflags: F\n".utf8)) }
    }
}

// harden — how a container of another platform runs here: natively when its architecture is the host's, else
// through the kernel's binfmt_misc with a qemu-user handler registered with the fix-binary flag (F), so the
// emulator the kernel opened at registration serves inside the container's mount namespace and never comes from
// (or shows up in) the image.
import Foundation
import HardenCore
import HardenOCI
import HardenSystem

public enum Emulation: Equatable, Sendable {
    case native
    /// Runs under the named binfmt_misc handler (e.g. `qemu-aarch64`) whose interpreter is a host file.
    case emulated(handler: String, interpreter: String)

    /// The binfmt_misc directory of the kernel.
    public static let binfmtDirectory = "/proc/sys/fs/binfmt_misc"

    /// The qemu-user handler Debian's qemu-user-static registers for an OCI architecture (nil: none exists).
    public static func handlerName(for platform: Platform) -> String? {
        switch platform.normalized.architecture {
        case "arm64": "qemu-aarch64"
        case "arm": "qemu-arm"
        case "ppc64le": "qemu-ppc64le"
        case "s390x": "qemu-s390x"
        case "riscv64": "qemu-riscv64"
        case "386": "qemu-i386"
        case "mips64le": "qemu-mips64el"
        case "loong64": "qemu-loongarch64"
        default: nil
        }
    }

    /// How `platform` runs on `host`: the handler's state is read from `directory` (binfmt_misc). A one-line error
    /// saying what to install when the platform cannot run here.
    public static func check(
        _ platform: Platform, host: Platform = .host, directory: String = binfmtDirectory
    ) throws -> Emulation {
        let p = platform.normalized
        guard p.os == "linux" else {
            throw HardenError(.unsupported, "\(p): only linux images run under runc")
        }
        if p.architecture == host.architecture || (host.architecture == "amd64" && p.architecture == "386") {
            return .native
        }
        guard let name = handlerName(for: p) else {
            throw HardenError(.unsupported, "\(p): no qemu-user emulator exists for this architecture")
        }
        let install =
            "install qemu-user-static and binfmt-support (apt-get install qemu-user-static binfmt-support) and enable it (update-binfmts --enable \(name), or scripts/enable-binfmt.sh)"
        guard HostFS.exists(directory + "/register") else {
            throw HardenError(
                .notFound, "\(p) runs under emulation, but binfmt_misc is not mounted at \(directory); \(install)")
        }
        guard let bytes = try? HostFS.readFile(directory + "/" + name) else {
            throw HardenError(
                .notFound, "\(p) runs under emulation: no binfmt_misc handler \(name) is registered; \(install)")
        }
        let handler = try parseHandler(bytes)
        guard handler.enabled else {
            throw HardenError(.notFound, "\(p) runs under emulation: the handler \(name) is disabled; \(install)")
        }
        guard handler.flags.contains("F") else {
            throw HardenError(
                .notFound,
                "\(p) runs under emulation: the handler \(name) lacks the fix-binary flag (F), so its interpreter \(handler.interpreter) would be looked up inside the image; register it with F (Debian's qemu-user-static does)"
            )
        }
        return .emulated(handler: name, interpreter: handler.interpreter)
    }

    /// A binfmt_misc handler file: `enabled`/`disabled`, `interpreter PATH`, `flags: PF…`.
    public struct Handler: Equatable, Sendable {
        public var enabled: Bool
        public var interpreter: String
        public var flags: String
    }

    public static func parseHandler(_ bytes: [UInt8]) throws -> Handler {
        var h = Handler(enabled: false, interpreter: "", flags: "")
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            if line == "enabled" { h.enabled = true }
            if line.hasPrefix("interpreter ") { h.interpreter = String(line.dropFirst("interpreter ".count)) }
            if line.hasPrefix("flags:") {
                h.flags = line.dropFirst("flags:".count).trimmingCharacters(in: .whitespaces)
            }
        }
        guard !h.interpreter.isEmpty else {
            throw HardenError(.corrupt, "binfmt_misc handler: no interpreter line")
        }
        return h
    }
}

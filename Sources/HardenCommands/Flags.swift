// harden — option groups shared by commands, and output rendering.
import ArgumentParser
import Foundation
import HardenCore
import HardenOCI
import HardenPackages
import HardenRegistry
import HardenRegistryAuth
import HardenReport
import HardenSystem
import Logging

/// How to pick an image from a multi-image source.
public struct ImageOptions: ParsableArguments {
    @Option(
        name: .long,
        help:
            "Platform to select from a multi-platform image: os/arch[/variant] (default linux/amd64); patch and run: the platforms to process (all, or a comma-separated list; default all), the others are copied unchanged."
    )
    public var platform: String?

    @Option(
        name: .long,
        help:
            "Registry credentials USER:PASS for the registries this command names — visible to every user in `ps`; prefer --creds-file or the environment [HARDEN_REGISTRY_USER, HARDEN_REGISTRY_PASSWORD, HARDEN_REGISTRY_HOST; else ~/.docker/config.json]."
    )
    public var creds: String?

    @Option(
        name: .customLong("creds-file"),
        help: ArgumentHelp(
            "Registry credentials from FILE (- for standard input): HOST[:PORT] USER:PASS lines, a docker config.json, or one USER:PASS line for the registries this command names.",
            valueName: "FILE"))
    public var credsFile: String?

    /// A worker's: credentials only where they name a host (a job names its registry; the worker's must not follow).
    @Flag(name: .customLong("host-scoped-credentials-only"), help: .hidden)
    public var hostScopedCredentialsOnly = false

    @Option(
        name: .customLong("tls-verify"),
        help:
            "Verify registry TLS certificates; false also allows plain-HTTP registries (for the image's registry only; credentials never go elsewhere in clear text)."
    )
    public var tlsVerify: Bool = true

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Registry idle timeout: the longest wait for the next bytes of an answer, in seconds.", valueName: "S"))
    public var timeout: Int = 60

    public init() {}

    public func registryOptions() throws -> RegistryOptions {
        guard timeout > 0 else {
            throw HardenError(.invalidArgument, "--timeout: must be a positive number of seconds")
        }
        if creds != nil && credsFile != nil {
            throw HardenError(.invalidArgument, "--creds and --creds-file: give one")
        }
        var credentials = RegistryCredentials(anyHost: try creds.map { try Credentials(parsing: $0) })
        if let credsFile { credentials = try Credentials.read(file: credsFile) }
        if hostScopedCredentialsOnly {
            guard credentials.anyHost == nil else {
                throw HardenError(
                    .invalidArgument,
                    "--creds/--creds-file: a worker's credentials must name their registry (HOST[:PORT] USER:PASS lines or a docker config.json)"
                )
            }
            credentials.hostScopedOnly = true
        }
        return RegistryOptions(credentials: credentials, tlsVerify: tlsVerify, idleTimeout: .seconds(timeout))
    }

    @Sendable static func drawPull(_ done: Int, _ total: Int, _ bytes: Int64) {
        writeStandardError("\r\u{1b}[2Kpull: \(done)/\(total) blobs, \(formatBytes(bytes))")
    }

    /// The library's image door with these options.
    public func transport(logger: Logger) throws -> ImageTransport {
        ImageTransport(registry: try registryOptions(), loader: try loaderOptions(), logger: logger)
    }

    /// A transport that selects no platform of its own (`--platform` may be `all` or a list: the commands that
    /// process every platform of an index read it themselves).
    public func transport(logger: Logger, anyPlatform: Bool) throws -> ImageTransport {
        guard anyPlatform else { return try transport(logger: logger) }
        return ImageTransport(registry: try registryOptions(), loader: ImageLoader.Options(), logger: logger)
    }

    /// Opens an image from any transport; registry images are pulled (verified) into a temporary store.
    public func open(
        _ reference: ImageReference, logger: Logger, progress: Bool = false, blobDirectory: String? = nil
    ) async throws -> Image {
        let image = try await transport(logger: logger).open(
            reference, blobDirectory: blobDirectory, progress: progress ? Self.drawPull : nil)
        if progress, case .registry = reference { writeStandardError("\r\u{1b}[2K") }
        return image
    }

    /// Writes `image` to any transport (see `ImageTransport.write`).
    public func write(
        _ image: Image, to dest: ImageReference, options: ImageWriter.Options, mountFrom: String? = nil,
        logger: Logger
    ) async throws -> ImageWriter.Written {
        try await transport(logger: logger).write(image, to: dest, options: options, mountFrom: mountFrom)
    }

    public func loaderOptions() throws -> ImageLoader.Options {
        guard let platform else { return ImageLoader.Options() }
        return ImageLoader.Options(platform: try Platform(parsing: platform), platformExplicit: true)
    }
}

extension ImageOptions {
    /// The tag an image was named by, for the `latest` check: a registry reference without tag or digest means `latest`.
    func tag(of reference: ImageReference, image: Image) -> String? {
        if case .registry(let r) = reference, let parsed = try? RegistryReference.parse(r) {
            return parsed.digest != nil ? nil : (parsed.tag ?? "latest")
        }
        return image.tag
    }
}

/// The formats a command can print.
public enum OutputFormat: String, CaseIterable, ExpressibleByArgument, Sendable {
    case table, json
}

/// Writes a command's result to stdout or, atomically, to a file.
enum Output {
    static func emit(_ text: String, to file: String?) throws {
        if let file {
            try HostFS.writeFileAtomically(file, Array(text.utf8))
        } else {
            print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
        }
    }
}

/// A one-line progress display on standard error, drawn only when enabled (a terminal, not --quiet or --no-progress).
final class ProgressLine {
    private let enabled: Bool
    private var drawn = false

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ text: String) {
        guard enabled else { return }
        writeStandardError("\r\u{1b}[2K" + String(text.prefix(120)))
        drawn = true
    }

    func finish() {
        guard enabled, drawn else { return }
        writeStandardError("\r\u{1b}[2K")
        drawn = false
    }
}

/// A size given on the command line: bytes, or a number with K, M, G or T (powers of 1024).
func parseSize(_ text: String, option: String) throws -> Int64 {
    let units: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
    var t = text.uppercased()
    if t.hasSuffix("IB") { t.removeLast(2) } else if t.hasSuffix("B") { t.removeLast() }
    var factor: Int64 = 1
    if let last = t.last, let f = units[last] {
        factor = f
        t.removeLast()
    }
    guard let n = Int64(t), n > 0, n.multipliedReportingOverflow(by: factor).overflow == false else {
        throw HardenError(.invalidArgument, "\(option): expected a size such as 1048576, 500M or 64G, not \(text)")
    }
    return n * factor
}

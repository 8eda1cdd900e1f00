// harden — how the container (and the services it needs) start: the options `profile`, `minify` and `run` share.
// Single-container settings (`--env`, `--mount`, … and arguments after `--`), or a Compose application.
import ArgumentParser
import Foundation
import HardenCompose
import HardenCore
import HardenOCI
import HardenPackages
import HardenProfile
import HardenRegistry
import HardenRegistryAuth
import HardenRuntime
import HardenSystem
import Logging

public struct RunSettingsOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Set a variable: NAME=VALUE, or NAME to pass harden's own (repeatable). Values are never recorded.",
            valueName: "NAME=VALUE"))
    public var env: [String] = []

    @Option(
        name: .customLong("env-file"),
        help: ArgumentHelp(
            "Read variables from a file of NAME=VALUE lines (Docker's format) (repeatable).", valueName: "FILE"))
    public var envFile: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Bind a host file or directory: SRC:DST[:ro] (repeatable). Mounts stay mounts: nothing under DST is copied into an image.",
            valueName: "SRC:DST[:ro]"))
    public var mount: [String] = []

    @Option(name: .long, help: ArgumentHelp("Mount an empty tmpfs at this directory (repeatable).", valueName: "DST"))
    public var tmpfs: [String] = []

    @Flag(
        name: .customLong("read-only"),
        help: "Mount the image's root file system read-only (writable: mounts, volumes, --tmpfs).")
    public var readOnly = false

    @Option(
        name: .long,
        help: ArgumentHelp("Run as this user instead of the image's: UID[:GID] or NAME[:GROUP].", valueName: "USER"))
    public var user: String?

    @Option(name: .long, help: ArgumentHelp("The working directory instead of the image's.", valueName: "DIR"))
    public var workdir: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The program to run instead of the image's entrypoint (drops the image's cmd, as Docker does; '' clears it).",
            valueName: "CMD")
    )
    public var entrypoint: String?

    @Option(
        name: .long,
        help: ArgumentHelp("A Compose file (repeat to merge files like docker compose -f a -f b).", valueName: "FILE"))
    public var compose: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "With --compose: the service to harden; the services it depends on run beside it.", valueName: "NAME"))
    public var service: String?

    @Argument(
        parsing: .postTerminator,
        help: ArgumentHelp("After --: the arguments that replace the image's cmd.", valueName: "ARG"))
    public var arguments: [String] = []

    public init() {}

    public func validate() throws {
        if !compose.isEmpty && service == nil {
            throw ValidationError("--compose needs --service NAME (the service to harden)")
        }
        if service != nil && compose.isEmpty { throw ValidationError("--service needs --compose FILE") }
        for m in mount { _ = try ContainerSettings.Mount(parsing: m) }
        for t in tmpfs where !t.hasPrefix("/") { throw ValidationError("--tmpfs \(t): must be an absolute path") }
        if let workdir, !workdir.hasPrefix("/") {
            throw ValidationError("--workdir \(workdir): must be an absolute path")
        }
    }

    /// Whether the run needs a Compose file read to know its image.
    public var usesCompose: Bool { !compose.isEmpty }

    /// The single-container settings given on the command line (on top of a Compose service's, when there is one).
    func commandLineSettings(over base: ContainerSettings = ContainerSettings()) throws -> ContainerSettings {
        var s = base
        let environment = ProcessInfo.processInfo.environment
        for f in envFile {
            guard HostFS.exists(f) else { throw HardenError(.notFound, "--env-file \(f): no such file") }
            s.environment += try EnvFile.parse(try HostFS.readFile(f, limit: 1 << 20), source: f).map {
                (name: $0.0, value: $0.1)
            }
        }
        for e in env {
            if let v = try ContainerSettings.parseVariable(e, environment: environment) { s.environment.append(v) }
        }
        for m in mount {
            var parsed = try ContainerSettings.Mount(parsing: m)
            parsed.source = HostFS.absolute(parsed.source ?? "")
            guard HostFS.exists(parsed.source ?? "") else {
                throw HardenError(.notFound, "--mount \(m): \(parsed.source ?? "") does not exist")
            }
            s.mounts.removeAll { $0.destination == parsed.destination }
            s.mounts.append(parsed)
        }
        s.tmpfs += tmpfs
        if readOnly { s.readOnlyRootfs = true }
        if let user { s.user = user }
        if let workdir { s.workingDir = workdir }
        if let entrypoint { s.entrypoint = entrypoint.isEmpty ? [] : [entrypoint] }
        if !arguments.isEmpty { s.command = arguments }
        return s
    }

    /// The target's image reference: the one given, else the Compose service's `image` (a bare name is `docker://`).
    public func targetImage(given: String?) throws -> String {
        if let given { return given }
        guard let service else { throw ValidationError("give the image (or --compose FILE --service NAME)") }
        guard let image = try loadTarget(service).target.image else {
            throw HardenError(.invalidArgument, "\(compose[0]): service \(service) has no image")
        }
        return Self.reference(image)
    }

    /// The merged Compose files and the service to harden.
    func loadTarget(_ service: String) throws -> (project: ComposeProject, target: ComposeService) {
        let project = try ComposeReader.load(compose)
        guard let target = project.services[service] else {
            throw HardenError(
                .notFound,
                "\(compose.joined(separator: ", ")): no service \(service) (services: \(project.services.keys.sorted().joined(separator: ", ")))"
            )
        }
        return (project, target)
    }

    /// The image options for a service's image: the target's, without its credentials and TLS exception unless the
    /// service's image is on the same registry host.
    public static func options(
        _ given: ImageOptions, for service: ImageReference, target: ImageReference
    ) -> ImageOptions {
        guard case .registry(let s) = service else { return given }
        var sameHost = false
        if case .registry(let t) = target, let sh = try? RegistryReference.parse(s).host,
            let th = try? RegistryReference.parse(t).host
        {
            sameHost = sh == th
        }
        if sameHost { return given }
        var o = given
        o.creds = nil
        o.credsFile = nil
        o.tlsVerify = true
        return o
    }

    /// A Compose `image:` as a harden reference: a transport prefix is kept; a bare name means a registry image.
    static func reference(_ image: String) -> String {
        ImageReference.hasTransport(image) ? image : "docker://" + image
    }

    /// Sets the run's settings, and with --compose its services (their images opened, dependencies only), on `o`.
    /// Warnings of the Compose reader are returned for the report.
    /// - Parameter target: the target's image; `--creds`/`--tls-verify=false` are for its registry only, so a service image
    ///   on another registry is pulled with neither (its own host's entry of ~/.docker/config.json still applies).
    public func apply(
        to o: inout RunOptions, imageOptions: ImageOptions, target targetImage: ImageReference, logger: Logger
    ) async throws
        -> [String]
    {
        guard let service else {
            o.settings = try commandLineSettings()
            return []
        }
        let (project, target) = try loadTarget(service)
        o.settings = try commandLineSettings(over: try target.settings())
        o.serviceName = service
        o.dependsOn = target.dependsOn
        o.healthcheck = target.healthcheck
        // Only what the target needs, transitively.
        var needed: [String] = []
        var queue = target.dependsOn.keys.sorted()
        while let n = queue.first {
            queue.removeFirst()
            guard !needed.contains(n) else { continue }
            guard let s = project.services[n] else {
                throw HardenError(
                    .invalidArgument, "\(compose[0]): service \(service) depends on \(n), which is not defined")
            }
            needed.append(n)
            queue += s.dependsOn.keys.sorted()
        }
        for n in needed {
            guard let s = project.services[n], let image = s.image else {
                throw HardenError(
                    .invalidArgument,
                    "\(compose[0]): service \(n) has no image (build: is not supported; build it first)")
            }
            let ref = try ImageReference.parse(Self.reference(image))
            logger.info("Opening a service's image", metadata: ["service": "\(n)", "image": "\(ref)"])
            let img = try await Self.options(imageOptions, for: ref, target: targetImage).open(ref, logger: logger)
            o.services.append(
                ServiceLaunch(
                    name: n, image: img, reference: ref.description, users: (nil, nil), settings: try s.settings(),
                    dependsOn: s.dependsOn,
                    healthcheck: s.healthcheck))
        }
        return project.warnings
    }
}

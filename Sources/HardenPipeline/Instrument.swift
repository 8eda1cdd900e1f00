// harden — the instrument stage: an image whose entrypoint is the sensor (Sensor/sensor.c) in front of the image's
// own entrypoint + cmd, and the import of what such images recorded wherever they ran.
import Foundation
import HardenArchive
import HardenCore
import HardenELF
import HardenOCI
import HardenPackages
import HardenProfile
import HardenSBOM
import HardenSystem

public enum InstrumentStage {
    public struct Options: Sendable {
        /// The sensor executable on this machine (static, x86-64).
        public var sensor: String
        /// Where the sensor writes fragments in the container (meant to be a volume).
        public var outputDirectory = "/var/run/harden-profile"
        public var flushInterval = 10.0
        public init(sensor: String) { self.sensor = sensor }
    }

    /// Where the sensor lives in an instrumented image.
    public static let sensorPath = SensorFragment.sensorDirectory + "/sensor"
    public static let labelInstrumented = "dev.harden.instrument.source"
    public static let labelOutputDirectory = "dev.harden.instrument.output-dir"

    /// The sensor executable: `explicit` (`--sensor`), `$HARDEN_SENSOR`, else beside the harden executable, in
    /// `../lib/harden/`, or `/usr/lib/harden/`.
    public static func locateSensor(explicit: String?) throws -> String {
        if let explicit {
            guard HostFS.isRegularFile(explicit) else {
                throw HardenError(.notFound, "--sensor \(explicit): no such file")
            }
            return explicit
        }
        if let env = ProcessInfo.processInfo.environment["HARDEN_SENSOR"], !env.isEmpty {
            guard HostFS.isRegularFile(env) else { throw HardenError(.notFound, "HARDEN_SENSOR=\(env): no such file") }
            return env
        }
        let exe =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let dir = (exe as NSString).deletingLastPathComponent
        let candidates = [
            dir + "/harden-sensor", dir + "/../lib/harden/harden-sensor", "/usr/lib/harden/harden-sensor",
        ]
        guard let found = candidates.first(where: HostFS.isRegularFile) else {
            throw HardenError(
                .notFound,
                "the sensor (harden-sensor) is not installed: looked in \(candidates.joined(separator: ", ")); build it with scripts/build-sensor.sh or give --sensor FILE"
            )
        }
        return found
    }

    /// The sensor must run in any image: an x86-64 ELF executable with no interpreter and no shared library.
    static func checkSensor(_ bytes: [UInt8], path: String) throws {
        guard ELF.isELF(bytes.prefix(4)), let elf = try? ELF.parse(bytes) else {
            throw HardenError(.invalidArgument, "\(path): not an ELF executable")
        }
        guard elf.machine == 62, elf.is64Bit else {
            throw HardenError(.unsupported, "\(path): not an x86-64 executable")
        }
        guard elf.interpreter == nil, elf.needed.isEmpty else {
            throw HardenError(
                .invalidArgument,
                "\(path): dynamically linked (\(elf.interpreter ?? elf.needed.joined(separator: ", "))); the sensor must be static to run in any image"
            )
        }
    }

    /// The instrumented image: the original layers, one layer with the sensor, and the sensor as entrypoint in front
    /// of the original entrypoint (the cmd is kept, so `docker run IMAGE other-cmd` still replaces only the cmd).
    public static func run(_ image: Image, options: Options) throws -> Image {
        let platform = image.config.platform.description
        guard image.config.os == "linux", image.config.architecture == "amd64" else {
            throw HardenError(
                .unsupported, "\(image.source): the image is \(platform); the sensor is built for linux/amd64 only")
        }
        var config = image.config
        var container = config.config ?? ContainerConfig()
        if let source = container.labels?[labelInstrumented] {
            throw HardenError(
                .invalidArgument,
                "\(image.source): already instrumented (from \(source)); instrument the original image")
        }
        let entrypoint = container.entrypoint ?? []
        guard !(entrypoint + (container.cmd ?? [])).isEmpty else {
            throw HardenError(
                .invalidArgument,
                "\(image.source): the image has no entrypoint and no cmd, so there is nothing to instrument")
        }
        guard options.outputDirectory.hasPrefix("/") else {
            throw HardenError(.invalidArgument, "--output-dir \(options.outputDirectory): must be an absolute path")
        }
        guard options.flushInterval >= 0.1, options.flushInterval <= 86_400 else {
            throw HardenError(.invalidArgument, "--flush-interval: between 0.1 and 86400 seconds")
        }
        let sensor = try HostFS.readFile(options.sensor, limit: 16 << 20)
        try checkSensor(sensor, path: options.sensor)

        let store = DirectoryBlobStore(
            root: try HostFS.makeTemporaryDirectory(prefix: "harden-instrument"), owned: true)
        let writer = try LayerBlobWriter(path: store.root + "/layer.tmp", compression: .gzip)
        let dir = String(SensorFragment.sensorDirectory.dropFirst())
        try writer.tar.append(TarEntry(path: RawPath(dir), type: .directory, mode: 0o755, uid: 0, gid: 0, mtime: 0))
        var file = TarEntry(
            path: RawPath(String(sensorPath.dropFirst())), type: .regular, mode: 0o755, uid: 0, gid: 0, mtime: 0)
        file.size = Int64(sensor.count)
        try writer.tar.append(file, body: sensor)
        let (digest, size, diffID) = try writer.finish()
        try store.adopt(writer.path, as: digest)

        let id = image.configDigest.description
        var interval = String(format: "%.3f", options.flushInterval)
        while interval.hasSuffix("0") { interval.removeLast() }
        if interval.hasSuffix(".") { interval.removeLast() }
        container.entrypoint =
            [sensorPath, "--output-dir", options.outputDirectory, "--flush-interval", interval, "--image-id", id, "--"]
            + entrypoint
        var labels = container.labels ?? [:]
        labels[labelInstrumented] = id
        labels[labelOutputDirectory] = options.outputDirectory
        container.labels = labels
        config.config = container
        config.rootfs.diffIDs.append(diffID)
        config.history =
            (config.history ?? []) + [
                History(
                    created: ISO8601DateFormatter().string(from: Date()), createdBy: "harden instrument",
                    comment: "the harden sensor in front of the entrypoint; fragments go to \(options.outputDirectory)")
            ]
        let layer = Descriptor(mediaType: MediaType.ociLayer(.gzip), digest: digest, size: size)
        return try Image.assemble(
            source: "instrumented", config: config, layers: image.layers.map(\.descriptor) + [layer],
            store: CombinedBlobStore([store, image.store]), configStore: store)
    }

    /// Fragments from files, directories of fragment files, captured logs, or `-` (standard input).
    public static func readFragments(_ paths: [String]) throws -> (fragments: [SensorFragment], warnings: [String]) {
        var fragments: [SensorFragment] = []
        var warnings: [String] = []
        for path in paths {
            var files: [String] = []
            if path != "-" && HostFS.isDirectory(path) {
                files = try HostFS.listDirectory(path).filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted()
                    .map {
                        path + "/" + $0
                    }
                guard !files.isEmpty else {
                    throw HardenError(.notFound, "\(path): no fragment (*.json) in this directory")
                }
            } else {
                guard path == "-" || HostFS.exists(path) else {
                    throw HardenError(.notFound, "\(path): no such file or directory")
                }
                files = [path]
            }
            for f in files {
                let bytes = try HostFS.readFile(f == "-" ? "/dev/stdin" : f, limit: ProfileLimits.fragmentBytes)
                let (got, skipped) = try SensorFragments.parse(bytes, source: f == "-" ? "standard input" : f)
                fragments += got
                warnings += skipped
            }
        }
        return (fragments, warnings)
    }

    /// A profile of the original `image` from what its instrumented form recorded: each run's latest fragment,
    /// resolved against the original image's tree (the sensor's own files never appear), the runs merged.
    public static func importProfile(
        image: Image, reference: String, tree: FileTree, packages: [SoftwarePackage], fragments: [SensorFragment]
    ) throws -> (profile: RuntimeProfile, warnings: [String]) {
        let id = image.configDigest.description
        if let source = image.config.config?.labels?[labelInstrumented] {
            throw HardenError(
                .invalidArgument,
                "\(reference) is the instrumented image; give the original (\(source)) so paths resolve against it")
        }
        var warnings: [String] = []
        var profiles: [RuntimeProfile] = []
        for f in SensorFragments.latest(fragments) {
            if let recorded = f.image, recorded != id {
                throw HardenError(
                    .invalidArgument,
                    "run \(f.run) was recorded by an image instrumented from \(recorded), not from \(reference) (\(id))"
                )
            }
            for w in f.warnings { warnings.append("run \(f.run): the sensor said: \(w)") }
            if f.mode == "untraced" {
                warnings.append(
                    "run \(f.run): untraced (the app ran without the sensor's tracing): it recorded nothing")
                continue
            }
            if !f.final {
                warnings.append(
                    "run \(f.run): no final fragment (the container was killed or is still running): what it did after \(f.flushedAt) is missing"
                )
            }
            if f.unreadableArguments > 0 {
                warnings.append(
                    "run \(f.run): \(f.unreadableArguments) path arguments could not be read (processes of another user that are not dumpable; give the container CAP_SYS_PTRACE to see them)"
                )
            }
            profiles.append(
                RuntimeProfile.build(
                    image: image, reference: reference, tree: tree, observation: f.observation(), packages: packages))
        }
        guard !profiles.isEmpty else {
            throw HardenError(
                .invalidArgument, "no traced run in the fragments: \(warnings.first ?? "nothing was recorded")")
        }
        return (try RuntimeProfile.merge(profiles, packages: packages), warnings)
    }
}

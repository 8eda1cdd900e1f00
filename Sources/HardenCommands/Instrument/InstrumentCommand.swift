// harden — `harden instrument IMAGE -o DEST`: the image with the sensor as its entrypoint, to run where it really runs.
import ArgumentParser
import HardenCore
import HardenOCI
import HardenPackages
import HardenPipeline
import HardenSystem

extension Application {
    public struct Instrument: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "instrument",
            abstract:
                "Write the image with a sensor in front of its entrypoint, to profile it wherever it runs (no root needed).",
            discussion: """
                The new image has the original layers plus one small layer (/.harden/sensor, a static executable) and \
                the sensor as entrypoint: it starts the original entrypoint + cmd with the same arguments, environment, \
                user and working directory, forwards signals, reaps zombies and exits with the app's status. A command \
                given at run time (docker run IMAGE CMD, Kubernetes args:) replaces the cmd as before and is recorded; \
                Kubernetes command: (or docker run --entrypoint) replaces the sensor too. The sensor traces the app \
                with ptrace behind a seccomp filter (no capability beyond Docker's default set; works as a non-root \
                user and with a read-only root file system) and writes fragments into --output-dir (mount a volume or \
                emptyDir there) every --flush-interval seconds and at exit; when that directory is not writable they go \
                to standard error between marker lines. Then: harden profile ORIGINAL --import DIR|LOG -o PROFILE.json. \
                Environment at run time: HARDEN_SENSOR_OUTPUT_DIR, HARDEN_SENSOR_FLUSH_INTERVAL, HARDEN_SENSOR=off.
                """)

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var imageOptions: ImageOptions

        @Argument(help: "The image to instrument.")
        public var image: String

        @Option(
            name: .shortAndLong,
            help: ArgumentHelp("Where to write the instrumented image (any transport).", valueName: "DEST"))
        public var output: String

        @Option(
            name: .customLong("output-dir"),
            help: ArgumentHelp("Where the sensor writes fragments in the container.", valueName: "PATH"))
        public var outputDirectory = "/var/run/harden-profile"

        @Option(
            name: .customLong("flush-interval"), help: ArgumentHelp("Seconds between fragment writes.", valueName: "S"))
        public var flushInterval = 10.0

        @Option(
            name: .long,
            help: ArgumentHelp("The sensor executable (default: harden-sensor beside harden).", valueName: "FILE"))
        public var sensor: String?

        public init() {}

        public func run() async throws {
            let logger = global.makeLogger()
            let reference = try ImageReference.parse(image)
            let dest = try ImageReference.parse(output)
            var options = InstrumentStage.Options(sensor: try InstrumentStage.locateSensor(explicit: sensor))
            options.outputDirectory = outputDirectory
            options.flushInterval = flushInterval
            let img = try await imageOptions.open(reference, logger: logger, progress: global.showProgress)
            let instrumented = try InstrumentStage.run(img, options: options)
            let written = try await imageOptions.write(
                instrumented, to: dest, options: ImageWriter.Options(compression: .keep), logger: logger)
            if !global.quiet {
                writeStandardError(
                    "wrote \(written.reference)" + (written.manifestDigest.map { " (\($0))" } ?? "")
                        + "; fragments go to \(outputDirectory) in the container (mount a volume there)\n")
            }
        }
    }
}

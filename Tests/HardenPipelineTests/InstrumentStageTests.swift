// harden — what `harden instrument` refuses before it writes anything: other architectures, images with nothing to
// run, an already instrumented image, a relative output directory, a sensor that is not a static x86-64 executable.
import HardenCore
import HardenOCI
import HardenPackages
import HardenPipeline
import HardenSystem
import HardenTestSupport
import Testing

struct InstrumentStageTests {
    static func image(_ dir: String, platform: Platform = .defaultPlatform, config: ContainerConfig?) throws -> Image {
        let layer = try Fixtures.layer([.file("bin/app", "#!/bin/sh\n", mode: 0o755)])
        try Fixtures.ociLayout(at: dir, images: [(tag: "t", layers: [layer], config: config)], platform: platform)
        return try ImageLoader.open(.ociLayout(path: dir, tag: "t"))
    }

    static func refusal(_ image: Image, _ options: InstrumentStage.Options) -> String? {
        do {
            _ = try InstrumentStage.run(image, options: options)
            return nil
        } catch let e as HardenError {
            return e.message
        } catch {
            return "\(error)"
        }
    }

    @Test func whatCannotBeInstrumentedIsRefusedWithOneLine() throws {
        try withTemporaryDirectory { dir in
            var runnable = ContainerConfig()
            runnable.cmd = ["/bin/app"]
            let options = InstrumentStage.Options(sensor: "/bin/true")  // dynamically linked: refused last

            let arm = try Self.image(
                dir + "/arm", platform: Platform(os: "linux", architecture: "arm64"), config: runnable)
            #expect(
                Self.refusal(arm, options)?.contains("linux/arm64; the sensor is built for linux/amd64 only") == true)

            let empty = try Self.image(dir + "/empty", config: ContainerConfig())
            #expect(Self.refusal(empty, options)?.contains("no entrypoint and no cmd") == true)

            var labelled = runnable
            labelled.labels = [InstrumentStage.labelInstrumented: "sha256:" + String(repeating: "b", count: 64)]
            let again = try Self.image(dir + "/again", config: labelled)
            #expect(Self.refusal(again, options)?.contains("already instrumented") == true)

            let ok = try Self.image(dir + "/ok", config: runnable)
            var relative = options
            relative.outputDirectory = "profile"
            #expect(Self.refusal(ok, relative)?.contains("must be an absolute path") == true)
            let dynamic = Self.refusal(ok, options) ?? ""
            #expect(dynamic.contains("/bin/true: dynamically linked") && !dynamic.contains("\n"), "\(dynamic)")
            var missing = options
            missing.sensor = dir + "/nothing"
            #expect(Self.refusal(ok, missing) != nil)
        }
    }
}

// harden — `harden minify` of a multi-platform image: the profile is of one of its platforms; that platform is
// minified with it and every other chosen platform with the profile mapped onto its own files (when the packages the
// application used are the same versions there), each verified by replay (foreign ones under emulation). One index
// is written only when every minified platform verified.
import ArgumentParser
import Foundation
import HardenCore
import HardenMinify
import HardenOCI
import HardenPackages
import HardenPipeline
import HardenPolicy
import HardenProfile
import HardenRegistry
import HardenReport
import HardenRuntime
import HardenSBOM
import HardenSystem
import HardenVulnDB
import Logging

extension Application.Minify {
    /// A platform minified: what its evidence is made of when the index is signed.
    struct Minified {
        var position: Int
        var platform: String
        var given: Image
        var result: MinifyResult
        var remediation: (before: [Finding], after: [Finding], vex: [UInt8]?)?
    }

    func minifyIndex(
        _ index: PlatformIndex, reference: ImageReference, destination: ImageReference, transport: ImageTransport,
        profile: (RuntimeProfile, [UInt8]), options: MinifyOptions, run: RunOptions, data: VulnerabilityData,
        signing: PlatformSigning?, logger: Logger
    ) async throws {
        let runtimeProfile = profile.0
        guard index.platforms.contains(where: { $0.digest.description == runtimeProfile.image.manifestDigest }) else {
            throw HardenError(
                .invalidArgument,
                "\(self.profile): a profile of \(runtimeProfile.image.reference) (\(runtimeProfile.image.manifestDigest)), which is not a platform of \(reference) (\(index.platformList)); profile one of its platforms (harden profile --platform P)"
            )
        }
        let chosen = Set(try index.selected(imageOptions.platform).map(\.digest))
        var images: [(entry: Descriptor, image: Image)] = []
        var lines: [String] = []
        var failures: [String] = []
        var minified: [Minified] = []
        for entry in index.platforms {
            let platform = entry.platform?.description ?? "?"
            let image = try await transport.open(reference, entry: entry)
            guard chosen.contains(entry.digest) else {
                images.append((entry, image))
                lines.append("== \(platform): copied unchanged (not selected by --platform)")
                continue
            }
            let name = "\(reference) (\(platform))"
            let (sbom, context) = try SBOMBuilder(logger: logger).catalog(image, reference: name)
            var platformProfile = runtimeProfile
            if entry.digest.description != runtimeProfile.image.manifestDigest {
                let m = ProfileMapping.map(
                    runtimeProfile, onto: image, reference: name, tree: context.tree, packages: sbom.packages)
                guard let mapped = m.profile else {
                    let why =
                        "the profile's used packages differ here (\(m.differences.prefix(5).joined(separator: ", ")))"
                    if strictPlatforms { throw HardenError(.unsupported, "\(platform): \(why)") }
                    writeStandardError("harden: warning: \(platform) kept unchanged: \(why); profile it itself\n")
                    images.append((entry, image))
                    lines.append("== \(platform): kept unchanged (\(why))")
                    continue
                }
                platformProfile = mapped
            }
            let before = try data.findings(sbom)
            var result = try await MinifyStage.run(
                image, reference: name, sbom: sbom, context: context, profile: platformProfile,
                findings: before, data: data, options: options, run: run, logger: logger)
            var remediation: (before: [Finding], after: [Finding], vex: [UInt8]?)?
            if let before, let after = try data.findings(result.sbomAfter) {
                let evidence = try MinifyStage.evidence(
                    &result, name: "\(destination) (\(platform))", before: before, after: after,
                    tree: try ImageInspection.inspect(result.image).tree)
                if let vexOut, let doc = evidence.document {
                    try HostFS.writeFileAtomically(PlatformOutput.file(vexOut, platform: platform), doc)
                }
                remediation = (before, evidence.after, evidence.document)
            }
            minified.append(
                Minified(
                    position: images.count, platform: platform, given: image, result: result, remediation: remediation))
            try writeSideFiles(result, platform: platform)
            lines.append("== \(platform)\n" + Self.summary(result.report))
            let v = result.report.verification
            if !v.passed { failures += MinifyStage.verificationFailures(v).map { "\(platform): \($0)" } }
            images.append((entry, result.image))
        }
        if !global.quiet { print(lines.joined(separator: "\n")) }
        guard failures.isEmpty else {
            for f in failures { writeStandardError("harden: \(f)\n") }
            writeStandardError("harden: \(destination) was not written\n")
            throw ExitCode(2)
        }
        let written = try await transport.writeIndex(
            images, index: index, to: destination, mountFrom: reference.mountSource(for: destination))
        if let signing, let digest = written.manifestDigest {
            try await signMinified(
                minified, count: images.count, destination: destination, indexDigest: digest, transport: transport,
                data: data, signing: signing, reference: reference, profile: profile.1, logger: logger)
        }
        if !global.quiet {
            writeStandardError(
                "wrote \(written.reference)"
                    + (written.manifestDigest.map { " (\($0), \(images.count) platforms)" } ?? "") + "\n")
        }
    }

    /// With a key, after the index is written: each minified platform signed by digest with its own evidence (SBOM,
    /// scan, the remediation's OpenVEX, provenance with the input and the profile, report), then the index.
    func signMinified(
        _ minified: [Minified], count: Int, destination: ImageReference, indexDigest: Digest,
        transport: ImageTransport, data: VulnerabilityData, signing: PlatformSigning, reference: ImageReference,
        profile: [UInt8], logger: Logger
    ) async throws {
        var publish = signing.publish
        let key = try await signing.key.value()
        publish.signingKey = key
        let pinned = try PublishStage.pinned(destination, digest: indexDigest)
        guard let written = try await transport.platformIndex(of: pinned), written.platforms.count == count else {
            throw HardenError(.internalError, "\(destination): the index written does not list every platform")
        }
        let pipeline = Pipeline(logger: logger, vulnerabilities: data)
        for m in minified {
            let subject = written.platforms[m.position]
            var result = try pipeline.minifyResult(
                m.result, given: m.given, reference: "\(reference) (\(m.platform))",
                destination: "\(destination)@\(subject.digest)", started: signing.started, evidence: m.remediation,
                profile: profile)
            try await PublishStage.attach(
                &result, subject: subject, destination: pinned, outputDigest: subject.digest, transport: transport,
                key: key, options: publish)
        }
        try await PublishStage.signIndex(
            at: destination, digest: indexDigest, transport: transport, key: key, options: publish)
    }

    /// --report, --seccomp and --k8s of one platform: beside the path given, named for the platform
    /// (`seccomp.linux-arm64.json`).
    func writeSideFiles(_ result: MinifyResult, platform: String) throws {
        if let report {
            try HostFS.writeFileAtomically(
                PlatformOutput.file(report, platform: platform), try JSONCoding.encode(result.report, pretty: true))
        }
        if let seccomp {
            try HostFS.writeFileAtomically(
                PlatformOutput.file(seccomp, platform: platform), try JSONCoding.encode(result.seccomp, pretty: true))
        }
        if let k8s {
            try HostFS.writeFileAtomically(PlatformOutput.file(k8s, platform: platform), Array(result.kubernetes.utf8))
        }
    }
}

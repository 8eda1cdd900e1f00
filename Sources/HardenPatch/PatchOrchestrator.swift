// harden — the patch stage's orchestrator: finds the image's package ecosystems and hands the image to the patcher
// registered for one of them. It names no ecosystem; backends plug in through `PackagePatcher`.
import HardenCore
import HardenOCI
import HardenPackages
import HardenSBOM
import HardenVulnDB
import Logging

/// What a patcher is asked to do.
public struct PatchRequest {
    public var image: Image
    public var reference: String
    /// The image's squashed view, with the files its ecosystem's capture rules asked for.
    public var context: CatalogContext
    /// The image's matched vulnerabilities (nil when every package is upgraded: `PatchMode.all`).
    public var findings: [Finding]?
    public var options: PatchOptions

    public init(image: Image, reference: String, context: CatalogContext, findings: [Finding]?, options: PatchOptions) {
        self.image = image
        self.reference = reference
        self.context = context
        self.findings = findings
        self.options = options
    }
}

/// A backend that upgrades one ecosystem's packages: reads the image's repositories, plans the upgrades, fetches and
/// verifies the packages, and writes them as one layer on top of the image.
public protocol PackagePatcher: Sendable {
    /// The `PackageEcosystem.name` whose packages it upgrades.
    var ecosystem: String { get }
    func patch(_ request: PatchRequest, progress: @escaping (String) -> Void) async throws -> PatchResult
}

/// Patches an image with the backend of its package ecosystem.
public final class Patcher: Sendable {
    let ecosystems: [any PackageEcosystem]
    let patchers: [any PackagePatcher]

    /// `patchers` defaults to every backend harden ships (APT for dpkg, apk, rpm).
    public init(
        logger: Logger = .harden, ecosystems: [any PackageEcosystem] = Ecosystems.standard,
        patchers: [any PackagePatcher]? = nil
    ) {
        self.ecosystems = ecosystems
        self.patchers =
            patchers ?? [AptPatcher(logger: logger), ApkPatcher(logger: logger), RpmPatcher(logger: logger)]
    }

    /// Patches `image`. `findings` are the image's matched vulnerabilities (required unless `options.mode` is all).
    public func patch(
        _ image: Image, reference: String, context: CatalogContext, findings: [Finding]?, options: PatchOptions,
        progress: @escaping (String) -> Void = { _ in }
    ) async throws -> PatchResult {
        let request = PatchRequest(
            image: image, reference: reference, context: context, findings: findings, options: options)
        let patcher = try backend(for: context)
        var result = try await patcher.patch(request, progress: progress)
        result.report.ecosystem = patcher.ecosystem
        return result
    }

    /// The patcher of the first registered ecosystem whose database the image holds.
    public func backend(for context: CatalogContext) throws -> any PackagePatcher {
        let installed = ecosystems.installed(in: context)
        for ecosystem in installed {
            if let patcher = patchers.first(where: { $0.ecosystem == ecosystem.name }) { return patcher }
        }
        let supported = patchers.map(\.ecosystem).joined(separator: ", ")
        guard !installed.isEmpty else {
            throw HardenError(
                .unsupported,
                "no package database in the image: nothing to patch (harden patches images managed by \(supported))")
        }
        throw HardenError(
            .unsupported,
            "the image's packages are managed by \(installed.map(\.name).joined(separator: ", ")): harden patches "
                + "images managed by \(supported) so far")
    }
}

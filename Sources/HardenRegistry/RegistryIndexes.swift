// harden — multi-platform images in a registry: the platforms an index lists, and pushing a whole index (every
// platform's manifest by digest first, then the index under the tag).
import HardenCore
import HardenOCI
import HardenRegistryAuth
import Logging

extension RegistryTransfer {
    /// The platforms of `text` when it names an index; nil when it names one image.
    public static func platformIndex(
        _ text: String, options: RegistryOptions, logger: Logger = .harden
    ) async throws -> PlatformIndex? {
        let ref = try RegistryReference.parse(text)
        let client = options.client(for: ref, logger: logger)
        do {
            let (bytes, mediaType) = try await client.manifest(ref.reference)
            await client.shutdown()
            guard MediaType.isIndex(mediaType) else { return nil }
            let index = try PlatformIndex.parse(bytes, source: "docker://\(ref)")
            return index.platforms.isEmpty ? nil : index
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// Pushes every image of `images` by digest, then `index` rewritten to name them (attestation manifests and
    /// entries not given dropped) under `text`'s tag (or digest). Returns the index's digest.
    @discardableResult
    public static func pushIndex(
        _ images: [(entry: Descriptor, image: Image)], index: PlatformIndex, to text: String,
        options: RegistryOptions, mountFrom: String? = nil, logger: Logger = .harden
    ) async throws -> Digest {
        let ref = try RegistryReference.parse(text)
        var replaced: [Digest: Descriptor] = [:]
        for (entry, image) in images {
            var byDigest = ref
            byDigest.tag = nil
            byDigest.digest = image.manifestDigest
            let digest = try await push(
                image, to: byDigest.description, options: options, mountFrom: mountFrom, logger: logger)
            replaced[entry.digest] = Descriptor(
                mediaType: image.manifest.mediaType ?? MediaType.ociManifest, digest: digest,
                size: Int64(image.manifestBytes.count))
        }
        let out = index.rewritten(replaced)
        let bytes = try JSONCoding.encode(out)
        let client = options.client(for: ref, logger: logger)
        do {
            try await client.putManifest(
                ref.tag ?? ref.digest?.description ?? "latest", bytes: bytes,
                mediaType: out.mediaType ?? MediaType.ociIndex)
            await client.shutdown()
        } catch {
            await client.shutdown()
            throw error
        }
        return Digest.sha256(of: bytes)
    }
}

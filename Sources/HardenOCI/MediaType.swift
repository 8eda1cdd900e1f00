// harden — media types of OCI and Docker images.
// Source: https://github.com/opencontainers/image-spec/blob/main/media-types.md
import HardenArchive

/// Media type strings. Kept as constants, not an enum: the set is open and unknown types must survive a copy.
public enum MediaType {
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let ociLayerNondistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar"
    public static let ociLayerNondistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    public static let ociEmptyJSON = "application/vnd.oci.empty.v1+json"

    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayer = "application/vnd.docker.image.rootfs.diff.tar"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerLayerZstd = "application/vnd.docker.image.rootfs.diff.tar.zstd"
    public static let dockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

    public static func isIndex(_ type: String?) -> Bool { type == ociIndex || type == dockerManifestList }
    public static func isManifest(_ type: String?) -> Bool { type == ociManifest || type == dockerManifest }

    /// The compression a layer media type declares, or `nil` if it is not a layer type harden knows.
    public static func layerCompression(_ type: String) -> Compression? {
        switch type {
        case ociLayer, dockerLayer, ociLayerNondistributable: Compression.none
        case ociLayerGzip, dockerLayerGzip, ociLayerNondistributableGzip, dockerForeignLayerGzip: .gzip
        case ociLayerZstd, dockerLayerZstd: .zstd
        default: nil
        }
    }

    /// The OCI layer media type for a compression.
    public static func ociLayer(_ compression: Compression) -> String {
        switch compression {
        case .none: ociLayer
        case .gzip: ociLayerGzip
        case .zstd: ociLayerZstd
        }
    }
}

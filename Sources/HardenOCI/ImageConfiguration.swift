// harden — the image configuration blob.
// Source: https://github.com/opencontainers/image-spec/blob/main/specs-go/v1/config.go
import HardenCore

/// The image configuration (`application/vnd.oci.image.config.v1+json`). Fields harden does not model
/// survive because images keep the original bytes of their config.
public struct ImageConfiguration: Codable, Hashable, Sendable {
    /// Created is the combined date and time at which the image was created (RFC 3339).
    public var created: String?
    /// Author defines the name and/or email address of the person or entity which created the image.
    public var author: String?
    /// Architecture is the CPU architecture which the binaries in this image are built to run on.
    public var architecture: String
    /// Variant is the variant of the specified CPU architecture.
    public var variant: String?
    /// OS is the name of the operating system which the image is built to run on.
    public var os: String
    /// OSVersion, if present, specifies the operating system version.
    public var osVersion: String?
    /// Config defines the execution parameters which should be used as a base when running a container.
    public var config: ContainerConfig?
    /// RootFS references the layer content addresses used by the image.
    public var rootfs: RootFS
    /// History describes the history of each layer.
    public var history: [History]?

    enum CodingKeys: String, CodingKey {
        case created, author, architecture, variant, os, config, rootfs, history
        case osVersion = "os.version"
    }

    public init(
        architecture: String, os: String, config: ContainerConfig? = nil, diffIDs: [Digest], history: [History]? = nil,
        created: String? = nil
    ) {
        self.architecture = architecture
        self.os = os
        self.config = config
        self.rootfs = RootFS(type: "layers", diffIDs: diffIDs)
        self.history = history
        self.created = created
    }

    public var platform: Platform { Platform(os: os, architecture: architecture, variant: variant) }

    public static func parse(_ bytes: [UInt8], source: String) throws -> ImageConfiguration {
        let c: ImageConfiguration = try JSONCoding.decode(bytes, source: source, what: "image config")
        guard c.rootfs.type == "layers" else {
            throw HardenError(
                .unsupported, "\(source): rootfs type \"\(c.rootfs.type)\" is not supported (only \"layers\")")
        }
        return c
    }

    /// The history entries that describe real layers (not `empty_layer`), in layer order.
    public var layerHistory: [History?] {
        let real = (history ?? []).filter { $0.emptyLayer != true }
        return rootfs.diffIDs.indices.map { $0 < real.count ? real[$0] : nil }
    }
}

/// The execution parameters of a container (the `config` object).
public struct ContainerConfig: Codable, Hashable, Sendable {
    /// User defines the username or UID which the process in the container should run as.
    public var user: String?
    /// ExposedPorts a set of ports to expose from a container running this image.
    public var exposedPorts: [String: EmptyObject]?
    /// Env is a list of environment variables to be used in a container.
    public var env: [String]?
    /// Entrypoint defines a list of arguments to use as the command to execute when the container starts.
    public var entrypoint: [String]?
    /// Cmd defines the default arguments to the entrypoint of the container.
    public var cmd: [String]?
    /// Volumes is a set of directories describing where the process is likely write data specific to a container instance.
    public var volumes: [String: EmptyObject]?
    /// WorkingDir sets the current working directory of the entrypoint process in the container.
    public var workingDir: String?
    /// Labels contains arbitrary metadata for the container.
    public var labels: [String: String]?
    /// StopSignal contains the system call signal that will be sent to the container to exit.
    public var stopSignal: String?
    /// Healthcheck (Docker extension) describes how to check the container is healthy.
    public var healthcheck: Healthcheck?

    enum CodingKeys: String, CodingKey {
        case user = "User", exposedPorts = "ExposedPorts", env = "Env", entrypoint = "Entrypoint", cmd = "Cmd"
        case volumes = "Volumes", workingDir = "WorkingDir", labels = "Labels", stopSignal = "StopSignal"
        case healthcheck = "Healthcheck"
    }

    public init() {}
}

/// Docker's HEALTHCHECK.
public struct Healthcheck: Codable, Hashable, Sendable {
    public var test: [String]?
    public var interval: Int64?
    public var timeout: Int64?
    public var retries: Int?
    enum CodingKeys: String, CodingKey {
        case test = "Test", interval = "Interval", timeout = "Timeout", retries = "Retries"
    }
}

/// The `{}` values of JSON sets such as ExposedPorts.
public struct EmptyObject: Codable, Hashable, Sendable {
    public init() {}
    public init(from decoder: any Decoder) throws {}
    public func encode(to encoder: any Encoder) throws { _ = encoder.container(keyedBy: NoKeys.self) }
    private enum NoKeys: CodingKey {}
}

/// RootFS describes a layer content addresses.
public struct RootFS: Codable, Hashable, Sendable {
    /// Type is the type of the rootfs.
    public var type: String
    /// DiffIDs is an array of layer content hashes (DiffIDs), in order from bottom-most to top-most.
    public var diffIDs: [Digest]
    enum CodingKeys: String, CodingKey { case type, diffIDs = "diff_ids" }
}

/// History describes the history of a layer.
public struct History: Codable, Hashable, Sendable {
    /// Created is the combined date and time at which the layer was created.
    public var created: String?
    /// CreatedBy is the command which created the layer.
    public var createdBy: String?
    /// Author is the author of the build point.
    public var author: String?
    /// Comment is a custom message set when creating the layer.
    public var comment: String?
    /// EmptyLayer is used to mark if the history item created a filesystem diff.
    public var emptyLayer: Bool?

    enum CodingKeys: String, CodingKey {
        case created, author, comment
        case createdBy = "created_by"
        case emptyLayer = "empty_layer"
    }

    public init(created: String? = nil, createdBy: String? = nil, comment: String? = nil, emptyLayer: Bool? = nil) {
        self.created = created
        self.createdBy = createdBy
        self.comment = comment
        self.emptyLayer = emptyLayer
    }
}

/// One entry of a `docker save` archive's `manifest.json`.
public struct DockerArchiveManifestEntry: Codable, Hashable, Sendable {
    public var config: String
    public var repoTags: [String]?
    public var layers: [String]
    enum CodingKeys: String, CodingKey { case config = "Config", repoTags = "RepoTags", layers = "Layers" }

    public init(config: String, repoTags: [String]?, layers: [String]) {
        self.config = config
        self.repoTags = repoTags
        self.layers = layers
    }

    public static func parseList(_ bytes: [UInt8], source: String) throws -> [DockerArchiveManifestEntry] {
        try JSONCoding.decode(bytes, source: source, what: "docker-archive manifest.json")
    }
}

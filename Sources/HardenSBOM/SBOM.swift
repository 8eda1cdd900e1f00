// harden — the result of cataloguing an image: its source, OS, packages and warnings.
import HardenPackages

/// The result of cataloguing an image.
public struct SBOM: Codable, Sendable {
    public struct Source: Codable, Sendable {
        public var reference: String
        public var manifestDigest: String
        public var configDigest: String
        public var tag: String?
        public var platform: String
        public var created: String?
        public var layers: [LayerRef]

        public init(
            reference: String, manifestDigest: String, configDigest: String, tag: String? = nil, platform: String,
            created: String? = nil,
            layers: [LayerRef] = []
        ) {
            self.reference = reference
            self.manifestDigest = manifestDigest
            self.configDigest = configDigest
            self.tag = tag
            self.platform = platform
            self.created = created
            self.layers = layers
        }
    }
    public var schemaVersion = 1
    public var tool = "harden \(hardenToolVersion)"
    public var source: Source
    public var os: OSInfo?
    public var packages: [SoftwarePackage]
    public var warnings: [String]

    public init(source: Source, os: OSInfo?, packages: [SoftwarePackage], warnings: [String] = []) {
        self.source = source
        self.os = os
        self.packages = packages
        self.warnings = warnings
    }
}

/// The version string harden reports in SBOMs.
public let hardenToolVersion = "0.1.0"

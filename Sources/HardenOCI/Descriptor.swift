// harden — OCI content descriptors, manifests, indexes and platforms.
// Source: https://github.com/opencontainers/image-spec/blob/main/specs-go/v1/descriptor.go
//         https://github.com/opencontainers/image-spec/blob/main/specs-go/v1/manifest.go
//         https://github.com/opencontainers/image-spec/blob/main/specs-go/v1/index.go
import Foundation
import HardenCore

/// Describes the disposition of targeted content.
public struct Descriptor: Codable, Hashable, Sendable {
    /// mediaType is the media type of the object this schema refers to.
    public var mediaType: String
    /// digest is the digest of the targeted content.
    public var digest: Digest
    /// size specifies the size in bytes of the blob.
    public var size: Int64
    /// urls specifies a list of URLs from which this object MAY be downloaded.
    public var urls: [String]?
    /// annotations contains arbitrary metadata relating to the targeted content.
    public var annotations: [String: String]?
    /// platform describes the platform which the image in the manifest runs on (index entries only).
    public var platform: Platform?
    /// artifactType is the IANA media type of this artifact.
    public var artifactType: String?

    public init(
        mediaType: String, digest: Digest, size: Int64, annotations: [String: String]? = nil, platform: Platform? = nil
    ) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.annotations = annotations
        self.platform = platform
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mediaType = try c.decodeIfPresent(String.self, forKey: .mediaType) ?? ""
        digest = try c.decode(Digest.self, forKey: .digest)
        size = try c.decode(Int64.self, forKey: .size)
        guard size >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .size, in: c, debugDescription: "negative size")
        }
        urls = try c.decodeIfPresent([String].self, forKey: .urls)
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
        platform = try c.decodeIfPresent(Platform.self, forKey: .platform)
        artifactType = try c.decodeIfPresent(String.self, forKey: .artifactType)
    }

    /// The OCI annotation naming the tag of an image in a layout's index.
    public static let refNameAnnotation = "org.opencontainers.image.ref.name"

    public var refName: String? { annotations?[Self.refNameAnnotation] }

    /// True for a manifest stored beside an image rather than an image: cosign's tag scheme
    /// (`sha256-<hex>.sig`, `.att`, `.sbom`, and the referrers fallback index `sha256-<hex>`), or an artifact
    /// (a sigstore bundle, any `artifactType` that is not an image's).
    public var isAttachment: Bool {
        if let t = artifactType, t != MediaType.ociConfig { return true }
        guard let tag = refName, tag.hasPrefix("sha256-") else { return false }
        var hex = tag.dropFirst(7)
        for suffix in [".sig", ".att", ".sbom"] where hex.hasSuffix(suffix) { hex = hex.dropLast(suffix.count) }
        return hex.count == 64 && Hex.isLowerHex(hex)
    }
}

/// Platform describes the platform which the image in the manifest runs on.
public struct Platform: Codable, Hashable, Sendable, CustomStringConvertible {
    /// architecture field specifies the CPU architecture, for example `amd64` or `ppc64le`.
    public var architecture: String
    /// os specifies the operating system, for example `linux` or `windows`.
    public var os: String
    /// osVersion, if present, specifies the operating system version.
    public var osVersion: String?
    /// osFeatures, if present, specifies an array of required OS features.
    public var osFeatures: [String]?
    /// variant is an optional field specifying a variant of the CPU, for example `v7`.
    public var variant: String?

    enum CodingKeys: String, CodingKey {
        case architecture, os, variant
        case osVersion = "os.version"
        case osFeatures = "os.features"
    }

    public init(os: String, architecture: String, variant: String? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = variant
    }

    /// Parses `os/arch[/variant]`, normalising common aliases (`x86_64` → `amd64`, `aarch64` → `arm64`).
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/").map(String.init)
        guard parts.count == 2 || parts.count == 3 else {
            throw HardenError(.invalidArgument, "invalid platform \"\(text)\": expected os/arch[/variant]")
        }
        self.init(os: parts[0], architecture: parts[1], variant: parts.count == 3 ? parts[2] : nil)
        self = normalized
    }

    public static let defaultPlatform = Platform(os: "linux", architecture: "amd64")

    /// The platform of the machine harden runs on (`uname -m`, normalised): what runs without emulation.
    public static let host: Platform = {
        var uts = utsname()
        guard uname(&uts) == 0 else { return defaultPlatform }
        let machine = withUnsafePointer(to: uts.machine) {
            $0.withMemoryRebound(to: CChar.self, capacity: 65) { String(cString: $0) }
        }
        return Platform(os: "linux", architecture: machine).normalized
    }()

    public var normalized: Platform {
        var p = self
        switch p.architecture {
        case "x86_64", "x86-64": p.architecture = "amd64"
        case "aarch64": p.architecture = "arm64"
        case "armhf":
            p.architecture = "arm"
            p.variant = p.variant ?? "v7"
        default: break
        }
        if p.architecture == "arm64" && p.variant == "v8" { p.variant = nil }
        return p
    }

    /// True when an image built for `self` is what a user asking for `wanted` gets.
    public func matches(_ wanted: Platform) -> Bool {
        let a = normalized
        let b = wanted.normalized
        guard a.os == b.os, a.architecture == b.architecture else { return false }
        return b.variant == nil || a.variant == b.variant
    }

    public var description: String { [os, architecture, variant].compactMap { $0 }.joined(separator: "/") }
}

/// Manifest provides `application/vnd.oci.image.manifest.v1+json` mediatype structure when marshalled to JSON.
public struct Manifest: Codable, Hashable, Sendable {
    /// schemaVersion is the image manifest schema that this image follows (2).
    public var schemaVersion: Int
    /// mediaType specifies the type of this document data structure.
    public var mediaType: String?
    /// artifactType specifies the IANA media type of artifact when the manifest is used for an artifact.
    public var artifactType: String?
    /// config references a configuration object for a container, by digest.
    public var config: Descriptor
    /// layers is an indexed list of layers referenced by the manifest.
    public var layers: [Descriptor]
    /// subject is an optional link from the image manifest to another manifest.
    public var subject: Descriptor?
    /// annotations contains arbitrary metadata for the image manifest.
    public var annotations: [String: String]?

    public init(
        mediaType: String = MediaType.ociManifest, config: Descriptor, layers: [Descriptor],
        annotations: [String: String]? = nil
    ) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.config = config
        self.layers = layers
        self.annotations = annotations
    }

    /// Decodes a manifest; a one-line error names `source` and what is wrong.
    public static func parse(_ bytes: [UInt8], source: String) throws -> Manifest {
        let m: Manifest = try JSONCoding.decode(bytes, source: source, what: "manifest")
        guard m.schemaVersion == 2 else {
            throw HardenError(
                .unsupported, "\(source): manifest schemaVersion \(m.schemaVersion) is not supported (only 2)")
        }
        return m
    }
}

/// Index references manifests for various platforms (`application/vnd.oci.image.index.v1+json`).
public struct Index: Codable, Hashable, Sendable {
    /// schemaVersion is the image manifest schema that this image follows (2).
    public var schemaVersion: Int
    /// mediaType specifies the type of this document data structure.
    public var mediaType: String?
    /// manifests references platform specific manifests.
    public var manifests: [Descriptor]
    /// annotations contains arbitrary metadata for the image index.
    public var annotations: [String: String]?

    public init(manifests: [Descriptor], annotations: [String: String]? = nil) {
        self.schemaVersion = 2
        self.mediaType = MediaType.ociIndex
        self.manifests = manifests
        self.annotations = annotations
    }

    public static func parse(_ bytes: [UInt8], source: String) throws -> Index {
        let i: Index = try JSONCoding.decode(bytes, source: source, what: "index")
        guard i.schemaVersion == 2 else {
            throw HardenError(
                .unsupported, "\(source): index schemaVersion \(i.schemaVersion) is not supported (only 2)")
        }
        return i
    }
}

/// JSON encoding and decoding with harden's conventions: sorted keys, unescaped slashes, one-line errors.
public enum JSONCoding {
    public static func encode<T: Encodable>(_ value: T, pretty: Bool = false) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted] : [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    public static func decode<T: Decodable>(_ bytes: [UInt8], source: String, what: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let e as HardenError {
            throw e.prefixed("\(source): invalid \(what)")
        } catch let DecodingError.dataCorrupted(ctx) {
            throw HardenError(.corrupt, "\(source): invalid \(what) JSON: \(describe(ctx))")
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw HardenError(.corrupt, "\(source): invalid \(what): missing \"\(key.stringValue)\"\(where_(ctx))")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw HardenError(.corrupt, "\(source): invalid \(what): wrong type\(where_(ctx))")
        } catch let DecodingError.valueNotFound(_, ctx) {
            throw HardenError(.corrupt, "\(source): invalid \(what): null value\(where_(ctx))")
        } catch {
            throw HardenError(.corrupt, "\(source): invalid \(what) JSON")
        }
    }

    private static func path(_ ctx: DecodingError.Context) -> String {
        ctx.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }

    private static func where_(_ ctx: DecodingError.Context) -> String {
        let p = path(ctx)
        return p.isEmpty ? "" : " at \(p)"
    }

    private static func describe(_ ctx: DecodingError.Context) -> String {
        if let e = ctx.underlyingError as? HardenError { return e.message + where_(ctx) }
        let p = path(ctx)
        return p.isEmpty ? "not valid JSON" : "bad value at \(p)"
    }
}

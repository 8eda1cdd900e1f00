// harden — SARIF 2.1.0 as harden writes it (scan and check results): one Codable envelope, encoded with sorted keys.
import Foundation
import HardenSBOM

/// A SARIF log with one run of harden.
public struct SARIFLog: Encodable {
    public struct Text: Encodable {
        public var text: String
        public init(_ text: String) { self.text = text }
    }
    public struct Configuration: Encodable { public var level: String }
    public struct RuleProperties: Encodable {
        /// GitHub code scanning's CVSS-like score ("9.8").
        public var securitySeverity: String?
        public var tags: [String]
        enum CodingKeys: String, CodingKey {
            case securitySeverity = "security-severity"
            case tags
        }
    }
    public struct Rule: Encodable {
        public var id: String
        public var name: String
        public var shortDescription: Text
        public var fullDescription: Text?
        public var help: Text?
        public var helpUri: String?
        public var defaultConfiguration: Configuration?
        public var properties: RuleProperties?
    }
    public struct ArtifactLocation: Encodable { public var uri: String }
    public struct PhysicalLocation: Encodable { public var artifactLocation: ArtifactLocation }
    public struct LogicalLocation: Encodable {
        public var name: String
        public var kind: String
    }
    public struct Location: Encodable {
        public var physicalLocation: PhysicalLocation?
        public var logicalLocations: [LogicalLocation]?

        public static func file(_ path: String) -> Location {
            Location(physicalLocation: PhysicalLocation(artifactLocation: ArtifactLocation(uri: path)))
        }
        public static func logical(_ name: String, kind: String) -> Location {
            Location(logicalLocations: [LogicalLocation(name: name, kind: kind)])
        }
    }
    public struct Suppression: Encodable {
        public var kind: String
        public var justification: String
    }
    /// Everything harden says about one vulnerability finding, beside the result.
    public struct FindingProperties: Encodable {
        public struct KnownExploited: Encodable {
            public var dateAdded: String
            public var dueDate: String
            public var ransomware: String
        }
        public struct EPSS: Encodable {
            public var score: Double
            public var percentile: Double
        }
        public var purl: String
        public var fixState: String
        public var aliases: [String]
        public var severity: String
        public var group: String?
        public var severitySource: String?
        public var knownExploited: KnownExploited?
        public var epss: EPSS?
        public var cwes: [String]?
    }
    public struct Result: Encodable {
        public var ruleId: String
        public var level: String
        public var message: Text
        public var locations: [Location]
        public var suppressions: [Suppression]?
        public var properties: FindingProperties?
    }
    public struct RunProperties: Encodable {
        public var image: String
        public var manifestDigest: String
    }

    var rules: [Rule]
    var results: [Result]
    var properties: RunProperties

    public init(rules: [Rule], results: [Result], properties: RunProperties) {
        self.rules = rules
        self.results = results
        self.properties = properties
    }

    enum CodingKeys: String, CodingKey {
        case schema = "$schema"
        case version, runs
    }
    struct Run: Encodable {
        struct Tool: Encodable { var driver: Driver }
        struct Driver: Encodable {
            var name = "harden"
            var version = hardenToolVersion
            var informationUri = "https://harden.dev"
            var rules: [Rule]
        }
        var tool: Tool
        var results: [Result]
        var properties: RunProperties
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode("https://json.schemastore.org/sarif-2.1.0.json", forKey: .schema)
        try c.encode("2.1.0", forKey: .version)
        try c.encode(
            [Run(tool: .init(driver: .init(rules: rules)), results: results, properties: properties)], forKey: .runs)
    }

    /// The log as text: pretty-printed, keys sorted, slashes unescaped.
    public func rendered() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

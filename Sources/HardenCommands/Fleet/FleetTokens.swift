// harden — `harden fleet tokens list|revoke`: the server's API tokens (admin scope).
import ArgumentParser
import Foundation
import HardenCore
import HardenFleet
import HardenPackages
import HardenReport

extension Application {
    public struct FleetTokens: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "tokens", abstract: "List or revoke the server's API tokens (needs an admin token).",
            subcommands: [FleetTokensList.self, FleetTokensRevoke.self])
        public init() {}
    }

    public struct FleetTokensList: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "list", abstract: "Names, scopes and hash prefixes of the stored tokens (never the tokens).")
        @OptionGroup public var client: FleetClientOptions
        @Option(name: .long, help: "Output format: table or json.") public var format: OutputFormat = .table
        public init() {}

        public func run() async throws {
            let tokens: [TokenInfo] = try await client.client().get("/v1/tokens")
            if format == .json { return try emitJSON(tokens) }
            var rows = [["NAME", "SCOPE", "HASH", "CREATED"]]
            for t in tokens {
                rows.append([t.name, t.scope, t.hashPrefix, ISO8601DateFormatter().string(from: t.createdAt)])
            }
            try Output.emit(TextTable(rows: rows).render() + "\n", to: nil)
        }
    }

    public struct FleetTokensRevoke: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "revoke",
            abstract:
                "Revoke tokens by name (or hash prefix, 12+ hex digits): refused at once by this server, within 10 s by others.",
            discussion:
                "A token still listed in a server's --token-file comes back when that server restarts: remove it there too."
        )
        @OptionGroup public var client: FleetClientOptions
        @Argument(help: "The token's name or hash prefix.") public var name: String
        public init() {}

        public func run() async throws {
            let encoded = name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? name
            let answer: RevokeAnswer = try await client.client().delete("/v1/tokens/\(encoded)")
            writeStandardError("revoked \(answer.revoked) token(s) named \(name)\n")
        }
    }
}

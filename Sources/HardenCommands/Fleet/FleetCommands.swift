// harden — `harden fleet submit|wait|jobs|images|image|affected`: the CLI over the fleet API.
import ArgumentParser
import Foundation
import HardenCore
import HardenFleet
import HardenOCI
import HardenPackages
import HardenReport
import HardenSystem
import HardenVulnDB

/// `--server URL` (env HARDEN_SERVER) and `--token` (env HARDEN_TOKEN).
public struct FleetClientOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The fleet server [environment: HARDEN_SERVER].", valueName: "URL"))
    public var server: String?

    @Option(name: .long, help: ArgumentHelp("An API token [environment: HARDEN_TOKEN].", valueName: "TOKEN"))
    public var token: String?

    public init() {}

    public func resolvedServer() throws -> String {
        guard let s = server ?? ProcessInfo.processInfo.environment["HARDEN_SERVER"], !s.isEmpty else {
            throw HardenError(.invalidArgument, "--server: give the fleet server's URL (or set HARDEN_SERVER)")
        }
        guard s.hasPrefix("http://") || s.hasPrefix("https://") else {
            throw HardenError(.invalidArgument, "--server: \(s) is not an http:// or https:// URL")
        }
        return s
    }

    public func resolvedToken() -> String? { token ?? ProcessInfo.processInfo.environment["HARDEN_TOKEN"] }

    func client() throws -> FleetClient { FleetClient(server: try resolvedServer(), token: resolvedToken()) }
}

extension Application {
    public struct Fleet: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "fleet",
            abstract: "Use a fleet server: submit jobs, wait for them, ask which images are affected.",
            subcommands: [
                FleetSubmit.self, FleetWait.self, FleetJobs.self, FleetImages.self, FleetImage.self, FleetAffected.self,
                FleetTokens.self, FleetBenchPopulate.self,
            ])
        public init() {}
    }

    public struct FleetSubmit: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "submit", abstract: "Queue scan or run jobs for images.")
        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var client: FleetClientOptions
        @Argument(help: "Image references as workers will open them (registry references, or paths workers can read).")
        public var images: [String] = []
        @Option(name: .long, help: "scan or run.") public var action = "scan"
        @Option(name: .long, help: ArgumentHelp("A label recorded on the image (repeatable).", valueName: "KEY=VALUE"))
        public var label: [String] = []
        @Option(name: .long, help: "os/arch[/variant] of a multi-platform image.") public var platform: String?
        @Option(name: .long, help: "Attempts before the job fails.") public var maxAttempts = 3
        @Option(
            name: .long, parsing: .unconditionalSingleValue,
            help: ArgumentHelp(
                "run jobs: one argument of harden run's probe, settings or minify options (repeatable).",
                valueName: "ARG"))
        public var runArg: [String] = []
        @Option(name: .long, help: ArgumentHelp("run jobs: a policy file sent with the job.", valueName: "FILE")) public
            var policy: String?
        @Option(
            name: .long,
            help: ArgumentHelp("run jobs: push the hardened image here (a registry reference).", valueName: "REF"))
        public var pushTo: String?
        @Option(
            name: .long,
            help: ArgumentHelp(
                "run jobs: a Compose file sent with the job (no bind mounts or env files); name the service with --run-arg --service NAME.",
                valueName: "FILE"))
        public var compose: String?
        @Flag(name: .long, help: "Wait for the jobs and exit 1 if any failed.") public var wait = false
        @Option(name: .long, help: "Output format: table or json.") public var format: OutputFormat = .table
        public init() {}

        public func run() async throws {
            guard !images.isEmpty else { throw HardenError(.invalidArgument, "give at least one image") }
            guard let action = JobAction(rawValue: action) else {
                throw HardenError(.invalidArgument, "--action: scan or run")
            }
            var labels: [String: String] = [:]
            for l in label {
                let kv = l.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2, !kv[0].isEmpty else {
                    throw HardenError(.invalidArgument, "--label: \(l) is not KEY=VALUE")
                }
                labels[kv[0]] = kv[1]
            }
            var options = JobOptions(platform: platform, labels: labels.isEmpty ? nil : labels)
            if action == .run {
                options.arguments = runArg.isEmpty ? nil : runArg
                options.policy = try policy.map { String(decoding: try HostFS.readFile($0), as: UTF8.self) }
                options.pushTo = pushTo
                options.compose = try compose.map { String(decoding: try HostFS.readFile($0), as: UTF8.self) }
                try RunJob.validate(options, limits: .submitter)
            }
            let c = try client.client()
            let answer: SubmissionAnswer = try await c.post(
                "/v1/jobs", JobSubmission(action: action, images: images, options: options, maxAttempts: maxAttempts))
            if wait {
                try await FleetWait.wait(answer.jobs, client: c, format: format, quiet: global.quiet)
            } else if format == .json {
                try Output.emit(String(decoding: try JSONCoding.encode(answer, pretty: true), as: UTF8.self), to: nil)
            } else {
                try Output.emit(answer.jobs.map(String.init).joined(separator: "\n") + "\n", to: nil)
            }
        }
    }

    public struct FleetWait: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "wait", abstract: "Wait for jobs; exit 1 if any failed.")
        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var client: FleetClientOptions
        @Argument(help: "Job ids.") public var jobs: [Int64] = []
        @Option(name: .long, help: "Output format: table or json.") public var format: OutputFormat = .table
        @Option(name: .long, help: ArgumentHelp("Give up after this long.", valueName: "DURATION")) public var timeout =
            "1h"
        public init() {}

        public func run() async throws {
            guard !jobs.isEmpty else { throw HardenError(.invalidArgument, "give at least one job id") }
            try await Self.wait(
                jobs, client: try client.client(), format: format, quiet: global.quiet,
                timeout: try Duration.parse(timeout, option: "--timeout"))
        }

        static func wait(
            _ ids: [Int64], client: FleetClient, format: OutputFormat, quiet: Bool, timeout: Duration = .seconds(3600)
        )
            async throws
        {
            let deadline = ContinuousClock.now + timeout
            var done: [Int64: FleetJob] = [:]
            while done.count < ids.count {
                for id in ids where done[id] == nil {
                    let job: FleetJob = try await client.get("/v1/jobs/\(id)")
                    if job.state == .succeeded || job.state == .failed {
                        done[id] = job
                    }
                }
                if done.count == ids.count { break }
                guard ContinuousClock.now < deadline else {
                    throw HardenError(.io, "\(ids.count - done.count) job(s) not finished after \(timeout)")
                }
                try await Task.sleep(for: .milliseconds(500))
            }
            let jobs = ids.compactMap { done[$0] }
            if format == .json {
                try emitJSON(jobs)
            } else {
                var rows = [["JOB", "STATE", "IMAGE", "PACKAGES", "FINDINGS", "CRITICAL", "HIGH", "DETAIL"]]
                for j in jobs {
                    let s = j.summary
                    rows.append([
                        String(j.id), j.state.rawValue, j.image, s.map { String($0.packages) } ?? "",
                        s.map { String($0.findings) } ?? "",
                        s.map { String($0.bySeverity["critical"] ?? 0) } ?? "",
                        s.map { String($0.bySeverity["high"] ?? 0) } ?? "",
                        j.error
                            ?? (s?.policyFailures.map {
                                $0.isEmpty ? "policy passed" : "policy fails: " + $0.joined(separator: ",")
                            } ?? ""),
                    ])
                }
                try Output.emit(TextTable(rows: rows).render() + "\n", to: nil)
            }
            let failed = jobs.filter { $0.state == .failed }
            if !failed.isEmpty {
                writeStandardError("harden: \(failed.count) of \(jobs.count) job(s) failed\n")
                throw ExitCode(1)
            }
        }
    }

    public struct FleetJobs: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(commandName: "jobs", abstract: "List recent jobs.")
        @OptionGroup public var client: FleetClientOptions
        @Option(name: .long, help: "queued, running, succeeded or failed.") public var state: String?
        @Option(name: .long, help: "How many.") public var limit = 50
        @Option(name: .long, help: "Output format: table or json.") public var format: OutputFormat = .table
        public init() {}

        public func run() async throws {
            var path = "/v1/jobs?limit=\(limit)"
            if let state {
                path += "&state=\(state.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
            }
            let jobs: [FleetJob] = try await client.client().get(path)
            if format == .json { return try emitJSON(jobs) }
            var rows = [["JOB", "ACTION", "STATE", "ATTEMPTS", "IMAGE", "WORKER", "ERROR"]]
            for j in jobs {
                rows.append([
                    String(j.id), j.action.rawValue, j.state.rawValue, "\(j.attempts)/\(j.maxAttempts)", j.image,
                    j.worker ?? "",
                    j.error ?? "",
                ])
            }
            try Output.emit(TextTable(rows: rows).render() + "\n", to: nil)
        }
    }

    public struct FleetImages: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "images", abstract: "List stored images with their findings.")
        @OptionGroup public var client: FleetClientOptions
        @Option(
            name: .long,
            help: ArgumentHelp(
                "Only images whose last run failed this policy check (any: any check).", valueName: "CHECK"))
        public var fails: String?
        @Option(name: .long, help: "Only images with an active finding at or above this severity.") public var severity:
            String?
        @Option(name: .long, help: "Only images whose digest or a reference contains this.") public var search: String?
        @Option(name: .long, help: "Output format: table or json.") public var format: OutputFormat = .table
        public init() {}

        public func run() async throws {
            var q: [String] = []
            for (k, v) in [("fails", fails), ("severity", severity), ("q", search)] {
                if let v { q.append("\(k)=\(v.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")") }
            }
            let images: [ImageSummary] = try await client.client().get(
                "/v1/images" + (q.isEmpty ? "" : "?" + q.joined(separator: "&")))
            if format == .json { return try emitJSON(images) }
            var rows = [["IMAGE", "DIGEST", "PACKAGES", "CRITICAL", "HIGH", "MEDIUM", "LOW", "KEV", "HARDENING"]]
            for i in images {
                rows.append([
                    i.references.first ?? "", String(i.digest.prefix(19)), String(i.packages),
                    String(i.bySeverity["critical"] ?? 0),
                    String(i.bySeverity["high"] ?? 0), String(i.bySeverity["medium"] ?? 0),
                    String(i.bySeverity["low"] ?? 0),
                    String(i.knownExploited),
                    i.reportAt == nil
                        ? "-"
                        : (i.policyFailures.isEmpty ? "passed" : "fails: " + i.policyFailures.joined(separator: ",")),
                ])
            }
            try Output.emit(TextTable(rows: rows).render() + "\n", to: nil)
        }
    }

    public struct FleetImage: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "image", abstract: "One stored image: packages, findings, last report.")
        @OptionGroup public var client: FleetClientOptions
        @Argument(help: "The image's manifest or config digest.") public var digest: String
        @Option(name: .long, help: "Output format: table or json.") public var format: OutputFormat = .table
        public init() {}

        public func run() async throws {
            let d: ImageDetail = try await client.client().get(
                "/v1/images/\(digest.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? digest)"
            )
            if format == .json { return try emitJSON(d) }
            var text =
                "\(d.image.references.joined(separator: ", "))\n\(d.image.digest)  \(d.image.platform)  \(d.image.os ?? "")\n"
            text +=
                "packages: "
                + d.packagesByType.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                + "\n\n"
            var rows = [["VULNERABILITY", "SEVERITY", "PACKAGE", "VERSION", "FIX", "KEV", "FIRST SEEN"]]
            let df = ISO8601DateFormatter()
            for f in d.findings {
                rows.append([
                    f.id, f.severity.rawValue, f.package, f.version,
                    f.fixedVersions.isEmpty ? f.fixState.rawValue : f.fixedVersions.joined(separator: ","),
                    f.knownExploited ? "yes" : "", df.string(from: f.firstSeen),
                ])
            }
            try Output.emit(text + TextTable(rows: rows).render() + "\n", to: nil)
        }
    }

    public struct FleetAffected: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "affected", abstract: "Which stored images have a vulnerability (by its id or an alias).")
        @OptionGroup public var client: FleetClientOptions
        @Argument(help: "A vulnerability id: CVE-…, GHSA-…, DSA-…") public var id: String
        @Option(name: .long, help: "Output format: table or json.") public var format: OutputFormat = .table
        public init() {}

        public func run() async throws {
            let path =
                "/v1/vulnerabilities/\(id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? id)/images"
            let c = try client.client()
            // Every page.
            var a: AffectedImages = try await c.get(path + "?limit=1000")
            while let next = a.next {
                let more: AffectedImages = try await c.get(
                    path
                        + "?limit=1000&after=\(next.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? next)"
                )
                a.images += more.images
                a.next = more.next
            }
            if format == .json { return try emitJSON(a) }
            var rows = [["IMAGE", "DIGEST", "PACKAGE", "VERSION", "SEVERITY", "FIX"]]
            for r in a.images {
                rows.append([
                    r.references.first ?? "", String(r.digest.prefix(19)), r.package, r.version, r.severity.rawValue,
                    r.fixedVersions.isEmpty ? r.fixState.rawValue : r.fixedVersions.joined(separator: ","),
                ])
            }
            try Output.emit(TextTable(rows: rows).render() + "\n", to: nil)
            writeStandardError("\(a.totalImages) image(s) affected by \(id)\n")
        }
    }
}

func emitJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    try Output.emit(String(decoding: try encoder.encode(value), as: UTF8.self) + "\n", to: nil)
}

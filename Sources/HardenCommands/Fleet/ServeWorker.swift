// harden — `harden serve` and `harden worker`: the fleet's API server and its job runners.
import ArgumentParser
import Foundation
import HardenCompose
import HardenCore
import HardenFeeds
import HardenFleet
import HardenOCI
import HardenPackages
import HardenPipeline
import HardenSBOM
import HardenSign
import HardenSystem
import HardenVulnDB
import Logging
import Synchronization

/// `--database postgres://…` (env HARDEN_DATABASE_URL).
public struct FleetDatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("database"),
        help: ArgumentHelp(
            "The fleet's PostgreSQL database [environment: HARDEN_DATABASE_URL], e.g. postgres://harden@db:5432/harden?sslmode=require.",
            valueName: "URL"))
    public var url: String?

    public init() {}

    public func resolved() throws -> String {
        guard let u = url ?? ProcessInfo.processInfo.environment["HARDEN_DATABASE_URL"], !u.isEmpty else {
            throw HardenError(
                .invalidArgument, "--database: give the fleet's postgres:// URL (or set HARDEN_DATABASE_URL)")
        }
        return u
    }
}

extension Application {
    public struct Serve: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract:
                "The fleet server: an HTTP API and dashboard over a PostgreSQL inventory of images, SBOMs, findings and jobs.",
            discussion: """
                Applies the schema migrations at start, publishes the vulnerability database (--db) to workers at GET /v1/db \
                with an ETag, and re-matches the stored packages whose advisories changed whenever that file changes (after \
                --update-interval's own feed update, or an external `harden db update`). Every endpoint but /healthz needs a \
                bearer token; seed them with --token-file (one `SCOPE TOKEN [NAME]` a line; scopes read, submit, admin): the \
                file is the truth, a token removed from it is revoked at the next start (`harden fleet tokens revoke` \
                revokes at once). See docs/fleet.md and docs/security.md.
                """)

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var fleetDatabase: FleetDatabaseOptions
        @OptionGroup public var database: DatabaseOptions

        @Option(
            name: .long, help: ArgumentHelp("Where to listen: HOST:PORT (port 0: any free port).", valueName: "ADDR"))
        public var listen = "127.0.0.1:8080"

        @Option(
            name: .long, help: ArgumentHelp("Tokens to store (hashed): SCOPE TOKEN [NAME] a line.", valueName: "FILE"))
        public var tokenFile: String?

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Download and import the feeds this often (e.g. 6h); default: never.", valueName: "DURATION"))
        public var updateInterval: String?

        @Option(name: .long, help: ArgumentHelp("How often to look for a new database file.", valueName: "DURATION"))
        public var poll = "10s"

        @Option(
            name: .long,
            help: ArgumentHelp("POST an event here for each new finding that matches --webhook-on.", valueName: "URL"))
        public var webhook: String?

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Which new findings the webhook announces: severities and/or kev, e.g. critical,kev.", valueName: "RULE"
            ))
        public var webhookOn = "critical,kev"

        @Option(name: .long, help: ArgumentHelp("Largest request body accepted, in bytes.", valueName: "BYTES"))
        public var maxBody = 1 << 20

        @Option(
            name: .long,
            help: ArgumentHelp("Write the bound port here once listening (scripts, tests).", valueName: "FILE"))
        public var portFile: String?

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Close a connection idle this long, or whose request takes longer than this to arrive.",
                valueName: "DURATION"))
        public var idleTimeout = "60s"

        @Option(name: .long, help: ArgumentHelp("Jobs one token may have queued or running at once.", valueName: "N"))
        public var submitQuota = 10_000

        public init() {}

        public func run() async throws {
            let logger = global.makeLogger()
            let url = try fleetDatabase.resolved()
            let (host, port) = try Self.parseListen(listen)
            var config = FleetServerConfiguration(databasePath: database.path)
            config.host = host
            config.port = port
            config.pollInterval = try Duration.parse(poll, option: "--poll")
            config.updateInterval = try updateInterval.map { try Duration.parse($0, option: "--update-interval") }
            config.webhook = webhook
            config.webhookRule = try WebhookRule(parsing: webhookOn)
            config.maxBody = maxBody
            config.idleTimeout = try Duration.parse(idleTimeout, option: "--idle-timeout")
            config.submitQuota = max(1, submitQuota)
            let seeds =
                try tokenFile.map {
                    try TokenScope.parseTokenFile(String(decoding: try HostFS.readFile($0), as: UTF8.self), path: $0)
                }
                ?? []
            let dbPath = database.path
            let portFile = self.portFile
            let replaceTokens = tokenFile != nil
            let settings = config
            try await FleetStore.with(url: url, connections: 16, logger: logger) { store in
                try await store.seedTokens(seeds, replace: replaceTokens)
                guard try await store.tokenCount() > 0 else {
                    throw HardenError(
                        .invalidArgument,
                        "--token-file: no API token is stored yet; give a file with at least one admin token")
                }
                let updater: @Sendable () async throws -> Void = {
                    _ = try await FeedUpdate.run(database: dbPath, logger: logger)
                }
                let server = FleetServer(store: store, configuration: settings, updater: updater, logger: logger)
                try await server.run { port in
                    if let portFile { try? HostFS.writeFileAtomically(portFile, Array("\(port)\n".utf8)) }
                    writeStandardError("harden serve: listening on http://\(host):\(port)\n")
                }
            }
        }

        static func parseListen(_ s: String) throws -> (String, Int) {
            guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]),
                (0...65535).contains(port)
            else {
                throw HardenError(.invalidArgument, "--listen: \(s) is not HOST:PORT")
            }
            var host = String(s[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            return (host.isEmpty ? "0.0.0.0" : host, port)
        }
    }

    public struct Worker: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "worker",
            abstract:
                "Run fleet jobs: claim from PostgreSQL (FOR UPDATE SKIP LOCKED), scan or harden, record each result once.",
            discussion: """
                Stateless: start as many as you like, on any machines. A job's lease is renewed while it runs; a worker that \
                dies loses it and the job is retried elsewhere, up to its max attempts. Registry credentials come from this \
                process (--creds-file, HARDEN_REGISTRY_AUTH as for other commands), never from the server.
                """)

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var fleetDatabase: FleetDatabaseOptions
        @OptionGroup public var imageOptions: ImageOptions
        @OptionGroup public var client: FleetClientOptions

        @Option(name: .long, help: "Jobs run at once by this process.")
        public var concurrency = 1

        @Option(
            name: .long,
            help: ArgumentHelp("A job's lease: renewed at a third of it while the job runs.", valueName: "DURATION"))
        public var lease = "60s"

        @Option(
            name: .long,
            help: ArgumentHelp(
                "At most N jobs of an action fleet-wide, e.g. run=2 (repeatable).", valueName: "ACTION=N"))
        public var cap: [String] = []

        @Option(
            name: .long,
            help: ArgumentHelp(
                "The actions this worker takes: scan, run or both (a scan-only pool needs no root).", valueName: "LIST")
        )
        public var actions = "scan,run"

        @Option(name: .long, help: ArgumentHelp("Stop after this many jobs.", valueName: "N"))
        public var maxJobs: Int?

        @Option(name: .long, help: ArgumentHelp("Where the vulnerability database is cached.", valueName: "DIR"))
        public var cache: String?

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Accept jobs that name local images (oci:, oci-archive:, docker-archive:, dir:) under this directory (repeatable).",
                valueName: "DIR"))
        public var allowLocalImages: [String] = []

        @Flag(
            name: .long, help: "Let run jobs ask for --network host or open (default: every job container is isolated)."
        )
        public var allowJobNetwork = false

        @Option(
            name: .long, help: ArgumentHelp("A job's overall deadline; past it the job fails.", valueName: "DURATION"))
        public var jobTimeout = "30m"

        @Option(
            name: .long,
            help: ArgumentHelp(
                "The longest --duration or --probe-timeout a run job may ask for.", valueName: "DURATION"))
        public var jobMaxDuration = "10m"

        @Option(name: .long, help: ArgumentHelp("The most --memory a run job may ask for.", valueName: "SIZE"))
        public var jobMaxMemory = "4G"

        @Option(name: .long, help: ArgumentHelp("The largest --pids-limit a run job may ask for.", valueName: "N"))
        public var jobMaxPids: Int64 = 4096

        /// The worker's own key: every run job's pushed image is signed with it and its evidence attached (a job
        /// cannot name a key: --sign-key is outside the job allowlist).
        @OptionGroup public var signing: SignOutputOptions

        public init() {}

        public func run() async throws {
            let logger = global.makeLogger()
            let url = try fleetDatabase.resolved()
            let server = try client.resolvedServer()
            let pid = getpid()
            let host = ProcessInfo.processInfo.hostName
            var config = FleetWorkerConfiguration(
                server: server,
                cacheDirectory: cache ?? HostFS.split(VulnerabilityDatabase.defaultPath()).0 + "/worker-\(pid)",
                name: "\(host):\(pid)")
            config.token = client.resolvedToken()
            config.concurrency = max(1, concurrency)
            var caps: [JobAction: Int] = [:]
            for c in cap {
                let kv = c.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2, let a = JobAction(rawValue: kv[0]), let n = Int(kv[1]), n > 0 else {
                    throw HardenError(.invalidArgument, "--cap: \(c) is not ACTION=N with ACTION scan or run")
                }
                caps[a] = n
            }
            var taken = Set<JobAction>()
            for a in actions.split(separator: ",") {
                guard let action = JobAction(rawValue: a.trimmingCharacters(in: .whitespaces)) else {
                    throw HardenError(.invalidArgument, "--actions: \(a) is not scan or run")
                }
                taken.insert(action)
            }
            guard !taken.isEmpty else { throw HardenError(.invalidArgument, "--actions: name scan, run or both") }
            config.policy = QueuePolicy(lease: try Duration.parse(lease, option: "--lease"), caps: caps, actions: taken)
            guard config.policy.lease >= .seconds(3) else {
                throw HardenError(.invalidArgument, "--lease: at least 3s")
            }
            config.maxJobs = maxJobs
            // Compose files of jobs are the submitters': `${VAR}` must not read this process's environment (they are
            // refused in jobs; this is the second line).
            ComposeReader.interpolatesProcessEnvironment.store(false, ordering: .relaxed)
            let limits = try jobLimits()
            config.jobTimeout = limits.deadline
            // A worker's credentials go to the registries they name, never to whichever registry a job names.
            var imageOptions = self.imageOptions
            imageOptions.hostScopedCredentialsOnly = true
            _ = try imageOptions.registryOptions()
            var runner = JobRunner(imageOptions: imageOptions, logger: logger, limits: limits)
            runner.signingKey = try await signing.keyLoader()?.value()
            runner.signScheme = signing.signScheme
            let executor = runner.executor
            let leaseText = lease
            let settings = config
            try await FleetStore.with(url: url, connections: settings.concurrency + 2, logger: logger) { store in
                let worker = FleetWorker(store: store, configuration: settings, executor: executor, logger: logger)
                writeStandardError(
                    "harden worker \(settings.name): \(settings.concurrency) slot(s), lease \(leaseText)\n")
                let n = try await worker.run()
                writeStandardError("harden worker \(settings.name): \(n) job(s) done\n")
            }
        }

        func jobLimits() throws -> JobLimits {
            var limits = JobLimits()
            for dir in allowLocalImages {
                guard dir.hasPrefix("/"), let real = HostFS.realPath(dir), HostFS.isDirectory(real) else {
                    throw HardenError(
                        .invalidArgument, "--allow-local-images \(dir): give an existing absolute directory")
                }
                limits.localRoots.append(real)
            }
            limits.allowNetwork = allowJobNetwork
            limits.deadline = try Duration.parse(jobTimeout, option: "--job-timeout")
            limits.maxDuration = Double(
                try Duration.parse(jobMaxDuration, option: "--job-max-duration").components.seconds)
            limits.maxMemory = try parseSize(jobMaxMemory, option: "--job-max-memory")
            limits.maxPids = max(1, jobMaxPids)
            return limits
        }
    }
}

// Plain values (strings, flags, numbers) behind ArgumentParser's property wrappers: safe to hand to a job's task.
extension ImageOptions: @unchecked Sendable {}

/// What a worker does with a job: `scan` catalogues and matches; `run` runs the whole pipeline (see RunJob).
struct JobRunner: Sendable {
    let imageOptions: ImageOptions
    let logger: Logger
    /// What jobs may ask for: local images under allowed directories only, isolated networks unless allowed, caps.
    var limits = JobLimits()
    /// The worker's key for the images run jobs push (`harden worker --sign-key`).
    var signingKey: SigningKey?
    var signScheme: AttachmentScheme = .both

    var executor: JobExecutor {
        { job, databasePath in
            switch job.action {
            case .scan: return try await scan(job, databasePath: databasePath)
            case .run:
                var runJob = RunJob(imageOptions: imageOptions, logger: logger, limits: limits)
                runJob.signingKey = signingKey
                runJob.signScheme = signScheme
                return try await runJob.run(job, databasePath: databasePath)
            }
        }
    }

    func scan(_ job: ClaimedJob, databasePath: String) async throws -> ImageResult {
        try limits.checkImage(job.image, what: "the image")
        let ref = try ImageReference.parseUntrusted(job.image)
        var options = imageOptions
        if let p = job.options.platform { options.platform = p }
        let image = try await options.open(ref, logger: logger)
        return try await scan(
            image, reference: ref.description, labels: job.options.labels ?? [:], databasePath: databasePath)
    }

    /// The inventory and findings of an image already opened.
    func scan(
        _ image: Image, reference: String, labels: [String: String], databasePath: String
    ) async throws
        -> ImageResult
    {
        let logger = self.logger
        let (sbom, findings, eol) = try await offload {
            let sbom = try SBOMBuilder(logger: logger).build(image, reference: reference)
            let data = try VulnerabilityData(path: databasePath, required: true)
            return (sbom, try data.findings(sbom) ?? [], try data.eol(sbom) ?? [])
        }
        var result = Self.result(sbom: sbom, findings: findings, reference: reference, labels: labels)
        result.eol = eol
        return result
    }

    static func result(sbom: SBOM, findings: [Finding], reference: String, labels: [String: String]) -> ImageResult {
        let digest = sbom.source.manifestDigest.isEmpty ? sbom.source.configDigest : sbom.source.manifestDigest
        return ImageResult(
            digest: digest, configDigest: sbom.source.configDigest, references: [reference], labels: labels,
            platform: sbom.source.platform, os: sbom.os, packages: sbom.packages, findings: findings)
    }
}

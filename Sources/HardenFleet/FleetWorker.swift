// harden — `harden worker`: claims jobs from PostgreSQL, runs them, records each result once. Stateless: any
// number of workers on any number of machines; a lost worker's jobs come back when its lease expires.
import AsyncHTTPClient
import Foundation
import HardenCore
import HardenPackages
import HardenSystem
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

public struct FleetWorkerConfiguration: Sendable {
    /// The server, for the vulnerability database (`GET /v1/db`).
    public var server: String
    public var token: String?
    public var concurrency = 1
    public var policy = QueuePolicy()
    /// Where the database is kept between jobs.
    public var cacheDirectory: String
    /// A name unique to this process (host, pid), recorded as the lease owner.
    public var name: String
    /// How long an idle worker waits before asking again.
    public var idlePoll: Duration = .milliseconds(500)
    /// Stop after this many jobs (tests, batch use); nil: run until cancelled.
    public var maxJobs: Int?
    /// A job's overall deadline: past it the job fails (not retried) and the slot takes the next job, even when the
    /// job's work is stuck in a call that cannot be cancelled.
    public var jobTimeout: Duration = .seconds(1800)

    public init(server: String, cacheDirectory: String, name: String) {
        self.server = server
        self.cacheDirectory = cacheDirectory
        self.name = name
    }
}

/// Runs one claimed job; gets the path of the current vulnerability database.
public typealias JobExecutor = @Sendable (ClaimedJob, _ databasePath: String) async throws -> ImageResult

/// The worker's copy of the server's vulnerability database, revalidated by ETag before each job (at most every
/// `revalidate`), written atomically: a job holds the path of a complete file.
actor DatabaseCache {
    let configuration: FleetWorkerConfiguration
    var etag: String?
    var path: String?
    var checked: ContinuousClock.Instant?
    let logger: Logger

    init(configuration: FleetWorkerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    func current(revalidate: Duration = .seconds(15)) async throws -> String {
        if let path, let checked, ContinuousClock.now - checked < revalidate { return path }
        try HostFS.makeDirectories(configuration.cacheDirectory)
        var request = HTTPClientRequest(url: configuration.server.trimmingSuffix("/") + "/v1/db")
        if let token = configuration.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let etag, path != nil { request.headers.add(name: "If-None-Match", value: etag) }
        let response = try await FleetHTTP.client.execute(request, timeout: .seconds(300))
        switch response.status.code {
        case 304:
            _ = try await response.body.collect(upTo: 1 << 16)
        case 200:
            let body = try await response.body.collect(upTo: 1 << 34)
            let tag = response.headers.first(name: "ETag") ?? ""
            let name = "vulnerabilities-\(tag.filter { $0.isHexDigit }.suffix(16)).sqlite"
            let target = configuration.cacheDirectory + "/" + name
            try HostFS.writeFileAtomically(target, Array(body.readableBytesView))
            if let old = path, old != target { _ = unlink(old) }
            path = target
            etag = tag
            logger.info("worker: vulnerability database \(tag) (\(body.readableBytes) bytes)")
        default:
            let text = String(buffer: try await response.body.collect(upTo: 1 << 16))
            throw HardenError(.io, "\(configuration.server)/v1/db: HTTP \(response.status.code) \(text.prefix(200))")
        }
        checked = .now
        guard let path else { throw HardenError(.io, "\(configuration.server)/v1/db: no database") }
        return path
    }
}

public final class FleetWorker: Sendable {
    public let store: FleetStore
    public let configuration: FleetWorkerConfiguration
    let executor: JobExecutor
    let logger: Logger
    let database: DatabaseCache

    public init(
        store: FleetStore, configuration: FleetWorkerConfiguration, executor: @escaping JobExecutor, logger: Logger
    ) {
        self.store = store
        self.configuration = configuration
        self.executor = executor
        self.logger = logger
        database = DatabaseCache(configuration: configuration, logger: logger)
    }

    /// Runs `concurrency` claim loops until cancelled (or `maxJobs` are done). Returns the number of jobs done.
    @discardableResult
    public func run() async throws -> Int {
        let budget = Budget(configuration.maxJobs)
        return try await withThrowingTaskGroup(of: Int.self) { group in
            for slot in 0..<max(1, configuration.concurrency) {
                group.addTask { try await self.loop(slot: slot, budget: budget) }
            }
            var total = 0
            for try await n in group { total += n }
            return total
        }
    }

    actor Budget {
        var left: Int?
        init(_ n: Int?) { left = n }
        func take() -> Bool {
            guard let l = left else { return true }
            if l <= 0 { return false }
            left = l - 1
            return true
        }
        func giveBack() { if let l = left { left = l + 1 } }
    }

    func loop(slot: Int, budget: Budget) async throws -> Int {
        let owner = "\(configuration.name)#\(slot)"
        var done = 0
        var lastReap: ContinuousClock.Instant?
        while !Task.isCancelled {
            guard await budget.take() else { break }
            let job: ClaimedJob?
            do {
                // Workers take back expired leases too (every 5 s at most), so jobs come back while the server is down.
                if lastReap.map({ ContinuousClock.now - $0 > .seconds(5) }) ?? true {
                    lastReap = .now
                    try await store.requeueExpired()
                }
                job = try await store.claim(worker: owner, policy: configuration.policy)
            } catch {
                await budget.giveBack()
                if Task.isCancelled { break }
                logger.error("worker \(owner): \(FleetStore.describe(error))")
                try await Task.sleep(for: .seconds(2))
                continue
            }
            guard let job else {
                await budget.giveBack()
                try await Task.sleep(for: configuration.idlePoll)
                continue
            }
            await execute(job, owner: owner)
            done += 1
        }
        return done
    }

    /// Runs a job while renewing its lease; a lease lost mid-job cancels the job and records nothing.
    func execute(_ job: ClaimedJob, owner: String) async {
        let started = ContinuousClock.now
        logger.info("worker \(owner): job \(job.id) \(job.action.rawValue) \(job.image) (attempt \(job.attempt))")
        if job.options.noop == true {
            do { _ = try await store.complete(job: job.id, worker: owner) } catch {
                logger.error("worker \(owner): job \(job.id): \(FleetStore.describe(error))")
            }
            return
        }
        let outcome = await race(job, owner: owner)
        let seconds = Double((ContinuousClock.now - started).components.seconds)
        switch outcome {
        case .success(let result):
            do {
                if let summary = try await store.record(job: job.id, worker: owner, result: result) {
                    logger.info(
                        "worker \(owner): job \(job.id) done in \(Int(seconds)) s: \(summary.packages) packages, \(summary.findings) findings (+\(summary.newFindings) −\(summary.resolvedFindings))"
                    )
                } else {
                    logger.warning(
                        "worker \(owner): job \(job.id): lease lost before recording; the result is dropped (the job runs elsewhere)"
                    )
                }
            } catch {
                logger.error("worker \(owner): job \(job.id): cannot record: \(FleetStore.describe(error))")
                try? await store.fail(
                    job: job.id, worker: owner, error: "cannot record: \(FleetStore.describe(error))", retry: true)
            }
        case .failure(let error) where error is LeaseLost:
            logger.warning("worker \(owner): job \(job.id): lease lost; stopped")
        case .failure(let error):
            let message = (error as? HardenError)?.message ?? String(describing: error)
            // Bad input (no such image, corrupt archive, unsupported format) fails at once; anything else may pass.
            let code = (error as? HardenError)?.code
            let final: Set<HardenError.Code> = [
                .invalidArgument, .notFound, .corrupt, .unsupported, .unsafe, .limitExceeded,
            ]
            let retry = !(code.map(final.contains) ?? false)
            logger.error("worker \(owner): job \(job.id) failed: \(message)")
            try? await store.fail(job: job.id, worker: owner, error: message, retry: retry)
        }
    }

    struct LeaseLost: Error {}

    /// The first of: the job's result, its lease lost (heartbeat), its deadline. Unstructured tasks, so a job stuck
    /// in an uncancellable call (a blocking read) cannot hold the slot: the others are cancelled and left behind.
    func race(_ job: ClaimedJob, owner: String) async -> Result<ImageResult, any Error> {
        let once = FirstResult()
        let tasks = Mutex<[Task<Void, Never>]>([])
        let result: Result<ImageResult, any Error> = await withCheckedContinuation { continuation in
            once.set(continuation)
            let work = Task {
                do {
                    let path = try await self.database.current()
                    once.resume(.success(try await self.executor(job, path)))
                } catch {
                    once.resume(.failure(error))
                }
            }
            let heartbeat = Task {
                // Renews at a third of the lease; a lost lease ends the job.
                let period = self.configuration.policy.lease / 3
                while !Task.isCancelled {
                    try? await Task.sleep(for: period)
                    if Task.isCancelled { return }
                    let held =
                        (try? await self.store.renew(job: job.id, worker: owner, policy: self.configuration.policy))
                        ?? true
                    if !held { once.resume(.failure(LeaseLost())) }
                }
            }
            let deadline = Task {
                try? await Task.sleep(for: self.configuration.jobTimeout)
                if Task.isCancelled { return }
                let seconds = self.configuration.jobTimeout.components.seconds
                once.resume(
                    .failure(HardenError(.limitExceeded, "the job did not finish within its deadline of \(seconds) s")))
            }
            tasks.withLock { $0 = [work, heartbeat, deadline] }
        }
        for t in tasks.withLock({ $0 }) { t.cancel() }
        return result
    }

    /// Resumes a continuation once, with the first result given.
    final class FirstResult: Sendable {
        let state = Mutex<(CheckedContinuation<Result<ImageResult, any Error>, Never>?, Bool)>((nil, false))
        func set(_ c: CheckedContinuation<Result<ImageResult, any Error>, Never>) { state.withLock { $0.0 = c } }
        func resume(_ r: Result<ImageResult, any Error>) {
            let c = state.withLock { s -> CheckedContinuation<Result<ImageResult, any Error>, Never>? in
                guard !s.1, let c = s.0 else { return nil }
                s.1 = true
                return c
            }
            c?.resume(returning: r)
        }
    }
}

extension String {
    func trimmingSuffix(_ s: String) -> String { hasSuffix(s) ? String(dropLast(s.count)) : self }
}

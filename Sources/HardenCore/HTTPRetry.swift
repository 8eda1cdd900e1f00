// harden — the one retry rule of every download (feeds, APT repositories).

/// How every download of harden retries: a transport failure, 429 or 5xx is tried again after a growing pause (up to
/// `attempts` times); a `HardenError` (a refused answer, a bad digest) ends at once.
public enum HTTPRetry {
    /// Thrown by an attempt to ask for another one (the server answered 429 or 5xx).
    public struct Again: Error { public init() {} }

    public static func run<T>(
        _ url: String, attempts: Int = 4, _ body: (_ attempt: Int) async throws -> T
    ) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await body(attempt)
            } catch let e as HardenError {
                throw e
            } catch is Again {
            } catch {
                if attempt >= attempts { throw HardenError(.io, "\(url): \(error)") }
            }
            try await Task.sleep(nanoseconds: UInt64(attempt) * 500_000_000)
        }
    }
}

// harden — an ordered map over a few independent, slow items (the platforms of an index) with at most `limit`
// running at once.

public enum ConcurrentMap {
    /// `transform` applied to every item, results in the items' order; at most `limit` run at a time. The first
    /// error cancels the rest and is rethrown.
    public static func map<T: Sendable, R: Sendable>(
        _ items: [T], limit: Int, _ transform: @escaping @Sendable (T) async throws -> R
    ) async throws -> [R] {
        guard limit > 1, items.count > 1 else {
            var out: [R] = []
            for item in items { out.append(try await transform(item)) }
            return out
        }
        return try await withThrowingTaskGroup(of: (Int, R).self) { group in
            var results = [R?](repeating: nil, count: items.count)
            var next = 0
            for _ in 0..<min(limit, items.count) {
                let i = next
                group.addTask { (i, try await transform(items[i])) }
                next += 1
            }
            while let (i, r) = try await group.next() {
                results[i] = r
                if next < items.count {
                    let j = next
                    group.addTask { (j, try await transform(items[j])) }
                    next += 1
                }
            }
            return results.map { $0! }
        }
    }
}

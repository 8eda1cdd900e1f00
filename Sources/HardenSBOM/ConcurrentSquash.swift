// harden — the squash (whiteouts, symlinked parents, later layers over earlier ones) applied on a thread of its own
// while the layers are still being read: entries arrive in batches from the scanning threads and are applied
// strictly in layer order, so the result is the one a sequential squash gives.
import HardenArchive
import HardenCore
import HardenOCI

final class ConcurrentSquash: @unchecked Sendable {
    private let lock = ConditionLock()
    private let layerCount: Int
    /// Batches waiting, by layer.
    private var pending: [Int: [[TarEntry]]] = [:]
    /// Layers whose last batch has arrived.
    private var complete = Set<Int>()
    private var cancelled = false
    private var failure: (any Error)?
    private let tree = FileTree()
    private var thread: JoinableThread?
    /// The last layer `tree.begin` was called for.
    private var begun = -1

    /// Starts the squash thread when `threaded` (or, without one, squashes when `result` is asked for).
    init(layerCount: Int, expectedEntries: Int, threaded: Bool) {
        self.layerCount = layerCount
        tree.reserveCapacity(expectedEntries)
        if threaded { thread = try? JoinableThread { [self] in run() } }
    }

    /// Entries of `layer`, in their tar order after the ones given before. Without a thread, the layers come in order
    /// and are applied at once.
    func add(layer: Int, _ batch: [TarEntry]) {
        guard !batch.isEmpty else { return }
        guard thread != nil else {
            apply(layer: layer, batch)
            return
        }
        lock.withLock {
            pending[layer, default: []].append(batch)
            lock.broadcast()
        }
    }

    /// No more entries come for `layer`.
    func finish(layer: Int) {
        lock.withLock {
            complete.insert(layer)
            lock.broadcast()
        }
    }

    /// Stops early (a layer failed to scan); the thread ends after the batch it is applying.
    func cancel() {
        lock.withLock {
            cancelled = true
            lock.broadcast()
        }
        thread?.join()
    }

    /// The squashed tree, once every layer is finished; rethrows the first error the squash met.
    func result() throws -> FileTree {
        thread?.join()
        if let failure { throw failure }
        return tree
    }

    /// Applies a batch on the calling thread (the squash thread, or the only one).
    private func apply(layer: Int, _ batch: [TarEntry]) {
        guard failure == nil else { return }
        if begun < layer {
            tree.begin(layer: layer)
            begun = layer
        }
        do {
            for e in batch { try tree.add(e, body: nil) }
        } catch {
            lock.withLock { failure = error }
        }
    }

    private func run() {
        var layer = 0
        while layer < layerCount {
            var batches: [[TarEntry]] = []
            var layerDone = false
            let stop = lock.withLock {
                lock.wait { cancelled || !(pending[layer]?.isEmpty ?? true) || complete.contains(layer) }
                batches = pending.removeValue(forKey: layer) ?? []
                layerDone = batches.isEmpty && complete.contains(layer)
                return cancelled || failure != nil
            }
            if stop { return }
            if begun < layer {
                tree.begin(layer: layer)
                begun = layer
            }
            for batch in batches { apply(layer: layer, batch) }
            if layerDone { layer += 1 }
        }
    }
}

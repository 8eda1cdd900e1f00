// harden — the fanotify sensor: every open, read, exec and write on the container's root filesystem.
import CHardenSystem
import HardenCore
import HardenProfile
import HardenSystem
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Watches a whole filesystem (FAN_MARK_FILESYSTEM) from a background thread until stopped.
/// @unchecked: `thread` is written by `start()` and read by `stop()`, which the one owner calls in that order;
/// everything the reading thread touches is behind a Mutex or atomic.
public final class FanotifySensor: @unchecked Sendable {
    private let fd: Int32
    private let stripPrefix: String
    private let state = Mutex(FileAccessLog())
    private let stopFlag = Atomic<Bool>(false)
    /// Written by `stop()` so the reading thread wakes at once instead of at its next poll timeout.
    private let wake: Int32
    private var thread: pthread_t?

    /// Marks the filesystem that holds `path` (the container's overlay rootfs). `unlimitedQueue` false uses the
    /// kernel's default 16,384-event queue (tests use it to prove overflow is detected).
    public init(filesystemOf path: String, unlimitedQueue: Bool = true) throws {
        var flags = UInt32(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK)
        if unlimitedQueue { flags |= UInt32(FAN_UNLIMITED_QUEUE) }
        let fd = fanotify_init(flags, UInt32(O_RDONLY | 0o100000 /* O_LARGEFILE */ | O_CLOEXEC))
        guard fd >= 0 else {
            let e = errno
            throw HardenError(
                .io,
                "fanotify: cannot start the sensor: \(errnoText(e))"
                    + (e == EPERM ? " (it needs CAP_SYS_ADMIN; use --sensor ptrace)" : ""))
        }
        let mask = FanotifyEvent.open | FanotifyEvent.access | FanotifyEvent.openExec | FanotifyEvent.modify
        guard fanotify_mark(fd, UInt32(FAN_MARK_ADD | FAN_MARK_FILESYSTEM), mask, AT_FDCWD, path) == 0 else {
            let e = errnoText()
            close(fd)
            throw HardenError(.io, "\(path): fanotify cannot watch this filesystem: \(e)")
        }
        self.fd = fd
        self.wake = eventfd(0, Int32(EFD_CLOEXEC))
        self.stripPrefix = path.hasSuffix("/") ? String(path.dropLast()) : path
    }

    deinit {
        close(fd)
        close(wake)
    }

    /// Starts reading events on a dedicated thread.
    public func start() {
        let box = Unmanaged.passRetained(self)
        var t = pthread_t()
        pthread_create(
            &t, nil,
            { arg in
                let sensor = Unmanaged<FanotifySensor>.fromOpaque(arg!).takeRetainedValue()
                sensor.loop()
                return nil
            }, box.toOpaque())
        thread = t
    }

    /// Drains what is queued, stops the thread and returns the log. Throws when events were lost.
    public func stop() throws -> FileAccessLog {
        stopFlag.store(true, ordering: .sequentiallyConsistent)
        var one: UInt64 = 1
        _ = write(wake, &one, 8)
        if let thread { pthread_join(thread, nil) }
        thread = nil
        drain()
        let log = state.withLock { $0 }
        if log.overflowed {
            throw HardenError(
                .limitExceeded,
                "fanotify: the event queue overflowed, so file accesses were lost; the profile would be incomplete")
        }
        return log
    }

    private func loop() {
        var fds = [
            pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0),
        ]
        while !stopFlag.load(ordering: .sequentiallyConsistent) {
            let r = poll(&fds, 2, 1000)
            if r > 0 && fds[0].revents != 0 { drain() }
        }
    }

    /// Reads every queued event.
    public func drain() {
        let size = 64 * 1024
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, size)
            if n <= 0 { return }
            let (events, _) = FanotifyEvent.parse(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            var batch: [(String, UInt64, Int32)] = []
            var overflow = false
            for e in events {
                if e.mask & FanotifyEvent.queueOverflow != 0 { overflow = true }
                guard e.fd >= 0 else { continue }
                if let path = Tracer.readLink("/proc/self/fd/\(e.fd)") { batch.append((path, e.mask, e.pid)) }
                close(e.fd)
            }
            state.withLock { log in
                log.events += events.count
                if overflow { log.overflowed = true }
                for (raw, mask, pid) in batch {
                    var path = raw
                    if path.hasSuffix(" (deleted)") { path = String(path.dropLast(10)) }
                    if path == stripPrefix || path.hasPrefix(stripPrefix + "/") {
                        path = String(path.dropFirst(stripPrefix.count))
                    }
                    if path.isEmpty { path = "/" }
                    var entry = log.entries[path] ?? FileAccessLog.Entry()
                    if entry.firstProcess == nil { entry.firstProcess = Tracer.comm(pid) }
                    if mask & FanotifyEvent.open != 0 { entry.operations["open", default: 0] += 1 }
                    if mask & FanotifyEvent.access != 0 { entry.operations["read", default: 0] += 1 }
                    if mask & FanotifyEvent.openExec != 0 { entry.operations["exec", default: 0] += 1 }
                    if mask & FanotifyEvent.modify != 0 { entry.operations["write", default: 0] += 1 }
                    log.entries[path] = entry
                }
            }
        }
    }
}

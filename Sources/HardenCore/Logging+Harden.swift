// harden — logging set-up shared by every command.
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A log handler that writes one line per message to standard error: `level: message key=value…`.
public struct StderrLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "\(event.level): \(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() {
            line += " \(key)=\(merged[key].map { "\($0)" } ?? "")"
        }
        line += "\n"
        writeStandardError(line)
    }
}

extension Logger {
    /// The logger libraries use when their caller passes none: quiet unless the CLI bootstrapped one.
    public static var harden: Logger { Logger(label: "harden") }
}

/// Writes text to standard error (file descriptor 2) in one call.
public func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { buf in
        var done = 0
        while done < buf.count {
            let n = write(2, buf.baseAddress.unsafelyUnwrapped + done, buf.count - done)
            if n <= 0 { return }
            done += n
        }
    }
}

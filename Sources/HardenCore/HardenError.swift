// harden — the one error type every module throws.

/// An error with a stable code, a one-line message for people, and an optional cause.
///
/// Messages are lower-case, name the input at fault and say what is wrong, e.g.
/// `"image.tar: blob sha256:ab… has digest sha256:cd…, expected sha256:ab…"`.
public struct HardenError: Swift.Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: String, Sendable, Hashable {
            case invalidArgument, notFound, corrupt, unsupported, unsafe, limitExceeded, io, internalError
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The user asked for something that cannot be done (bad reference, conflicting options).
        public static var invalidArgument: Self { Self(.invalidArgument) }
        /// A file, blob, tag or path does not exist.
        public static var notFound: Self { Self(.notFound) }
        /// Input is malformed or fails verification (bad JSON, digest mismatch, truncated stream).
        public static var corrupt: Self { Self(.corrupt) }
        /// Input is valid but uses a feature harden does not handle.
        public static var unsupported: Self { Self(.unsupported) }
        /// Input tries to escape its destination (path traversal, links out of the root).
        public static var unsafe: Self { Self(.unsafe) }
        /// Input exceeds a safety limit (decompression bomb, header too large, too deep).
        public static var limitExceeded: Self { Self(.limitExceeded) }
        /// The operating system refused an operation.
        public static var io: Self { Self(.io) }
        /// A bug in harden.
        public static var internalError: Self { Self(.internalError) }

        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String
    public var cause: (any Swift.Error)?

    public init(_ code: Code, _ message: String, cause: (any Swift.Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { message }

    /// The same error with `context` (usually the input's name) prefixed to its message.
    public func prefixed(_ context: String) -> HardenError {
        if message.hasPrefix(context + ":") { return self }
        return HardenError(code, "\(context): \(message)", cause: cause)
    }
}

extension HardenError {
    /// Wraps any error as a `HardenError`, keeping one already of this type.
    public static func wrap(_ error: any Swift.Error, context: String? = nil) -> HardenError {
        let base: HardenError
        if let e = error as? HardenError {
            base = e
        } else {
            base = HardenError(.internalError, String(describing: error), cause: error)
        }
        guard let context else { return base }
        return base.prefixed(context)
    }
}

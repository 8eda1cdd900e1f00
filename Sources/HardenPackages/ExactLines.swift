// harden — lines of a database that is rewritten, every byte kept.

/// Lines split at each "\n" byte with every other byte kept (a "\r" before it stays in the line): these databases
/// are rewritten, and a rewrite must not change the lines it keeps. (Parsers use `textLines`, which drops the "\r".)
public func exactLines(_ text: some StringProtocol, omittingEmpty: Bool) -> [Substring] {
    text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: omittingEmpty).map {
        Substring(String(String.UnicodeScalarView($0)))
    }
}

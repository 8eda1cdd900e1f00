// harden — PEM blocks (RFC 7468): a label and base64 DER between BEGIN and END lines.
import Foundation
import HardenCore

public struct PEMBlock: Sendable, Equatable {
    public var label: String
    public var der: [UInt8]

    public init(label: String, der: [UInt8]) {
        self.label = label
        self.der = der
    }

    /// The first PEM block of `text`; a one-line error naming `source` when there is none or it is broken.
    public static func parse(_ text: String, source: String) throws -> PEMBlock {
        let lines = text.textLines().map { $0.trimmingCharacters(in: .whitespaces) }
        guard let begin = lines.firstIndex(where: { $0.hasPrefix("-----BEGIN ") && $0.hasSuffix("-----") }) else {
            throw HardenError(.corrupt, "\(source): not a PEM file (no -----BEGIN line)")
        }
        let label = String(lines[begin].dropFirst(11).dropLast(5))
        guard let end = lines[(begin + 1)...].firstIndex(of: "-----END \(label)-----") else {
            throw HardenError(.corrupt, "\(source): PEM block \"\(label)\" has no END line")
        }
        // RFC 7468 allows headers (Proc-Type…) only in legacy encrypted blocks: those are refused by label later.
        let body = lines[(begin + 1)..<end].filter { !$0.contains(":") }.joined()
        guard let der = Data(base64Encoded: body), !der.isEmpty else {
            throw HardenError(.corrupt, "\(source): PEM block \"\(label)\" is not valid base64")
        }
        return PEMBlock(label: label, der: [UInt8](der))
    }

    /// The block as text, 64 base64 characters a line.
    public var text: String {
        let b64 = Array(Data(der).base64EncodedString().utf8)
        var lines = ["-----BEGIN \(label)-----"]
        var at = 0
        while at < b64.count {
            lines.append(String(decoding: b64[at..<min(at + 64, b64.count)], as: UTF8.self))
            at += 64
        }
        lines.append("-----END \(label)-----")
        return lines.joined(separator: "\n") + "\n"
    }
}

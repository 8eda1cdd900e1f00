// harden — the OpenVEX evidence of a remediation: for each vulnerability of the input, what became of it in the
// hardened image. `not_affected` + `component_not_present` when minify removed its package; `not_affected` +
// `vulnerable_code_not_present` when the package is still listed but only non-executable files of it are left (the
// files named); `fixed` for what patch upgraded; `affected` for the rest, with what to do.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenSBOM
import HardenVulnDB

public enum RemediationVEX {
    public struct Input {
        /// The hardened image and the name it is published under.
        public var image: Image
        public var name: String
        /// Findings of the input (before minify), and of the hardened image.
        public var before: [Finding]
        public var after: [Finding]
        /// The hardened image's packages (with the files left of each) and tree.
        public var packagesAfter: [SoftwarePackage]
        public var treeAfter: FileTree
        /// Vulnerabilities patch fixed, with the packages (name, new version) that carry the fix.
        public var patched: [String: [(name: String, version: String)]] = [:]
        public var osID: String = OSInfo.assumedDpkgID

        public init(
            image: Image, name: String, before: [Finding], after: [Finding], packagesAfter: [SoftwarePackage],
            treeAfter: FileTree
        ) {
            self.image = image
            self.name = name
            self.before = before
            self.after = after
            self.packagesAfter = packagesAfter
            self.treeAfter = treeAfter
        }
    }

    /// Interpreter-loadable code besides executables and shared objects.
    static let codeExtensions: Set<String> = [
        "py", "pyc", "pyo", "pl", "pm", "rb", "js", "mjs", "cjs", "php", "lua", "jar", "class", "sh", "bash", "tcl",
        "ko", "go",
    ]

    /// Whether a file is code: executable, a shared object, or a module an interpreter loads.
    static func isCode(_ path: String, tree: FileTree) -> Bool {
        let rel = RawPath(String(path.drop { $0 == "/" }))
        guard let r = tree.resolve(rel), let node = tree.nodes[r], node.type == .regular else { return false }
        if node.mode & 0o111 != 0 { return true }
        let name = path.split(separator: "/").last.map(String.init) ?? path
        if name.hasSuffix(".so") || name.contains(".so.") { return true }
        if let dot = name.lastIndex(of: "."),
            codeExtensions.contains(String(name[name.index(after: dot)...]).lowercased())
        {
            return true
        }
        return false
    }

    /// The statements, and the findings of the hardened image they mark not affected (by `id|purl`).
    public static func statements(_ i: Input) -> [OpenVEXStatement] {
        let product = OpenVEX.imageProduct(name: i.name, digest: i.image.manifestDigest.description)
        let afterByKey = Dictionary(
            i.after.filter { $0.suppressed == nil }.map { ("\($0.id)|\($0.package.name)|\($0.package.version)", $0) },
            uniquingKeysWith: { a, _ in a })
        let present = Dictionary(
            i.packagesAfter.map { ("\($0.name)|\($0.version)", $0) }, uniquingKeysWith: { a, _ in a })
        var out: [OpenVEXStatement] = []
        var nonCode: [String: [String]?] = [:]
        func keptFilesIfNoCode(_ p: SoftwarePackage) -> [String]? {
            if let cached = nonCode[p.id] { return cached }
            let files = p.files.filter { f in
                let rel = RawPath(String(f.drop { $0 == "/" }))
                return i.treeAfter.resolve(rel).flatMap { i.treeAfter.nodes[$0] }.map { $0.type == .regular } ?? false
            }
            let result: [String]? = files.contains { isCode($0, tree: i.treeAfter) } ? nil : files.sorted()
            nonCode[p.id] = .some(result)
            return result
        }
        var seen = Set<String>()
        for f in i.before where f.suppressed == nil {
            let key = "\(f.id)|\(f.package.name)|\(f.package.version)"
            guard seen.insert(key).inserted else { continue }
            let aliases = f.ids
            if let pkg = present["\(f.package.name)|\(f.package.version)"] {
                if let files = keptFilesIfNoCode(pkg) {
                    let shown =
                        files.prefix(20).joined(separator: ", ")
                        + (files.count > 20 ? " and \(files.count - 20) more" : "")
                    out.append(
                        OpenVEXStatement(
                            vulnerability: f.id, aliases: aliases, product: product, subcomponents: [f.package.purl],
                            status: .notAffected, justification: "vulnerable_code_not_present",
                            impactStatement: files.isEmpty
                                ? "harden minify left no file of \(f.package.name) in the image, only its package record"
                                : "harden minify left only non-executable files of \(f.package.name) in the image: \(shown)"
                        ))
                } else if afterByKey[key] != nil {
                    out.append(
                        OpenVEXStatement(
                            vulnerability: f.id, aliases: aliases, product: product, subcomponents: [f.package.purl],
                            status: .affected,
                            actionStatement: f.fixedVersions.isEmpty
                                ? "No fix is published yet; \(f.package.name) is kept because the application uses it (runtime profile)."
                                : "Upgrade \(f.package.name) to \(f.fixedVersions.joined(separator: " or ")) (harden patch)."
                        ))
                }
            } else {
                out.append(
                    OpenVEXStatement(
                        vulnerability: f.id, aliases: aliases, product: product, subcomponents: [f.package.purl],
                        status: .notAffected,
                        justification: "component_not_present",
                        impactStatement:
                            "harden minify removed \(f.package.name) \(f.package.version): the application never used it"
                    ))
            }
        }
        for (v, packages) in i.patched.sorted(by: { $0.key < $1.key }) {
            out.append(
                OpenVEXStatement(
                    vulnerability: v, product: product,
                    subcomponents: packages.map { "pkg:deb/\(i.osID)/\($0.name)@\($0.version)" }, status: .fixed,
                    statusNotes:
                        "harden patch upgraded the package to the version the distribution published with the fix"))
        }
        return out
    }

    public static func document(_ i: Input, statements: [OpenVEXStatement], date: Date = Date()) throws -> [UInt8]? {
        try OpenVEX.document(
            id: "https://harden.dev/vex/\(i.image.manifestDigest)", author: "harden \(hardenToolVersion)",
            timestamp: date,
            statements: statements)
    }

    /// The document as harden reads VEX (to apply it to the hardened image's findings).
    public static func asDocument(_ statements: [OpenVEXStatement], source: String) -> VEXDocument {
        VEXDocument(
            statements: statements.map {
                VEXDocument.Statement(
                    vulnerability: [$0.vulnerability] + $0.aliases,
                    products: [VEXProduct($0.product, subcomponents: $0.subcomponents.map { VEXProduct($0) })],
                    status: $0.status,
                    justification: $0.justification)
            }, source: source)
    }
}

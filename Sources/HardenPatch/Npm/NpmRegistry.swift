// harden — an npm registry: a package's packument (its versions, each with its dependencies and tarball) and the
// tarballs, checked against their Subresource Integrity (sha512, else the legacy sha1 `shasum`).
import Crypto
import Foundation
import HardenCore
import HardenPackages
import HardenSystem

/// One version of a package as its packument lists it.
public struct NpmManifest: Sendable {
    public var version: String
    public var dependencies: [String: String]
    public var tarball: String
    /// `sha512-<base64>` (SRI), when the registry gives it.
    public var integrity: String?
    public var shasum: String?
    public var deprecated: Bool

    public init(
        version: String, dependencies: [String: String], tarball: String, integrity: String?, shasum: String?,
        deprecated: Bool
    ) {
        self.version = version
        self.dependencies = dependencies
        self.tarball = tarball
        self.integrity = integrity
        self.shasum = shasum
        self.deprecated = deprecated
    }
}

public final class NpmRegistry: @unchecked Sendable {
    public static let npmjs = "https://registry.npmjs.org"
    let base: String
    let client: AptClient
    let cache: LibraryPatchCache

    public init(url: String = NpmRegistry.npmjs, client: AptClient, cache: LibraryPatchCache = LibraryPatchCache()) {
        base = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.client = client
        self.cache = cache
    }

    /// Every version of `name`, oldest first (nil when the registry does not have it).
    public func versions(_ name: String) async throws -> [NpmManifest]? {
        let url = base + "/" + name.replacingSlash()
        if let p = cache.get("npm-packument " + url, as: [NpmManifest].self) { return p }
        let bytes: [UInt8]
        do {
            bytes = try await client.get(url, limit: 256 << 20, headers: [("Accept", "application/json")])
        } catch let e as HardenError where e.code == .notFound {
            return nil
        }
        guard let json = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let versions = json["versions"] as? [String: Any]
        else { throw HardenError(.corrupt, "\(url): not an npm packument (no versions)") }
        var out: [NpmManifest] = []
        for (v, any) in versions {
            guard let m = any as? [String: Any], NpmVersion.parse(v) != nil,
                let dist = m["dist"] as? [String: Any], let tarball = dist["tarball"] as? String
            else { continue }
            out.append(
                NpmManifest(
                    version: v, dependencies: (m["dependencies"] as? [String: String]) ?? [:], tarball: tarball,
                    integrity: dist["integrity"] as? String, shasum: dist["shasum"] as? String,
                    deprecated: m["deprecated"] is String))
        }
        out.sort { NpmVersion.parse($0.version)! < NpmVersion.parse($1.version)! }
        cache.set("npm-packument " + url, out)
        return out
    }

    /// The tarball of `m`, checked against its integrity; refused when the registry gives no hash.
    public func tarball(_ m: NpmManifest, name: String) async throws -> [UInt8] {
        let bytes = try await client.get(m.tarball, limit: 512 << 20)
        try Self.check(bytes, manifest: m, name: "\(name)@\(m.version)")
        return bytes
    }

    static func check(_ bytes: [UInt8], manifest m: NpmManifest, name: String) throws {
        let sri = (m.integrity ?? "").split(separator: " ").map(String.init)
        if let sha512 = sri.first(where: { $0.hasPrefix("sha512-") }) {
            let got = "sha512-" + Data(SHA512.hash(data: bytes)).base64EncodedString()
            guard got == sha512 else {
                throw HardenError(.corrupt, "\(m.tarball): \(name)'s tarball does not match its integrity \(sha512)")
            }
            return
        }
        guard let shasum = m.shasum?.lowercased() else {
            throw HardenError(.unsupported, "\(m.tarball): the registry gives no integrity for \(name)")
        }
        guard Hex.encode(Insecure.SHA1.hash(data: bytes)) == shasum else {
            throw HardenError(.corrupt, "\(m.tarball): \(name)'s tarball does not match its shasum \(shasum)")
        }
    }
}

extension String {
    /// `@scope/name` → `@scope%2fname`, as registries address scoped packages.
    fileprivate func replacingSlash() -> String {
        split(separator: "/", omittingEmptySubsequences: false).joined(separator: "%2f")
    }
}

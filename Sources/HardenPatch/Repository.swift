// harden — an APT repository client: InRelease fetched and its signature verified (gpgv, as apt does), Valid-Until
// honoured, each Packages index checked against the SHA256 the signed Release lists (by-hash where offered), each
// .deb against its index stanza. Downloads are cached by SHA256, so a second run fetches only InRelease.
//
// The client is the seam for other distributions: an Alpine (APKINDEX, RSA) or RPM (repomd) client would hand the
// resolver the same `BinaryPackage` records.
import AsyncHTTPClient
import Foundation
import HardenArchive
import HardenCore
import HardenDpkg
import HardenOCI
import HardenPackages
import HardenSBOM
import HardenSystem
import HardenVulnDB
import NIOCore
import NIOHTTP1

/// Checks the OpenPGP signature of a clear-signed file with `gpgv` and returns exactly the signed text.
public enum SignatureCheck {
    /// - Parameters:
    ///   - keyrings: OpenPGP key files (binary or ASCII-armoured; armoured ones are converted for gpgv).
    public static func verifyClearsigned(_ bytes: [UInt8], keyrings: [[UInt8]], source: String) async throws -> [UInt8]
    {
        guard !keyrings.isEmpty else {
            throw HardenError(.invalidArgument, "\(source): no trusted keys to verify it with (--keyring FILE)")
        }
        let dir = try HostFS.makeTemporaryDirectory(prefix: "harden-gpgv")
        defer { try? HostFS.removeTree(dir) }
        do {
            var args = try gpgvCommand(in: dir, keyrings: keyrings, source: source)
            try HostFS.writeFileAtomically(dir + "/InRelease", bytes)
            args += ["--output", dir + "/signed", dir + "/InRelease"]
            let (status, output) = try await ChildProcess.run(args, timeout: 60)
            try checkStatus(status.succeeded, output, source: source)
            return try HostFS.readFile(dir + "/signed", limit: 64 << 20)
        }
    }

    /// Checks a detached OpenPGP signature (binary or armoured) over `data` with `gpgv`: repomd.xml.asc, and the
    /// signature an rpm package carries over its header bytes.
    public static func verifyDetached(
        _ signature: [UInt8], data: [UInt8], keyrings: [[UInt8]], source: String
    ) async throws {
        guard !keyrings.isEmpty else {
            throw HardenError(.invalidArgument, "\(source): no trusted keys to verify it with (--keyring FILE)")
        }
        let dir = try HostFS.makeTemporaryDirectory(prefix: "harden-gpgv")
        defer { try? HostFS.removeTree(dir) }
        let args = try gpgvCommand(in: dir, keyrings: keyrings, source: source)
        try HostFS.writeFileAtomically(dir + "/signature", signature)
        try HostFS.writeFileAtomically(dir + "/data", data)
        let (status, output) = try await ChildProcess.run(args + [dir + "/signature", dir + "/data"], timeout: 60)
        try checkStatus(status.succeeded, output, source: source)
    }

    /// gpgv's command line with every keyring written (dearmoured) into `dir`, its scratch home.
    static func gpgvCommand(in dir: String, keyrings: [[UInt8]], source: String) throws -> [String] {
        var args = ["gpgv", "--homedir", dir, "--status-fd", "1"]
        for (i, k) in keyrings.enumerated() {
            let path = "\(dir)/key\(i).gpg"
            try HostFS.writeFileAtomically(path, try dearmor(k, source: source))
            args += ["--keyring", path]
        }
        return args
    }

    /// gpgv's verdict from its status lines: a good and valid signature and no bad one, else an error naming why.
    static func checkStatus(_ succeeded: Bool, _ output: String, source: String) throws {
        let lines = output.textLines()
        let good =
            lines.contains { $0.hasPrefix("[GNUPG:] GOODSIG") } && lines.contains { $0.hasPrefix("[GNUPG:] VALIDSIG") }
        let bad = lines.first { l in
            ["BADSIG", "EXPKEYSIG", "REVKEYSIG", "ERRSIG", "NO_PUBKEY", "EXPSIG"].contains {
                l.hasPrefix("[GNUPG:] " + $0)
            }
        }
        guard succeeded, good, bad == nil else {
            let why = bad.map { String($0.dropFirst("[GNUPG:] ".count).prefix(60)) } ?? "no good signature"
            throw HardenError(.corrupt, "\(source): signature check failed (\(why))")
        }
    }

    /// Binary OpenPGP packets from an ASCII-armoured block (or the bytes as they are when not armoured).
    static func dearmor(_ bytes: [UInt8], source: String) throws -> [UInt8] {
        let text = String(decoding: bytes.prefix(64), as: UTF8.self)
        guard text.contains("-----BEGIN PGP") else { return bytes }
        var body = ""
        var inBody = false
        var headersDone = false
        for raw in String(decoding: bytes, as: UTF8.self).textLines(omittingEmpty: false) {
            let line = raw.trimming("\r ")
            if line.hasPrefix("-----BEGIN PGP") {
                inBody = true
                headersDone = false
                continue
            }
            if line.hasPrefix("-----END PGP") { break }
            guard inBody else { continue }
            if !headersDone {
                if line.isEmpty {
                    headersDone = true
                } else if !line.contains(":") {
                    headersDone = true
                    body += line
                }
                continue
            }
            if line.hasPrefix("=") { continue }  // CRC24
            body += line
        }
        guard let data = Data(base64Encoded: body) else {
            throw HardenError(.corrupt, "\(source): a keyring's armour is not base64")
        }
        return Array(data)
    }
}

/// What a repository answered, verified.
public struct FetchedRepository: Sendable {
    public var source: AptSource
    public var release: ReleaseFile
    public var indexes: [PackageIndex]
    /// The InRelease URL (named in messages and the report).
    public var url: String
}

public final class AptClient: Sendable {
    let http: HTTPClient
    let cacheDirectory: String
    let now: @Sendable () -> Date
    /// Credentials for package indexes, each bound to its host (`--library-creds-file`); with them, redirects are
    /// followed here, so a redirect to another origin never carries them.
    let credentials: IndexCredentials?
    let direct: HTTPClient?

    public init(
        cacheDirectory: String = AptClient.defaultCacheDirectory(), credentials: IndexCredentials? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        var config = HTTPClient.Configuration()
        config.timeout = HTTPClient.Configuration.Timeout(connect: .seconds(30), read: .seconds(60))
        config.redirectConfiguration = .follow(max: 5, allowCycles: false)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        if credentials != nil {
            config.redirectConfiguration = .disallow
            direct = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        } else {
            direct = nil
        }
        self.credentials = credentials
        self.cacheDirectory = cacheDirectory
        self.now = now
    }

    public func shutdown() async {
        try? await http.shutdown()
        try? await direct?.shutdown()
    }

    /// Runs `body` with a client over `cacheDirectory`, shut down afterwards whether `body` throws or not.
    public static func using<T>(
        cacheDirectory: String, credentials: IndexCredentials? = nil, _ body: (AptClient) async throws -> T
    ) async throws -> T {
        let client = AptClient(cacheDirectory: cacheDirectory, credentials: credentials)
        do {
            let result = try await body(client)
            await client.shutdown()
            return result
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// `$HARDEN_CACHE_DIR/apt`, else `$XDG_CACHE_HOME/harden/apt`, else ~/.cache/harden/apt.
    public static func defaultCacheDirectory() -> String {
        let env = ProcessInfo.processInfo.environment
        if let d = env["HARDEN_CACHE_DIR"], !d.isEmpty { return d + "/apt" }
        if let x = env["XDG_CACHE_HOME"], !x.isEmpty { return x + "/harden/apt" }
        return (env["HOME"] ?? "/tmp") + "/.cache/harden/apt"
    }

    /// GETs `url` whole (at most `limit` bytes). With index credentials, each hop of a redirect gets the
    /// credentials of its own origin, if any.
    func get(_ url: String, limit: Int, headers: [(String, String)] = []) async throws -> [UInt8] {
        guard let credentials, let direct else {
            guard case .body(let b) = try await fetch(url, limit: limit, headers: headers, client: http) else {
                throw HardenError(.io, "\(url): too many redirects")
            }
            return b
        }
        var current = url
        for _ in 0...5 {
            var h = headers
            if let auth = try credentials.authorization(for: current) { h.append(("Authorization", auth)) }
            switch try await fetch(current, limit: limit, headers: h, client: direct) {
            case .body(let b): return b
            case .redirect(let next): current = PythonIndex.resolve(next, against: current)
            }
        }
        throw HardenError(.io, "\(url): more than 5 redirects")
    }

    enum Fetched {
        case body([UInt8])
        case redirect(String)
    }

    func fetch(_ url: String, limit: Int, headers: [(String, String)], client: HTTPClient) async throws -> Fetched {
        try await HTTPRetry.run(url) { attempt in
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "User-Agent", value: "harden/\(hardenToolVersion)")
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            let response = try await client.execute(request, timeout: .seconds(600))
            if (response.status == .tooManyRequests || response.status.code >= 500) && attempt < 4 {
                throw HTTPRetry.Again()
            }
            if [301, 302, 303, 307, 308].contains(response.status.code),
                let location = response.headers.first(name: "Location")
            {
                return .redirect(location)
            }
            guard response.status == .ok else {
                throw HardenError(
                    response.status == .notFound ? .notFound : .io, "\(url): HTTP \(response.status.code)")
            }
            var out: [UInt8] = []
            for try await chunk in response.body {
                out += chunk.readableBytesView
                if out.count > limit { throw HardenError(.limitExceeded, "\(url): more than \(limit) bytes") }
            }
            return .body(out)
        }
    }

    /// A file named by its SHA256: from the cache when there, else downloaded, checked (size and hash) and cached.
    public func fetchVerified(_ url: String, sha256: String, size: Int64) async throws -> String {
        let path = cacheDirectory + "/by-hash/" + sha256
        if HostFS.isRegularFile(path), (try? HostFS.fileSize(path)) == size { return path }
        let bytes = try await get(url, limit: Int(min(size, 4 << 30)) + 1)
        guard Int64(bytes.count) == size else {
            throw HardenError(.corrupt, "\(url): \(bytes.count) bytes, the signed index says \(size)")
        }
        let got = Digest.sha256(of: bytes).encoded
        guard got == sha256 else {
            throw HardenError(.corrupt, "\(url): SHA256 \(got), the signed index says \(sha256)")
        }
        try HostFS.makeDirectories(cacheDirectory + "/by-hash")
        try HostFS.writeFileAtomically(path, bytes)
        return path
    }

    /// Fetches and verifies one suite: InRelease (signature, Valid-Until), then the Packages index of each component.
    public func fetch(
        _ source: AptSource, index: Int, keyrings: [[UInt8]], architecture: String
    ) async throws -> FetchedRepository {
        let base = "\(source.uri)/dists/\(source.suite)"
        let url = base + "/InRelease"
        let signed = try await SignatureCheck.verifyClearsigned(
            try await get(url, limit: 64 << 20), keyrings: keyrings, source: url)
        let release = try ReleaseFile.parse(signed, source: url)
        if let until = release.validUntil, until < now() {
            throw HardenError(
                .corrupt, "\(url): expired: Valid-Until \(release.stanza["Valid-Until"] ?? "") is in the past")
        }
        var indexes: [PackageIndex] = []
        for component in source.components {
            let dir = "\(component)/binary-\(architecture)"
            guard
                let (name, entry) = ["Packages.xz", "Packages.gz", "Packages"].lazy.compactMap({ n in
                    release.sha256[dir + "/" + n].map { (n, $0) }
                }).first
            else { throw HardenError(.notFound, "\(url): lists no \(dir)/Packages index") }
            let fileURL =
                release.acquireByHash ? "\(base)/\(dir)/by-hash/SHA256/\(entry.hash)" : "\(base)/\(dir)/\(name)"
            let path = try await fetchVerified(fileURL, sha256: entry.hash, size: entry.size)
            let reader = try FileReader(path: path)
            let plain: any ByteReader
            if name.hasSuffix(".xz") {
                plain = XzReader(reader, name: fileURL)
            } else if name.hasSuffix(".gz") {
                plain = GzipReader(reader, name: fileURL)
            } else {
                plain = reader
            }
            let bytes = try plain.readAll(limit: 1 << 30, name: fileURL)
            indexes.append(
                try PackageIndex(bytes, source: fileURL, architectures: [architecture, "all"], repository: index))
        }
        return FetchedRepository(source: source, release: release, indexes: indexes, url: url)
    }
}

// harden — libFuzzer entry point for the parsers that read untrusted bytes: the tar reader, the manifest, index,
// config and docker-archive manifest decoders, zip and Java archives, policy YAML, a registry's answers, APT's and apk's
// formats.
// Built only by scripts/fuzz.sh with
// `-sanitize=fuzzer`; main.swift hands control to libFuzzer's driver.
import HardenApk
import HardenArchive
import HardenCore
import HardenDpkg
import HardenOCI
import HardenPackages
import HardenPolicy
import HardenProfile
import HardenRegistryAuth
import HardenRpm
import HardenSBOM
import HardenSign

/// A fixed key for verification attempts on fuzzed envelopes.
let fuzzKey = SigningKey.generateP256().publicKey

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // Tar: walk every entry and read every body; errors are fine, crashes and hangs are not.
    let tar = TarReader(MemoryReader(bytes), name: "fuzz.tar")
    var entries = 0
    while entries < 10_000, let entry = try? tar.next() {
        entries += 1
        _ = entry.path.normalized
        _ = try? tar.readWholeBody(limit: 1 << 20)
    }
    // A squash of the entries exercises whiteouts, hardlinks and symlinked parents.
    let tree = FileTree()
    tree.begin(layer: 0)
    let again = TarReader(MemoryReader(bytes), name: "fuzz.tar")
    var n = 0
    while n < 10_000, let e = try? again.next() {
        n += 1
        try? tree.add(e, body: again)
    }
    // JSON documents of an image.
    _ = try? Manifest.parse(bytes, source: "fuzz")
    _ = try? Index.parse(bytes, source: "fuzz")
    _ = try? ImageConfiguration.parse(bytes, source: "fuzz")
    _ = try? DockerArchiveManifestEntry.parseList(bytes, source: "fuzz")
    // SBOM parsers: stanzas, Go build information, rpm headers, zip archives.
    let text = String(decoding: bytes, as: UTF8.self)
    _ = Deb822.parse(bytes) { _, _ in }
    // APT: deb822 stanzas, sources, Release files, Packages indexes, relations, ar archives (.deb).
    _ = try? Deb822.parse(bytes, source: "fuzz")
    // Captured output of an instrumented container (sensor fragments between marker lines).
    _ = try? SensorFragments.parse(bytes, source: "fuzz")
    _ = try? AptSources.parseDeb822(bytes, file: "fuzz")
    _ = AptSources.parseOneLine(bytes, file: "fuzz")
    _ = try? ReleaseFile.parse(bytes, source: "fuzz")
    if let index = try? PackageIndex(bytes, source: "fuzz", architectures: ["amd64", "all"], repository: 0) {
        for name in index.names.prefix(100) { _ = try? index.packages(named: name) }
    }
    _ = Relation.parseList(text)
    // apk: records (APKINDEX, installed), .apk v2 packages and signed indexes, repositories, world, dependencies.
    _ = try? ApkRecord.parse(bytes, source: "fuzz")
    if let apk = try? ApkPackageFile.read(bytes, name: "fuzz.apk") {
        try? apk.verify(keys: [:], indexChecksum: nil)
        let data = apk.dataEntries()
        var k = 0
        while k < 1000, (try? data.next()) != nil { k += 1 }
    }
    _ = try? ApkIndexFile.read(bytes, keys: [:], url: "fuzz")
    _ = ApkConfiguration.repositories(bytes)
    _ = ApkConfiguration.world(bytes).map { $0.accepts("1.0-r0") }
    _ = try? ApkDatabaseWriter.installed(bytes, replacing: [:], adding: [])
    let ar = ArReader(MemoryReader(bytes), name: "fuzz.ar")
    var members = 0
    while members < 1000, (try? ar.next()) != nil {
        members += 1
        _ = try? ar.body().readAll(limit: 1 << 20, name: "fuzz.ar")
    }
    _ = GoBinaryCataloger.parse(bytes)
    _ = RpmCataloger.parseHeader(bytes)
    // rpm repositories: XML events, repomd.xml, primary.xml, .repo files.
    try? XMLReader.read(bytes, source: "fuzz") { _ in }
    _ = try? RepoMD.parse(bytes, source: "fuzz")
    _ = try? RpmRepoPackage.primary(bytes, source: "fuzz")
    _ = YumRepositories.parse(bytes, file: "fuzz", variables: ["releasever": "9", "basearch": "x86_64"])
    _ = try? RpmBerkeleyDB.values(bytes)
    // .rpm packages (lead, headers, digests, payload, cpio, the header's files and dependencies) and rich dependencies.
    if let rpm = try? RpmPackageFile.read(bytes, name: "fuzz.rpm") {
        try? rpm.verifyDigests()
        let files = rpm.header.files
        _ = (rpm.header.provides, rpm.header.requires, rpm.header.obsoletes, rpm.header.conflicts)
        if let archive = try? rpm.archive(limit: 1 << 22) {
            _ = try? Cpio.members(archive, source: "fuzz") { i in i < files.count ? Int(files[i].size) : nil }
        }
        _ = rpm.installedHeader(time: 1, color: 3, fileStates: files.map { _ in 0 })
    }
    _ = try? Cpio.members(bytes, source: "fuzz") { _ in 16 }
    if let (h, _) = try? RpmHeader.parse(bytes, source: "fuzz") { _ = (h.blob, RpmDatabaseWriter.indexRows(h)) }
    _ = try? RichDependency.parse(text)
    _ = try? RpmModuleMetadata.parse(bytes, source: "fuzz")
    _ = RpmModuleMetadata.states([bytes])
    _ = try? RpmNDB.values(bytes)
    _ = PomXML.parse(bytes)
    _ = try? SBOMDocument.parse(bytes, path: "fuzz")
    _ = PURL.parse(text)
    _ = BinaryEvidence.capture(bytes)
    _ = RustAuditCataloger.auditSection(bytes)
    _ = JavaArchiveCataloger.parseManifest(text)
    if let zip = try? ZipArchive(bytes) {
        let budget = InflationBudget(limit: 64 << 20)
        for e in zip.entries.prefix(16) { _ = try? zip.read(e, budget: budget) }
    }
    // Java archives, nested archives included, under an inflation budget.
    _ = try? JavaArchiveCataloger.packages(
        in: bytes, name: "fuzz.jar", location: "/fuzz.jar", layer: nil, depth: 0,
        budget: InflationBudget(limit: 64 << 20))
    // Policy YAML (the alias bound runs before the YAML parser).
    _ = try? Policy.parse(text, source: "fuzz.yaml")
    // A registry's answers: challenges, upload Locations, Content-Range, realms.
    let params = RegistryHeaders.parseChallenge(text)
    let scope = AuthScope(
        registryHost: "registry.example:5000", plainHTTPAllowed: bytes.first.map { $0 & 1 == 1 } ?? false)
    if let realm = params["realm"] { _ = scope.maySendCredentials(toRealm: realm) }
    if let location = AuthScope.resolveLocation(text, base: "https://registry.example:5000/v2/x/blobs/uploads/") {
        _ = scope.mayAuthorize(location)
    }
    if let realm = params["realm"] { _ = scope.mayAskRealm(realm) }
    _ = scope.mayFollowRedirect(to: text)
    _ = URLOrigin.parse(text)
    _ = RegistryHeaders.contentRangeStart(text)
    // What a fleet job or a Compose file sends: references, credentials files; and the HTML escaper must leave no '<'.
    _ = ReferenceGrammar.problem(text)
    _ = try? ImageReference.parseUntrusted(text)
    _ = try? RegistryCredentials.parse(bytes, source: "fuzz")
    if text.htmlEscaped.utf8.contains(UInt8(ascii: "<")) { fatalError("htmlEscaped left a '<'") }
    _ = OSInfo.parseOSRelease(text)
    // Signatures and attestations found beside an image: PEM keys, DSSE envelopes, in-toto Statements, sigstore
    // bundles, simple-signing payloads (key decryption is not fuzzed: its scrypt cost is bounded, not cheap).
    _ = try? PEMBlock.parse(text, source: "fuzz")
    _ = try? VerificationKey.load(pem: text, source: "fuzz")
    if let envelope = try? DSSEEnvelope.parse(bytes, source: "fuzz") {
        _ = envelope.verifiedPayload(key: fuzzKey)
    }
    _ = (try? InTotoStatement.parse(bytes, source: "fuzz"))?.covers(Digest.sha256(of: bytes))
    _ = try? SigstoreBundle.parse(bytes, source: "fuzz")
    _ = CosignFormat.signedDigest(of: bytes)
    _ = try? PredicateType(parsing: text)
    // Compressed streams.
    _ = try? Compression.gzip.decompressing(
        MemoryReader(bytes), name: "fuzz",
        limits: DecompressionLimits(maxBytes: 64 << 20, maxRatio: 1000, ratioGrace: 8 << 20)
    ).drain()
    _ = try? Compression.zstd.decompressing(
        MemoryReader(bytes), name: "fuzz",
        limits: DecompressionLimits(maxBytes: 64 << 20, maxRatio: 1000, ratioGrace: 8 << 20)
    ).drain()
    return 0
}

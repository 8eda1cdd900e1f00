// harden — apk's pieces as pure functions: dependencies and world constraints, repositories with tags, protected
// paths, the resolver's choices, the installed record and database files it writes.
import HardenApk
import HardenArchive
import HardenCore
import HardenTestSupport
import Testing

struct ApkUnitTests {
    @Test func dependenciesParseOperatorsTagsConflictsAndProvides() throws {
        let d = try #require(ApkDependency("libssl3>=3.1.4-r1"))
        #expect(d.name == "libssl3" && d.op == .greaterOrEqual && d.version == "3.1.4-r1")
        #expect(d.accepts("3.1.4-r2") && d.accepts("3.1.4-r1") && !d.accepts("3.1.4-r0") && !d.accepts(nil))
        let tagged = try #require(ApkDependency("other@edge"))
        #expect(tagged.name == "other" && tagged.tag == "edge" && tagged.op == nil)
        let pinned = try #require(ApkDependency("busybox@edge=1.36.1-r2"))
        #expect(pinned.tag == "edge" && pinned.op == .equal && pinned.version == "1.36.1-r2")
        let conflict = try #require(ApkDependency("!openssl1.1-compat"))
        #expect(conflict.conflict && conflict.name == "openssl1.1-compat")
        let so = try #require(ApkDependency("so:libc.musl-x86_64.so.1"))
        #expect(so.name == "so:libc.musl-x86_64.so.1" && so.op == nil && so.accepts(nil))
        let fuzzy = try #require(ApkDependency("python3~3.11"))
        #expect(fuzzy.op == .fuzzyEqual && fuzzy.accepts("3.11.6-r0") && !fuzzy.accepts("3.12.0-r0"))
        #expect(ApkDependency("") == nil && ApkDependency(">=1") == nil)
    }

    @Test func repositoriesKeepTagsSkipCommentsAndTakeAMirror() {
        let text =
            "https://dl-cdn.alpinelinux.org/alpine/v3.19/main/\n# x\n\n@edge https://dl-cdn.alpinelinux.org/alpine/edge/testing\n"
        let repos = ApkConfiguration.repositories(Array(text.utf8))
        #expect(
            repos == [
                ApkRepository(url: "https://dl-cdn.alpinelinux.org/alpine/v3.19/main"),
                ApkRepository(url: "https://dl-cdn.alpinelinux.org/alpine/edge/testing", tag: "edge"),
            ])
        #expect(
            repos[0].indexURL(arch: "x86_64")
                == "https://dl-cdn.alpinelinux.org/alpine/v3.19/main/x86_64/APKINDEX.tar.gz")
        let mirrored = ApkConfiguration.repositories(Array(text.utf8), mirror: "http://mirror.local:8080/")
        #expect(mirrored[0].url == "http://mirror.local:8080/alpine/v3.19/main")
    }

    @Test func protectedPathsFollowApkRules() {
        #expect(ApkConfiguration.isProtected("etc/hello.conf", rules: []))
        #expect(!ApkConfiguration.isProtected("etc/apk/world", rules: []))
        #expect(!ApkConfiguration.isProtected("usr/bin/hello", rules: []))
        #expect(!ApkConfiguration.isProtected("etc/ssl/cert.pem", rules: ["-etc/ssl"]))
        #expect(ApkConfiguration.isProtected("opt/app/app.conf", rules: ["+opt/app"]))
        #expect(ApkConfiguration.architecture(ociArchitecture: "arm64", variant: nil) == "aarch64")
        #expect(ApkConfiguration.architecture(ociArchitecture: "arm", variant: "v6") == "armhf")
    }

    static func record(_ text: String) -> ApkRecord {
        ApkRecord(lines: text.split(separator: "\n").map { ApkRecord.Line($0.first!, String($0.dropFirst(2))) })
    }

    @Test func theResolverMeetsDependenciesThroughProvidesAndRespectsTagsAndPins() throws {
        let installed = [
            Self.record("P:app\nV:1.0-r0\nD:so:libfoo.so.1"), Self.record("P:libfoo\nV:1.0-r0\np:so:libfoo.so.1=1"),
            Self.record("P:pinned\nV:1.0-r0"),
        ]
        let main = ApkIndex(
            repository: ApkRepository(url: "http://x/main"),
            records: [
                Self.record("P:app\nV:1.1-r0\nD:so:libfoo.so.1 so:libbar.so.2 libfoo>=1.1"),
                Self.record("P:libfoo\nV:1.1-r0\np:so:libfoo.so.1=1"),
                Self.record("P:libbar-a\nV:2.0-r0\np:so:libbar.so.2=2\nk:10"),
                Self.record("P:libbar-b\nV:2.0-r0\np:so:libbar.so.2=2\nk:20"),
                Self.record("P:pinned\nV:1.1-r0"),
                Self.record("P:app-doc\nV:1.1-r0\ni:app=1.1-r0"),
            ], description: nil)
        let edge = ApkIndex(
            repository: ApkRepository(url: "http://x/edge", tag: "edge"),
            records: [Self.record("P:app\nV:9.0-r0")], description: nil)
        let world = ["app", "pinned=1.0-r0"].compactMap(ApkDependency.init)
        let resolver = ApkResolver(installed: installed, world: world, indexes: [main, edge])
        #expect(resolver.upgradable() == ["app", "libfoo"])
        let plan = try resolver.plan(["app": "test"])
        #expect(plan.keys.sorted() == ["app", "app-doc", "libbar-b", "libfoo"])
        #expect(plan["app"]?.record.version == "1.1-r0" && plan["libbar-b"]?.installed == nil)
        #expect(plan["app-doc"]?.reasons.first?.hasPrefix("install_if") == true)

        let conflicting = ApkIndex(
            repository: ApkRepository(url: "http://x/main"),
            records: [Self.record("P:app\nV:1.2-r0\nD:!pinned")], description: nil)
        let refusing = ApkResolver(installed: installed, world: world, indexes: [conflicting])
        #expect(throws: HardenError.self) { try refusing.plan(["app": "test"]) }
        let missing = ApkIndex(
            repository: ApkRepository(url: "http://x/main"),
            records: [Self.record("P:app\nV:1.2-r0\nD:so:libgone.so.9")], description: nil)
        #expect(throws: HardenError.self) {
            try ApkResolver(installed: installed, world: world, indexes: [missing]).plan(["app": "test"])
        }
    }

    @Test func theInstalledRecordListsDirectoriesFilesOwnersAndChecksums() {
        let index = Self.record("C:Q1abc=\nP:app\nV:1.1-r0")
        let record = ApkDatabaseWriter.installedRecord(
            index: index,
            files: [
                .init(kind: .directory, path: "usr", uid: 0, gid: 0, mode: 0o755, checksum: nil),
                .init(kind: .directory, path: "usr/bin", uid: 0, gid: 0, mode: 0o755, checksum: nil),
                .init(kind: .file, path: "usr/bin/app", uid: 0, gid: 0, mode: 0o755, checksum: "Q1x="),
                .init(kind: .directory, path: "var/lib/app", uid: 100, gid: 101, mode: 0o750, checksum: nil),
                .init(kind: .file, path: "var/lib/app/state", uid: 100, gid: 101, mode: 0o640, checksum: "Q1y="),
            ])
        #expect(
            record.text
                == "C:Q1abc=\nP:app\nV:1.1-r0\nF:usr\nF:usr/bin\nR:app\na:0:0:755\nZ:Q1x=\nF:var\nF:var/lib\n"
                + "F:var/lib/app\nM:100:101:750\nR:state\na:100:101:640\nZ:Q1y=")
        let files = ApkDatabaseWriter.files(of: record)
        #expect(
            files.map(\.path) == ["/usr/bin/app", "/var/lib/app/state"] && files.map(\.checksum) == ["Q1x=", "Q1y="])
        let db = Array("C:Q1old=\nP:app\nV:1.0-r0\n\nP:keep\nV:2\n\n".utf8)
        let out = try? ApkDatabaseWriter.installed(db, replacing: ["app": index], adding: [Self.record("P:new\nV:1")])
        #expect(
            out.map { String(decoding: $0, as: UTF8.self) }
                == "C:Q1abc=\nP:app\nV:1.1-r0\n\nP:keep\nV:2\n\nP:new\nV:1\n\n")
        let triggers = ApkDatabaseWriter.triggers(
            Array("Q1old= /usr/share/a\nQ1other= /b\n".utf8), removing: ["Q1old="],
            adding: [("Q1new=", ["/usr/share/a"])])
        #expect(String(decoding: triggers, as: UTF8.self) == "Q1other= /b\nQ1new= /usr/share/a\n")
    }

    @Test func gzipMembersAreSplitAtTheirBoundaries() throws {
        let a = try Fixtures.compress(Array("first".utf8), .gzip)
        let b = try Fixtures.compress(Array("second".utf8), .gzip)
        let both = a + b
        let first = try Inflate.gzipMember(both, at: 0, limit: 100, what: "t")
        #expect(first.output == Array("first".utf8) && first.end == a.count)
        let second = try Inflate.gzipMember(both, at: first.end, limit: 100, what: "t")
        #expect(second.output == Array("second".utf8) && second.end == both.count)
        #expect(throws: HardenError.self) { try Inflate.gzipMember(both, at: both.count, limit: 100, what: "t") }
        #expect(throws: HardenError.self) {
            try Inflate.gzipMember(Array(both.prefix(a.count - 3)), at: 0, limit: 100, what: "t")
        }
    }

    @Test func aPackageAndAnIndexSignedByOpensslVerifyAndTamperingIsNamed() throws {
        try withTemporaryDirectory { dir in
            let (key, pub) = try ApkFixture.makeKey(dir)
            let keys = ["k.rsa.pub": pub]
            let p = ApkFixture.Package(name: "hello", version: "1.0-r0", files: ["usr/bin/hello": "hi"])
            let apk = try ApkFixture.apk(p, key: key, keyName: "k.rsa.pub")
            let file = try ApkPackageFile.read(apk, name: "hello.apk")
            let identity = try ApkFixture.checksum(ofApk: apk)
            #expect(file.value("pkgname") == "hello" && file.identity == identity)
            try file.verify(keys: keys, indexChecksum: file.identity)
            #expect(throws: HardenError.self) { try file.verify(keys: keys, indexChecksum: "Q1wrong=") }
            #expect(throws: HardenError.self) { try file.verify(keys: ["other.rsa.pub": pub], indexChecksum: nil) }
            let bad = try ApkPackageFile.read(
                try ApkFixture.apk(p, key: key, keyName: "k.rsa.pub", tamper: .dataHash), name: "bad.apk")
            #expect(throws: HardenError.self) { try bad.verify(keys: keys, indexChecksum: nil) }
            let index = try ApkFixture.index([try ApkFixture.indexRecord(p, apk: apk)], key: key, keyName: "k.rsa.pub")
            let read = try ApkIndexFile.read(index, keys: keys, url: "APKINDEX.tar.gz")
            #expect(read.records.map(\.name) == ["hello"] && read.description == "harden-test")
            var flipped = index
            flipped[flipped.count - 10] ^= 1
            #expect(throws: HardenError.self) { try ApkIndexFile.read(flipped, keys: keys, url: "APKINDEX.tar.gz") }
            #expect(throws: HardenError.self) { try ApkPackageFile.read(Array("not gzip".utf8), name: "x.apk") }
        }
    }
}

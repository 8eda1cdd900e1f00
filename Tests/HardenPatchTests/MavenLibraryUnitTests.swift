import Foundation
import HardenArchive
import HardenCore
import HardenPackages
import HardenPatch
import HardenSystem
import HardenTestSupport
import Testing

@Suite struct MavenLibraryUnitTests {
    /// An archive `zip` streams (data descriptors, deflated entries) behind a launch script, as Spring Boot's
    /// executable jars are: one entry replaced, everything else byte-identical, and zip's own checker agrees.
    @Test func rewritingKeepsEveryOtherEntryAndALaunchScript() throws {
        try #require(haveProgram("zip") && haveProgram("unzip"), "zip and unzip (scripts/setup.sh)")
        try withTemporaryDirectory { dir in
            try HostFS.makeDirectories(dir + "/in/BOOT-INF/lib")
            try HostFS.writeFileAtomically(dir + "/in/a.txt", Array(String(repeating: "hello ", count: 500).utf8))
            try HostFS.writeFileAtomically(dir + "/in/BOOT-INF/lib/x-1.0.jar", Array("old jar".utf8))
            let (z, zo) = try runProcess([
                "sh", "-c",
                "cd '\(dir)/in' && zip -q -r - a.txt BOOT-INF | cat > ../s.zip && printf '#!/bin/sh\\nexit 0\\n' > ../exec.jar && cat ../s.zip >> ../exec.jar && zip -q -A ../exec.jar",
            ])
            try #require(z == 0, "\(zo)")
            let original = try HostFS.readFile(dir + "/exec.jar")
            let zip = try ZipArchive(original)
            let new = Array(String(repeating: "new jar ", count: 100).utf8)
            let out = try zip.rewrite(
                replacing: ["BOOT-INF/lib/x-1.0.jar": new],
                renaming: ["BOOT-INF/lib/x-1.0.jar": "BOOT-INF/lib/x-1.1.jar"],
                what: "exec.jar")
            #expect(out.starts(with: Array("#!/bin/sh\nexit 0\n".utf8)))
            try HostFS.writeFileAtomically(dir + "/out.jar", out)
            let (t, to) = try runProcess(["unzip", "-t", dir + "/out.jar"])
            #expect(t == 0 && to.contains("No errors"), "\(to)")
            let back = try ZipArchive(out)
            #expect(
                back.entries.map(\.name)
                    == zip.entries.map { $0.name == "BOOT-INF/lib/x-1.0.jar" ? "BOOT-INF/lib/x-1.1.jar" : $0.name })
            for (e, old) in Swift.zip(back.entries, zip.entries) {
                let after = try back.read(e)
                #expect(after == (e.name == "BOOT-INF/lib/x-1.1.jar" ? new : try zip.read(old)), "\(e.name)")
            }
            #expect(throws: HardenError.self) {
                try zip.rewrite(replacing: [:], renaming: ["a.txt": "BOOT-INF/lib/x-1.0.jar"], what: "exec.jar")
            }
            #expect(back.entries.first { $0.name.hasSuffix(".jar") }?.method == 0)
            #expect(throws: HardenError.self) { try zip.rewrite(replacing: ["nope": []], what: "exec.jar") }
        }
    }

    @Test func metadataPomAndCoordinates() throws {
        let metadata = Array(
            """
            <?xml version="1.0"?><metadata><groupId>g</groupId><artifactId>a</artifactId><versioning>
            <latest>2.0</latest><versions><version>1.0</version><version> 1.1 </version><version>../x</version>
            <version>2.0</version></versions></versioning></metadata>
            """.utf8)
        #expect(try MavenRepository.parseMetadata(metadata, source: "m") == ["1.0", "1.1", "2.0"])
        #expect(throws: HardenError.self) { try MavenRepository.parseMetadata(Array("<metadata>".utf8), source: "m") }
        let pom = Array(
            """
            <project xmlns="http://maven.apache.org/POM/4.0.0"><groupId>org.x</groupId>
            <dependencyManagement><dependencies><dependency><groupId>m</groupId><artifactId>managed</artifactId>
            </dependency></dependencies></dependencyManagement>
            <dependencies>
              <dependency><groupId>${project.groupId}</groupId><artifactId>core</artifactId></dependency>
              <dependency><groupId>junit</groupId><artifactId>junit</artifactId><scope>test</scope></dependency>
              <dependency><groupId>o</groupId><artifactId>opt</artifactId><optional>true</optional></dependency>
              <dependency><groupId>${other}</groupId><artifactId>unresolved</artifactId></dependency>
              <dependency><groupId>r</groupId><artifactId>rt</artifactId><scope>runtime</scope></dependency>
            </dependencies></project>
            """.utf8)
        let deps = try MavenRepository.parseDependencies(
            pom, project: MavenCoordinates(group: "org.x", artifact: "p"), source: "p")
        #expect(deps.filter(\.isRuntime).map(\.coordinates.description) == ["org.x:core", "r:rt"])
        #expect(deps.map(\.coordinates.artifact) == ["core", "junit", "opt", "rt"])
        #expect(
            MavenCoordinates(purl: "pkg:maven/org.apache.commons/commons-text@1.9")?.description
                == "org.apache.commons:commons-text")
        #expect(MavenCoordinates(purl: "pkg:npm/x@1") == nil)
        #expect(MavenCoordinates(group: "org.x", artifact: "a-b_c").isValid)
        #expect(!MavenCoordinates(group: "../etc", artifact: "a").isValid)
        #expect(!MavenCoordinates(group: "org.x", artifact: "a/b").isValid)
    }

    @Test func releaseLinesAndLevels() {
        #expect(MavenVersion.isPreRelease("2.0.0-M1") && MavenVersion.isPreRelease("1.0-rc2"))
        #expect(MavenVersion.isPreRelease("3.1-SNAPSHOT") && MavenVersion.isPreRelease("1.0.CR1"))
        #expect(!MavenVersion.isPreRelease("31.1-jre") && !MavenVersion.isPreRelease("4.1.94.Final"))
        #expect(MavenVersion.flavour("31.1-jre") == "jre" && MavenVersion.flavour("32.0.1-android") == "android")
        #expect(MavenVersion.flavour("4.1.94.Final") == "" && MavenVersion.flavour("2.15.0") == "")
        #expect(MavenVersion.numbers("4.1.94.Final") == [4, 1, 94])
        #expect(MavenVersion().compare("4.1.100.Final", "4.1.94.Final") > 0)
    }
}

@Suite struct IndexCredentialsTests {
    @Test func credentialsGoOnlyToTheirOwnEndpointOverHTTPS() throws {
        let c = try IndexCredentials(
            parsing: Array(
                """
                # private indexes
                pypi.corp.example ci:s3cret
                npm.corp.example:8443 Bearer tok3n
                127.0.0.1:8081 local:pw
                plain.corp.example u:p
                """.utf8), source: "creds")
        let basic = "Basic " + Data("ci:s3cret".utf8).base64EncodedString()
        #expect(try c.authorization(for: "https://pypi.corp.example/simple/requests/") == basic)
        #expect(try c.authorization(for: "https://pypi.corp.example:443/simple/") == basic)
        #expect(try c.authorization(for: "https://pypi.corp.example:8443/simple/") == nil)
        #expect(try c.authorization(for: "https://files.pypi.corp.example/x.whl") == nil)
        #expect(try c.authorization(for: "https://evil@pypi.corp.example/") == nil)
        #expect(try c.authorization(for: "https://npm.corp.example:8443/lodash") == "Bearer tok3n")
        #expect(try c.authorization(for: "https://npm.corp.example/lodash") == nil)
        #expect(try c.authorization(for: "http://127.0.0.1:8081/repo") != nil)
        #expect(throws: HardenError.self) { try c.authorization(for: "http://plain.corp.example/simple/") }
        for bad in ["host", "host user", "https://host/ u:p", "host Bearer", ":p"] {
            #expect(throws: HardenError.self, "\(bad)") { try IndexCredentials(parsing: Array(bad.utf8), source: "f") }
        }
    }
}

// harden — SBOMs written by other tools read back for matching: purls, distro qualifiers, source packages, CPEs,
// and a one-line error for a file that lacks what matching needs.
import Foundation
import HardenCore
import HardenPackages
import HardenSBOM
import HardenTestSupport
import Testing

@Suite struct SBOMDocumentTests {
    @Test func purlsParseAndRoundTrip() throws {
        let p = try #require(
            PURL.parse(
                "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl%403.0.11-1~deb12u2"
            ))
        #expect(p.type == "deb" && p.namespace == "debian" && p.name == "libssl3" && p.version == "3.0.11-1~deb12u2")
        #expect(p.qualifier("upstream") == "openssl@3.0.11-1~deb12u2" && p.qualifier("distro") == "debian-12")
        let scoped = try #require(PURL.parse("pkg:npm/%40babel/core@7.23.0"))
        #expect(scoped.namespace == "@babel" && scoped.name == "core")
        let go = try #require(PURL.parse("pkg:golang/github.com/pkg/errors@v0.9.1#sub/path"))
        #expect(go.namespace == "github.com/pkg" && go.name == "errors" && go.version == "v0.9.1")
        for text in [
            "pkg:maven/org.apache.commons/commons-text@1.10.0", "pkg:pypi/flask@3.0.0", "pkg:generic/openssl@1.1.1w",
        ] {
            #expect(PURL.parse(text)?.description == text)
        }
        for bad in ["", "pkg:", "pkg:deb", "npm/x@1", "pkg:deb/%zz@1", "pkg:d^b/x@1"] {
            #expect(PURL.parse(bad) == nil, "\(bad)")
        }
    }

    static let cyclonedx = """
        {"bomFormat": "CycloneDX", "specVersion": "1.5", "metadata": {"component": {"type": "container", "name": "app", "version": "sha256:abc"}},
         "components": [
          {"type": "operating-system", "name": "debian", "version": "12"},
          {"type": "library", "name": "libc6", "version": "2.36-9+deb12u4", "purl": "pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&upstream=glibc&distro=debian-12"},
          {"type": "library", "name": "zlib1g", "version": "1:1.2.13.dfsg-1", "purl": "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&upstream=zlib&distro=debian-12"},
          {"type": "library", "name": "requests", "version": "2.19.0", "purl": "pkg:pypi/requests@2.19.0", "licenses": [{"license": {"id": "Apache-2.0"}}]},
          {"type": "library", "name": "jackson-core", "version": "2.15.2", "purl": "pkg:maven/com.fasterxml.jackson.core/jackson-core@2.15.2",
           "components": [{"type": "library", "name": "nested", "version": "1.0", "purl": "pkg:npm/nested@1.0"}]},
          {"type": "application", "name": "nginx", "version": "1.25.3", "cpe": "cpe:2.3:a:f5:nginx:1.25.3:*:*:*:*:*:*:*", "purl": "pkg:generic/nginx@1.25.3"},
          {"type": "library", "name": "thing", "version": "1", "purl": "pkg:github/acme/thing@1"},
          {"type": "library", "name": "no-purl", "version": "1"}
         ]}
        """

    @Test func cycloneDXFromAnotherTool() throws {
        let sbom = try SBOMDocument.parse(Array(Self.cyclonedx.utf8), path: "bom.json")
        #expect(sbom.os?.id == "debian" && sbom.os?.versionID == "12" && sbom.os?.codename == "bookworm")
        let byName = Dictionary(uniqueKeysWithValues: sbom.packages.map { ($0.name, $0) })
        #expect(byName["libc6"]?.sourceName == "glibc" && byName["libc6"]?.sourceVersion == "2.36-9+deb12u4")
        #expect(byName["zlib1g"]?.version == "1:1.2.13.dfsg-1" && byName["zlib1g"]?.type == .deb)
        #expect(byName["requests"]?.type == .python && byName["requests"]?.licenses == ["Apache-2.0"])
        #expect(byName["jackson-core"]?.sourceName == "com.fasterxml.jackson.core")
        #expect(byName["nested"]?.type == .npm, "nested components are read")
        #expect(
            byName["nginx"]?.type == .binary && byName["nginx"]?.cpes == ["cpe:2.3:a:f5:nginx:1.25.3:*:*:*:*:*:*:*"])
        #expect(byName["thing"] == nil && byName["no-purl"] == nil)
        #expect(sbom.warnings.contains { $0.contains("1 components have purls of ecosystems harden does not match") })
    }

    @Test func spdxFromAnotherTool() throws {
        let doc = """
            {"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "creationInfo": {"created": "2026-11-30T00:00:00Z"},
             "packages": [
              {"SPDXID": "SPDXRef-a", "name": "musl", "versionInfo": "1.2.4-r2", "licenseDeclared": "MIT",
               "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&upstream=musl&distro=alpine-3.19.0"}]},
              {"SPDXID": "SPDXRef-b", "name": "express", "versionInfo": "4.17.1",
               "externalRefs": [{"referenceCategory": "PACKAGE_MANAGER", "referenceType": "purl", "referenceLocator": "pkg:npm/express@4.17.1"}]}
             ]}
            """
        let sbom = try SBOMDocument.parse(Array(doc.utf8), path: "spdx.json")
        #expect(sbom.os?.id == "alpine" && sbom.os?.versionID == "3.19.0")
        #expect(
            sbom.packages.map { "\($0.type.rawValue) \($0.name) \($0.version) \($0.sourceName ?? "-")" }.sorted() == [
                "apk musl 1.2.4-r2 musl", "npm express 4.17.1 -",
            ])
    }

    @Test func whatMatchingCannotUseIsAOneLineError() {
        func message(_ text: String) -> String {
            do {
                _ = try SBOMDocument.parse(Array(text.utf8), path: "in.json")
                return "no error"
            } catch { return "\(error)" }
        }
        #expect(message("{not json").hasPrefix("in.json: not JSON"))
        #expect(message("[1]") == "in.json: not a JSON object")
        #expect(message(#"{"hello": 1}"#).contains("neither CycloneDX JSON, SPDX 2.3 JSON nor harden's SBOM JSON"))
        #expect(
            message(#"{"bomFormat": "CycloneDX", "specVersion": "1.2", "components": []}"#).contains(
                "CycloneDX 1.2 (1.4–1.6 are read)"))
        #expect(
            message(#"{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"name": "x"}]}"#).contains(
                "no package has a purl"))
        #expect(
            message(
                #"{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"name": "x", "purl": "pkg:deb/debian/x@1"}]}"#
            )
            .contains("1 deb packages but no distribution release"))
        #expect(message(#"{"spdxVersion": "SPDX-3.0"}"#).contains("is not SPDX 2.x JSON"))
        for m in [message("{not json"), message(#"{"hello": 1}"#)] { #expect(!m.contains("\n")) }
    }

    @Test func neverCrashesOnDamagedDocuments() {
        var rng = SeededGenerator(for: "sbomDocumentNeverCrashes")
        let base = Array(Self.cyclonedx.utf8)
        for _ in 0..<300 {
            var b = base
            for _ in 0..<3 { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0x20...0x7e, using: &rng) }
            _ = try? SBOMDocument.parse(b, path: "x")
        }
    }
}

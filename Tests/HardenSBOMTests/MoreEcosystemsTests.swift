// harden — Rust binaries built with cargo-auditable (a real ELF built here with gcc and objcopy), .NET deps.json
// and PHP Composer installs (both layouts), with ownership and purls.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenSBOM
import HardenSystem
import HardenTestSupport
import Testing

@Suite struct MoreEcosystemsTests {
    @Test(.enabled(if: Prerequisites.programs("gcc", "objcopy", "python3")))
    func rustCratesFromACargoAuditableSection() throws {
        try withTemporaryDirectory { dir in
            let audit =
                #"{"packages":[{"name":"app","version":"0.1.0","source":"local","root":true,"dependencies":[1,2]},{"name":"serde","version":"1.0.193","source":"crates.io"},{"name":"cc","version":"1.0.83","source":"crates.io","kind":"build"}]}"#
            try HostFS.writeFileAtomically(dir + "/audit.json", Array(audit.utf8))
            try HostFS.writeFileAtomically(dir + "/main.c", Array("int main(void) { return 0; }\n".utf8))
            let build = try runProcess([
                "sh", "-c",
                "cd '\(dir)' && python3 -c 'import zlib,sys; open(\"audit.z\",\"wb\").write(zlib.compress(open(\"audit.json\",\"rb\").read()))' && gcc -O1 -o app main.c && objcopy --add-section .dep-v0=audit.z --set-section-flags .dep-v0=alloc,readonly app app.audited",
            ])
            try #require(build.status == 0, "\(build.output)")
            var e = TarEntry(path: "usr/local/bin/app", type: .regular, mode: 0o755)
            e.mtime = 1
            let sbom = try catalog([[FixtureEntry(entry: e, body: try HostFS.readFile(dir + "/app.audited"))]])
            let crates = sbom.packages.filter { $0.type == .rustCrate }
            #expect(crates.map(\.purl) == ["pkg:cargo/app@0.1.0", "pkg:cargo/cc@1.0.83", "pkg:cargo/serde@1.0.193"])
            #expect(crates.allSatisfy { $0.files == ["/usr/local/bin/app"] })
            #expect(crates.first { $0.name == "cc" }?.metadata?["kind"] == "build")
            // The same binary without the section: nothing.
            var plain = e
            plain.path = "usr/local/bin/plain"
            let none = try catalog([[FixtureEntry(entry: plain, body: try HostFS.readFile(dir + "/app"))]])
            #expect(none.packages.isEmpty)
        }
    }

    @Test func dotnetDepsJSON() throws {
        let deps = """
            {"runtimeTarget": {"name": ".NETCoreApp,Version=v8.0"},
             "targets": {".NETCoreApp,Version=v8.0": {
                "WebApp/1.0.0": {"dependencies": {"Newtonsoft.Json": "13.0.1"}, "runtime": {"WebApp.dll": {}}},
                "Newtonsoft.Json/13.0.1": {"runtime": {"lib/net6.0/Newtonsoft.Json.dll": {"assemblyVersion": "13.0.0.0"}}},
                "Microsoft.Data.SqlClient.SNI.runtime/5.1.1": {"native": {"runtimes/linux-x64/native/libSNI.so": {}}}}},
             "libraries": {
                "WebApp/1.0.0": {"type": "project", "serviceable": false, "sha512": ""},
                "Newtonsoft.Json/13.0.1": {"type": "package", "serviceable": true, "sha512": "sha512-x", "path": "newtonsoft.json/13.0.1"},
                "Microsoft.Data.SqlClient.SNI.runtime/5.1.1": {"type": "package", "serviceable": true},
                "Reference.Only/1.0.0": {"type": "reference"}}}
            """
        let sbom = try catalog([
            [
                .file("app/WebApp.deps.json", deps.replacingAll("\n", with: "\r\n")),
                .file("app/Newtonsoft.Json.dll", "MZ"),
                .file("app/WebApp.dll", "MZ"),
            ]
        ])
        let dotnet = sbom.packages.filter { $0.type == .dotnet }
        #expect(
            dotnet.map(\.purl) == [
                "pkg:nuget/Microsoft.Data.SqlClient.SNI.runtime@5.1.1", "pkg:nuget/Newtonsoft.Json@13.0.1",
                "pkg:nuget/WebApp@1.0.0",
            ])
        #expect(
            dotnet.first { $0.name == "Newtonsoft.Json" }?.files == [
                "/app/Newtonsoft.Json.dll", "/app/WebApp.deps.json",
            ])
        let broken = try catalog([[.file("app/x.deps.json", "{\"not\": 1}")]])
        #expect(broken.packages.isEmpty && broken.warnings.contains { $0.contains("/app/x.deps.json") })
    }

    @Test func composerInstalledJSONBothLayouts() throws {
        let v2 = """
            {"packages": [
              {"name": "monolog/monolog", "version": "3.5.0", "version_normalized": "3.5.0.0", "license": ["MIT"], "install-path": "../monolog/monolog"},
              {"name": "phpunit/phpunit", "version": "10.5.2", "license": ["BSD-3-Clause"], "install-path": "../phpunit/phpunit"}],
             "dev": true, "dev-package-names": ["phpunit/phpunit"]}
            """
        let v1 = #"[{"name": "psr/log", "version": "1.1.4", "license": "MIT"}]"#
        let sbom = try catalog([
            [
                .file("var/www/vendor/composer/installed.json", v2),
                .file("var/www/vendor/monolog/monolog/src/Logger.php", "<?php"),
                .file("var/www/vendor/monolog/monolog/composer.json", "{}"),
                .file("srv/old/vendor/composer/installed.json", v1),
                .file("srv/old/vendor/psr/log/Psr/Log/LoggerInterface.php", "<?php"),
            ]
        ])
        let composer = sbom.packages.filter { $0.type == .composer }
        #expect(
            composer.map(\.purl) == [
                "pkg:composer/monolog/monolog@3.5.0", "pkg:composer/phpunit/phpunit@10.5.2",
                "pkg:composer/psr/log@1.1.4",
            ])
        let monolog = try #require(composer.first)
        #expect(
            monolog.files == [
                "/var/www/vendor/monolog/monolog/composer.json", "/var/www/vendor/monolog/monolog/src/Logger.php",
            ])
        #expect(monolog.licenses == ["MIT"] && composer[1].metadata?["dev"] == "true")
        #expect(composer[2].files == ["/srv/old/vendor/psr/log/Psr/Log/LoggerInterface.php"])
    }
}

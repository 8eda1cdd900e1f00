// harden — the Compose reader on fixture files written here: every supported key, interpolation, merging two files,
// and each error with its file and line.
import Foundation
import HardenCompose
import HardenCore
import HardenProfile
import HardenSystem
import HardenTestSupport
import Testing

@Suite struct ComposeReaderTests {
    static let full = """
        name: shop
        x-common: &common
          TZ: UTC
        services:
          web:
            image: oci:images/oci:web
            environment:
              DB_HOST: db
              DB_PASSWORD: ${DB_PASSWORD}
              FROM_ENV:
              TZ: ${TZ:-Europe/Paris}
            env_file: [./web.env, {path: ./missing.env, required: false}]
            command: python3 app.py --port "8 0"
            entrypoint: ["/usr/bin/env"]
            user: "1000:1000"
            working_dir: /app
            ports: ["8080:80", {target: 443, published: "8443", protocol: tcp}]
            expose: ["9000"]
            volumes:
              - ./config:/etc/app:ro
              - data:/var/lib/app
              - /cache
              - {type: tmpfs, target: /run/app}
            tmpfs: /tmp
            depends_on:
              db: {condition: service_healthy}
              cache: {condition: service_started}
            healthcheck:
              test: curl -f http://localhost/
              interval: 1m30s
              timeout: 500ms
              retries: 5
              start_period: 10s
            extra_hosts: ["api.example:10.0.0.5", "v6host:::1"]
            init: true
            stop_signal: SIGQUIT
            stop_grace_period: 20s
            restart: always
            x-note: ignored
          db:
            image: postgres-test
            environment: [POSTGRES_PASSWORD=secret, FROM_ENV]
            healthcheck:
              test: ["CMD", "pg_isready"]
          cache:
            image: cache
            depends_on: [db]
        volumes:
          data: {}
        """

    @Test func everySupportedKeyIsRead() throws {
        let p = try ComposeReader.parse(
            Self.full, file: "compose.yaml", directory: "/proj",
            variables: ["DB_PASSWORD": "hunter2", "FROM_ENV": "yes"])
        let web = try #require(p.services["web"])
        #expect(web.image == "oci:images/oci:web")
        #expect(
            web.environment == ["DB_HOST": "db", "DB_PASSWORD": "hunter2", "FROM_ENV": "yes", "TZ": "Europe/Paris"])
        #expect(web.envFiles == ["/proj/web.env"], "an optional env file that does not exist is skipped")
        #expect(web.command == ["python3", "app.py", "--port", "8 0"])
        #expect(web.entrypoint == ["/usr/bin/env"])
        #expect(web.user == "1000:1000" && web.workingDir == "/app")
        #expect(web.ports == ["8080:80", "8443:443/tcp"] && web.expose == ["9000"])
        #expect(
            web.volumes == [
                .init(kind: .bind, source: "/proj/config", target: "/etc/app", readOnly: true),
                .init(kind: .volume, source: "data", target: "/var/lib/app", readOnly: false),
                .init(kind: .volume, source: nil, target: "/cache", readOnly: false),
                .init(kind: .tmpfs, source: nil, target: "/run/app", readOnly: false),
            ])
        #expect(web.tmpfs == ["/tmp"])
        #expect(web.dependsOn == ["db": .healthy, "cache": .started])
        let h = try #require(web.healthcheck)
        #expect(
            h.test == ["CMD-SHELL", "curl -f http://localhost/"] && h.interval == 90 && h.timeout == 0.5
                && h.retries == 5)
        #expect(h.startPeriod == 10)
        #expect(web.extraHosts == ["api.example": "10.0.0.5", "v6host": "::1"])
        #expect(web.initProcess == true && web.stopSignal == "SIGQUIT" && web.stopGracePeriod == 20)
        #expect(p.services["db"]?.environment == ["POSTGRES_PASSWORD": "secret", "FROM_ENV": "yes"])
        #expect(p.services["db"]?.healthcheck?.test == ["CMD", "pg_isready"])
        #expect(p.services["cache"]?.dependsOn == ["db": .started])
        #expect(
            p.warnings.contains { $0.hasPrefix("compose.yaml:") && $0.contains("services.web.restart ignored") },
            "\(p.warnings)")
    }

    @Test func variablesInterpolate() throws {
        let text = """
            services:
              a:
                image: "${REGISTRY-docker.io}/app:${TAG:-latest}"
                command: echo $$HOME $USER ${EMPTY-kept} ${EMPTY:-replaced}
            """
        let p = try ComposeReader.parse(text, file: "c.yaml", directory: "/d", variables: ["USER": "me", "EMPTY": ""])
        #expect(p.services["a"]?.image == "docker.io/app:latest")
        #expect(p.services["a"]?.command == ["echo", "$HOME", "me", "replaced"])
        let required = "services:\n  a:\n    image: ${IMAGE:?set IMAGE first}\n"
        #expect {
            _ = try ComposeReader.parse(required, file: "c.yaml", directory: "/d", variables: [:])
        } throws: {
            ($0 as? HardenError)?.message == "c.yaml:3: services.a.image: variable IMAGE is required: set IMAGE first"
        }
    }

    @Test func twoFilesMergeLikeComposeDoes() throws {
        try withTemporaryDirectory { dir in
            try HostFS.writeFileAtomically(
                dir + "/a.yaml",
                Array(
                    """
                    services:
                      web:
                        image: web:1
                        command: ["serve"]
                        environment: {A: "1", B: "1"}
                        ports: ["80:80"]
                        volumes: ["./one:/data", "./logs:/logs"]
                    """.utf8))
            try HostFS.writeFileAtomically(
                dir + "/b.yaml",
                Array(
                    """
                    services:
                      web:
                        image: web:2
                        environment: {B: "2", C: "${FROM_DOTENV}"}
                        ports: ["443:443"]
                        volumes: ["./two:/data"]
                      db:
                        image: db
                    """.utf8))
            try HostFS.writeFileAtomically(dir + "/.env", Array("FROM_DOTENV=dotenv\n# comment\n".utf8))
            let p = try ComposeReader.load([dir + "/a.yaml", dir + "/b.yaml"], environment: [:])
            let web = try #require(p.services["web"])
            #expect(web.image == "web:2" && web.command == ["serve"])
            #expect(web.environment == ["A": "1", "B": "2", "C": "dotenv"])
            #expect(web.ports == ["80:80", "443:443"])
            #expect(
                web.volumes.map { "\($0.source ?? "-"):\($0.target)" } == [dir + "/two:/data", dir + "/logs:/logs"])
            #expect(p.services["db"]?.image == "db")
        }
    }

    @Test(arguments: [
        ("services:\n  a:\n    image: x\n    privileged: true\n", "c.yaml:4: services.a.privileged: is not supported"),
        (
            "services:\n  a:\n    image: x\n    network_mode: host\n",
            "c.yaml:4: services.a.network_mode: is not supported"
        ),
        ("services:\n  a:\n    build: .\n", "c.yaml:3: services.a.build: is not supported"),
        (
            "services:\n  a:\n    depends_on:\n      b: {condition: sometime}\n",
            "c.yaml:4: services.a.depends_on.condition: must be"
        ),
        (
            "services:\n  a:\n    healthcheck:\n      test: [CMD, x]\n      interval: soon\n",
            "c.yaml:5: services.a.healthcheck.interval:"
        ),
        (
            "services:\n  a:\n    volumes: [\"a:b:c:d\"]\n",
            "c.yaml:3: services.a.volumes: \"a:b:c:d\" is not SOURCE:TARGET"
        ),
        ("services:\n  a:\n    init: maybe\n", "c.yaml:3: services.a.init: must be true or false"),
        ("secrets:\n  s: {file: x}\n", "c.yaml:1: secrets: is not supported yet"),
        ("services: [a, b]\n", "c.yaml:1: services: must be a mapping"),
        ("services:\n  a: {image: [x\n", "c.yaml: invalid YAML"),
        ("services:\n  a:\n    command: 'echo \"unbalanced'\n", "c.yaml:3: services.a.command: unbalanced quotes"),
    ])
    func errorsNameTheFileLineAndKey(text: String, message: String) {
        #expect {
            _ = try ComposeReader.parse(text, file: "c.yaml", directory: "/d", variables: [:])
        } throws: { e in
            let m = (e as? HardenError)?.message ?? ""
            return m.hasPrefix(message) && !m.contains("\n")
        }
    }

    @Test func envFilesFollowDockersFormat() throws {
        let vars = try EnvFile.parse(Array("# c\nA=1\nexport B=\"two words\"\nC='x=y'\n\nD=\n".utf8), source: "e.env")
        #expect(vars.map { "\($0.0)=\($0.1)" } == ["A=1", "B=two words", "C=x=y", "D="])
        #expect(throws: HardenError.self) { try EnvFile.parse(Array("=1\n".utf8), source: "e.env") }
    }

    @Test func aliasBombsAreRefused() {
        var text = "a: &a [x]\n"
        for i in 0..<40 { text += "b\(i): &b\(i) [*a, *a]\n" }
        #expect(throws: HardenError.self) {
            _ = try ComposeReader.parse(text, file: "c.yaml", directory: "/d", variables: [:])
        }
    }
}

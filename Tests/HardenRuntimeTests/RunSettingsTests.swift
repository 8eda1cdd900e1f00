// harden — run settings and the pod plan, without running anything: Docker's entrypoint/cmd rules, the environment,
// mounts and tmpfs in the bundle, what is recorded (no values), redaction, start order, ports, /etc/hosts, the
// target's own sockets, and files from mounts kept out of the image's.
import HardenCompose
import HardenCore
import HardenOCI
import HardenPackages
import HardenProfile
import HardenRuntime
import HardenTestSupport
import Testing

struct RunSettingsTests {
    func config() -> ContainerConfig {
        var c = ContainerConfig()
        c.entrypoint = ["/entry.sh"]
        c.cmd = ["serve", "--port", "80"]
        c.env = ["PATH=/bin", "MODE=prod", "KEEP=1"]
        c.workingDir = "/srv"
        return c
    }

    @Test func entrypointAndArgumentsFollowDockersRules() throws {
        var s = ContainerSettings()
        #expect(try s.command(of: config(), image: "x") == ["/entry.sh", "serve", "--port", "80"])
        s.command = ["debug"]
        #expect(try s.command(of: config(), image: "x") == ["/entry.sh", "debug"], "arguments replace the cmd only")
        s = ContainerSettings()
        s.entrypoint = ["/bin/sh"]
        #expect(try s.command(of: config(), image: "x") == ["/bin/sh"], "a new entrypoint drops the image's cmd")
        s.command = ["-c", "echo hi"]
        #expect(try s.command(of: config(), image: "x") == ["/bin/sh", "-c", "echo hi"])
        s = ContainerSettings()
        s.entrypoint = []
        #expect(throws: HardenError.self, "an empty entrypoint and no arguments leave nothing to run") {
            try s.command(of: config(), image: "x")
        }
        s.command = ["/bin/true"]
        #expect(try s.command(of: config(), image: "x") == ["/bin/true"])
    }

    @Test func theEnvironmentWorkdirMountsAndTmpfsReachTheBundle() throws {
        var s = ContainerSettings()
        s.environment = [("MODE", "test"), ("DB_PASSWORD", "hunter22"), ("MODE", "debug")]
        s.workingDir = "/work"
        s.tmpfs = ["/scratch"]
        let spec = RuntimeSpec.make(
            config: config(), args: ["x"], user: .init(uid: 0, gid: 0), hostname: "h", rootfs: "/r",
            networkNamespace: nil,
            etcFiles: [:], settings: s,
            extraMounts: [RuntimeSpec.bind(source: "/host/conf", destination: "/etc/app", readOnly: true)])
        #expect(
            spec.process.env.filter { $0.hasPrefix("MODE") } == ["MODE=debug"],
            "the last value wins and replaces the image's")
        #expect(spec.process.env.contains("KEEP=1") && spec.process.env.contains("DB_PASSWORD=hunter22"))
        #expect(spec.process.cwd == "/work")
        let bind = try #require(spec.mounts.first { $0.destination == "/etc/app" })
        #expect(bind.type == "bind" && bind.source == "/host/conf" && bind.options?.contains("ro") == true)
        let tmp = try #require(spec.mounts.first { $0.destination == "/scratch" })
        #expect(tmp.type == "tmpfs" && tmp.options?.contains("nosuid") == true)
    }

    @Test func recordsKeepNamesAndNeverValues() throws {
        var s = ContainerSettings()
        s.environment = [("DB_PASSWORD", "correct-horse"), ("PORT", "80")]
        s.command = ["--token", "correct-horse"]
        s.mounts = [try .init(parsing: "./conf:/etc/app:ro")]
        let r = s.record
        #expect(r.environment == ["DB_PASSWORD", "PORT"])
        #expect(r.command == ["--token", Redactor.mark])
        let bytes = String(decoding: try JSONCoding.encode(r), as: UTF8.self)
        #expect(!bytes.contains("correct-horse"))
        #expect(r.mounts.first?.readOnly == true && r.mounts.first?.destination == "/etc/app")
        #expect(
            s.secretValues == ["correct-horse"],
            "values shorter than 4 characters are too common to redact in free text")
        let redactor = Redactor(secrets: ["correct-horse", "correct"])
        #expect(redactor.apply("login correct-horse then correct") == "login [redacted] then [redacted]")
    }

    @Test func mountAndVariableSpecs() throws {
        let m = try ContainerSettings.Mount(parsing: "/a:/b")
        #expect(m.source == "/a" && m.destination == "/b" && !m.readOnly && m.kind == .bind)
        for bad in ["/a", "/a:b", ":/b", "/a:/b:rx", "/a:/b:ro:x"] {
            #expect(throws: HardenError.self, "\(bad)") { try ContainerSettings.Mount(parsing: bad) }
        }
        #expect(try ContainerSettings.parseVariable("A=b=c", environment: [:])! == ("A", "b=c"))
        #expect(try ContainerSettings.parseVariable("HOME", environment: ["HOME": "/root"])! == ("HOME", "/root"))
        #expect(
            try ContainerSettings.parseVariable("UNSET", environment: [:]) == nil, "docker run -e UNSET sets nothing")
        #expect(throws: HardenError.self) { try ContainerSettings.parseVariable("=x", environment: [:]) }
    }

    @Test func composeServicesBecomeSettings() throws {
        var svc = ComposeService(name: "web")
        svc.environment = ["A": "from-environment", "B": "2"]
        svc.volumes = [
            .init(kind: .bind, source: "/host/conf", target: "/etc/app", readOnly: true),
            .init(kind: .volume, source: "data", target: "/var/lib/app", readOnly: false),
            .init(kind: .tmpfs, source: nil, target: "/run/app", readOnly: false),
        ]
        svc.tmpfs = ["/tmp:size=64m"]
        svc.ports = ["8080:80", "127.0.0.1:9000-9001:9100-9101/udp"]
        svc.expose = ["3000"]
        svc.initProcess = true
        svc.extraHosts = ["api": "10.0.0.1"]
        let s = try svc.settings()
        #expect(s.environment.map(\.name) == ["A", "B"])
        #expect(
            s.mounts == [
                .init(kind: .bind, source: "/host/conf", destination: "/etc/app", readOnly: true),
                .init(kind: .volume, source: "data", destination: "/var/lib/app", readOnly: false),
            ])
        #expect(s.tmpfs == ["/run/app", "/tmp"])
        #expect(s.ports == [80, 3000, 9100, 9101])
        #expect(s.initProcess && s.extraHosts.first?.address == "10.0.0.1")
        svc.envFiles = ["/nonexistent/app.env"]
        #expect(throws: HardenError.self) { try svc.settings() }
    }

    /// One small image in a layout under /tmp, for the plan's inputs (nothing is run).
    static let image = Result<Image, any Error> {
        let dir = "/tmp/harden-test-runsettings-image"
        try Fixtures.ociLayout(
            at: dir, images: [(tag: "x", layers: [try Fixtures.layer([.file("a", "b")])], config: ContainerConfig())])
        return try ImageLoader.open(.ociLayout(path: dir, tag: "x"))
    }

    func service(_ name: String, _ deps: [String: ComposeService.Condition] = [:]) throws -> ServiceLaunch {
        ServiceLaunch(
            name: name, image: try Self.image.get(), reference: name, users: (nil, nil), settings: ContainerSettings(),
            dependsOn: deps)
    }

    @Test func servicesStartDependenciesFirstAndOnlyThoseNeeded() throws {
        let services = [
            try service("app", ["cache": .started, "db": .healthy]), try service("db"),
            try service("cache", ["db": .started]),
            try service("unrelated"), try service("migrate", ["db": .healthy]),
        ]
        #expect(
            try PodPlan.startOrder(services, targetDependsOn: ["cache": .started, "migrate": .completed]) == [
                "db", "cache", "migrate",
            ])
        #expect(throws: HardenError.self) { try PodPlan.startOrder(services, targetDependsOn: ["nope": .started]) }
        let cycle = [try service("a", ["b": .started]), try service("b", ["a": .started])]
        #expect { try PodPlan.startOrder(cycle, targetDependsOn: ["a": .started]) } throws: {
            ($0 as? HardenError)?.message.contains("cycle") == true
        }
    }

    @Test func aPortIsUsedOnceInThePod() throws {
        var a = ContainerSettings()
        a.ports = [8080]
        var b = ContainerSettings()
        b.ports = [5432]
        let img = try Self.image.get()
        try PodPlan.checkPorts(target: ("app", img, a), services: [("db", img, b)])
        b.ports = [8080]
        #expect { try PodPlan.checkPorts(target: ("app", img, a), services: [("db", img, b)]) } throws: {
            ($0 as? HardenError)?.message.contains("db and app both use port 8080") == true
                || ($0 as? HardenError)?.message.contains("app and db both use port 8080") == true
        }
    }

    @Test func hostsNameEveryServiceOnTheSharedLoopback() {
        let t = PodPlan.hostsFile(
            hostname: "app", address: "10.213.0.2", serviceNames: ["db", "cache", "app"], extra: [("api", "10.0.0.1")])
        let lines = t.split(separator: "\n").map(String.init)
        #expect(lines.contains("10.213.0.2\tapp"))
        #expect(lines.contains("127.0.0.1\tdb cache"))
        #expect(lines.contains("10.0.0.1\tapi"))
        #expect(ContainerRunner.serviceVariable("my-db.1") == "HARDEN_SERVICE_MY_DB_1_HOST")
    }

    @Test func onlyTheTargetsOwnSocketsAreItsPorts() {
        let table = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0
               1: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   100        0 2222 1 0000000000000000 100 0 0 10 0

            """
        #expect(ListeningSockets.parse(Array(table.utf8), protocolName: "tcp").map(\.port) == [8080, 5432])
        #expect(ListeningSockets.parse(Array(table.utf8), protocolName: "tcp", inodes: ["1111"]).map(\.port) == [8080])
    }

    @Test func filesFromMountsAreNotTheImages() {
        func f(_ p: String) -> RuntimeProfile.FileRecord {
            .init(path: p, operations: ["open"], count: 1, firstProcess: nil, type: .file, target: nil, failures: nil)
        }
        let files = [f("/etc/app"), f("/etc/app/config.yml"), f("/etc/apparmor"), f("/data/x"), f("/usr/bin/python3")]
        let (image, mounted) = ProfileAssembler.separateMounted(files, mountPoints: ["/etc/app/", "/data"])
        #expect(image.map(\.path) == ["/etc/apparmor", "/usr/bin/python3"])
        #expect(mounted.map(\.path) == ["/etc/app", "/etc/app/config.yml", "/data/x"])
    }
}

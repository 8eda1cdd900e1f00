// harden — reading Compose files (the subset harden runs): services with their image, environment, command,
// user, working directory, ports, volumes, tmpfs, dependencies, healthcheck, extra hosts, init and stop settings.
// Variables are interpolated from the environment and `.env`; several files merge like `docker compose -f a -f b`.
// A key that would change how a container runs and that harden does not support is an error naming file:line.
import Foundation
import HardenCore
import HardenProfile
import HardenSystem
import Synchronization
import Yams

public struct ComposeProject: Sendable, Equatable {
    public var services: [String: ComposeService]
    /// Harmless keys harden ignores, as `file:line: key` lines.
    public var warnings: [String]
}

public struct ComposeService: Sendable, Equatable {
    public typealias Condition = ServiceCondition
    public struct Volume: Sendable, Equatable {
        public enum Kind: String, Sendable, Equatable { case bind, volume, tmpfs }
        public var kind: Kind
        /// Host path (bind, made absolute against the file's directory) or volume name; nil for tmpfs/anonymous.
        public var source: String?
        public var target: String
        public var readOnly: Bool

        public init(kind: Kind, source: String?, target: String, readOnly: Bool) {
            self.kind = kind
            self.source = source
            self.target = target
            self.readOnly = readOnly
        }
    }
    public typealias Healthcheck = ServiceHealthcheck
    public var name: String
    public var image: String?
    public var environment: [String: String] = [:]
    public var envFiles: [String] = []
    public var command: [String]?
    public var entrypoint: [String]?
    public var user: String?
    public var workingDir: String?
    public var ports: [String] = []
    public var expose: [String] = []
    public var volumes: [Volume] = []
    public var tmpfs: [String] = []
    public var dependsOn: [String: Condition] = [:]
    public var healthcheck: Healthcheck?
    public var extraHosts: [String: String] = [:]
    public var initProcess: Bool?
    public var readOnly: Bool?
    public var stopSignal: String?
    public var stopGracePeriod: Double?

    public init(name: String) { self.name = name }
}

public enum ComposeReader {
    /// Keys that change how a container runs and that harden does not do: refusing them is safer than ignoring them.
    static let unsupported: Set<String> = [
        "privileged", "network_mode", "cap_add", "cap_drop", "devices", "build", "pid", "ipc", "security_opt",
        "userns_mode",
        "sysctls", "ulimits", "platform", "runtime", "cgroup_parent", "cgroup", "device_cgroup_rules", "volumes_from",
        "links",
        "external_links", "secrets", "configs", "shm_size", "group_add", "oom_score_adj", "isolation", "extends",
        "scale",
        "profiles", "domainname", "dns", "dns_search", "dns_opt", "mac_address", "storage_opt", "gpus",
    ]
    /// Keys that do not change what harden observes; ignored with a warning.
    static let ignored: Set<String> = [
        "container_name", "restart", "labels", "logging", "deploy", "hostname", "networks", "pull_policy", "stdin_open",
        "tty",
        "annotations", "attach", "develop", "mem_limit", "mem_reservation", "memswap_limit", "cpus", "cpu_shares",
        "cpu_quota",
        "cpuset", "cpu_period", "blkio_config", "pids_limit", "label_file",
    ]
    static let supported: Set<String> = [
        "image", "environment", "env_file", "command", "entrypoint", "user", "working_dir", "ports", "expose",
        "volumes", "tmpfs",
        "depends_on", "healthcheck", "extra_hosts", "init", "read_only", "stop_signal", "stop_grace_period",
    ]

    /// One file's text → its services (not yet merged). `directory` resolves relative paths; `variables` interpolate.
    /// `untrusted` (a fleet job's file): every `$VAR`/`${VAR}` reference and every bare `environment` name is refused —
    /// a job's variables come from the job, never from the process that runs it.
    public static func parse(
        _ text: String, file: String, directory: String, variables: [String: String], untrusted: Bool = false
    ) throws -> ComposeProject {
        let aliases = YAMLLimits.countAliases(text)
        guard aliases <= YAMLLimits.maxAliases else {
            throw HardenError(
                .limitExceeded, "\(file): \(aliases) YAML aliases, more than the \(YAMLLimits.maxAliases) allowed")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw HardenError(.corrupt, "\(file): invalid YAML: \(YAMLLimits.describe(e))")
        }
        let r = Reader(file: file, directory: directory, variables: untrusted ? [:] : variables, untrusted: untrusted)
        guard let top = root?.mapping else { throw HardenError(.corrupt, "\(file): a Compose file must be a mapping") }
        var warnings: [String] = []
        var services: [String: ComposeService] = [:]
        for (k, v) in top {
            let key = k.string ?? "?"
            switch key {
            case "services":
                guard let m = v.mapping else { throw r.error(v, "services", "must be a mapping of service names") }
                for (nameNode, body) in m {
                    let name = nameNode.string ?? ""
                    guard !name.isEmpty else { throw r.error(nameNode, "services", "a service needs a name") }
                    services[name] = try r.service(name, body, warnings: &warnings)
                }
            case "version", "name", "volumes":
                continue  // volumes: named volumes become per-run scratch directories
            case "networks", "x-harden":
                warnings.append(
                    "\(file):\(r.line(k)): \(key) ignored (services reach each other by name on harden's own network)")
            case "secrets", "configs":
                throw r.error(k, key, "is not supported yet (mount the files with volumes instead)")
            default:
                if key.hasPrefix("x-") { continue }
                warnings.append("\(file):\(r.line(k)): unknown top-level key \"\(key)\" ignored")
            }
        }
        return ComposeProject(services: services, warnings: warnings)
    }

    /// Whether `${VAR}` may take values from this process's environment. A fleet worker turns it off: the Compose
    /// files of jobs come from submitters, who must not read the worker's variables (its database URL, tokens).
    public static let interpolatesProcessEnvironment = Atomic<Bool>(true)

    /// Reads and merges files in order (later files override earlier ones, as `docker compose -f a -f b` does).
    public static func load(_ files: [String], environment: [String: String]? = nil) throws -> ComposeProject {
        guard let first = files.first else { throw HardenError(.invalidArgument, "no Compose file given") }
        let directory = HostFS.split(HostFS.absolute(first)).0
        var variables =
            environment
            ?? (interpolatesProcessEnvironment.load(ordering: .relaxed) ? ProcessInfo.processInfo.environment : [:])
        if let dotenv = try? HostFS.readFile(directory + "/.env", limit: 1 << 20) {
            for (k, v) in try EnvFile.parse(dotenv, source: directory + "/.env") where variables[k] == nil {
                variables[k] = v
            }
        }
        var merged = ComposeProject(services: [:], warnings: [])
        for f in files {
            let text = String(decoding: try HostFS.readFile(f, limit: 16 << 20), as: UTF8.self)
            let p = try parse(text, file: f, directory: directory, variables: variables)
            merged = merge(merged, p)
        }
        return merged
    }

    /// `over` on top of `base`: scalars and command-like lists replaced, maps merged by key, ports and expose united,
    /// volumes merged by target.
    public static func merge(_ base: ComposeProject, _ over: ComposeProject) -> ComposeProject {
        var out = base
        out.warnings += over.warnings
        for (name, o) in over.services {
            guard var s = out.services[name] else {
                out.services[name] = o
                continue
            }
            s.image = o.image ?? s.image
            s.environment.merge(o.environment) { _, new in new }
            s.envFiles += o.envFiles.filter { !s.envFiles.contains($0) }
            s.command = o.command ?? s.command
            s.entrypoint = o.entrypoint ?? s.entrypoint
            s.user = o.user ?? s.user
            s.workingDir = o.workingDir ?? s.workingDir
            s.ports += o.ports.filter { !s.ports.contains($0) }
            s.expose += o.expose.filter { !s.expose.contains($0) }
            for v in o.volumes {
                if let i = s.volumes.firstIndex(where: { $0.target == v.target }) {
                    s.volumes[i] = v
                } else {
                    s.volumes.append(v)
                }
            }
            s.tmpfs += o.tmpfs.filter { !s.tmpfs.contains($0) }
            s.dependsOn.merge(o.dependsOn) { _, new in new }
            s.healthcheck = o.healthcheck ?? s.healthcheck
            s.extraHosts.merge(o.extraHosts) { _, new in new }
            s.initProcess = o.initProcess ?? s.initProcess
            s.readOnly = o.readOnly ?? s.readOnly
            s.stopSignal = o.stopSignal ?? s.stopSignal
            s.stopGracePeriod = o.stopGracePeriod ?? s.stopGracePeriod
            out.services[name] = s
        }
        return out
    }
}

/// Docker's and Compose's env files: `NAME=VALUE` lines, `#` comments, blank lines; a value in matching single or double
/// quotes loses them; `export NAME=VALUE` is accepted.
public enum EnvFile {
    public static func parse(_ bytes: [UInt8], source: String) throws -> [(String, String)] {
        var out: [(String, String)] = []
        for (n, raw) in String(decoding: bytes, as: UTF8.self).textLines(omittingEmpty: false).enumerated() {
            var line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            guard let eq = line.firstIndex(of: "="), eq != line.startIndex else {
                throw HardenError(.corrupt, "\(source):\(n + 1): expected NAME=VALUE")
            }
            let name = String(line[..<eq]).trimmingCharacters(in: .whitespaces)
            guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "-" }) else {
                throw HardenError(.corrupt, "\(source):\(n + 1): \"\(name)\" is not a variable name")
            }
            var value = String(line[line.index(after: eq)...])
            if value.count >= 2, let q = value.first, q == "\"" || q == "'", value.last == q {
                value = String(value.dropFirst().dropLast())
            }
            out.append((name, value))
        }
        return out
    }
}

/// Limits of the Compose reader's YAML.
enum YAMLLimits {
    /// As for policy files: n aliases can stand for ~3^(n/3) nodes, so few are allowed.
    static let maxAliases = 32
    static func describe(_ e: YamlError) -> String { String(String(describing: e).textLines().first ?? "") }
    static func countAliases(_ text: String) -> Int { YAMLAliases.count(text) }
}

struct Reader {
    var file: String
    var directory: String
    var variables: [String: String]
    var untrusted = false

    func line(_ node: Node) -> Int { node.mark?.line ?? 0 }

    func error(_ node: Node, _ key: String, _ problem: String) -> HardenError {
        HardenError(.corrupt, "\(file):\(line(node)): \(key): \(problem)")
    }

    /// `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `$VAR`; `$$` is a literal `$`.
    func interpolate(_ s: String, _ node: Node, _ key: String) throws -> String {
        guard s.contains("$") else { return s }
        var out = ""
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            guard c == "$" else {
                out.append(c)
                i = s.index(after: i)
                continue
            }
            let next = s.index(after: i)
            if next < s.endIndex, s[next] == "$" {
                out.append("$")
                i = s.index(after: next)
            } else if untrusted, next < s.endIndex, s[next] == "{" || s[next] == "_" || s[next].isLetter {
                throw error(
                    node, key, "variables ($NAME, ${NAME}) are refused in a job's Compose file; write the values")
            } else if next < s.endIndex, s[next] == "{" {
                guard let close = s[next...].firstIndex(of: "}") else {
                    throw error(node, key, "unterminated ${ in \"\(s)\"")
                }
                let expr = String(s[s.index(after: next)..<close])
                out += try substitute(expr, node, key)
                i = s.index(after: close)
            } else {
                var j = next
                while j < s.endIndex, s[j].isLetter || s[j].isNumber || s[j] == "_" { j = s.index(after: j) }
                if j == next {
                    out.append("$")
                    i = next
                } else {
                    out += variables[String(s[next..<j])] ?? ""
                    i = j
                }
            }
        }
        return out
    }

    func substitute(_ expr: String, _ node: Node, _ key: String) throws -> String {
        for op in [":-", ":?", "-", "?"] {
            guard let r = expr.range(of: op) else { continue }
            let name = String(expr[..<r.lowerBound])
            let arg = String(expr[r.upperBound...])
            let value = variables[name]
            let unsetOrEmpty = value == nil || (op.hasPrefix(":") && value == "")
            switch op {
            case ":-", "-": return unsetOrEmpty ? try interpolate(arg, node, key) : value!
            default:
                if unsetOrEmpty {
                    throw error(node, key, "variable \(name) is required: \(arg.isEmpty ? "not set" : arg)")
                }
                return value!
            }
        }
        guard expr.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }), !expr.isEmpty else {
            throw error(node, key, "\"${\(expr)}\" is not a variable")
        }
        return variables[expr] ?? ""
    }

    func scalar(_ node: Node, _ key: String) throws -> String {
        guard node.scalar != nil, let s = node.string else { throw error(node, key, "must be a single value") }
        return try interpolate(s, node, key)
    }

    func strings(_ node: Node, _ key: String) throws -> [String] {
        if node.scalar != nil { return [try scalar(node, key)] }
        guard let seq = node.sequence else { throw error(node, key, "must be a value or a list") }
        return try seq.map { try scalar($0, key) }
    }

    /// A command: a list, or a string split like a shell splits words (quotes, backslashes), without running a shell.
    func command(_ node: Node, _ key: String) throws -> [String] {
        if let seq = node.sequence { return try seq.map { try scalar($0, key) } }
        let s = try scalar(node, key)
        do {
            return try splitCommandLine(s)
        } catch {
            throw self.error(node, key, "unbalanced quotes in \"\(s)\"")
        }
    }

    /// Compose durations: `1m30s`, `10s`, `500ms`, `1h`, or a number of seconds.
    func duration(_ node: Node, _ key: String) throws -> Double {
        let s = try scalar(node, key)
        if let d = Double(s) { return d }
        var total = 0.0
        var number = ""
        var rest = Substring(s)
        while let c = rest.first {
            if c.isNumber || c == "." {
                number.append(c)
                rest = rest.dropFirst()
                continue
            }
            guard let n = Double(number) else { throw error(node, key, "\"\(s)\" is not a duration (like 1m30s)") }
            let units: [(String, Double)] = [("ms", 0.001), ("us", 0.000001), ("h", 3600), ("m", 60), ("s", 1)]
            guard let (u, f) = units.first(where: { rest.hasPrefix($0.0) }) else {
                throw error(node, key, "\"\(s)\" is not a duration (like 1m30s)")
            }
            total += n * f
            number = ""
            rest = rest.dropFirst(u.count)
        }
        guard number.isEmpty else { throw error(node, key, "\"\(s)\" needs a unit (s, m, h, ms)") }
        return total
    }

    func path(_ p: String) -> String {
        if p.hasPrefix("/") { return p }
        if p == "~" || p.hasPrefix("~/") {
            return (ProcessInfo.processInfo.environment["HOME"] ?? "/root") + p.dropFirst()
        }
        return directory + "/" + (p.hasPrefix("./") ? String(p.dropFirst(2)) : p)
    }

    func service(_ name: String, _ body: Node, warnings: inout [String]) throws -> ComposeService {
        guard let m = body.mapping else { throw error(body, "services.\(name)", "must be a mapping") }
        var s = ComposeService(name: name)
        for (k, v) in m {
            let key = k.string ?? "?"
            let path = "services.\(name).\(key)"
            if ComposeReader.unsupported.contains(key) {
                throw error(k, path, "is not supported: harden runs services unprivileged in its own sandbox")
            }
            if ComposeReader.ignored.contains(key) || key.hasPrefix("x-") {
                warnings.append("\(file):\(line(k)): \(path) ignored")
                continue
            }
            guard ComposeReader.supported.contains(key) else {
                warnings.append("\(file):\(line(k)): unknown key \(path) ignored")
                continue
            }
            switch key {
            case "image": s.image = try scalar(v, path)
            case "environment":
                if let em = v.mapping {
                    for (ek, ev) in em {
                        let n = ek.string ?? ""
                        if ev.null != nil || ev.string == nil {
                            if untrusted {
                                throw error(ev, path, "\(n) without a value is refused in a job's Compose file")
                            }
                            if let x = variables[n] { s.environment[n] = x }
                        } else {
                            s.environment[n] = try scalar(ev, path)
                        }
                    }
                } else {
                    for item in try strings(v, path) {
                        if let eq = item.firstIndex(of: "=") {
                            s.environment[String(item[..<eq])] = String(item[item.index(after: eq)...])
                        } else if untrusted {
                            throw error(v, path, "\(item) without a value is refused in a job's Compose file")
                        } else if let x = variables[item] {
                            s.environment[item] = x
                        }
                    }
                }
            case "env_file":
                if let seq = v.sequence, seq.contains(where: { $0.mapping != nil }) {
                    for item in seq {
                        if let im = item.mapping, let p = im["path"] {
                            let required = im["required"]?.bool ?? true
                            let resolved = self.path(try scalar(p, path))
                            if required || HostFS.exists(resolved) { s.envFiles.append(resolved) }
                        } else {
                            s.envFiles.append(self.path(try scalar(item, path)))
                        }
                    }
                } else {
                    s.envFiles += try strings(v, path).map(self.path)
                }
            case "command": s.command = try command(v, path)
            case "entrypoint": s.entrypoint = try command(v, path)
            case "user": s.user = try scalar(v, path)
            case "working_dir": s.workingDir = try scalar(v, path)
            case "ports":
                for item in v.sequence ?? [] {
                    if let pm = item.mapping {
                        guard let t = pm["target"] else { throw error(item, path, "a long-form port needs target") }
                        let published = try pm["published"].map { try scalar($0, path) }
                        let proto = try pm["protocol"].map { try scalar($0, path) } ?? "tcp"
                        s.ports.append((published.map { $0 + ":" } ?? "") + (try scalar(t, path)) + "/" + proto)
                    } else {
                        s.ports.append(try scalar(item, path))
                    }
                }
                if v.sequence == nil { throw error(v, path, "must be a list") }
            case "expose": s.expose = try strings(v, path)
            case "volumes":
                guard let seq = v.sequence else { throw error(v, path, "must be a list") }
                for item in seq { s.volumes.append(try volume(item, path)) }
            case "tmpfs": s.tmpfs = try strings(v, path)
            case "depends_on":
                if let dm = v.mapping {
                    for (dk, dv) in dm {
                        let dep = dk.string ?? ""
                        var condition = ComposeService.Condition.started
                        if let c = dv.mapping?["condition"] {
                            let text = try scalar(c, path + ".condition")
                            guard let parsed = ComposeService.Condition(rawValue: text) else {
                                throw error(
                                    c, path + ".condition",
                                    "must be service_started, service_healthy or service_completed_successfully")
                            }
                            condition = parsed
                        }
                        s.dependsOn[dep] = condition
                    }
                } else {
                    for dep in try strings(v, path) { s.dependsOn[dep] = .started }
                }
            case "healthcheck":
                guard let hm = v.mapping else { throw error(v, path, "must be a mapping") }
                if hm["disable"]?.bool == true {
                    s.healthcheck = nil
                    continue
                }
                guard let t = hm["test"] else { throw error(v, path, "needs test") }
                var test: [String]
                if t.sequence != nil {
                    test = try strings(t, path + ".test")
                } else {
                    test = ["CMD-SHELL", try scalar(t, path + ".test")]
                }
                if test.first == "NONE" {
                    s.healthcheck = nil
                    continue
                }
                guard let kind = test.first, kind == "CMD" || kind == "CMD-SHELL", test.count >= 2 else {
                    throw error(t, path + ".test", "must start with CMD or CMD-SHELL and name a command")
                }
                var h = ComposeService.Healthcheck(test: test)
                if let x = hm["interval"] { h.interval = try duration(x, path + ".interval") }
                if let x = hm["timeout"] { h.timeout = try duration(x, path + ".timeout") }
                if let x = hm["start_period"] { h.startPeriod = try duration(x, path + ".start_period") }
                if let x = hm["retries"] {
                    guard let n = Int(try scalar(x, path + ".retries")), n >= 0 else {
                        throw error(x, path + ".retries", "must be a whole number")
                    }
                    h.retries = n
                }
                s.healthcheck = h
            case "extra_hosts":
                if let xm = v.mapping {
                    for (xk, xv) in xm { s.extraHosts[xk.string ?? ""] = try scalar(xv, path) }
                } else {
                    for item in try strings(v, path) {
                        // host:ip or host=ip (IPv6 addresses contain colons: split at the first).
                        guard let sep = item.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                            throw error(v, path, "\"\(item)\" is not HOST:IP")
                        }
                        s.extraHosts[String(item[..<sep])] = String(item[item.index(after: sep)...])
                    }
                }
            case "init":
                guard let b = v.bool else { throw error(v, path, "must be true or false") }
                s.initProcess = b
            case "read_only":
                guard let b = v.bool else { throw error(v, path, "must be true or false") }
                s.readOnly = b
            case "stop_signal": s.stopSignal = try scalar(v, path)
            case "stop_grace_period": s.stopGracePeriod = try duration(v, path)
            default: break
            }
        }
        return s
    }

    /// A named volume's name, as Docker allows it: `[a-zA-Z0-9][a-zA-Z0-9_.-]*` — never `.`, `..` or a path.
    func checkVolumeName(_ name: String, _ node: Node, _ key: String) throws {
        guard ComposeService.Volume.isValidName(name) else {
            throw error(node, key, "\"\(name.prefix(80))\" is not a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)")
        }
    }

    /// `SRC:DST[:ro|rw]`, `DST` (anonymous), `NAME:DST` (named volume), or the long form.
    func volume(_ node: Node, _ key: String) throws -> ComposeService.Volume {
        if let vm = node.mapping {
            let type = try vm["type"].map { try scalar($0, key + ".type") } ?? "volume"
            guard let kind = ComposeService.Volume.Kind(rawValue: type) else {
                throw error(node, key + ".type", "\(type) is not supported (bind, volume or tmpfs)")
            }
            guard let t = vm["target"] else { throw error(node, key, "needs target") }
            var source = try vm["source"].map { try scalar($0, key + ".source") }
            if kind == .bind, let s = source { source = path(s) }
            if kind == .volume, let name = source { try checkVolumeName(name, node, key) }
            return .init(
                kind: kind, source: source, target: try scalar(t, key + ".target"),
                readOnly: vm["read_only"]?.bool ?? false)
        }
        let spec = try scalar(node, key)
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch parts.count {
        case 1: return .init(kind: .volume, source: nil, target: parts[0], readOnly: false)
        case 2, 3:
            let mode = parts.count == 3 ? parts[2] : "rw"
            guard
                mode.split(separator: ",").allSatisfy({
                    ["ro", "rw", "z", "Z", "cached", "delegated", "consistent"].contains($0)
                })
            else {
                throw error(node, key, "\"\(mode)\" is not a volume mode (ro or rw)")
            }
            let src = parts[0]
            let bind = src.hasPrefix("/") || src.hasPrefix(".") || src.hasPrefix("~")
            if !bind { try checkVolumeName(src, node, key) }
            return .init(
                kind: bind ? .bind : .volume, source: bind ? path(src) : src, target: parts[1],
                readOnly: mode.split(separator: ",").contains("ro"))
        default:
            throw error(node, key, "\"\(spec)\" is not SOURCE:TARGET[:MODE]")
        }
    }
}

extension ComposeService.Volume {
    /// Docker's rule for volume names (`VolumeName.isValid`, HardenProfile).
    public static func isValidName(_ name: String) -> Bool { VolumeName.isValid(name) }
}

extension ComposeService {
    /// The container settings of this service: env files first, then `environment` (which wins, as in Compose);
    /// bind mounts and volumes; tmpfs; the container side of `ports` and `expose`.
    public func settings() throws -> ContainerSettings {
        var s = ContainerSettings()
        var env: [(name: String, value: String)] = []
        for f in envFiles {
            guard HostFS.exists(f) else {
                throw HardenError(.notFound, "services.\(name).env_file: \(f) does not exist")
            }
            env += try EnvFile.parse(try HostFS.readFile(f, limit: 1 << 20), source: f).map {
                (name: $0.0, value: $0.1)
            }
        }
        for (k, v) in environment.sorted(by: { $0.key < $1.key }) { env.append((k, v)) }
        s.environment = env
        for v in volumes {
            switch v.kind {
            case .bind:
                s.mounts.append(.init(kind: .bind, source: v.source, destination: v.target, readOnly: v.readOnly))
            case .volume:
                s.mounts.append(.init(kind: .volume, source: v.source, destination: v.target, readOnly: v.readOnly))
            case .tmpfs: s.tmpfs.append(v.target)
            }
        }
        s.tmpfs += tmpfs.map { String($0.split(separator: ":").first ?? "") }.filter { !$0.isEmpty }
        s.user = user
        s.workingDir = workingDir
        s.entrypoint = entrypoint
        s.command = command
        s.extraHosts = extraHosts.sorted { $0.key < $1.key }.map { (name: $0.key, address: $0.value) }
        s.initProcess = initProcess ?? false
        s.readOnlyRootfs = readOnly ?? false
        s.stopSignal = stopSignal
        s.stopGracePeriod = stopGracePeriod
        s.ports = containerPorts
        return s
    }

    /// The container ports of `ports` (`[IP:][HOST:]CONTAINER[/PROTO]`, ranges expanded) and `expose`.
    public var containerPorts: [Int] {
        var out = Set<Int>()
        for spec in ports + expose {
            let noProto = spec.split(separator: "/").first.map(String.init) ?? spec
            let container = noProto.split(separator: ":").last.map(String.init) ?? noProto
            let range = container.split(separator: "-").compactMap { Int($0) }
            if range.count == 2, range[0] <= range[1], range[1] - range[0] < 1024 {
                out.formUnion(range[0]...range[1])
            } else if range.count == 1 {
                out.insert(range[0])
            }
        }
        return out.sorted()
    }
}

// harden — image checks: CIS Docker Benchmark §4 and Dockle's checkpoints that an image decides, plus harden's own.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenProfile
import HardenVulnDB

/// Dockle's levels: `fatal` must be fixed, `warn` should be, `info` is worth knowing.
public enum CheckLevel: String, Codable, Sendable, CaseIterable, Comparable {
    case info, warn, fatal
    public static func < (a: CheckLevel, b: CheckLevel) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

public enum CheckStatus: String, Codable, Sendable {
    /// The image passes.
    case pass
    /// The image fails; `findings` say where.
    case fail
    /// The check needs something not given (a runtime profile, a vulnerability database).
    case skip
    /// A policy or `--ignore` accepted the failure.
    case ignored
}

public struct CheckResult: Codable, Sendable, Equatable {
    public var id: String
    public var level: CheckLevel
    public var title: String
    /// The CIS Docker Benchmark v1.6.0 recommendation this check decides, if any.
    public var cis: String?
    public var status: CheckStatus
    /// What was found: paths, keys, history lines.
    public var findings: [String]
    public var remediation: String
    /// Why a check was skipped or ignored.
    public var note: String?

    public var failed: Bool { status == .fail }

    public init(
        id: String, level: CheckLevel, title: String, cis: String?, status: CheckStatus, findings: [String],
        remediation: String,
        note: String? = nil
    ) {
        self.id = id
        self.level = level
        self.title = title
        self.cis = cis
        self.status = status
        self.findings = findings
        self.remediation = remediation
        self.note = note
    }
}

/// What the checks look at.
public struct CheckInput {
    public var image: Image
    public var reference: String
    /// The tag the image was named by (`latest` when a registry reference gives none); nil when pinned by digest or untagged.
    public var tag: String?
    public var inspection: ImageInspection
    public var profile: RuntimeProfile?
    /// Findings of a vulnerability scan, when a database was available.
    public var findings: [Finding]?
    /// Package ids (`SoftwarePackage.id`) the image holds, when catalogued: a profile of the image this one was
    /// minified from then counts only the packages still here.
    public var packageIDs: Set<String>?

    public init(
        image: Image, reference: String, tag: String?, inspection: ImageInspection, profile: RuntimeProfile? = nil,
        findings: [Finding]? = nil,
        packageIDs: Set<String>? = nil
    ) {
        self.packageIDs = packageIDs
        self.image = image
        self.reference = reference
        self.tag = tag
        self.inspection = inspection
        self.profile = profile
        self.findings = findings
    }
}

/// One check: identity, advice and how it decides.
public struct CheckDefinition: Sendable {
    public enum Outcome { case pass, fail([String]), skip(String) }
    public var id: String
    public var level: CheckLevel
    public var title: String
    public var cis: String?
    public var remediation: String
    let evaluate: @Sendable (CheckInput) -> Outcome
}

public enum ImageChecks {
    /// Runs every check, in catalogue order.
    public static func run(_ input: CheckInput) -> [CheckResult] {
        catalogue.map { def in
            var r = CheckResult(
                id: def.id, level: def.level, title: def.title, cis: def.cis, status: .pass, findings: [],
                remediation: def.remediation)
            switch def.evaluate(input) {
            case .pass: break
            case .fail(let found):
                r.status = .fail
                r.findings = found.count > 200 ? Array(found.prefix(200)) + ["… and \(found.count - 200) more"] : found
            case .skip(let why):
                r.status = .skip
                r.note = why
            }
            return r
        }
    }

    public static var ids: [String] { catalogue.map(\.id) }

    /// The `RUN`/`ADD`/`COPY` lines of the image's history, as written by Docker, BuildKit, buildah or kaniko.
    static func history(_ image: Image) -> [String] {
        (image.config.history ?? []).compactMap(\.createdBy)
    }

    /// The shell commands of a history line, split at `&&`, `||`, `;` and `|`.
    static func commands(_ line: String) -> [[String]] {
        var text = line
        for prefix in ["RUN ", "/bin/sh -c #(nop) ", "/bin/sh -c "] where text.hasPrefix(prefix) {
            text = String(text.dropFirst(prefix.count))
        }
        if let r = text.range(of: " # buildkit") { text = String(text[..<r.lowerBound]) }
        // BuildKit's `|2 A=1 B=2 /bin/sh -c …`: the count of build arguments, then the arguments.
        if text.hasPrefix("|"), let space = text.firstIndex(of: " ") {
            text = String(text[text.index(after: space)...])
        }
        var parts: [String] = [text]
        for sep in ["&&", "||", ";", "|", "\n"] { parts = parts.flatMap { $0.components(separatedBy: sep) } }
        return parts.map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\\" }).map(String.init) }.filter
        { !$0.isEmpty }
    }

    static func isRunLine(_ line: String) -> Bool {
        !(line.contains("#(nop)") || line.hasPrefix("ADD ") || line.hasPrefix("COPY ") || line.hasPrefix("ENV ")
            || line.hasPrefix("LABEL ")
            || line.hasPrefix("CMD ") || line.hasPrefix("ENTRYPOINT ") || line.hasPrefix("EXPOSE ")
            || line.hasPrefix("USER ")
            || line.hasPrefix("WORKDIR ") || line.hasPrefix("VOLUME ") || line.hasPrefix("ARG ")
            || line.hasPrefix("HEALTHCHECK "))
    }

    static func short(_ line: String) -> String {
        let t = line.trimming(" ")
        return t.count > 160 ? String(t.prefix(157)) + "…" : t
    }

    /// Does any command of `cmds` start with `tool` (after sudo/env) and contain all `words`?
    static func has(_ cmds: [[String]], _ tools: [String], _ words: [String]) -> Bool {
        cmds.contains { c in
            // Skip what runs the command: BuildKit's `|N ARG=…`, a shell's `-c`, sudo, env and variable assignments.
            let runners: Set<String> = [
                "sudo", "env", "/bin/sh", "/bin/bash", "sh", "bash", "-c", "-ec", "-exc", "-eux", "-xe",
            ]
            let args = Array(c.drop { runners.contains($0) || $0.contains("=") || $0.hasPrefix("|") })
            guard let tool = args.first.map({ String($0.split(separator: "/").last ?? "") }), tools.contains(tool)
            else { return false }
            return words.allSatisfy { args.dropFirst().contains($0) }
        }
    }

    static func isRootUser(_ user: String?) -> Bool {
        let u = (user ?? "").trimming(" ")
        return u.isEmpty || u == "root" || u == "0" || u.hasPrefix("root:") || u.hasPrefix("0:")
    }

    /// Paths in the final tree that exist (following symlinks to something that exists).
    /// One name per file: merged-/usr images reach each file twice (`/bin/sh`, `/usr/bin/sh`), links reach it again.
    static func existing(_ tree: FileTree, _ paths: [String]) -> [String] {
        var seen = Set<RawPath>()
        return paths.filter { p in
            guard let resolved = tree.resolve(RawPath(p)), let node = tree.nodes[resolved], node.type == .regular else {
                return false
            }
            return seen.insert(resolved).inserted
        }.map { "/" + $0 }
    }

    static let shells = [
        "bin/sh", "bin/bash", "bin/dash", "bin/zsh", "bin/ash", "bin/ksh", "bin/mksh", "bin/busybox",
        "usr/bin/sh", "usr/bin/bash", "usr/bin/dash", "usr/bin/zsh", "usr/bin/ksh", "usr/bin/busybox",
    ]
    static let packageManagers = [
        "usr/bin/apt", "usr/bin/apt-get", "usr/bin/dpkg", "usr/bin/aptitude", "sbin/apk", "usr/bin/yum",
        "usr/bin/dnf", "usr/bin/microdnf", "usr/bin/rpm", "bin/rpm", "usr/bin/zypper", "usr/bin/pip", "usr/bin/pip3",
        "usr/local/bin/pip", "usr/local/bin/pip3", "usr/bin/npm", "usr/local/bin/npm", "usr/bin/gem",
    ]

    /// Executables the profile saw run (absolute paths, following the profile's own records).
    static func executed(_ profile: RuntimeProfile?) -> Set<String> {
        Set(profile?.executables.map(\.path) ?? [])
    }

    static func accountLines(_ bytes: [UInt8]?) -> [[Substring]] {
        guard let bytes else { return [] }
        return String(decoding: bytes, as: UTF8.self).textLines().filter { !$0.hasPrefix("#") }
            .map { $0.split(separator: ":", omittingEmptySubsequences: false) }
    }

    static func duplicates(_ lines: [[Substring]], idField: Int, what: String) -> [String] {
        var owners: [Substring: [Substring]] = [:]
        var names: [Substring: Int] = [:]
        for f in lines where f.count > idField {
            owners[f[idField], default: []].append(f[0])
            names[f[0], default: 0] += 1
        }
        var out = owners.filter { $0.value.count > 1 }.map {
            "\(what) id \($0.key) is shared by \($0.value.joined(separator: ", "))"
        }
        out += names.filter { $0.value > 1 }.map { "\(what) \($0.key) is defined \($0.value) times" }
        return out.sorted()
    }

    public static let catalogue: [CheckDefinition] = [
        CheckDefinition(
            id: "CIS-DI-0001", level: .warn, title: "Create a user for the container", cis: "4.1",
            remediation:
                "Add a non-root user and switch to it with USER (harden minify does this when the profile shows no need for root)."
        ) { i in
            isRootUser(i.image.config.config?.user)
                ? .fail(["USER is \(i.image.config.config?.user.flatMap { $0.isEmpty ? nil : $0 } ?? "not set (root)")"]
                ) : .pass
        },
        CheckDefinition(
            id: "CIS-DI-0003", level: .warn, title: "Do not install unnecessary packages", cis: "4.3",
            remediation: "Remove the packages the application never used (harden minify)."
        ) { i in
            guard let p = i.profile else { return .skip("needs a runtime profile (--profile)") }
            let unused = p.packages.filter { !$0.used && $0.files > 0 && i.packageIDs?.contains($0.id) != false }.map {
                "\($0.name) \($0.version) (\($0.type), \($0.files) files, never used)"
            }
            return unused.isEmpty ? .pass : .fail(unused)
        },
        CheckDefinition(
            id: "CIS-DI-0004", level: .fatal, title: "Scan and rebuild the image to include security patches",
            cis: "4.4",
            remediation: "Rebuild on an updated base image and upgrade the packages that have fixes."
        ) { i in
            guard let findings = i.findings else { return .skip("needs a vulnerability database (harden db update)") }
            // A fix exists and was not applied; low and negligible findings (often never fixed by the vendor) aside.
            let fixable = findings.filter {
                $0.suppressed == nil && $0.fixState == .fixed && ($0.severity >= .medium || $0.severity == .unknown)
            }
            return fixable.isEmpty
                ? .pass
                : .fail(
                    fixable.map {
                        "\($0.id) (\($0.severity.rawValue)) in \($0.package.name) \($0.package.version), fixed in \($0.fixedVersions.joined(separator: ", "))"
                    })
        },
        CheckDefinition(
            id: "CIS-DI-0006", level: .info, title: "Add HEALTHCHECK instruction to the container image", cis: "4.6",
            remediation: "Add a HEALTHCHECK that exercises the service."
        ) { i in
            let test = i.image.config.config?.healthcheck?.test ?? []
            return test.isEmpty || test == ["NONE"] ? .fail(["no HEALTHCHECK in the image configuration"]) : .pass
        },
        CheckDefinition(
            id: "CIS-DI-0007", level: .fatal, title: "Do not use update instructions alone in the Dockerfile",
            cis: "4.7",
            remediation:
                "Run `apt-get update` and `apt-get install` (or `apk update` and `apk add`) in the same RUN instruction."
        ) { i in
            let bad = history(i.image).filter { line in
                let c = commands(line)
                return (has(c, ["apt-get", "apt"], ["update"]) && !has(c, ["apt-get", "apt"], ["install"]))
                    || (has(c, ["apk"], ["update"]) && !has(c, ["apk"], ["add"]))
            }
            return bad.isEmpty ? .pass : .fail(bad.map(short))
        },
        CheckDefinition(
            id: "CIS-DI-0008", level: .info, title: "Confirm safety of setuid and setgid files", cis: "4.8",
            remediation:
                "Remove the setuid/setgid bits: `find / -perm /6000 -type f -exec chmod a-s {} \\;` (harden minify strips them)."
        ) { i in
            let found = i.inspection.tree.nodes.filter { $0.value.type == .regular && $0.value.mode & 0o6000 != 0 }
                .map {
                    "\($0.key.absoluteDescription) (\($0.value.mode & 0o4000 != 0 ? "setuid" : "setgid"), mode \(String($0.value.mode & 0o7777, radix: 8)))"
                }
                .sorted()
            return found.isEmpty ? .pass : .fail(found)
        },
        CheckDefinition(
            id: "CIS-DI-0009", level: .fatal, title: "Use COPY instead of ADD in Dockerfile", cis: "4.9",
            remediation: "Use COPY for local files; fetch remote files with a verified download in RUN."
        ) { i in
            let bad = history(i.image).filter { line in
                let t = line.replacingAll("/bin/sh -c #(nop) ", with: "").trimming(" ")
                guard t.hasPrefix("ADD ") else { return false }
                // `ADD file:<digest> in /` is how a base image's root file system tarball is added.
                return !(t.hasPrefix("ADD file:") && t.hasSuffix(" in / "))
                    && !(t.hasPrefix("ADD file:") && t.hasSuffix(" in /"))
            }
            return bad.isEmpty ? .pass : .fail(bad.map(short))
        },
        CheckDefinition(
            id: "CIS-DI-0010", level: .fatal, title: "Do not store credential in environment variables/files",
            cis: "4.10",
            remediation:
                "Pass secrets at run time (mounted files, a secret store); remove them from ENV and from every layer, since deleting a file in a later layer keeps it in the image."
        ) { i in
            var found = SecretRules.environment(i.image.config.config?.env ?? []).map { "ENV \($0)" }
            found += i.inspection.secrets.map { s in
                let rule =
                    s.rule == "name" ? "secret file name" : s.rule == "extension" ? "secret file extension" : s.rule
                return
                    "\(s.path) (\(rule), layer \(s.layer)\(s.present ? "" : ", deleted by a later layer but still in the image"))"
            }
            return found.isEmpty ? .pass : .fail(found)
        },
        CheckDefinition(
            id: "DKL-DI-0001", level: .fatal, title: "Avoid sudo command", cis: nil,
            remediation: "Build steps run as root already; at run time use a user with only the rights it needs."
        ) { i in
            let bad = history(i.image).filter { isRunLine($0) && commands($0).contains { $0.contains("sudo") } }
            var found = bad.map(short)
            found += existing(i.inspection.tree, ["usr/bin/sudo"])
            return found.isEmpty ? .pass : .fail(found)
        },
        CheckDefinition(
            id: "DKL-DI-0002", level: .fatal, title: "Avoid sensitive directory mounting", cis: nil,
            remediation: "Do not declare VOLUMEs of /, /dev, /proc, /sys, /boot, /etc or the Docker socket."
        ) { i in
            let sensitive: Set<String> = [
                "/", "/dev", "/proc", "/sys", "/boot", "/etc", "/var/run/docker.sock", "/run/docker.sock",
                "/lib/modules", "/root",
            ]
            let bad = (i.image.config.config?.volumes ?? [:]).keys.filter { v in
                var p = v.trimming(" ")
                while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
                return sensitive.contains(p) || sensitive.contains { $0 != "/" && p.hasPrefix($0 + "/") }
            }.sorted()
            return bad.isEmpty ? .pass : .fail(bad.map { "VOLUME \($0)" })
        },
        CheckDefinition(
            id: "DKL-DI-0003", level: .warn, title: "Avoid apt-get dist-upgrade", cis: nil,
            remediation: "Upgrade the base image instead of running dist-upgrade in a build."
        ) { i in
            let bad = history(i.image).filter {
                let c = commands($0)
                return has(c, ["apt-get", "apt"], ["dist-upgrade"]) || has(c, ["apt-get", "apt"], ["full-upgrade"])
            }
            return bad.isEmpty ? .pass : .fail(bad.map(short))
        },
        CheckDefinition(
            id: "DKL-DI-0004", level: .fatal, title: "Use apk add with --no-cache", cis: nil,
            remediation: "Use `apk add --no-cache` so no index is left in the image."
        ) { i in
            var found = history(i.image).filter {
                let c = commands($0)
                return has(c, ["apk"], ["add"]) && !has(c, ["apk"], ["add", "--no-cache"])
            }.map(short)
            let cache = i.inspection.tree.nodes.filter {
                $0.value.type == .regular && $0.key.description.hasPrefix("var/cache/apk/")
            }
            if !cache.isEmpty { found.append("\(cache.count) files left in /var/cache/apk") }
            return found.isEmpty ? .pass : .fail(found)
        },
        CheckDefinition(
            id: "DKL-DI-0005", level: .fatal, title: "Clear apt-get caches", cis: nil,
            remediation: "End the install step with `rm -rf /var/lib/apt/lists/*` and `apt-get clean`."
        ) { i in
            var found: [String] = []
            for (dir, what) in [
                ("var/lib/apt/lists/", "package lists"), ("var/cache/apt/archives/", "downloaded packages"),
            ] {
                let files = i.inspection.tree.nodes.filter {
                    $0.value.type == .regular && $0.key.description.hasPrefix(dir)
                        && $0.key.lastComponent != Array("lock".utf8)
                        && $0.value.size > 0
                }
                if !files.isEmpty {
                    found.append(
                        "/\(dir) holds \(files.count) \(what) (\(files.values.reduce(Int64(0)) { $0 + $1.size }) bytes)"
                    )
                }
            }
            return found.isEmpty ? .pass : .fail(found)
        },
        CheckDefinition(
            id: "DKL-DI-0006", level: .warn, title: "Avoid latest tag", cis: nil,
            remediation: "Name images by a version tag or pin them by digest."
        ) { i in
            i.tag == "latest" ? .fail(["\(i.reference) is tagged latest"]) : .pass
        },
        CheckDefinition(
            id: "DKL-LI-0001", level: .fatal, title: "Avoid empty password", cis: nil,
            remediation: "Lock password logins: `passwd -l USER` (a `!` or `*` in /etc/shadow)."
        ) { i in
            guard i.inspection.accounts["etc/shadow"] != nil else { return .pass }
            let empty = accountLines(i.inspection.accounts["etc/shadow"]).filter { $0.count > 1 && $0[1].isEmpty }.map {
                "user \($0[0]) has an empty password in /etc/shadow"
            }
            return empty.isEmpty ? .pass : .fail(empty)
        },
        CheckDefinition(
            id: "DKL-LI-0002", level: .fatal, title: "Be unique UID/GROUPs", cis: nil,
            remediation: "Give every user and group its own id and name in /etc/passwd and /etc/group."
        ) { i in
            let found =
                duplicates(accountLines(i.inspection.accounts["etc/passwd"]), idField: 2, what: "user")
                + duplicates(accountLines(i.inspection.accounts["etc/group"]), idField: 2, what: "group")
            return found.isEmpty ? .pass : .fail(found)
        },
        CheckDefinition(
            id: "DKL-LI-0003", level: .info, title: "Only put necessary files", cis: nil,
            remediation: "Exclude these with .dockerignore or remove them in the same build step."
        ) { i in
            let dirs: Set<String> = [".git", ".aws", ".azure", ".gcp", ".vscode", ".idea", ".npm", ".cache", ".ssh"]
            let files: Set<String> = [
                "Dockerfile", "docker-compose.yml", "docker-compose.yaml", ".vimrc", ".DS_Store", ".bash_history",
                ".python_history",
            ]
            var found: [String] = []
            for (path, node) in i.inspection.tree.nodes {
                let name = String(decoding: path.lastComponent, as: UTF8.self)
                if node.isDirectory && dirs.contains(name) && !path.description.hasPrefix("usr/share/") {
                    found.append(path.absoluteDescription + "/")
                }
                if node.type == .regular && files.contains(name) { found.append(path.absoluteDescription) }
            }
            return found.isEmpty ? .pass : .fail(found.sorted())
        },
        CheckDefinition(
            id: "HDN-0001", level: .info, title: "No shell in the image unless the application uses one", cis: "4.3",
            remediation: "Remove shells the application does not run (harden minify removes them when unused)."
        ) { i in
            let present = existing(i.inspection.tree, shells)
            guard !present.isEmpty else { return .pass }
            guard let profile = i.profile else { return .fail(present) }
            let ran = executed(profile)
            let unused = present.filter { !ran.contains($0) }
            return unused.isEmpty ? .pass : .fail(unused.map { "\($0) (never run)" })
        },
        CheckDefinition(
            id: "HDN-0002", level: .info, title: "No package manager in the image unless the application uses one",
            cis: "4.3",
            remediation: "Remove package managers from runtime images (multi-stage builds, harden minify)."
        ) { i in
            let present = existing(i.inspection.tree, packageManagers)
            guard !present.isEmpty else { return .pass }
            let ran = executed(i.profile)
            let unused = present.filter { !ran.contains($0) }
            return unused.isEmpty ? .pass : .fail(unused)
        },
        CheckDefinition(
            id: "HDN-0003", level: .warn, title: "No world-writable files or directories without the sticky bit",
            cis: nil,
            remediation: "`chmod o-w` them; world-writable directories need the sticky bit (`chmod +t`)."
        ) { i in
            let found = i.inspection.tree.nodes.filter { path, node in
                guard !path.isRoot, node.mode & 0o002 != 0, node.type == .regular || node.isDirectory else {
                    return false
                }
                return !(node.isDirectory && node.mode & 0o1000 != 0) && !path.description.hasPrefix("proc/")
                    && !path.description.hasPrefix("sys/")
            }.map { "\($0.key.absoluteDescription) (mode \(String($0.value.mode & 0o7777, radix: 8)))" }.sorted()
            return found.isEmpty ? .pass : .fail(found)
        },
        CheckDefinition(
            id: "HDN-0004", level: .warn, title: "EXPOSE only the ports the application listens on", cis: nil,
            remediation: "Remove EXPOSE lines of ports nothing listens on (harden minify keeps only listened ports)."
        ) { i in
            guard let profile = i.profile else { return .skip("needs a runtime profile (--profile)") }
            let listened = Set(profile.ports.map { "\($0.port)/\($0.protocolName)" })
            let bad = (i.image.config.config?.exposedPorts ?? [:]).keys.filter { p in
                let key = p.contains("/") ? p.lowercased() : p + "/tcp"
                return !listened.contains(key)
            }.sorted()
            return bad.isEmpty ? .pass : .fail(bad.map { "EXPOSE \($0): never listened on during the profile run" })
        },
    ]
}

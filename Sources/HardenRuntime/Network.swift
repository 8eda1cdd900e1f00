// harden — a network namespace for the container: loopback up, plus a veth link to the host so probes and
// probe scripts on the host reach the container at its own address (no NAT, no bridge, nothing shared).
import HardenCore
import HardenOCI
import HardenProfile
import HardenSystem

#if canImport(Glibc)
import Glibc
#endif

public struct ContainerNetwork: Sendable {
    public let name: String
    public let hostInterface: String
    public let hostAddress: String
    public let containerAddress: String
    public var namespacePath: String { Self.path(of: name) }

    /// Creates the namespace and the link with `ip` (iproute2). On failure, what was made is removed.
    /// The namespace's name: `harden-TAG-ID`, TAG naming the run directory, so runs of different run directories
    /// (and their leak checks) never see each other's namespaces.
    public static func namespaceName(id: String, runDirectory: String) -> String {
        "harden-\(Digest.sha256(of: Array(runDirectory.utf8)).encoded.prefix(6))-\(id)"
    }

    /// The host end of the link: `h` + 3 characters of the run directory's tag + 10 of the id + `h` (15 characters, the
    /// kernel's limit); the container end ends in `c`.
    public static func interfaceName(id: String, runDirectory: String, end: Character = "h") -> String {
        "h\(Digest.sha256(of: Array(runDirectory.utf8)).encoded.prefix(3))\(id.prefix(10))\(end)"
    }

    /// A /30 in 10.213.0.0/16 that no interface on the host uses yet: (host end, container end).
    public static func freeAddresses() async throws -> (host: String, container: String) {
        let used = (try? await ChildProcess.run(["ip", "-4", "-o", "addr", "show"]).output) ?? ""
        for _ in 0..<64 {
            let k = Int.random(in: 0..<16384)
            let a = "10.213.\(k >> 6).\((k & 63) * 4 + 1)"
            let b = "10.213.\(k >> 6).\((k & 63) * 4 + 2)"
            if !used.contains(" \(a)/") && !used.contains(" \(b)/") { return (a, b) }
        }
        throw HardenError(.io, "no free address in 10.213.0.0/16 for the probe link")
    }

    public static func path(of name: String) -> String { "/var/run/netns/\(name)" }

    public static func create(
        id: String, runDirectory: String, mode: NetworkMode = .isolated,
        addresses: (host: String, container: String)? = nil
    ) async throws -> ContainerNetwork {
        guard ChildProcess.which("ip") != nil else {
            throw HardenError(
                .notFound,
                "ip: iproute2 is needed to give the container a network namespace (scripts/setup.sh installs it)")
        }
        if mode != .open
            && (ChildProcess.which("iptables-restore") == nil || ChildProcess.which("ip6tables-restore") == nil)
        {
            throw HardenError(
                .notFound,
                "iptables: needed to keep the container off the host's network (scripts/setup.sh installs it; or --network open)"
            )
        }
        let name = namespaceName(id: id, runDirectory: runDirectory)
        let host = interfaceName(id: id, runDirectory: runDirectory)
        let peer = interfaceName(id: id, runDirectory: runDirectory, end: "c")
        var chosen = addresses
        if chosen == nil { chosen = try await freeAddresses() }
        guard let (hostIP, containerIP) = chosen else {
            throw HardenError(.internalError, "no address for the probe link")
        }
        try await ChildProcess.check(["ip", "netns", "add", name])
        do {
            // One `ip -batch` on each side of the link (a process each, not one per command).
            try await ChildProcess.check(
                ["ip", "-batch", "-"],
                input: Array(
                    """
                    link add \(host) type veth peer name \(peer)
                    link set \(peer) netns \(name)
                    addr add \(hostIP)/30 dev \(host)
                    link set \(host) up

                    """.utf8))
            try await ChildProcess.check(
                ["ip", "-n", name, "-batch", "-"],
                input: Array(
                    """
                    addr add \(containerIP)/30 dev \(peer)
                    link set \(peer) up
                    link set lo up
                    route add default via \(hostIP)

                    """.utf8))
            if mode != .open { try await isolate(namespace: name, allowHost: mode == .host ? hostIP : nil) }
            return ContainerNetwork(name: name, hostInterface: host, hostAddress: hostIP, containerAddress: containerIP)
        } catch {
            remove(name: name, hostInterface: host)
            throw error
        }
    }

    /// Inside the namespace (the container has no CAP_NET_ADMIN to undo it): outgoing packets are dropped unless
    /// they leave through loopback, answer a connection made to the container, or (host mode) go to the host.
    /// One `iptables-restore` per address family loads the whole table at once.
    static func isolate(namespace: String, allowHost: String?) async throws {
        for (tool, host) in [("iptables-restore", allowHost), ("ip6tables-restore", nil)] {
            let rules = """
                *filter
                :INPUT ACCEPT [0:0]
                :FORWARD DROP [0:0]
                :OUTPUT DROP [0:0]
                -A OUTPUT -o lo -j ACCEPT
                -A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
                \(host.map { "-A OUTPUT -d \($0) -j ACCEPT\n" } ?? "")COMMIT

                """
            try await ChildProcess.check(["ip", "netns", "exec", namespace, tool, "-w"], input: Array(rules.utf8))
        }
    }

    public func remove() { Self.remove(name: name, hostInterface: hostInterface) }

    static func remove(name: String, hostInterface: String) {
        ChildProcess.runQuietly(["ip", "link", "delete", hostInterface])
        ChildProcess.runQuietly(["ip", "netns", "delete", name])
    }
}

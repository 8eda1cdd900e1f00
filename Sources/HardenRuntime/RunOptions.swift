// harden — what a container run is given: directories, sensors, probes, limits, network, settings.
import CHardenSystem
import Dispatch
import Glibc
import HardenCore
import HardenOCI
import HardenProfile
import HardenSystem
import Logging
import Synchronization

/// What to run and how to exercise it.
public struct RunOptions: Sendable {
    public var httpProbes: [HTTPProbe] = []
    public var execProbes: [String] = []
    public var probeScripts: [String] = []
    /// Keep the container running at least this many seconds from its start (default: until the probes end; 5 s without probes).
    public var duration: Double?
    public var sensors: Set<Sensor> = [.fanotify, .ptrace]
    /// How long to wait for a port to open / a command or script to finish.
    public var probeTimeout: Double = 60
    /// A seccomp profile for the container (verification runs); profiling runs use `Seccomp.dockerDefault`.
    public var seccomp: RuntimeSpec.Seccomp?
    /// The container's pids and memory limits.
    public var limits = SandboxLimits()
    /// What the container may connect to.
    public var network = NetworkMode.isolated
    /// How the target starts besides its image config (environment, mounts, user, command…).
    public var settings = ContainerSettings()
    /// The target's Compose service name (its hostname, and a name the others reach it by).
    public var serviceName: String?
    /// Services available to start before the target (the ones it depends on, transitively, are started).
    public var services: [ServiceLaunch] = []
    /// What the target waits for before it starts.
    public var dependsOn: [String: ServiceCondition] = [:]
    /// The target's own healthcheck: the probes start once it passes.
    public var healthcheck: ServiceHealthcheck?
    /// The program that runs the ptrace sensor (`harden internal-trace`); default /proc/self/exe.
    public var tracerExecutable: String = "/proc/self/exe"
    public var runDirectory: String = RunOptions.defaultRunDirectory()
    public var cacheDirectory: String = RunOptions.defaultCacheDirectory()

    public init() {}

    /// Every value the run's settings put in an environment: redacted from what a run records.
    public var secretValues: [String] { settings.secretValues + services.flatMap(\.settings.secretValues) }

    /// `$HARDEN_RUN_DIR`, else /run/harden.
    public static func defaultRunDirectory() -> String {
        if let d = getenv("HARDEN_RUN_DIR"), d.pointee != 0 { return String(cString: d) }
        return "/run/harden"
    }
    /// Unpacked images: `$HARDEN_CACHE_DIR/rootfs`, else `$XDG_CACHE_HOME/harden/rootfs`, else ~/.cache/harden/rootfs.
    public static func defaultCacheDirectory() -> String {
        if let d = getenv("HARDEN_CACHE_DIR"), d.pointee != 0 { return String(cString: d) + "/rootfs" }
        if let x = getenv("XDG_CACHE_HOME"), x.pointee != 0 { return String(cString: x) + "/harden/rootfs" }
        return (getenv("HOME").map { String(cString: $0) } ?? "/tmp") + "/.cache/harden/rootfs"
    }
}

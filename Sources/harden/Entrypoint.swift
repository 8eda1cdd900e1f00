// harden — the executable: runs the root command.
import ArgumentParser
import HardenCommands

#if canImport(Glibc)
import Glibc
#endif

@main
struct Entrypoint {
    static func main() async {
        // The ptrace sensor drops capabilities, which is per thread: it runs before any other thread exists.
        if let code = Application.runSensor(CommandLine.arguments) { exit(code) }
        exit(await Application.run())
    }
}

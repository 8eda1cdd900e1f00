// harden — the executable: runs the root command.
import ArgumentParser
import HardenCommands

#if canImport(Glibc)
import Glibc
#endif

@main
struct Entrypoint {
    static func main() async {
        exit(await Application.run())
    }
}

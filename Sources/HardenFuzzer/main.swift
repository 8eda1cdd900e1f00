// harden — runs libFuzzer's driver on `fuzzOneInput`. scripts/fuzz.sh builds it with
// `-sanitize=fuzzer -DHARDEN_FUZZ`; an ordinary build gets a stub that says how to build it.
import HardenCore
import HardenPackages

#if canImport(Glibc)
import Glibc
#endif

#if HARDEN_FUZZ
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
#else
writeStandardError("HardenFuzzer: build and run it with scripts/fuzz.sh (it needs -sanitize=fuzzer)\n")
exit(1)
#endif

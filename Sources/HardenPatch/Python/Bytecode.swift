// harden — byte-compiling the new versions of distributions the image had compiled (their RECORD listed `.pyc`), as
// pip does at install time: with the host's CPython when it is the image's X.Y (the same bytecode format), in
// isolated mode (`-I`), compiling only (`py_compile` never runs the code). The `.pyc` files name the image's paths and
// are hash-checked (PEP 552), so they stay valid whatever the layer's timestamps.
import Foundation
import HardenCore
import HardenPackages
import HardenSystem

public enum PythonBytecode {
    /// The host interpreter's X.Y, nil when there is none.
    public static let host: String? = hostVersion()

    static func hostVersion() -> String? {
        guard
            let (status, out) = try? run(["python3", "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]),
            status == 0
        else { return nil }
        return out.trimming("\n")
    }

    /// `files` with a `__pycache__/NAME.cpython-XY.pyc` beside each `.py` under `site`; nil when the host cannot
    /// compile for `version` (X.Y).
    public static func compile(_ files: [LayerFile], site: RawPath, version: String) throws -> [LayerFile]? {
        guard host == version else { return nil }
        let sources = files.filter { $0.path.description.hasSuffix(".py") && $0.path.isUnder(site) }
        guard !sources.isEmpty else { return [] }
        let dir = try HostFS.makeTemporaryDirectory(prefix: "harden-pyc")
        defer { try? HostFS.removeTree(dir) }
        // The host paths are harden's own (numbered in a fresh directory); the image path each names goes in as
        // JSON data, never parsed from text a wheel could shape.
        var shown: [String] = []
        for (i, f) in sources.enumerated() {
            try HostFS.writeFileAtomically("\(dir)/\(i).py", f.bytes)
            shown.append("/" + f.path.description)
        }
        try HostFS.writeFileAtomically(dir + "/list.json", Array(try JSONEncoder().encode(shown)))
        let script = """
            import json, os, py_compile, sys
            d = os.path.dirname(sys.argv[1])
            for i, shown in enumerate(json.load(open(sys.argv[1], encoding="utf-8"))):
                src, dst = os.path.join(d, "%d.py" % i), os.path.join(d, "%d.pyc" % i)
                try:
                    py_compile.compile(src, cfile=dst, dfile=shown, doraise=True,
                                       invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
                except py_compile.PyCompileError:
                    pass
            """
        let (status, out) = try run(["python3", "-I", "-c", script, dir + "/list.json"])
        guard status == 0 else {
            throw HardenError(.io, "byte-compiling with the host's python3 failed: \(out.prefix(300))")
        }
        let tag = "cpython-" + version.split(separator: ".").joined()
        var out2: [LayerFile] = []
        for (i, f) in sources.enumerated() {
            guard let pyc = try? HostFS.readFile("\(dir)/\(i).pyc", limit: 64 << 20), let parent = f.path.parent else {
                continue  // a file that does not compile (Python 2 leftovers): pip skips it too
            }
            let stem = f.path.lastComponent.dropLast(3)
            let path = parent.appending(Array("__pycache__".utf8)).appending(Array(stem) + Array(".\(tag).pyc".utf8))
            out2.append(LayerFile(path: path, bytes: pyc, mode: 0o644))
        }
        return out2
    }

    static func run(_ argv: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        p.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        // Bounded: compiling never takes minutes; a stuck interpreter is stopped (and its output ends).
        let deadline = DispatchWorkItem { if p.isRunning { p.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 600, execute: deadline)
        defer { deadline.cancel() }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

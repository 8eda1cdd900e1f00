// swift-tools-version: 6.1
// harden — hardens container images without a Docker engine.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "harden",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "harden", targets: ["harden"]),
        .library(name: "HardenOCI", targets: ["HardenOCI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // MARK: C system libraries and shims
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", providers: [.apt(["libzstd-dev"])]),
        // ISA-L's inflate, loaded at run time when the build had its headers (libisal-dev) and the machine has it.
        .target(name: "CHardenInflate", path: "Sources/CHardenInflate", linkerSettings: [.linkedLibrary("dl")]),
        .systemLibrary(name: "CLzma", path: "Sources/CLzma", providers: [.apt(["liblzma-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "CHardenSystem", path: "Sources/CHardenSystem"),

        // MARK: leaf libraries
        .target(
            name: "HardenCore",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings),
        .target(
            name: "HardenSystem",
            dependencies: ["HardenCore", "CHardenSystem"],
            swiftSettings: swiftSettings),
        .target(
            name: "HardenArchive",
            dependencies: [
                "HardenCore", "HardenSystem", "CZlib", "CZstd", "CLzma", "CHardenInflate",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings),
        .target(name: "HardenELF", dependencies: ["HardenCore"], swiftSettings: swiftSettings),
        // The one SQLite wrapper: the vulnerability database and rpm's rpmdb.sqlite go through it.
        .target(name: "HardenSQLite", dependencies: ["HardenCore", "CSQLite"], swiftSettings: swiftSettings),
        .target(
            name: "HardenOCI",
            dependencies: ["HardenCore", "HardenSystem", "HardenArchive"],
            swiftSettings: swiftSettings),
        // The package model, the image's squashed view, the one deb822 reader, version orders and the ecosystem seam.
        .target(
            name: "HardenPackages",
            dependencies: ["HardenCore", "HardenArchive", "HardenOCI"],
            swiftSettings: swiftSettings),
        // One module per package ecosystem family: cataloger, database rewrite, capture rules.
        .target(
            name: "HardenDpkg",
            dependencies: ["HardenCore", "HardenSystem", "HardenArchive", "HardenOCI", "HardenPackages"],
            swiftSettings: swiftSettings),
        .target(
            name: "HardenApk",
            dependencies: [
                "HardenCore", "HardenArchive", "HardenOCI", "HardenPackages",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "HardenRpm",
            dependencies: [
                "HardenCore", "HardenArchive", "HardenOCI", "HardenSystem", "HardenPackages", "HardenSQLite",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings),
        // Keys, cosign's formats (simple signing, DSSE, in-toto), attaching and verifying signatures/attestations.
        .target(
            name: "HardenSign",
            dependencies: [
                "HardenCore", "HardenArchive", "HardenOCI",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "HardenSBOM",
            dependencies: [
                "HardenApk", "HardenDpkg", "HardenPackages", "HardenRpm",
                "HardenCore", "HardenSystem", "HardenArchive", "HardenOCI", "HardenSQLite", "CZlib", "CHardenSystem",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "HardenVulnDB",
            dependencies: [
                "HardenPackages",
                "HardenCore", "HardenSystem", "HardenArchive", "HardenSBOM", "HardenSQLite",
                .product(name: "Logging", package: "swift-log"), .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings),
        // Feed downloads (AsyncHTTPClient): `harden db update` and the fleet server's updater.
        .target(
            name: "HardenFeeds",
            dependencies: [
                "HardenCore", "HardenSystem", "HardenArchive", "HardenPackages", "HardenSBOM", "HardenVulnDB",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "HardenRegistryAuth",
            dependencies: ["HardenCore", "HardenSystem", "HardenOCI"],
            swiftSettings: swiftSettings),
        .target(
            name: "HardenRegistry",
            dependencies: [
                "HardenCore", "HardenSystem", "HardenArchive", "HardenOCI", "HardenRegistryAuth", "HardenSign",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings),

        // Patch: APT repositories (verified), the resolver, .deb reading and the patch layer.
        .target(
            name: "HardenPatch",
            dependencies: [
                "HardenDpkg", "HardenApk", "HardenRpm",
                "HardenPackages",
                "HardenCore", "HardenSystem", "HardenArchive", "HardenOCI", "HardenSBOM", "HardenVulnDB", "HardenELF",
                "HardenRegistryAuth",
                .product(name: "Logging", package: "swift-log"), .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        // What a run is asked and what it saw (profile, runtime spec, sensor reports): data, no side effects.
        .target(
            name: "HardenProfile",
            dependencies: ["HardenPackages", "HardenCore", "HardenArchive", "HardenOCI", "HardenSBOM"],
            swiftSettings: swiftSettings),
        // The executor: runc, overlay mounts, network namespaces, fanotify, ptrace, capabilities, signal cleanup.
        .target(
            name: "HardenRuntime",
            dependencies: [
                "HardenCore", "HardenSystem", "HardenArchive", "HardenOCI", "HardenProfile",
                "CHardenSystem",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings),

        .target(
            name: "HardenMinify",
            dependencies: [
                "HardenPackages",
                "HardenCore", "HardenSystem", "HardenArchive", "HardenOCI", "HardenSBOM", "HardenProfile",
                "HardenELF",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),

        .target(
            name: "HardenPolicy",
            dependencies: [
                "HardenPackages",
                "HardenCore", "HardenSystem", "HardenArchive", "HardenOCI", "HardenSBOM", "HardenVulnDB",
                "HardenProfile",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings),
        // Compose files: the services, settings and dependencies an application needs to start (pure reader).
        .target(
            name: "HardenCompose",
            dependencies: ["HardenCore", "HardenSystem", "HardenProfile", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings),
        .target(
            name: "HardenReport",
            dependencies: [
                "HardenPackages",
                "HardenCore", "HardenSBOM", "HardenVulnDB", "HardenProfile", "HardenMinify", "HardenPolicy",
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "HardenPipeline",
            dependencies: [
                "HardenPackages",
                "HardenCore", "HardenArchive", "HardenSystem", "HardenOCI", "HardenSBOM", "HardenVulnDB",
                "HardenProfile", "HardenRuntime",
                "HardenPatch", "HardenMinify", "HardenPolicy", "HardenReport", "HardenELF", "HardenRegistry",
                "HardenRegistryAuth", "HardenSign",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),

        // The fleet: PostgreSQL store and job queue, the HTTP API server, workers, re-matching.
        .target(
            name: "HardenFleet",
            dependencies: [
                "HardenPackages",
                "HardenCore", "HardenSystem", "HardenOCI", "HardenSBOM", "HardenVulnDB",
                .product(name: "Logging", package: "swift-log"), .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "HardenCommands",
            dependencies: [
                "HardenFeeds",
                "HardenPackages",
                "HardenCore", "HardenSystem", "HardenOCI", "HardenSBOM", "HardenVulnDB", "HardenRegistry",
                "HardenRegistryAuth", "HardenSign",
                "HardenProfile",
                "HardenRuntime", "HardenPatch", "HardenCompose", "CHardenSystem",
                "HardenMinify", "HardenPolicy", "HardenReport", "HardenPipeline", "HardenFleet",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "harden",
            dependencies: ["HardenCommands", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings),

        // Fuzz target: built only by scripts/fuzz.sh, with -sanitize=fuzzer (libFuzzer's driver).
        .executableTarget(
            name: "HardenFuzzer",
            dependencies: [
                "HardenPackages", "HardenRpm", "HardenApk",
                "HardenCore", "HardenArchive", "HardenOCI", "HardenSBOM", "HardenPolicy", "HardenRegistryAuth",
                "HardenDpkg", "HardenProfile", "HardenSign",
            ],
            swiftSettings: swiftSettings),

        // MARK: tests
        .target(
            name: "HardenTestSupport",
            dependencies: [
                "HardenCore", "HardenSystem", "HardenArchive", "HardenOCI", "HardenSQLite",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Tests/HardenTestSupport",
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HardenArchiveTests",
            dependencies: ["HardenArchive", "HardenCore", "HardenSystem", "HardenTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HardenSystemTests",
            dependencies: ["HardenSystem", "HardenTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HardenRegistryTests",
            dependencies: [
                "HardenRegistry", "HardenRegistryAuth", "HardenCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HardenSignTests",
            dependencies: ["HardenSign", "HardenCore", "HardenOCI", "HardenTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HardenOCITests",
            dependencies: ["HardenOCI", "HardenArchive", "HardenTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HardenSBOMTests",
            dependencies: [
                "HardenPackages", "HardenRpm", "HardenSBOM", "HardenOCI", "HardenArchive", "HardenTestSupport",
                "HardenSQLite",
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HardenVulnDBTests",
            dependencies: [
                "HardenCore", "HardenSystem", "HardenPackages", "HardenVulnDB", "HardenSBOM", "HardenTestSupport",
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HardenMinifyTests",
            dependencies: [
                "HardenApk", "HardenDpkg", "HardenPackages", "HardenMinify", "HardenProfile", "HardenOCI", "HardenELF",
                "HardenCore", "HardenSystem",
                "HardenTestSupport",
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HardenRuntimeTests",
            dependencies: [
                "HardenPackages",
                "HardenRuntime", "HardenProfile", "HardenCompose", "HardenOCI", "HardenArchive", "HardenSBOM",
                "HardenSystem", "HardenCore",
                "HardenTestSupport",
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HardenPolicyTests",
            dependencies: [
                "HardenPackages",
                "HardenPolicy", "HardenReport", "HardenOCI", "HardenArchive", "HardenCore", "HardenSystem",
                "HardenVulnDB", "HardenProfile",
                "HardenTestSupport",
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HardenComposeTests",
            dependencies: ["HardenCompose", "HardenCore", "HardenProfile", "HardenSystem", "HardenTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HardenPatchTests",
            dependencies: [
                "HardenDpkg", "HardenApk", "HardenRpm",
                "HardenSBOM",
                "HardenPackages",
                "HardenPatch", "HardenArchive", "HardenOCI", "HardenSystem", "HardenCore", "HardenTestSupport",
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HardenPipelineTests",
            dependencies: [
                "HardenPackages",
                "HardenPipeline", "HardenReport", "HardenMinify", "HardenProfile", "HardenVulnDB", "HardenSBOM",
                "HardenOCI",
                "HardenSystem",
                "HardenCore", "HardenTestSupport",
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HardenFleetTests",
            dependencies: [
                "HardenPackages",
                "HardenFleet", "HardenSBOM", "HardenVulnDB", "HardenSystem", "HardenCore", "HardenTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HardenIntegrationTests",
            dependencies: [
                "HardenSign", "HardenPolicy",
                "HardenPackages",
                "HardenOCI", "HardenArchive", "HardenSBOM", "HardenVulnDB", "HardenRegistry", "HardenRegistryAuth",
                "HardenProfile",
                "HardenRuntime",
                "HardenSystem", "HardenCommands", "HardenTestSupport", "HardenELF", "HardenFleet",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
    ]
)

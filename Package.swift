// swift-tools-version:6.1
import PackageDescription

// Release builds of Segments and Batch skip the runtime exclusivity checks: the hot
// loops touch class-held buffers per value, and the checks cost about half of ingest
// time (measured with perf). Debug builds and tests keep them. Spill keeps them in
// release too: with the flag, Swift 6.3.1 miscompiled a typed-throws path of the hash
// engine (a phantom error out of GraceHashTable.finish at 10M rows; checked builds are
// correct), and the release smoke benchmarks spill so that such a fault shows in CI.
// Instead, the hot state of the spill engines (scalars, pointers and arrays that one
// thread owns and no call touches while another access is open) is marked
// `@exclusivity(unchecked)` property by property: the checks cost about 10% of the
// external sort (perf).
let engineSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "batchrun",
    products: [
        .executable(name: "batchrun", targets: ["batchrun"]),
        .library(name: "Segments", targets: ["Segments"]),
        .library(name: "Spill", targets: ["Spill"]),
        .library(name: "Batch", targets: ["Batch"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Pipeline files are YAML; Yams (libyaml inside) gives each node its line and column.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // zstd and LZ4 are Debian's system libraries (libzstd-dev, liblz4-dev); no C source is vendored.
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLZ4", path: "Sources/CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .target(name: "Segments", dependencies: ["CZstd", "CLZ4"], swiftSettings: engineSettings),
        // Tiny C helpers Swift cannot express (a cache prefetch), as static inline functions.
        .target(name: "CShims", path: "Sources/CShims"),
        .target(name: "Spill", dependencies: ["Segments", "CShims"]),
        .target(name: "Batch", dependencies: ["Spill", "Segments", "CShims", .product(name: "Yams", package: "Yams")],
                swiftSettings: engineSettings, plugins: ["EmbedPipelines"]),
        // The binary carries the default pipeline file: at build time EmbedText writes
        // pipelines/transactions.yaml's text into a Swift constant of Batch, so the
        // pipeline's names stay in its YAML file.
        .plugin(name: "EmbedPipelines", capability: .buildTool(), dependencies: ["EmbedText"],
                path: "Sources/BuildTools/EmbedPipelines"),
        .executableTarget(name: "EmbedText", path: "Sources/BuildTools/EmbedText"),
        .executableTarget(
            name: "batchrun",
            dependencies: ["Batch", "Spill", "Segments", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // A child process for the crash tests: commits to a table in a loop until it is killed.
        .executableTarget(name: "CommitLoop", dependencies: ["Segments"], path: "Tests/CommitLoop"),
        // A child process for the spill kill tests: sorts and spills in a loop until it is killed.
        .executableTarget(name: "SpillLoop", dependencies: ["Spill"], path: "Tests/SpillLoop"),
        .testTarget(name: "SegmentsTests", dependencies: ["Segments", "CommitLoop"], resources: [.copy("Golden")]),
        .testTarget(name: "SpillTests", dependencies: ["Spill", "SpillLoop"]),
        .testTarget(name: "BatchTests", dependencies: ["Batch"]),
        .testTarget(name: "CLITests", dependencies: ["batchrun", "Batch"]),
    ]
)

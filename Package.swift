// swift-tools-version:6.1
import PackageDescription

// Release builds skip the runtime exclusivity checks: the engine's hot loops touch
// class-held buffers per value, and the checks cost about a quarter of ingest time
// (measured with perf). Debug builds and tests keep them.
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
    ],
    targets: [
        // zstd and LZ4 are Debian's system libraries (libzstd-dev, liblz4-dev); no C source is vendored.
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLZ4", path: "Sources/CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .target(name: "Segments", dependencies: ["CZstd", "CLZ4"], swiftSettings: engineSettings),
        .target(name: "Spill", dependencies: ["Segments"], swiftSettings: engineSettings),
        .target(name: "Batch", dependencies: ["Spill", "Segments"], swiftSettings: engineSettings),
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
        .testTarget(name: "CLITests", dependencies: ["batchrun"]),
    ]
)

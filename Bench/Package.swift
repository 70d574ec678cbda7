// swift-tools-version:6.1
import PackageDescription

// Operator micro-benchmarks on package-benchmark. `make bench` runs them at full size
// (10M rows); `make test` runs them at a tiny size (BENCH_SMOKE=1) so they cannot rot.
let package = Package(
    name: "Bench",
    dependencies: [
        .package(name: "batchrun", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .target(
            name: "BenchSupport",
            dependencies: [.product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/BenchSupport"
        ),
        .executableTarget(
            name: "SegmentBenchmarks",
            dependencies: [
                "BenchSupport",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Segments", package: "batchrun"),
                .product(name: "Batch", package: "batchrun"),
            ],
            path: "Benchmarks/SegmentBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "IngestBenchmarks",
            dependencies: [
                "BenchSupport",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Segments", package: "batchrun"),
                .product(name: "Spill", package: "batchrun"),
                .product(name: "Batch", package: "batchrun"),
            ],
            path: "Benchmarks/IngestBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "OperatorBenchmarks",
            dependencies: [
                "BenchSupport",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Segments", package: "batchrun"),
                .product(name: "Spill", package: "batchrun"),
                .product(name: "Batch", package: "batchrun"),
            ],
            path: "Benchmarks/OperatorBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ExpressionBenchmarks",
            dependencies: [
                "BenchSupport",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Segments", package: "batchrun"),
                .product(name: "Batch", package: "batchrun"),
            ],
            path: "Benchmarks/ExpressionBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "FormatBenchmarks",
            dependencies: [
                "BenchSupport",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Segments", package: "batchrun"),
                .product(name: "Batch", package: "batchrun"),
            ],
            path: "Benchmarks/FormatBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)

// swift-tools-version:6.1
import PackageDescription

// Hot kernels run without bounds or exclusivity checks; every index they use is
// derived from shapes validated before the kernel is entered.
#if arch(x86_64)
// `-target-cpu haswell` (AVX2 + FMA; this machine is a Zen 3 EPYC without AVX-512) lets
// SIMD16<Float> lower to ymm pairs with vfmadd; without it every lane of `addingProduct`
// is a call to fmaf. x86-64 only: the flag names an x86 CPU (aarch64 builds would fail
// with it, and Swift's SIMD types lower to NEON there without any flag), and a binary built
// with it dies with SIGILL on an x86 CPU without AVX2. So release builds also compile
// CFault's start-up check (cpu.c), which exits with one line on stderr on such a CPU.
// `#if arch` is the architecture the manifest is compiled for, i.e. the host's: cross
// builds to another architecture are not covered.
let targetCPU = ["-target-cpu", "haswell"]
let cpuCheck: [CSetting] = [.define("LOSSCLI_REQUIRE_AVX2", .when(configuration: .release))]
#else
let targetCPU: [String] = []
let cpuCheck: [CSetting] = []
#endif
let fast: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked"] + targetCPU,
                 .when(configuration: .release)),
]
// The engine is optimised in debug builds too (`swift test`): unoptimised, its kernels are
// 100× slower or more, and the network losses' tests (a VGG on 32×32 images) would take many
// minutes. Debug builds compile file by file, so the generic kernels that other files call
// carry `@_specialize` for Float and Double. Checks stay on (-O, not -Ounchecked). With
// `-target-cpu` (x86-64: haswell) as in release, or every FMA is a call to fmaf.
let engine: [SwiftSetting] = fast + [.unsafeFlags(["-O"] + targetCPU, .when(configuration: .debug))]

let package = Package(
    name: "losscli",
    products: [
        .executable(name: "losscli", targets: ["LossCLI"]),
        .library(name: "NpyIO", targets: ["NpyIO"]),
        .library(name: "LossKit", targets: ["LossKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // zlib from the system (Debian: zlib1g-dev); no vendored C.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // Async-signal-safe fault handling (SIGBUS on a truncated mapping, SIGTERM/SIGINT/SIGHUP
        // during a write, allocation failure): C, because signal handlers must be. Also the
        // start-up CPU check of x86-64 release builds (cpu.c).
        .target(name: "CFault", path: "Sources/CFault", cSettings: cpuCheck),
        .target(name: "NpyIO", dependencies: ["CZlib", "CFault"], swiftSettings: fast),
        .target(name: "LossKit", dependencies: ["CFault"], swiftSettings: engine),
        // NpyArray <-> Tensor, so that neither NpyIO nor LossKit knows the other.
        .target(name: "TensorIO", dependencies: ["NpyIO", "LossKit"], swiftSettings: fast),
        .executableTarget(
            name: "LossCLI",
            dependencies: [
                "NpyIO", "LossKit", "TensorIO",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fast
        ),
        // Side-by-side benchmarks (`make bench`); not run by CI.
        .executableTarget(name: "LossBench", dependencies: ["NpyIO", "LossKit"], swiftSettings: fast),
        .testTarget(name: "NpyIOTests", dependencies: ["NpyIO", "CFault"]),
        .testTarget(name: "LossKitTests", dependencies: ["LossKit", "NpyIO"]),
        .testTarget(name: "LossCLITests", dependencies: ["NpyIO", "LossCLI"]),
        .testTarget(name: "TensorIOTests", dependencies: ["TensorIO", "NpyIO", "LossKit"]),
    ],
    swiftLanguageModes: [.v5]
)

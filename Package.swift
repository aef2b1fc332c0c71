// swift-tools-version: 6.2
// ClipGuard: CLIP training, data poisoning and defences on libtorch.
//
// libtorch is found through the LIBTORCH environment variable (a folder with include/ and lib/),
// by default `.deps/libtorch`, the link `make setup` points at a PyPI wheel it unpacked or at the
// torch of an installed Python (`make setup TORCH=python3`).
//
// CLIPGUARD_SHIM=shared builds `clipguard` for the relocatable bundle (`make bundle`): the shim is
// then not compiled in but loaded from libctorch.so (the same sources, compiled by
// Scripts/build-shim.sh against whichever torch the target machine has), found through the
// RUNPATH `$ORIGIN/../lib`; CLIPGUARD_SHIM_LIB names the folder holding the libctorch.so to link.
import Foundation
import PackageDescription

let root = Context.packageDirectory
let libtorch = Context.environment["LIBTORCH"] ?? "\(root)/.deps/libtorch"
let sharedShim = Context.environment["CLIPGUARD_SHIM"] == "shared"
// The CUDA build of libtorch is linked with its GPU libraries only when they are installed:
// CLIPGUARD_CUDA=1/0 when set (the Makefile sets it from the set-up's record, so that SwiftPM,
// which caches this manifest's evaluation, re-reads it when the choice changes), otherwise the
// set-up's `.deps/libtorch-gpu.stamp`. A CUDA wheel without its GPU libraries uses libtorch_cpu alone.
let hasCUDA = FileManager.default.fileExists(atPath: "\(libtorch)/lib/libtorch_cuda.so")
    && (Context.environment["CLIPGUARD_CUDA"].map { $0 == "1" }
        ?? FileManager.default.fileExists(atPath: "\(root)/.deps/libtorch-gpu.stamp"))

let torchCxxFlags = [
    "-isystem", "\(libtorch)/include",
    "-isystem", "\(libtorch)/include/torch/csrc/api/include",
    "-D_GLIBCXX_USE_CXX11_ABI=1",
] + (hasCUDA ? ["-DCT_WITH_CUDA=1", "-isystem", "\(root)/.deps/nccl-include"] : [])
// libtorch_cuda registers its kernels from static constructors and nothing references its
// symbols directly, so it must be linked with --no-as-needed.
let torchLinkFlags = [
    "-L\(libtorch)/lib", "-Xlinker", "-rpath", "-Xlinker", "\(libtorch)/lib",
] + (hasCUDA ? ["-Xlinker", "--no-as-needed", "-ltorch_cuda", "-Xlinker", "--as-needed", "-ltorch"] : [])
    + ["-ltorch_cpu", "-lc10"]  // libtorch.so itself needs libtorch_cuda in the CUDA wheel
// The bundle's binary: libctorch.so from CLIPGUARD_SHIM_LIB at link time, from ../lib at run time
// (the image codecs too).
let sharedShimLinkFlags = [
    "-L\(Context.environment["CLIPGUARD_SHIM_LIB"] ?? "\(root)/.build-bundle/shim")",
    "-Xlinker", "-rpath", "-Xlinker", "$ORIGIN/../lib",
]

let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "ClipGuard",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "clipguard", targets: ["clipguard"]),
        .executable(name: "clipguard-bench", targets: ["clipguard-bench"]),
        .library(name: "ClipGuard", targets: ["Torch", "NN", "Datasets", "CLIP", "Attacks", "Defenses", "Evaluation", "Training"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        sharedShim
            // The shim's C header as a module that links libctorch.so (Sources/CTorchShared/module.modulemap).
            ? .systemLibrary(name: "CTorch", path: "Sources/CTorchShared")
            : .target(
                name: "CTorch",
                cxxSettings: [
                    // Declaration-only Gloo headers for c10d's ProcessGroupGloo.hpp (the wheel has none).
                    .headerSearchPath("compat"),
                    .unsafeFlags(torchCxxFlags + ["-Wno-unused-parameter"]),
                ],
                linkerSettings: [.unsafeFlags(torchLinkFlags)]
            ),
        .target(name: "Torch", dependencies: ["CTorch"], swiftSettings: strict),
        .target(name: "NN", dependencies: ["Torch"], swiftSettings: strict),
        .target(
            name: "CLIP", dependencies: ["NN"], resources: [.copy("Resources/model_configs")], swiftSettings: strict),
        .target(
            name: "Training",
            dependencies: ["Torch", "NN", "CLIP", "Datasets", "Evaluation", "Defenses", "Attacks", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),
        .target(name: "Evaluation", dependencies: ["Torch", "CLIP", "Datasets", "Attacks"], swiftSettings: strict),
        .target(name: "Defenses", dependencies: ["Torch", "NN", "CLIP"], swiftSettings: strict),
        .target(
            name: "CCodecs",
            linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16"), .linkedLibrary("z")]
        ),
        // Image decoding, resizing and augmentation are per-pixel Swift loops: optimise them in
        // debug builds too, or a debug build's data pipeline starves training.
        .target(
            name: "Datasets", dependencies: ["CCodecs"],
            swiftSettings: strict + [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "Attacks", dependencies: ["Datasets"], swiftSettings: strict),
        // Attacks that optimise through a surrogate CLIP model (BadCLIP's patch): they need
        // libtorch and checkpoint loading, which the Attacks module has not.
        .target(
            name: "SurrogateAttacks", dependencies: ["Torch", "NN", "CLIP", "Datasets", "Attacks", "Training"],
            swiftSettings: strict),
        .target(
            name: "Experiments",
            dependencies: ["Torch", "CLIP", "Datasets", "Attacks", "Evaluation", "Training", "Detection", "SurrogateAttacks"],
            swiftSettings: strict
        ),
        // Poison detection (`clipguard detect`): per-pair loops over features, optimised in debug too.
        .target(
            name: "Detection",
            dependencies: ["Torch", "CLIP", "Datasets", "Attacks", "Evaluation", "Training"],
            swiftSettings: strict + [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .executableTarget(
            name: "clipguard",
            dependencies: [
                "Torch", "NN", "CLIP", "Datasets", "Training", "Attacks", "Evaluation", "Defenses", "Experiments", "Detection",
                "SurrogateAttacks", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict,
            linkerSettings: sharedShim ? [.unsafeFlags(sharedShimLinkFlags)] : []
        ),
        // One rank of a scripted collective scenario; DistributedTests launches two of them.
        .executableTarget(name: "clipguard-dist-worker", dependencies: ["Torch", "CLIP"], swiftSettings: strict),
        .executableTarget(
            name: "clipguard-bench", dependencies: ["Torch", "NN", "CLIP", "Datasets", "Training", "Defenses"],
            swiftSettings: strict),
        .target(name: "TestSupport", dependencies: ["Torch", "Datasets"], path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "TorchTests", dependencies: ["Torch", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "NNTests", dependencies: ["NN", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "CLIPTests", dependencies: ["CLIP", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "TestSupport", "Attacks", "Evaluation", "Datasets"], swiftSettings: strict),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets"], swiftSettings: strict),
        .testTarget(name: "DefensesTests", dependencies: ["Defenses", "CLIP", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "CLITests", dependencies: ["clipguard", "TestSupport", "Detection"], swiftSettings: strict),
        .testTarget(
            name: "HostileInputTests",
            dependencies: ["clipguard", "TestSupport", "Datasets", "CLIP", "Torch", "Training", "Attacks"],
            swiftSettings: strict),
        .testTarget(name: "AttacksTests", dependencies: ["Attacks", "Datasets"], swiftSettings: strict),
        .testTarget(
            name: "SurrogateAttacksTests",
            dependencies: ["SurrogateAttacks", "Attacks", "Datasets", "CLIP", "Torch", "Training", "TestSupport", "clipguard"],
            swiftSettings: strict),
        .testTarget(
            name: "DistributedTests", dependencies: ["Torch", "TestSupport", "clipguard-dist-worker"], swiftSettings: strict),
        .testTarget(name: "DetectionTests", dependencies: ["Detection", "Attacks", "Datasets", "CLIP", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "ExperimentsTests", dependencies: ["Experiments", "Attacks", "Datasets", "Evaluation", "TestSupport", "SurrogateAttacks", "CLIP"], swiftSettings: strict),
    ],
    cxxLanguageStandard: .cxx20
)

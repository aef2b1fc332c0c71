// swift-tools-version: 6.2
// ClipGuard: CLIP training, data poisoning and defences on libtorch.
//
// libtorch is found through the LIBTORCH environment variable (a folder with include/ and lib/),
// by default `.deps/libtorch`, which `make setup` unpacks from a PyTorch wheel.
import Foundation
import PackageDescription

let root = Context.packageDirectory
let libtorch = Context.environment["LIBTORCH"] ?? "\(root)/.deps/libtorch"
// The CUDA build of libtorch is linked with its GPU libraries only when they were installed
// (`make setup GPU=1`, or CLIPGUARD_CUDA=1 for a LIBTORCH that carries them); the CPU fallback
// unpacks the CUDA wheel without its GPU libraries and uses libtorch_cpu alone.
let hasCUDA = FileManager.default.fileExists(atPath: "\(libtorch)/lib/libtorch_cuda.so")
    && (Context.environment["CLIPGUARD_CUDA"] == "1"
        || FileManager.default.fileExists(atPath: "\(root)/.deps/libtorch-gpu.stamp"))

let torchCxxFlags = [
    "-isystem", "\(libtorch)/include",
    "-isystem", "\(libtorch)/include/torch/csrc/api/include",
    "-D_GLIBCXX_USE_CXX11_ABI=1",
] + (hasCUDA ? ["-DCT_WITH_CUDA=1"] : [])
// libtorch_cuda registers its kernels from static constructors and nothing references its
// symbols directly, so it must be linked with --no-as-needed.
let torchLinkFlags = [
    "-L\(libtorch)/lib", "-Xlinker", "-rpath", "-Xlinker", "\(libtorch)/lib",
] + (hasCUDA ? ["-Xlinker", "--no-as-needed", "-ltorch_cuda", "-Xlinker", "--as-needed", "-ltorch"] : [])
    + ["-ltorch_cpu", "-lc10"]  // libtorch.so itself needs libtorch_cuda in the CUDA wheel

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
        .target(
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
        .target(
            name: "Experiments",
            dependencies: ["Torch", "CLIP", "Datasets", "Attacks", "Evaluation", "Training", "Detection"],
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
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // One rank of a scripted collective scenario; DistributedTests launches two of them.
        .executableTarget(name: "clipguard-dist-worker", dependencies: ["Torch"], swiftSettings: strict),
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
        .testTarget(name: "CLITests", dependencies: ["clipguard", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "HostileInputTests",
            dependencies: ["clipguard", "TestSupport", "Datasets", "CLIP", "Torch", "Training", "Attacks"],
            swiftSettings: strict),
        .testTarget(name: "AttacksTests", dependencies: ["Attacks", "Datasets"], swiftSettings: strict),
        .testTarget(
            name: "DistributedTests", dependencies: ["Torch", "TestSupport", "clipguard-dist-worker"], swiftSettings: strict),
        .testTarget(name: "DetectionTests", dependencies: ["Detection", "Attacks", "Datasets", "CLIP", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "TestSupport"], swiftSettings: strict),
    ],
    cxxLanguageStandard: .cxx20
)

// swift-tools-version: 6.2
// ClipGuard: CLIP training, data poisoning and defences on libtorch.
//
// libtorch is found through the LIBTORCH environment variable (a folder with include/ and lib/),
// by default `.deps/libtorch`, which `make setup` unpacks from a PyTorch wheel.
import Foundation
import PackageDescription

let root = Context.packageDirectory
let libtorch = Context.environment["LIBTORCH"] ?? "\(root)/.deps/libtorch"
let hasCUDA = FileManager.default.fileExists(atPath: "\(libtorch)/lib/libtorch_cuda.so")

let torchCxxFlags = [
    "-isystem", "\(libtorch)/include",
    "-isystem", "\(libtorch)/include/torch/csrc/api/include",
    "-D_GLIBCXX_USE_CXX11_ABI=1",
] + (hasCUDA ? ["-DCT_WITH_CUDA=1"] : [])
// libtorch_cuda registers its kernels from static constructors and nothing references its
// symbols directly, so it must be linked with --no-as-needed.
let torchLinkFlags = [
    "-L\(libtorch)/lib", "-Xlinker", "-rpath", "-Xlinker", "\(libtorch)/lib",
] + (hasCUDA ? ["-Xlinker", "--no-as-needed", "-ltorch_cuda", "-Xlinker", "--as-needed"] : [])
    + ["-ltorch", "-ltorch_cpu", "-lc10"]

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
            cxxSettings: [.unsafeFlags(torchCxxFlags + ["-Wno-unused-parameter"])],
            linkerSettings: [.unsafeFlags(torchLinkFlags)]
        ),
        .target(name: "Torch", dependencies: ["CTorch"], swiftSettings: strict),
        .target(name: "NN", dependencies: ["Torch"], swiftSettings: strict),
        .target(
            name: "CLIP", dependencies: ["NN"], resources: [.copy("Resources/model_configs")], swiftSettings: strict),
        .target(
            name: "Training",
            dependencies: ["Torch", "NN", "CLIP", "Datasets", "Evaluation", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),
        .target(name: "Evaluation", dependencies: ["Torch", "CLIP", "Datasets", "Attacks"], swiftSettings: strict),
        .target(name: "Defenses", dependencies: ["Torch", "NN"], swiftSettings: strict),
        .target(
            name: "CCodecs",
            linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16"), .linkedLibrary("z")]
        ),
        .target(name: "Datasets", dependencies: ["CCodecs"], swiftSettings: strict),
        .target(name: "Attacks", dependencies: ["Datasets"], swiftSettings: strict),
        .executableTarget(
            name: "clipguard",
            dependencies: [
                "Torch", "NN", "CLIP", "Datasets", "Training", "Attacks", "Evaluation", "Defenses",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "clipguard-bench", dependencies: ["Torch", "NN", "CLIP", "Datasets", "Training", "Defenses"],
            swiftSettings: strict),
        .target(name: "TestSupport", dependencies: ["Torch"], path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "TorchTests", dependencies: ["Torch", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "NNTests", dependencies: ["NN", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "CLIPTests", dependencies: ["CLIP", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets"], swiftSettings: strict),
        .testTarget(name: "DefensesTests", dependencies: ["Defenses", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "AttacksTests", dependencies: ["Attacks", "Datasets"], swiftSettings: strict),
    ],
    cxxLanguageStandard: .cxx20
)

import ArgumentParser
import CLIP
import Foundation
import Torch
import Training

/// `clipguard step-check`: CLIP training steps — `Trainer.step` itself (both towers, CLIP loss,
/// backward, fused AdamW, logit-scale clamp) — on random data on one device, optionally checked
/// against the same steps on another device from the same initial weights, and timed. `Scripts/gpu-check.sh` runs it to
/// check a CUDA build against the CPU and to time RN50 / ViT-B-32 steps.
struct StepCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step-check",
        abstract: "Run CLIP training steps on random data on a device; compare them with another device and time them.",
        discussion: """
            The first step's loss and gradients and the loss after one AdamW update are compared \
            with --compare's (same initial weights, same batch, same precision). Tolerances, \
            relative: fp32 loss 1e-3, gradients 1e-2 (CUDA convolutions may use TF32); bf16 \
            loss 3e-2, gradients 0.15. Exits with failure when a compared value is out of \
            tolerance or a loss is not finite.
            """
    )

    @Option(help: "Shipped config name (tiny-rn, tiny-vit, RN50, ViT-B-32, …).")
    var model = "tiny-rn"

    @Option(help: "Device of the steps: cpu, cuda, cuda:N.")
    var device = "cpu"

    @Option(help: "Also run the first steps on this device and compare (e.g. cpu).")
    var compare: String?

    @Option(help: "fp32, or bf16 (autocast on the device).")
    var precision = "fp32"

    @Option(help: "Batch size.")
    var batch = 32

    @Option(help: "Timed steps after the two checked ones (median reported).")
    var steps = 3

    @Flag(help: "Run a ResNet image tower and its inputs channels-last (on the CPU the trainer always does, as clipguard train).")
    var channelsLast = false

    @Flag(help: "Also join a one-process group on the device's backend (NCCL on CUDA, Gloo on the CPU) and all-reduce the checked step's gradients in buckets, as data-parallel training does; with one rank they must come back unchanged.")
    var allReduce = false

    @Option(help: "libtorch intra-op threads (default: libtorch's choice).")
    var threads: Int?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard ["fp32", "bf16"].contains(precision) else { throw ValidationError("--precision must be fp32 or bf16, not '\(precision)'") }
        guard batch >= 2 else { throw ValidationError("--batch must be at least 2 (the CLIP loss contrasts pairs)") }
        guard steps >= 0 else { throw ValidationError("--steps must not be negative") }
        for text in [device] + (compare.map { [$0] } ?? []) {
            let parsed: Device
            do { parsed = try Device(parsing: text) } catch { throw ValidationError("\(error)") }
            if case .cuda(let index) = parsed, index >= Device.cudaDeviceCount {
                throw ValidationError(
                    "device \(text) is not available: libtorch \(Runtime.torchVersion) sees \(Device.cudaDeviceCount) CUDA device(s)")
            }
        }
    }

    func run() throws {
        if let threads { Runtime.threads = threads }
        let main = try Device(parsing: device)
        let initial = compare == nil && !allReduce ? nil : Dictionary(uniqueKeysWithValues: try CLIPModel.named(model, seed: 0).store.stateDict())
        let result = try runSteps(on: device, initial: initial, timed: steps)
        var report: [String: Any] = [
            "model": model, "device": device, "precision": precision, "batch": batch, "torch": Runtime.torchVersion,
            "losses": result.losses, "parameters": result.parameters,
        ]
        if let median = result.medianSeconds { report["step_seconds_median"] = median }
        var ok = result.losses.allSatisfy(\.isFinite)
        if let compare, let initial {
            let other = try runSteps(on: compare, initial: initial, timed: 0)
            let lossDiff = relativeDifference(result.losses[0], other.losses[0])
            let afterDiff = relativeDifference(result.losses[1], other.losses[1])
            let gradDiff = noGrad { () -> Double in
                var difference = 0.0, reference = 0.0
                for (a, b) in zip(result.gradients, other.gradients) {
                    difference += (a - b).square().sum().item()
                    reference += b.square().sum().item()
                }
                return (difference / max(reference, 1e-30)).squareRoot()
            }
            let (lossTolerance, gradTolerance) = precision == "fp32" ? (1e-3, 1e-2) : (3e-2, 0.15)
            let within = lossDiff <= lossTolerance && afterDiff <= lossTolerance && gradDiff <= gradTolerance
            ok = ok && within && other.losses.allSatisfy(\.isFinite)
            report["compare"] = [
                "device": compare, "losses": other.losses, "loss_rel_diff": lossDiff, "loss_after_update_rel_diff": afterDiff,
                "grad_rel_diff": gradDiff, "loss_tolerance": lossTolerance, "grad_tolerance": gradTolerance, "within": within,
            ] as [String: Any]
        }
        if allReduce {
            let (backend, difference) = try allReduceCheck(result.gradients, device: main)
            report["all_reduce"] = ["backend": backend, "max_abs_diff": difference] as [String: Any]
            ok = ok && difference == 0
        }
        report["ok"] = ok
        if json {
            let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            for key in report.keys.sorted() { print("\(key.padding(toLength: 20, withPad: " ", startingAt: 0)) \(report[key]!)") }
        }
        if !ok { throw ExitCode.failure }
    }

    /// Steps of `Trainer.step` itself (``Trainer/step(on:loss:phase:beforeUpdate:)``, on a
    /// steps-only trainer: open_clip's AdamW groups, fused, lr 5e-4 from step 0): the checked step
    /// (its loss; its gradients copied to the CPU when comparing), a second step whose loss is the
    /// loss after one AdamW update, then `timed` steps, each timed up to a device
    /// synchronisation. The losses are read back once, at the end.
    private func runSteps(on deviceName: String, initial: [String: Tensor]?, timed: Int) throws
        -> (losses: [Double], gradients: [Tensor], medianSeconds: Double?, parameters: Int)
    {
        let config = TrainingConfig(
            data: "", model: model, epochs: 1, batchSize: batch, lr: 5e-4, warmupSteps: 0, precision: precision, seed: 0,
            device: deviceName, threads: threads)
        let trainer = try Trainer(stepsOnly: config)
        let clip = trainer.model
        if let initial { try clip.load(initial, source: "the initial weights") }
        // On the CPU the trainer runs a ResNet tower channels-last already (as `clipguard train`).
        if channelsLast { clip.useChannelsLast() }
        let (images, tokens) = syntheticCLIPBatch(batch: batch, config: clip.config)
        let input = ModelInput(images: images.to(trainer.device), tokens: tokens.to(trainer.device))
        var gradients: [Tensor] = []
        try trainer.step(
            on: [input],
            beforeUpdate: {
                guard initial != nil else { return }
                gradients = noGrad { clip.store.trainableParameters().compactMap { entry in entry.tensor.grad?.to(.float64).to(.cpu) } }
            })
        try trainer.step(on: [input])
        var times: [Double] = []
        for _ in 0..<timed {
            let start = Date()
            try trainer.step(on: [input])
            Runtime.synchronize()
            times.append(Date().timeIntervalSince(start))
        }
        let losses = try trainer.readSteps().map(\.loss)
        return (losses, gradients, times.isEmpty ? nil : times.sorted()[times.count / 2], clip.parameterCount)
    }
}

/// Joins a one-rank group on `device`'s preferred backend, all-reduces (sum) copies of
/// `gradients` (float32, on `device`) and returns the backend's name and the largest change
/// (0 expected: a sum over one rank). Data-parallel training skips collectives at world size 1,
/// so this is the way to make one GPU run NCCL.
private func allReduceCheck(_ gradients: [Tensor], device: Device) throws -> (backend: String, maxAbsDiff: Double) {
    let backend = ProcessGroup.Backend.preferred(for: device)
    let group = try ProcessGroup.initialize(
        rank: 0, worldSize: 1, masterAddress: "127.0.0.1", masterPort: try LocalLauncher.freePort(), backend: backend,
        timeout: .seconds(120))
    let expected = noGrad { gradients.map { $0.to(.float32).to(device) } }
    let reduced = noGrad { expected.map { $0.copied() } }
    try group.allReduce(reduced, op: .sum)
    let difference = noGrad { zip(reduced, expected).map { ($0.0 - $0.1).abs().max().item() }.max() ?? 0 }
    return (backend.description, difference)
}

private func relativeDifference(_ a: Double, _ b: Double) -> Double { abs(a - b) / max(abs(b), 1e-12) }

/// A random batch for a CLIP config: images `[n, 3, s, s]` from a seeded normal distribution and
/// token rows `[n, context]` of 5–16 BPE tokens between SOT and EOT, zero-padded, like the
/// Fashion-MNIST captions. Both on the CPU.
func syntheticCLIPBatch(batch: Int, config: CLIPConfig) -> (images: Tensor, tokens: Tensor) {
    let size = config.vision.imageSize
    let context = config.text.contextLength
    let images = Tensor.randn([batch, 3, size, size], generator: Generator(seed: 0))
    var ids = [Int64](repeating: 0, count: batch * context)
    for i in 0..<batch {
        let length = min(context - 2, 5 + i % 12)
        ids[i * context] = 49406
        for j in 1...length { ids[i * context + j] = Int64(300 + (i * 7 + j * 13) % 40000) }
        ids[i * context + length + 1] = 49407
    }
    return (images, Tensor(ids, shape: [batch, context]))
}

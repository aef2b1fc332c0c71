// clipguard-dist-worker: one rank of a scripted collective scenario, for the distributed tests.
//
// Usage: clipguard-dist-worker SCENARIO OUTPUT_DIR [TIMEOUT_SECONDS]
// The rank and rendezvous come from the environment (LocalLauncher, torchrun). Each rank writes
// its results as JSON ({name: [numbers]}) to OUTPUT_DIR/SCENARIO-rankR.json; the tests compare
// them with the expected values. Scenarios:
//   allreduce  sum, average and max of rank-dependent tensors (one of them non-contiguous)
//   allgather  every rank's [2, 3] tensor
//   broadcast  two tensors from root 1
//   barrier    rank 1 arrives 0.5 s late; every rank records when it arrived and left
//   gather     allGatherKeepingLocalGradient, then the gradient reaching the local features
//   sgd        3 steps of data-parallel SGD on a linear model (global batch 8 split over ranks)
//   contrastive  a CLIP-style loss over gathered features (open_clip gather_with_grad=False)
//              with gradients averaged over ranks, global batch 8 split over the ranks
//   die        rank 1 exits with status 3 after joining; the others keep all-reducing
//   timeout    rank 1 sleeps 60 s; rank 0's all-reduce times out and its message is recorded
//   bench      timings (not a test): 4-byte all-reduce latency, allReduceGradients of 100 MB
import CLIP
import Foundation
import Torch

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("clipguard-dist-worker: \(message)\n".utf8))
    exit(2)
}

/// Writes a line to standard output at once (print buffers it when stdout is a pipe).
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

let args = CommandLine.arguments
guard args.count >= 3 else { fail("usage: clipguard-dist-worker SCENARIO OUTPUT_DIR [TIMEOUT_SECONDS]") }
let scenario = args[1]
let outputDirectory = URL(fileURLWithPath: args[2])
let timeoutSeconds = args.count > 3 ? Int(args[3]) ?? 30 : 30

let environment: LaunchEnvironment
do {
    guard let found = try LaunchEnvironment.fromEnvironment() else { fail("RANK/WORLD_SIZE are not set") }
    environment = found
} catch {
    fail("\(error)")
}
let rank = environment.rank
let world = environment.worldSize

var results: [String: [Double]] = [:]
@MainActor func record(_ name: String, _ tensor: Tensor) { results[name] = tensor.to(.float64).toArray(as: Double.self) }
@MainActor func save() {
    let url = outputDirectory.appendingPathComponent("\(scenario)-rank\(rank).json")
    do {
        try JSONEncoder().encode(results).write(to: url, options: .atomic)
    } catch {
        fail("cannot write \(url.path): \(error)")
    }
}

do {
    let group = try ProcessGroup.initialize(
        environment, timeout: .seconds(scenario == "timeout" ? 30 : timeoutSeconds))
    say("joined group of \(group.worldSize) as rank \(group.rank)")
    let r = Double(rank)
    switch scenario {
    case "allreduce":
        // Rank r holds (r + 1) · [1, 2, 3, 4].
        let sum = Tensor([1, 2, 3, 4] as [Float]) * (r + 1)
        let average = Tensor([1, 2, 3, 4] as [Float]) * (r + 1)
        let maximum = Tensor([Float(rank), Float(-rank)])
        // A [3, 2] transposed view: non-contiguous, written back through the view.
        let base = (Tensor.arange(0, 6, dtype: .float32) + 10 * r).reshaped([2, 3])
        let transposed = base.transposed(0, 1)
        try group.allReduce([sum, transposed], op: .sum)
        try group.allReduce([average], op: .average)
        try group.allReduce([maximum], op: .max)
        let integers = Tensor([Int64(rank + 1), 10])
        try group.allReduce([integers])
        record("sum", sum)
        record("average", average)
        record("max", maximum)
        record("transposed_base", base)
        record("int64_sum", integers)
        results["scalar_average"] = [try group.allReduce(r + 1, op: .average)]
        results["scalar_min"] = [try group.allReduce(r + 1, op: .min)]
    case "allgather":
        let mine = Tensor.arange(0, 6, dtype: .float32).reshaped([2, 3]) + 100 * r
        let all = try group.allGather(mine)
        record("count", Tensor([Double(all.count)]))
        record("gathered", Tensor.cat(all, dim: 0))
        record("shape0", Tensor(all[0].shape.map(Double.init)))
    case "broadcast":
        let a = Tensor.full([3], value: r + 1)
        let b = Tensor([Int64(rank * 7), Int64(rank * 7 + 1)])
        let leaf = Tensor.full([2], value: r).requiringGrad()
        try group.broadcast([a, b, leaf], root: world - 1)
        record("a", a)
        record("b", b)
        record("leaf", leaf.detached())
    case "barrier":
        // Monotonic clock readings, comparable across the processes of one machine.
        if rank == 1 { Thread.sleep(forTimeInterval: 0.5) }
        results["arrived_ns"] = [Double(DispatchTime.now().uptimeNanoseconds)]
        try group.barrier()
        results["left_ns"] = [Double(DispatchTime.now().uptimeNanoseconds)]
    case "gather":
        // features [2, 3] per rank, requiring grad; loss = Σ gathered ⊙ W with W[i, j] = i·3 + j.
        let features = (Tensor.arange(0, 6, dtype: .float32).reshaped([2, 3]) + r).requiringGrad()
        let gathered = try group.allGatherKeepingLocalGradient(features)
        let weights = Tensor.arange(0, Double(6 * world), dtype: .float32).reshaped([2 * world, 3])
        (gathered * weights).sum().backward()
        record("gathered", gathered.detached())
        record("grad", features.grad ?? Tensor.zeros([0]))
    case "sgd":
        // Linear model y = x Wᵀ + b, MSE loss, global batch of 8 split evenly over the ranks.
        let globalBatch = 8
        guard globalBatch % world == 0 else { fail("world size \(world) does not divide the batch of 8") }
        let data = Generator(seed: 7)
        let x = Tensor.randn([globalBatch, 4], generator: data)
        let y = Tensor.randn([globalBatch, 3], generator: data)
        let local = globalBatch / world
        let xs = x.narrowed(dim: 0, start: rank * local, length: local)
        let ys = y.narrowed(dim: 0, start: rank * local, length: local)
        // Different initial weights on every rank: the broadcast from rank 0 must fix them.
        let initial = Generator(seed: 100 + UInt64(rank))
        let weight = Tensor.randn([3, 4], generator: initial).requiringGrad()
        let bias = Tensor.randn([3], generator: initial).requiringGrad()
        let parameters = [weight, bias]
        try group.broadcastParameters(parameters)
        record("initial_weight", weight.detached())
        for _ in 0..<3 {
            for p in parameters { p.zeroGrad() }
            let loss = mseLoss(linear(xs, weight: weight, bias: bias), ys)
            loss.backward()
            // 16-byte buckets: the weight gradient (48 bytes) and the bias gradient (12 bytes)
            // each get their own bucket; the default size puts both in one flat bucket.
            try group.allReduceGradients(parameters, bucketBytes: world == 2 ? 16 : 25 << 20)
            noGrad {
                for p in parameters { p.addInPlace(p.grad!, alpha: -0.1) }
            }
        }
        record("weight", weight.detached())
        record("bias", bias.detached())
        // A second, single-bucket reduction of fresh gradients (exercises the flat path).
        for p in parameters { p.zeroGrad() }
        mseLoss(linear(xs, weight: weight, bias: bias), ys).backward()
        try group.allReduceGradients(parameters)
        record("final_weight_grad", weight.grad!)
        record("final_bias_grad", bias.grad!)
    case "contrastive":
        let globalBatch = 8
        guard globalBatch % world == 0 else { fail("world size \(world) does not divide the batch of 8") }
        let data = Generator(seed: 21)
        let images = Tensor.randn([globalBatch, 5], generator: data)
        let texts = Tensor.randn([globalBatch, 6], generator: data)
        let weights = Generator(seed: 22)
        let imageProjection = Tensor.randn([4, 5], generator: weights).requiringGrad()
        let textProjection = Tensor.randn([4, 6], generator: weights).requiringGrad()
        let local = globalBatch / world
        let imageFeatures = linear(images.narrowed(dim: 0, start: rank * local, length: local),
                                   weight: imageProjection, bias: nil).normalized(dim: -1)
        let textFeatures = linear(texts.narrowed(dim: 0, start: rank * local, length: local),
                                  weight: textProjection, bias: nil).normalized(dim: -1)
        let allImages = try group.allGatherKeepingLocalGradient(imageFeatures)
        let allTexts = try group.allGatherKeepingLocalGradient(textFeatures)
        let loss = clipLoss(imageFeatures: allImages, textFeatures: allTexts, logLogitScale: Tensor(scalar: Foundation.log(10.0)))
        loss.backward()
        try group.allReduceGradients([imageProjection, textProjection])
        record("loss", loss.detached())
        record("image_grad", imageProjection.grad!)
        record("text_grad", textProjection.grad!)
    case "die":
        if rank == 1 {
            say("rank 1 exits on purpose")
            exit(3)
        }
        let t = Tensor.ones([4])
        for _ in 0..<1000 {
            try group.allReduce([t])
            Thread.sleep(forTimeInterval: 0.01)
        }
        fail("rank \(rank): all-reduce kept succeeding after rank 1 exited")
    case "timeout":
        // The set-up had the generous default; only the collective gets TIMEOUT_SECONDS.
        group.timeout = .seconds(timeoutSeconds)
        if rank == 1 {
            Thread.sleep(forTimeInterval: 60)
            fail("rank 1 was not stopped")
        }
        do {
            try group.allReduce([Tensor.ones([4])])
            fail("rank 0: all-reduce without a peer succeeded")
        } catch {
            results["message"] = Array("\(error)".utf8).map(Double.init)
            save()
            say("\(error)")
            exit(1)
        }
    case "bench":
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        let clock = ContinuousClock()
        let scalar = Tensor([1] as [Float])
        for _ in 0..<5 { try group.allReduce([scalar]) }
        let latency = try clock.measure { for _ in 0..<100 { try group.allReduce([scalar]) } }
        // ViT-B/32-like: 25 M float32 parameters (100 MB of gradients) in 50 tensors.
        let parameters = (0..<50).map { _ in Tensor.zeros([500_000]).requiringGrad() }
        for p in parameters { p.grad = Tensor.ones([500_000]) }
        try group.allReduceGradients(parameters)
        let bucketed = try clock.measure { for _ in 0..<3 { try group.allReduceGradients(parameters) } }
        record("allreduce_4B_ms", Tensor([seconds(latency) * 10]))
        record("gradients_100MB_ms", Tensor([seconds(bucketed) / 3 * 1000]))
        say(String(format: "all-reduce of 4 bytes: %.3f ms; allReduceGradients of 100 MB (25 MB buckets): %.1f ms",
                     seconds(latency) * 10, seconds(bucketed) / 3 * 1000))
    default:
        fail("unknown scenario '\(scenario)'")
    }
    save()
    say("done")
} catch {
    say("\(error)")
    exit(1)
}

#!/usr/bin/env python3
"""Golden parity of training: open_clip trains itself, `clipguard train` trains the same steps,
and the per-step losses and final weights are compared (for `make parity`).

For each model config (tiny-rn and tiny-vit by default, from Sources/CLIP/Resources/model_configs):
1. Writes `steps · batch + 3` PNG pairs of exactly the model's image size (ClipGuard's resize +
   centre crop is then the identity; the 3 extra rows make a partial last batch, which both sides
   drop) and their captions as D/train.csv; builds open_clip's CLIP from the config with
   torch.manual_seed(seed), perturbs it (Scripts/training_reference.py) and saves its state_dict
   as safetensors (init.safetensors; ClipGuard loads open_clip's names as they are).
2. Trains open_clip on the batches in row order, fp32, torch.set_num_threads(1) (ResNets
   channels-last, as ClipGuard runs them on the CPU; the contiguous run's distance from it is
   printed as PyTorch's own noise floor): ClipLoss,
   AdamW with open_clip's parameter groups, cosine_lr (warm-up + cosine), clip_grad_norm_,
   logit_scale clamped to [0, ln 100] after every step (open_clip_train/train.py's step).
3. Runs `clipguard train --data D/train.csv --model CONFIG.json --init-weights init.safetensors
   --no-shuffle --epochs 1 --batch-size B --lr … --warmup-steps … --grad-clip … --weight-decay …
   --threads 1 --precision fp32 --device cpu --config adamw.json --out RUN`, as a user would
   (adamw.json: beta1/beta2/eps, which have no flags).
4. Prints every step's |Δloss| (RUN/metrics.jsonl against open_clip's), the largest weight
   difference over RUN/model.safetensors (every state_dict tensor, BatchNorm buffers included)
   and the tensor it is in, and exits with status 1 beyond --loss-tolerance/--weight-tolerance
   (for a ResNet: beyond the tolerance plus the noise floor of that step / of the weights; a
   ResNet CLIP at 32 px with BatchNorm over 1×1 maps amplifies rounding step by step, so that
   PyTorch differs from itself between memory layouts by up to ~7e-2 after 22 steps).

  .venv-ref/bin/python Scripts/train_parity.py [--models tiny-rn tiny-vit] [--steps 22] [--batch-size 8]
"""
import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import training_reference as ref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "Sources", "CLIP", "Resources", "model_configs")


def run_model(name, args, folder):
    config_path = name if os.path.exists(name) else os.path.join(CONFIGS, f"{name}.json")
    with open(config_path) as f:
        cfg = json.load(f)
    size = cfg["vision_cfg"]["image_size"]
    context = cfg["text_cfg"]["context_length"]
    gen = torch.Generator().manual_seed(args.seed)
    data = os.path.join(folder, "data")
    rows = ref.write_pairs(data, gen, args.steps * args.batch_size + 3, size)
    images, tokens = ref.load_pairs(data, rows, context)

    torch.manual_seed(args.seed)
    model = ref.build(cfg)
    ref.perturb(model, gen)
    init = os.path.join(folder, "init.safetensors")
    save_file(ref.state_dict(model), init)

    hp = {"batch_size": args.batch_size, "lr": args.lr, "warmup_steps": args.warmup_steps,
          "weight_decay": args.weight_decay, "beta1": 0.9, "beta2": args.beta2, "eps": args.eps, "grad_clip": args.grad_clip}
    # AdamW's beta2 and eps have no flags; a settings file carries them (`train --config`).
    settings = os.path.join(folder, "adamw.json")
    with open(settings, "w") as f:
        json.dump({"beta1": 0.9, "beta2": args.beta2, "eps": args.eps}, f)
    # ClipGuard trains ResNet towers channels-last on the CPU; so does the reference here. For a
    # ResNet the contiguous open_clip run is trained too: its distance from the channels-last one
    # is PyTorch's own noise floor for this training.
    resnet = ref.is_resnet(cfg)
    reference_model = copy.deepcopy(model)
    losses, _ = ref.train_reference(reference_model, images, tokens, hp, channels_last=resnet)
    reference = ref.state_dict(reference_model)
    floor_steps, floor_w = [0.0] * len(losses), 0.0
    if resnet:
        contiguous_model = copy.deepcopy(model)
        floor_losses, _ = ref.train_reference(contiguous_model, images, tokens, hp)
        floor_steps = [abs(a - b) for a, b in zip(floor_losses, losses)]
        floor_w, floor_name, _ = ref.compare_weights(ref.state_dict(contiguous_model), reference)
        print(f"{name}: noise floor, open_clip contiguous vs channels-last: max |Δloss| "
              f"{max(floor_steps):.2e}, max |Δw| {floor_w:.2e} in {floor_name}")

    run_dir = os.path.join(folder, "run")
    command = [args.clipguard, "train", "--data", os.path.join(data, "train.csv"), "--model", config_path,
               "--init-weights", init, "--no-shuffle", "--epochs", "1", "--batch-size", str(args.batch_size),
               "--lr", repr(args.lr), "--warmup-steps", str(args.warmup_steps), "--grad-clip", repr(args.grad_clip),
               "--weight-decay", repr(args.weight_decay), "--threads", "1", "--precision", "fp32",
               "--device", "cpu", "--workers", "1", "--config", settings, "--out", run_dir]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f if line.strip()]
    ours = [r["loss"] for r in records if "loss" in r and "epoch_end" not in r]
    if len(ours) != len(losses):
        print(f"{name}: ClipGuard took {len(ours)} steps, open_clip {len(losses)}")
        return False
    deltas = [abs(a - b) for a, b in zip(ours, losses)]
    print(f"{name}: step  open_clip loss  ClipGuard loss  |Δ|" + ("       noise floor" if resnet else ""))
    for i, (a, b, d) in enumerate(zip(losses, ours, deltas)):
        print(f"{name}: {i + 1:4d}  {a:.7f}  {b:.7f}  {d:.2e}" + (f"  {floor_steps[i]:.2e}" if resnet else ""))
    worst, worst_name, _ = ref.compare_weights(load_file(os.path.join(run_dir, "model.safetensors")), reference)
    print(f"{name}: {len(losses)} steps, max |Δloss| {max(deltas):.2e}; max |Δw| {worst:.2e} in {worst_name} "
          f"(loss {losses[0]:.4f} → {losses[-1]:.4f})")
    # Each step may differ by the tolerance plus PyTorch's own layout noise at that step.
    return all(d <= args.loss_tolerance + f for d, f in zip(deltas, floor_steps)) \
        and worst <= args.weight_tolerance + floor_w


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["tiny-rn", "tiny-vit"])
    parser.add_argument("--steps", type=int, default=22)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=5e-4)
    # open_clip's ViT defaults; eps 1e-6 keeps AdamW from turning the rounding noise of gradients
    # that are zero in exact arithmetic (attention key biases) into lr-sized steps.
    parser.add_argument("--beta2", type=float, default=0.98)
    parser.add_argument("--eps", type=float, default=1e-6)
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--grad-clip", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loss-tolerance", type=float, default=1e-4)
    parser.add_argument("--weight-tolerance", type=float, default=1e-4)
    parser.add_argument("--clipguard", default=os.path.join(ROOT, ".build", "debug", "clipguard"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    failures = []
    for name in args.models:
        with tempfile.TemporaryDirectory(prefix="train-parity-") as folder:
            if not run_model(name, args, folder):
                failures.append(name)
    if failures:
        print("FAILED (beyond tolerance):", ", ".join(failures))
        return 1
    print("training parity OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

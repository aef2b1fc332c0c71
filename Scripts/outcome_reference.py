#!/usr/bin/env python3
"""The PyTorch/open_clip side of the outcome agreement (`make outcome`, docs/reference/outcome-agreement.md).

Trains an open_clip CLIP built from the same model config JSON as ClipGuard on the same poisoned
CSV that `clipguard poison` wrote, then measures clean zero-shot top-1 and the attack success
rate exactly as `clipguard eval --trigger-from MANIFEST` defines them (SPEC §2). Everything
ClipGuard's plain-CLIP trainer does is repeated here with PyTorch's and open_clip's own parts:

- data: every CSV row (clean rows and the poisoned rows with their files under POISON/poison/),
  images decoded with PIL and converted to RGB, resized bicubically so that the shorter side is
  the model's input size, centre-cropped (torchvision's Resize(int) + CenterCrop arithmetic),
  then `(x / 255 - mean) / std` with OpenAI CLIP's statistics; no augmentation (ClipGuard's plain
  CLIP trains without). Images are decoded once, before training (no augmentation makes every
  epoch's inputs the same); ClipGuard decodes them every epoch.
- batches: a fresh seeded permutation per epoch, cut into batches of --batch-size, the
  remainder dropped (ClipGuard: dropLast); tokens from `open_clip.tokenize` at the model's
  context length (truncation puts EOT last, as ClipGuard's default);
- model: `open_clip.model.CLIP(**config)` seeded with --seed; ResNet towers channels-last
  (ClipGuard does the same on the CPU);
- step: open_clip's `ClipLoss` on `model(images, tokens)` (which returns `logit_scale.exp()`),
  backward, AdamW with open_clip's two parameter groups (no weight decay on rank < 2 tensors
  and names with bn/ln/bias/logit_scale; betas 0.9/0.999, eps 1e-8), the learning rate from
  open_clip_train's `cosine_lr` set before each step, zero-grad, then
  `logit_scale.clamp_(0, ln 100)` as open_clip_train does;
- evaluation: the zero-shot classifier from the eval folder's classes.json (every class name in
  every template, features normalised, averaged, renormalised); clean top-1 over every eval
  image; for ASR the eval image is preprocessed to the model's input geometry, the manifest's
  patch painted on it (ClipGuard's model-input placement), and ASR = #{pred = target} /
  #{true class != target}.

Only the `patch` trigger at corner positions with model-input placement is implemented (the
setting of the outcome table); another manifest is refused with a message naming it.

  .venv-ref/bin/python Scripts/outcome_reference.py --data P/train.csv --eval D/eval \
      --manifest P/manifest.json --model tiny-rn --epochs 10 --batch-size 256 --lr 1e-3 \
      --warmup-steps 50 --seed 1 --out runs/ref-seed1

Writes OUT/metrics.jsonl (one record per step and per epoch) and OUT/result.json, and prints
the result as one JSON line.
"""
import argparse
import csv
import json
import math
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

import open_clip
from open_clip.loss import ClipLoss
from open_clip.model import CLIP
from open_clip_train.scheduler import cosine_lr

from training_reference import clamp_logit_scale, make_optimizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "Sources", "CLIP", "Resources", "model_configs")
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
IMAGE_COLUMNS = ["filepath", "image", "path", "img", "file", "image_path"]
CAPTION_COLUMNS = ["title", "caption", "text", "captions"]


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def log(message):
    print(f"[reference] {message}", file=sys.stderr, flush=True)


# MARK: data


def resize_center_crop(image, size):
    """torchvision Resize(size, BICUBIC) + CenterCrop(size) on a PIL image."""
    w, h = image.size
    if w <= h:
        rw, rh = size, int(size * h / w)
    else:
        rw, rh = int(size * w / h), size
    if (rw, rh) != (w, h):
        image = image.resize((rw, rh), Image.BICUBIC)
    top = int(round((rh - size) / 2.0))
    left = int(round((rw - size) / 2.0))
    return image.crop((left, top, left + size, top + size))


def to_uint8(image):
    """[3, H, W] uint8 of an RGB PIL image."""
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1).copy()


def normalise(batch):
    """[N, 3, H, W] uint8 → float32 `(x / 255 - mean) / std` (ToTensor + Normalize)."""
    x = batch.float() / 255
    mean = torch.from_numpy(MEAN).view(1, 3, 1, 1)
    std = torch.from_numpy(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def pick_column(header, wanted, names, path):
    if wanted is not None:
        if wanted not in header:
            fail(f"{path}: no column '{wanted}' (columns: {', '.join(header)})")
        return header.index(wanted)
    for name in names:
        if name in header:
            return header.index(name)
    fail(f"{path}: none of the columns {', '.join(names)} (columns: {', '.join(header)})")


def read_pairs(path, image_column=None, caption_column=None):
    """(image paths, captions) of a CSV/TSV; relative paths resolve against the CSV's folder."""
    folder = os.path.dirname(os.path.abspath(path))
    with open(path, newline="", encoding="utf-8") as f:
        sample = f.readline()
        f.seek(0)
        reader = csv.reader(f, delimiter="\t" if "\t" in sample and "," not in sample else ",")
        header = [h.strip() for h in next(reader)]
        ic = pick_column(header, image_column, IMAGE_COLUMNS, path)
        cc = pick_column(header, caption_column, CAPTION_COLUMNS, path)
        images, captions = [], []
        for line, row in enumerate(reader, start=2):
            if len(row) != len(header):
                fail(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
            images.append(os.path.join(folder, row[ic]))
            captions.append(row[cc])
    return images, captions


def load_images(paths, size):
    """[N, 3, size, size] uint8 of every image at the model's input geometry."""
    out = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    for i, p in enumerate(paths):
        try:
            with Image.open(p) as im:
                out[i] = to_uint8(resize_center_crop(im.convert("RGB"), size))
        except (OSError, ValueError) as error:
            fail(f"{p}: {error}")
    return torch.from_numpy(out)


def read_eval_set(folder):
    """(image paths, labels, class names, templates) of a prepared evaluation folder."""
    with open(os.path.join(folder, "classes.json"), encoding="utf-8") as f:
        index = json.load(f)
    paths, labels = [], []
    labels_path = os.path.join(folder, "labels.csv")
    with open(labels_path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        ii, li = header.index("image"), header.index("label")
        for row in reader:
            paths.append(os.path.join(folder, row[ii]))
            labels.append(int(row[li]))
    return paths, labels, index["classes"], index["templates"]


# MARK: trigger


def patch_painter(manifest_path, size):
    """A function painting the manifest's patch on a [3, size, size] uint8 model input."""
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    placement = manifest.get("placement", {})
    if placement.get("kind") != "model-input":
        fail(f"{manifest_path}: placement {placement.get('kind')!r}; only 'model-input' is implemented here")
    geometry = placement.get("geometry", {})
    if geometry.get("resize") != "crop" or geometry.get("size") != size:
        fail(f"{manifest_path}: placement geometry {geometry}; the model's input is crop {size}")
    trigger = manifest.get("trigger") or fail(f"{manifest_path}: no trigger (a targeted-poisoning manifest)")
    if trigger.get("kind") != "patch":
        fail(f"{manifest_path}: trigger {trigger.get('kind')!r}; only 'patch' is implemented here")
    patch = trigger["parameters"]
    length = patch["size"]
    if "pixels" in length:
        side = max(1, min(size, int(length["pixels"])))
    else:  # a fraction of the side, rounded half away from zero
        side = max(1, min(size, int(math.floor(float(length["fraction"]) * size + 0.5))))
    rgb = [int(v) for v in patch["color"]]
    far = size - side
    corners = {
        "bottom-right": [(far, far)], "bottom-left": [(0, far)], "top-right": [(far, 0)], "top-left": [(0, 0)],
        "four-corners": [(0, 0), (far, 0), (0, far), (far, far)],
    }
    position = patch["position"]
    if position not in corners:
        fail(f"{manifest_path}: patch position {position!r}; only corner positions are implemented here")

    def paint(image):
        out = image.clone()
        for x, y in corners[position]:
            for c in range(3):
                out[c, y:y + side, x:x + side] = rgb[c]
        return out

    return paint, manifest, dict(side=side, position=position, color=rgb)


def check_trigger(paint, manifest, manifest_path, size):
    """Largest |difference| between this script's preprocessing + patch of each poisoned row's
    source image and the poisoned image `clipguard poison` wrote (0 when both agree exactly)."""
    folder = os.path.dirname(os.path.abspath(manifest_path))
    worst = 0
    for row in manifest["rows"]:
        ours = paint(load_images([row["source_image"]], size)[0])
        theirs = load_images([os.path.join(folder, row["image"])], size)[0]
        worst = max(worst, int((ours.int() - theirs.int()).abs().max()))
    return worst


# MARK: model, training, evaluation


def model_config(name):
    path = name if os.path.exists(name) else os.path.join(CONFIGS, name + ".json")
    if not os.path.exists(path):
        fail(f"model '{name}': no such config ({path})")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def zero_shot_weights(model, class_names, templates, context):
    """[D, C]: per class, the normalised mean of the normalised prompt features."""
    columns = []
    with torch.inference_mode():
        for name in class_names:
            tokens = open_clip.tokenize([t.replace("{c}", name) for t in templates], context_length=context)
            features = model.encode_text(tokens, normalize=True).float()
            mean = features.mean(dim=0)
            columns.append(mean / mean.norm())
    return torch.stack(columns, dim=1)


def predict(model, weights, images, batch_size, channels_last):
    predictions = []
    with torch.inference_mode():
        for start in range(0, images.shape[0], batch_size):
            x = normalise(images[start:start + batch_size])
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            features = model.encode_image(x, normalize=True).float()
            predictions.append((features @ weights).argmax(dim=1))
    return torch.cat(predictions)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="the poisoned training CSV (clipguard poison's train.csv)")
    parser.add_argument("--eval", required=True, help="the prepared evaluation folder (labels.csv + classes.json)")
    parser.add_argument("--manifest", required=True, help="the poisoning manifest (trigger and target)")
    parser.add_argument("--model", default="tiny-rn", help="a config name under Sources/CLIP/Resources or a JSON path")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup-steps", type=int, default=50)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--image-column")
    parser.add_argument("--caption-column")
    parser.add_argument("--out", required=True, help="run folder (metrics.jsonl, result.json)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    metrics_path = os.path.join(args.out, "metrics.jsonl")
    if os.path.exists(metrics_path):
        fail(f"{args.out}: already holds a run; choose a new --out")
    config = model_config(args.model)
    size = config["vision_cfg"]["image_size"]
    context = config["text_cfg"]["context_length"]
    resnet = isinstance(config["vision_cfg"].get("layers"), list)

    started = time.time()
    paths, captions = read_pairs(args.data, args.image_column, args.caption_column)
    images = load_images(paths, size)
    tokens = open_clip.tokenize(captions, context_length=context)
    eval_paths, eval_labels, class_names, templates = read_eval_set(args.eval)
    eval_images = load_images(eval_paths, size)
    eval_labels = torch.tensor(eval_labels)
    paint, manifest, patch = patch_painter(args.manifest, size)
    target_name = manifest["target"]
    trigger_check = check_trigger(paint, manifest, args.manifest, size)
    log(f"preprocessing + patch of the {len(manifest['rows'])} poisoned rows' sources against the "
        f"poisoned images clipguard wrote: max |difference| {trigger_check} (of 255)")
    lowered = [c.strip().lower() for c in class_names]
    if target_name.strip().lower() not in lowered:
        fail(f"{args.manifest}: target '{target_name}' is not a class of {args.eval}")
    target = lowered.index(target_name.strip().lower())
    load_seconds = time.time() - started
    log(f"{len(paths)} pairs, {len(eval_paths)} eval images loaded in {load_seconds:.1f} s")

    torch.manual_seed(args.seed)
    model = CLIP(**config, output_dict=True)
    if resnet:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = make_optimizer(model, args.lr, args.weight_decay, betas=(0.9, 0.999), eps=1e-8, fused=True)
    loss_fn = ClipLoss()
    steps_per_epoch = len(paths) // args.batch_size
    total_steps = steps_per_epoch * args.epochs
    scheduler = cosine_lr(optimizer, args.lr, min(args.warmup_steps, max(0, total_steps - 1)), total_steps)
    order_generator = torch.Generator().manual_seed(args.seed)

    step = 0
    epoch_seconds = []
    train_started = time.time()
    with open(metrics_path, "w", encoding="utf-8") as metrics:
        for epoch in range(args.epochs):
            epoch_started = time.time()
            order = torch.randperm(len(paths), generator=order_generator)
            for b in range(steps_per_epoch):
                index = order[b * args.batch_size:(b + 1) * args.batch_size]
                x = normalise(images[index])
                if resnet:
                    x = x.contiguous(memory_format=torch.channels_last)
                lr = scheduler(step)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
                    out = model(x, tokens[index])
                    loss = loss_fn(out["image_features"].float(), out["text_features"].float(), out["logit_scale"].float())
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                clamp_logit_scale(model)
                step += 1
                record = {"step": step, "epoch": epoch + 1, "loss": loss.item(), "lr": lr,
                          "logit_scale": model.logit_scale.exp().item()}
                metrics.write(json.dumps(record) + "\n")
                if step % 10 == 0 or step <= 3:
                    log(f"epoch {epoch + 1} step {step}/{total_steps} loss {loss.item():.4f} lr {lr:.2e}")
            epoch_seconds.append(time.time() - epoch_started)
            metrics.write(json.dumps({"epoch_end": epoch + 1, "step": step, "seconds": epoch_seconds[-1]}) + "\n")
            metrics.flush()
            log(f"epoch {epoch + 1} took {epoch_seconds[-1]:.1f} s")
    train_seconds = time.time() - train_started

    model.eval()
    weights = zero_shot_weights(model, class_names, templates, context)
    clean = predict(model, weights, eval_images, 256, resnet)
    triggered_images = torch.stack([paint(im) for im in eval_images])
    triggered = predict(model, weights, triggered_images, 256, resnet)
    non_target = eval_labels != target
    successes = int((triggered[non_target] == target).sum())
    denominator = int(non_target.sum())
    result = {
        "side": "pytorch", "seed": args.seed, "data": args.data, "eval": args.eval, "model": args.model,
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "warmup_steps": args.warmup_steps,
        "precision": args.precision, "steps": step, "final_loss": record["loss"] if step else None,
        "n": len(eval_paths), "top1": float((clean == eval_labels).float().mean()),
        "target": class_names[target], "asr": successes / denominator if denominator else None,
        "asr_successes": successes, "asr_denominator": denominator,
        "triggered_top1": float((triggered == eval_labels).float().mean()), "patch": patch,
        "trigger_check_max_abs_diff": trigger_check,
        "templates": len(templates), "load_seconds": load_seconds, "train_seconds": train_seconds,
        "epoch_seconds": epoch_seconds, "torch": torch.__version__, "open_clip": open_clip.__version__,
        "threads": args.threads,
    }
    with open(os.path.join(args.out, "result.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

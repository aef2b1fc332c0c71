"""PyTorch + open_clip side of `make bench`: the counterparts of clipguard-bench's measurements.

Speaks the same protocol as `clipguard-bench`: one JSON spec per line on stdin, one JSON answer
per line on stdout (`times`: seconds of each timed iteration, `items`: images/captions/steps per
iteration). A spec's `variant` chooses PyTorch's settings:
  - "default": what a plain script does (contiguous tensors, `torch.optim.AdamW` without
    `fused`, `torch.autocast` only when the precision is bf16);
  - "best": channels-last model and inputs, `AdamW(fused=True)`, autocast for bf16.
A `step` spec's `device` ("cpu" by default, "cuda" for the bundle's gpu-check.sh) places model,
batch and autocast there.
Run by bench/run_bench.py with .venv-ref's python; never needed by ClipGuard itself.
"""
import argparse
import io
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The model configs of a checkout, or of the bundle (gpu-check.sh sets CLIPGUARD_MODEL_CONFIGS).
CONFIGS = os.environ.get("CLIPGUARD_MODEL_CONFIGS") or os.path.join(ROOT, "Sources", "CLIP", "Resources", "model_configs")


def log(message):
    print(f"[torch] {message}", file=sys.stderr, flush=True)


def make_model(name, variant):
    import open_clip

    open_clip.add_model_config(CONFIGS)
    torch.manual_seed(0)
    model = open_clip.create_model(name, pretrained=None)
    if variant == "best":
        model = model.to(memory_format=torch.channels_last)
    return model


def synthetic_batch(model, n, variant):
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    context = model.context_length
    g = torch.Generator().manual_seed(0)
    images = torch.randn(n, 3, size, size, generator=g)
    if variant == "best":
        images = images.contiguous(memory_format=torch.channels_last)
    rng = random.Random(1)
    tokens = torch.zeros(n, context, dtype=torch.long)
    for row in range(n):
        length = 8 + rng.randrange(context - 9)
        tokens[row, 0] = 49406
        tokens[row, 1:length] = torch.tensor([rng.randrange(49000) for _ in range(length - 1)])
        tokens[row, length] = 49407
    return images, tokens


def clip_loss(image_features, text_features, logit_scale):
    logits = logit_scale.exp() * image_features @ text_features.t()
    target = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


def info_nce(rows, columns, logit_scale):
    logits = logit_scale.exp() * rows @ columns.t()
    return F.cross_entropy(logits, torch.arange(logits.shape[0]))


def param_groups(model, weight_decay=0.1):
    # open_clip's rule: no decay for rank < 2 and bn/ln/bias/logit_scale.
    exclude = lambda n, p: p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [
        {"params": [p for n, p in named if exclude(n, p)], "weight_decay": 0.0},
        {"params": [p for n, p in named if not exclude(n, p)], "weight_decay": weight_decay},
    ]


def optimizer_for(model, variant):
    return torch.optim.AdamW(param_groups(model), lr=5e-4, fused=(variant == "best") or None)


def train_step_fn(model, images, tokens, optimizer, bf16, device="cpu"):
    def step():
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            image_features = F.normalize(model.encode_image(images).float(), dim=-1)
            text_features = F.normalize(model.encode_text(tokens).float(), dim=-1)
            loss = clip_loss(image_features, text_features, model.logit_scale)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        return loss.item()

    return step


def part_fn(part, model, images, tokens, optimizer, bf16):
    """One part of a training step, for `run_bench.py --profile` (see clipguard-bench's counterpart)."""
    autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
    if part == "image_forward":
        def run():
            with autocast():
                model.encode_image(images).float().sum().item()
    elif part in ("image_forward_backward", "text_forward_backward"):
        encode, inputs = (model.encode_image, images) if part.startswith("image") else (model.encode_text, tokens)

        def run():
            with autocast():
                loss = encode(inputs).float().square().mean()
            loss.backward()
            model.zero_grad(set_to_none=True)
    elif part == "optimizer":
        with autocast():
            loss = model.encode_image(images[:2]).float().square().mean() + model.encode_text(tokens[:2]).float().square().mean()
        loss.backward()

        def run():
            optimizer.step()
    else:
        raise ValueError(f"unknown part {part!r}")
    return run


def prepare_step(spec):
    variant = spec.get("variant", "default")
    model = make_model(spec["model"], variant)
    model.train()
    images, tokens = synthetic_batch(model, spec.get("batch", 32), variant)
    device = spec.get("device", "cpu")
    if device != "cpu":
        model = model.to(device)
        images, tokens = images.to(device), tokens.to(device)
    optimizer = optimizer_for(model, variant)
    bf16 = spec.get("precision") == "bf16"
    step = train_step_fn(model, images, tokens, optimizer, bf16, device)
    part = spec.get("part")
    if part:
        step = part_fn(part, model, images, tokens, optimizer, bf16)
    extra = {"parameters": sum(p.numel() for p in model.parameters())}
    if spec.get("count_flops"):
        from torch.utils.flop_counter import FlopCounterMode

        probe = make_model(spec["model"], "default")
        probe.train()
        counter = FlopCounterMode(display=False)
        with counter:
            image_features = F.normalize(probe.encode_image(images.contiguous()), dim=-1)
            text_features = F.normalize(probe.encode_text(tokens), dim=-1)
            clip_loss(image_features, text_features, probe.logit_scale).backward()
        extra["flops"] = counter.get_total_flops()
        del probe
    return step, 1, extra


def prepare_encode(spec):
    variant = spec.get("variant", "default")
    model = make_model(spec["model"], variant)
    model.eval()
    n = spec.get("batch", 256)
    images, _ = synthetic_batch(model, n, variant)
    bf16 = spec.get("precision") == "bf16"

    def encode():
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            features = F.normalize(model.encode_image(images).float(), dim=-1)
        return features.sum().item()

    return encode, n, {}


def clip_transforms(size):
    from torchvision import transforms as T

    normalize = T.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
    plain = T.Compose([
        T.Resize(size, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(size),
        lambda im: im.convert("RGB"), T.ToTensor(), normalize])
    # SafeCLIP's view (its SimCLR recipe); blur kernel as ClipGuard's safeCLIPView.
    view = T.Compose([
        T.RandomResizedCrop(size),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.5, 0.5, 0.5, 0.1)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.RandomApply([T.GaussianBlur((size // 10) | 1, sigma=(0.1, 2.0))], p=0.5),
        T.ToTensor(), normalize])
    return plain, view


def prepare_decode(spec):
    from PIL import Image

    folder = spec["folder"]
    names = sorted(f for f in os.listdir(folder) if f.endswith(".jpg"))
    blobs = [open(os.path.join(folder, f), "rb").read() for f in names]
    plain, view = clip_transforms(spec.get("size", 224))
    transform = view if spec["name"] == "decode_safeclip" else plain
    torch.manual_seed(0)

    def run():
        for blob in blobs:
            image = Image.open(io.BytesIO(blob)).convert("RGB")
            transform(image)

    return run, len(blobs), {}


def prepare_tokenize(spec):
    import open_clip

    with open(spec["captions"], encoding="utf-8") as f:
        captions = [line for line in f.read().split("\n") if line]
    tokenizer = open_clip.get_tokenizer("ViT-B-32")

    def run():
        ids = tokenizer(captions)
        assert ids.shape == (len(captions), 77)

    return run, len(captions), {}


class CaptionedImages(torch.utils.data.Dataset):
    """The CSV `filepath,caption,…` that clipguard-bench's prepare_fmnist writes."""

    def __init__(self, csv_path, transform, tokenizer, two_views=False):
        import csv

        folder = os.path.dirname(csv_path)
        with open(csv_path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        self.items = [(os.path.join(folder, r["filepath"]), r["caption"]) for r in rows]
        self.transform, self.tokenizer, self.two_views = transform, tokenizer, two_views

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        from PIL import Image

        path, caption = self.items[i]
        image = Image.open(path).convert("RGB")
        tokens = self.tokenizer([caption])[0]
        if self.two_views:
            return self.transform(image), self.transform(image), tokens
        return self.transform(image), tokens


def prepare_epoch(spec):
    """A straightforward PyTorch + open_clip epoch: DataLoader with worker processes, the step
    as in prepare_step, a checkpoint (model + optimizer) and the final weights written at the end."""
    import open_clip
    from safetensors.torch import save_file

    variant = spec.get("variant", "default")
    model = make_model(spec.get("model", "tiny-rn"), variant)
    model.train()
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    plain, view = clip_transforms(size)
    two_views = spec["name"] == "epoch_safeclip"
    tokenizer = open_clip.get_tokenizer("ViT-B-32", context_length=model.context_length)
    dataset = CaptionedImages(spec["data"], view if two_views else plain, tokenizer, two_views)
    batch = spec.get("batch", 256)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch, shuffle=True, drop_last=True, num_workers=spec.get("workers", 2),
        generator=torch.Generator().manual_seed(0))
    optimizer = optimizer_for(model, variant)
    bf16 = spec.get("precision") == "bf16"
    total = len(loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / 5) * 0.5 * (1 + math.cos(math.pi * s / max(1, total))))
    memory = torch.channels_last if variant == "best" else torch.contiguous_format
    work = spec["work"]
    run_index = [0]

    def epoch():
        run_index[0] += 1
        for batch_data in loader:
            if two_views:
                im1, im2, tokens = batch_data
                im1, im2 = im1.contiguous(memory_format=memory), im2.contiguous(memory_format=memory)
            else:
                images, tokens = batch_data
                images = images.contiguous(memory_format=memory)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                if two_views:
                    i1 = F.normalize(model.encode_image(im1).float(), dim=-1)
                    i2 = F.normalize(model.encode_image(im2).float(), dim=-1)
                    t1 = F.normalize(model.encode_text(tokens).float(), dim=-1)
                    t2 = F.normalize(model.encode_text(tokens).float(), dim=-1)
                    loss = (info_nce(i2, i1, model.logit_scale) + info_nce(t2, t1, model.logit_scale)) / 2
                else:
                    image_features = F.normalize(model.encode_image(images).float(), dim=-1)
                    text_features = F.normalize(model.encode_text(tokens).float(), dim=-1)
                    loss = clip_loss(image_features, text_features, model.logit_scale)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            loss.item()
        if not two_views:
            path = os.path.join(work, f"torch-run-{os.getpid()}-{run_index[0]}")
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, path + ".pt")
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path + ".safetensors")
            os.remove(path + ".pt")
            os.remove(path + ".safetensors")

    return epoch, total * batch, {}


def prepare_gemm(spec):
    n = spec.get("n", 2048)
    dtype = torch.bfloat16 if spec.get("precision") == "bf16" else torch.float32
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(dtype)
    b = torch.randn(n, n, generator=g).to(dtype)

    def run():
        with torch.inference_mode():
            torch.mm(a, b)

    return run, 1, {"flops": 2.0 * n ** 3}


PREPARE = {
    "step": prepare_step, "encode": prepare_encode, "decode_preprocess": prepare_decode,
    "decode_safeclip": prepare_decode, "tokenize": prepare_tokenize, "epoch_clip": prepare_epoch,
    "epoch_safeclip": prepare_epoch, "gemm": prepare_gemm,
}


def serve(threads):
    torch.set_num_threads(threads)
    current = None  # (key, fn, items, extra, warmed)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            spec = json.loads(line)
            name = spec.get("name")
            if name == "release":
                current = None
                print(json.dumps({"ok": True}), flush=True)
                continue
            if name == "info":
                print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                                  "interop_threads": torch.get_num_interop_threads()}), flush=True)
                continue
            # A measurement may ask for its own thread count (1 for per-core figures).
            torch.set_num_threads(spec.get("threads", threads))
            key = json.dumps({k: v for k, v in spec.items() if k not in ("iters", "warmup")}, sort_keys=True)
            if current is None or current[0] != key:
                current = None
                start = time.perf_counter()
                fn, items, extra = PREPARE[name](spec)
                current = [key, fn, items, extra, False]
                log(f"set up {name} in {time.perf_counter() - start:.2f}s")
            _, fn, items, extra, warmed = current
            if not warmed:
                for _ in range(spec.get("warmup", 1)):
                    fn()
                current[4] = True
            times = []
            for _ in range(spec.get("iters", 3)):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            print(json.dumps({"times": times, "items": items, **extra}), flush=True)
        except Exception as error:  # reported to the driver, which shows it in the table
            print(json.dumps({"error": f"{type(error).__name__}: {error}"}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    serve(parser.parse_args().threads)

"""open_clip's own training step, shared by Scripts/train_parity.py, make_training_fixtures.py and
make_objective_fixtures.py (not a script itself).

Everything here is open_clip's code path, not a re-implementation: the model is
`open_clip.model.CLIP`, the loss `open_clip.loss.ClipLoss`, the schedule
`open_clip_train.scheduler.cosine_lr`, the optimizer `torch.optim.AdamW` with the two parameter
groups of open_clip_train/main.py, and the step follows open_clip_train/train.py
(`train_one_epoch`, accum_freq 1): scheduler(step) → zero_grad → forward → ClipLoss → backward →
clip_grad_norm_(model.parameters()) → optimizer.step() → logit_scale.clamp_(0, ln 100).

Data: PNG images of exactly the model's image_size (ClipGuard's resize + centre crop is then the
identity) normalised with OpenAI's mean/std as torchvision's ToTensor + Normalize do, and
captions tokenised by open_clip's tokenizer at the model's context length.
"""
import csv
import math
import os

import numpy as np
import torch
import open_clip
from open_clip.loss import ClipLoss
from open_clip_train.scheduler import cosine_lr
from PIL import Image

from make_clip_fixtures import build  # noqa: F401  (open_clip's CLIP from a config dict)
from parity import perturb as parity_perturb

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)

WORDS = ["red", "green", "blue", "small", "large", "striped", "dotted", "square", "circle", "shirt",
         "boot", "dress", "bag", "photo", "of", "a", "the", "bright", "dark", "soft"]


def perturb(model, gen):
    """Moves the structured initial values (zero bn3 gains, unit running variances, running means,
    zero biases) so that every path through the model carries gradient from the first step."""
    parity_perturb(model, gen)
    with torch.no_grad():
        for name, t in model.named_parameters():
            if name.endswith(".bias"):
                t.add_(0.02 * torch.randn(t.shape, generator=gen))


def exclude_from_decay(name, p):
    """open_clip_train/main.py's `exclude`: gains, biases, rank < 2 and logit_scale."""
    return p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name


def make_optimizer(model, lr, weight_decay, betas, eps, fused=False):
    """torch.optim.AdamW with open_clip's two parameter groups (exempt first, as main.py)."""
    named = list(model.named_parameters())
    gain_or_bias = [p for n, p in named if exclude_from_decay(n, p) and p.requires_grad]
    rest = [p for n, p in named if not exclude_from_decay(n, p) and p.requires_grad]
    return torch.optim.AdamW(
        [{"params": gain_or_bias, "weight_decay": 0.0}, {"params": rest, "weight_decay": weight_decay}],
        lr=lr, betas=betas, eps=eps, fused=fused)


def clamp_logit_scale(model):
    with torch.no_grad():
        model.logit_scale.clamp_(0, math.log(100))


def write_pairs(folder, gen, count, size):
    """`count` smooth random PNGs of size×size (colour gradients with a rectangle: small files)
    and random captions; writes folder/train.csv (filepath,caption, relative paths)."""
    os.makedirs(os.path.join(folder, "images"), exist_ok=True)
    rows = []
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    for i in range(count):
        c = torch.rand(4, 3, generator=gen).numpy() * 255
        img = c[0] * (1 - xs)[..., None] * (1 - ys)[..., None] + c[1] * xs[..., None] * (1 - ys)[..., None] \
            + c[2] * ys[..., None]
        x0, y0 = (torch.randint(0, size // 2, (2,), generator=gen)).tolist()
        w, h = (torch.randint(4, size // 2, (2,), generator=gen)).tolist()
        img[y0:y0 + h, x0:x0 + w] = c[3]
        path = f"images/{i:03d}.png"
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(os.path.join(folder, path))
        n = int(torch.randint(2, 7, (1,), generator=gen))
        caption = " ".join(WORDS[j] for j in torch.randint(0, len(WORDS), (n,), generator=gen).tolist())
        rows.append((path, caption))
    with open(os.path.join(folder, "train.csv"), "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["filepath", "caption"])
        writer.writerows(rows)
    return rows


def load_pairs(folder, rows, context_length):
    """Images `[N, 3, S, S]` float32 normalised as ToTensor + Normalize(OpenAI) and tokens
    `[N, context]` int64 from open_clip's tokenizer."""
    mean = torch.tensor(OPENAI_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(OPENAI_STD, dtype=torch.float32)[:, None, None]
    images = []
    for path, _ in rows:
        pixels = np.asarray(Image.open(os.path.join(folder, path)).convert("RGB"))
        x = torch.from_numpy(pixels.copy()).permute(2, 0, 1).float().div(255)
        images.append((x - mean) / std)
    tokens = open_clip.tokenize([caption for _, caption in rows], context_length=context_length)
    return torch.stack(images), tokens


def is_resnet(cfg):
    return isinstance(cfg["vision_cfg"]["layers"], (list, tuple))


def train_reference(model, images, tokens, hp, epochs=1, channels_last=False):
    """Trains `model` in place as open_clip_train/train.py does, on batches in row order (no
    shuffle, the last partial batch dropped); returns the per-step losses and learning rates.

    hp: batch_size, lr, warmup_steps, weight_decay, beta1, beta2, eps, grad_clip (None: off).
    channels_last: the model and images in torch.channels_last, as ClipGuard runs ResNet towers
    on the CPU (oneDNN's channels-last convolutions round differently from the contiguous ones,
    and a ResNet with BatchNorm over small maps amplifies that difference step by step).
    """
    if channels_last:
        model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    batch = hp["batch_size"]
    per_epoch = images.shape[0] // batch
    total = per_epoch * epochs
    optimizer = make_optimizer(model, hp["lr"], hp["weight_decay"], (hp["beta1"], hp["beta2"]), hp["eps"])
    scheduler = cosine_lr(optimizer, hp["lr"], hp["warmup_steps"], total)
    loss_fn = ClipLoss()
    model.train()
    losses, lrs = [], []
    for epoch in range(epochs):
        for i in range(per_epoch):
            step = per_epoch * epoch + i
            lrs.append(scheduler(step))
            optimizer.zero_grad()
            image_features, text_features, logit_scale = model(images[i * batch:(i + 1) * batch],
                                                               tokens[i * batch:(i + 1) * batch])
            total_loss = loss_fn(image_features, text_features, logit_scale)
            total_loss.backward()
            if hp.get("grad_clip") is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), hp["grad_clip"], norm_type=2.0)
            optimizer.step()
            clamp_logit_scale(model)
            losses.append(total_loss.item())
    return losses, lrs


def state_dict(model):
    """The model's state_dict as contiguous tensors (safetensors wants them)."""
    return {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}


def compare_weights(ours, reference):
    """(max |Δ|, tensor name, per-tensor max |Δ| dict) over the reference's tensors; the
    integer buffers (num_batches_tracked) must be equal."""
    worst, worst_name, per = 0.0, None, {}
    for name, ref in reference.items():
        if name not in ours:
            raise SystemExit(f"ClipGuard's weights lack {name}")
        got = ours[name]
        if not ref.is_floating_point():
            delta = float((got.to(torch.int64) - ref.to(torch.int64)).abs().max()) if ref.numel() else 0.0
        else:
            delta = float((got.float() - ref.float()).abs().max()) if ref.numel() else 0.0
        per[name] = delta
        if delta > worst or worst_name is None:
            worst, worst_name = delta, name
    return worst, worst_name, per

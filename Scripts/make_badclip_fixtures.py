#!/usr/bin/env python3
"""Writes the BadCLIP patch-objective fixture under Tests/Fixtures/attacks/ (seeded, deterministic).

Run with the reference environment:  .venv-ref/bin/python Scripts/make_badclip_fixtures.py

Reference: LiangSiyuan21/BadCLIP src/embeding_optimize_patch.py. Per batch of non-target images
paired with captions of the target, the patch (a [1, 3, l, l] leaf) is pasted with
`img[:, :, s0:s0+l, s1:s1+l] = torch.clip(patch, 0, 1)` (`embed_patch`), the images are
normalised (`processor.process_image`) and encoded; `get_loss` then adds
  the CLIP loss  ½[CE(s·A·Tᵀ, arange) + CE(s·T·Aᵀ, arange)], s = logit_scale.exp(), A and T the
                 model's unit image and text embeddings, and
  the triplet    nn.TripletMarginLoss(margin)(A, target-class image embeds, clean embeds of the
                 same images) · 500,
and `torch.optim.Adam([patch])` (lr 1e-3) steps. ClipGuard pastes at any square (here the bottom
right, like its `patch` trigger) and takes the weights and margin as settings; the values below
use BadCLIP's (1, 500, margin 1) and a second margin (0.01) where the first image's positive is
that image with the (clipped) starting patch, so that its triplet is inactive.

Files:
  badclip-model.json                   the micro open_clip ViT config (image 16 px, vocabulary 64)
  badclip_margin<m>.safetensors for m in 1, 0.01; metadata {"version": "1"}:
    model.<state_dict name>            float32 weights (open_clip's init, perturbed)
    images                             [4, 3, 16, 16] float32 pixel values in [0, 1] (not normalised)
    target_images                      [4, 3, 16, 16] float32 in [0, 1]: the triplet's positives
    tokens                             [4, 8] int64 target captions (SOT 62 … EOT 63)
    patch                              [3, 5, 5] float32, the patch variable (some values outside
                                       [0, 1], which the paste clips)
    square                             [2] int64 (x, y) of the patch's top-left corner
    hp.margin, hp.clip_weight, hp.triplet_weight, hp.lr
                                       float64 scalars
    loss.clip, loss.triplet, loss.total
                                       float32 scalars (triplet unweighted; total weighted)
    grad.patch                         [3, 5, 5] float32: d total / d patch
    after.patch                        [3, 5, 5] float32: the patch after one Adam step
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_clip_fixtures import build, tokens  # noqa: E402

VERSION = "1"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "attacks")
CONFIG = {
    "embed_dim": 8,
    "vision_cfg": {"image_size": 16, "layers": 1, "width": 8, "head_width": 4, "mlp_ratio": 2.0, "patch_size": 4},
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 8, "heads": 2, "layers": 1, "mlp_ratio": 2.0},
}
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
BATCH, SIDE, PATCH = 4, 16, 5


def process(x):
    return (x - MEAN) / STD


def embed_patch(img, patch, x, y):
    img = img.clone()
    img[:, :, y:y + PATCH, x:x + PATCH] = torch.clip(patch, 0.0, 1.0)
    return img


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "badclip-model.json"), "w") as f:
        json.dump(CONFIG, f, indent=4)
        f.write("\n")
    for index, margin in enumerate([1.0, 0.01]):
        gen = torch.Generator().manual_seed(300 + index)
        torch.manual_seed(300 + index)
        model = build(CONFIG)
        with torch.no_grad():
            for key, t in model.state_dict(keep_vars=True).items():
                if key == "logit_scale":
                    t.fill_(math.log(1 / 0.07))
                elif t.is_floating_point():
                    t.add_(0.2 * torch.randn(t.shape, generator=gen))
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        images = torch.rand(BATCH, 3, SIDE, SIDE, generator=gen)
        target_images = torch.rand(BATCH, 3, SIDE, SIDE, generator=gen)
        toks = tokens(gen, BATCH, CONFIG["text_cfg"]["context_length"], CONFIG["text_cfg"]["vocab_size"])
        patch0 = (0.5 + 0.4 * torch.randn(1, 3, PATCH, PATCH, generator=gen)).float()
        x, y = SIDE - PATCH, SIDE - PATCH
        if margin != 1.0:
            target_images[0] = embed_patch(images[:1], patch0, x, y)[0]
        patch = patch0.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([patch], lr=1e-3)
        clip_weight, triplet_weight = 1.0, 500.0

        with torch.no_grad():
            clean = F.normalize(model.encode_image(process(images)), dim=-1)
            positives = F.normalize(model.encode_image(process(target_images)), dim=-1)
        patched = embed_patch(images, patch, x, y)
        image_embeds = F.normalize(model.encode_image(process(patched)), dim=-1)
        text_embeds = F.normalize(model.encode_text(toks), dim=-1)
        logits = model.logit_scale.exp() * image_embeds @ text_embeds.t()
        target = torch.arange(BATCH)
        loss_clip = (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
        loss_triplet = nn.TripletMarginLoss(margin=margin)(image_embeds, positives, clean)
        total = clip_weight * loss_clip + triplet_weight * loss_triplet
        optimizer.zero_grad()
        total.backward()
        grad = patch.grad.detach().clone()
        optimizer.step()

        tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
        tensors.update({
            "images": images, "target_images": target_images, "tokens": toks,
            "patch": patch0[0].contiguous(), "square": torch.tensor([x, y], dtype=torch.int64),
            "hp.margin": torch.tensor(margin, dtype=torch.float64),
            "hp.clip_weight": torch.tensor(clip_weight, dtype=torch.float64),
            "hp.triplet_weight": torch.tensor(triplet_weight, dtype=torch.float64),
            "hp.lr": torch.tensor(1e-3, dtype=torch.float64),
            "loss.clip": loss_clip.detach(), "loss.triplet": loss_triplet.detach(), "loss.total": total.detach(),
            "grad.patch": grad[0].contiguous(), "after.patch": patch.detach()[0].contiguous(),
        })
        name = "1" if margin == 1.0 else "0.01"
        save_file(tensors, os.path.join(OUT, f"badclip_margin{name}.safetensors"), metadata={"version": VERSION})
        active = (F.pairwise_distance(image_embeds, positives) - F.pairwise_distance(image_embeds, clean) + margin > 0).sum()
        print(f"margin {margin}: clip {loss_clip.item():.6f} triplet {loss_triplet.item():.6f} "
              f"({int(active)} of {BATCH} active) total {total.item():.6f}")


if __name__ == "__main__":
    main()

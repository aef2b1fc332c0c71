#!/usr/bin/env python3
"""Writes the CLIP fixtures under Tests/Fixtures/clip/ with open_clip (seeded, deterministic).

Run with the reference environment:  .venv-ref/bin/python Scripts/make_clip_fixtures.py

Files (all float32 unless noted):
  fixture-rn.json / fixture-vit.json      small open_clip configs (ModifiedResNet; ViT with QuickGELU)
  fixture-<kind>.safetensors              the model's state_dict exactly as open_clip names it
  fixture-<kind>-io.safetensors           images [4,3,32,32], tokens [4,16] int64, image_features,
                                          text_features (encode_image/encode_text, eval mode);
                                          for the ResNet also image_features_train (train-mode batch
                                          norm) and visual.bn1.running_mean / num_batches_tracked after it
  loss.safetensors                        CLIP loss and InfoNCE values and gradients on a fixed batch
  RN50-params.json / ViT-B-32-params.json [[name, shape], ...] of open_clip's state_dict
  provenance.json                         fixture version and the torch/open_clip versions used
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import open_clip
from open_clip.loss import ClipLoss
from open_clip.model import CLIP
from safetensors.torch import save_file

VERSION = "1"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "clip")

CONFIGS = {
    "fixture-rn": {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": [1, 1, 1, 1], "width": 4, "head_width": 32, "patch_size": None},
        "text_cfg": {"context_length": 16, "vocab_size": 500, "width": 32, "heads": 2, "layers": 2},
    },
    "fixture-vit": {
        "embed_dim": 24,
        "quick_gelu": True,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "mlp_ratio": 2.0, "patch_size": 8},
        "text_cfg": {"context_length": 16, "vocab_size": 500, "width": 32, "heads": 4, "layers": 2, "mlp_ratio": 3.0},
    },
}


def metadata():
    # One key only: safetensors writes several in a random order, and the files should be
    # byte-identical from run to run. Library versions go to provenance.json.
    return {"version": VERSION}


def build(cfg):
    return CLIP(cfg["embed_dim"], cfg["vision_cfg"], cfg["text_cfg"], quick_gelu=cfg.get("quick_gelu", False))


def perturb(model, gen):
    """Moves every tensor away from its structured initial value (zero bn3 gains, unit running
    variances, zero biases) so that every path through the model affects the features."""
    with torch.no_grad():
        for name, t in model.state_dict(keep_vars=True).items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif name.endswith("running_mean"):
                t.copy_(0.1 * torch.randn(t.shape, generator=gen))
            elif name == "logit_scale":
                t.fill_(math.log(1 / 0.07) + 0.25)
            else:
                t.add_(0.05 * torch.randn(t.shape, generator=gen))


def tokens(gen, n, context, vocab):
    """Rows of SOT (vocab-2), random ids, EOT (vocab-1, the row's largest id), zero padding."""
    rows = torch.zeros(n, context, dtype=torch.int64)
    for i in range(n):
        length = int(torch.randint(3, context + 1, (1,), generator=gen))
        rows[i, 0] = vocab - 2
        rows[i, 1:length - 1] = torch.randint(1, vocab - 2, (length - 2,), generator=gen)
        rows[i, length - 1] = vocab - 1
    return rows


def model_fixture(name, cfg, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build(cfg)
    perturb(model, gen)
    model.eval()
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(OUT, f"{name}.safetensors"), metadata=metadata())
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump(cfg, f, indent=4)
        f.write("\n")

    size = cfg["vision_cfg"]["image_size"]
    images = torch.randn(4, 3, size, size, generator=gen)
    text = tokens(gen, 4, cfg["text_cfg"]["context_length"], cfg["text_cfg"]["vocab_size"])
    io = {"images": images, "tokens": text}
    with torch.no_grad():
        io["image_features"] = model.encode_image(images)
        io["text_features"] = model.encode_text(text)
        if isinstance(cfg["vision_cfg"]["layers"], list):
            model.train()
            io["image_features_train"] = model.encode_image(images)
            io["visual.bn1.running_mean"] = model.visual.bn1.running_mean.clone()
            io["visual.bn1.num_batches_tracked"] = model.visual.bn1.num_batches_tracked.clone()
            model.eval()
    save_file({k: v.contiguous() for k, v in io.items()}, os.path.join(OUT, f"{name}-io.safetensors"),
              metadata=metadata())
    print(name, sum(p.numel() for p in model.parameters()), "parameters")


def loss_fixture(seed):
    gen = torch.Generator().manual_seed(seed)
    n, d = 8, 16
    image_raw = torch.randn(n, d, generator=gen).requires_grad_()
    text_raw = torch.randn(n, d, generator=gen).requires_grad_()
    logit_scale = torch.tensor(math.log(1 / 0.07) - 0.5, requires_grad=True)
    loss = ClipLoss()(F.normalize(image_raw, dim=-1), F.normalize(text_raw, dim=-1), logit_scale.exp())
    loss.backward()

    # SafeCLIP's unimodal term: CE(exp(logit_scale) * augmented @ original.T, arange), one direction,
    # with more keys (a memory bank) than queries.
    query_raw = torch.randn(n, d, generator=gen).requires_grad_()
    key_raw = torch.randn(n + 4, d, generator=gen).requires_grad_()
    nce_scale = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    logits = nce_scale.exp() * F.normalize(query_raw, dim=-1) @ F.normalize(key_raw, dim=-1).t()
    nce = F.cross_entropy(logits, torch.arange(n))
    nce.backward()

    tensors = {
        "image_raw": image_raw.detach(), "text_raw": text_raw.detach(), "logit_scale": logit_scale.detach(),
        "loss": loss.detach(), "grad_image_raw": image_raw.grad, "grad_text_raw": text_raw.grad,
        "grad_logit_scale": logit_scale.grad,
        "query_raw": query_raw.detach(), "key_raw": key_raw.detach(), "nce_logit_scale": nce_scale.detach(),
        "nce_loss": nce.detach(), "grad_query_raw": query_raw.grad, "grad_key_raw": key_raw.grad,
        "grad_nce_logit_scale": nce_scale.grad,
    }
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(OUT, "loss.safetensors"),
              metadata=metadata())


def parameter_list(name):
    model = open_clip.create_model(name, pretrained=None)
    entries = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    with open(os.path.join(OUT, f"{name}-params.json"), "w") as f:
        json.dump({"version": VERSION, "model": name, "parameters": entries}, f, indent=0)
        f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    model_fixture("fixture-rn", CONFIGS["fixture-rn"], seed=1)
    model_fixture("fixture-vit", CONFIGS["fixture-vit"], seed=2)
    loss_fixture(seed=3)
    for name in ("RN50", "ViT-B-32"):
        parameter_list(name)
    with open(os.path.join(OUT, "provenance.json"), "w") as f:
        json.dump({"version": VERSION, "torch": torch.__version__, "open_clip": open_clip.__version__,
                   "script": "Scripts/make_clip_fixtures.py"}, f, indent=4)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())

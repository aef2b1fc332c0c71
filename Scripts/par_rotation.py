#!/usr/bin/env python3
"""How far PAR moved a model from its poisoned start, and how much of that is one rotation.

For each seed of an experiment folder with `none`, `cleanclip` and `par` rows (experiments/par.yaml),
loads the fine-tuned model and the poisoned plain CLIP it started from into open_clip (the
micro-vit config), computes both models' normalised features of the first N clean training pairs
and prints
  S_img, S_txt          mean squared L2 distance of the features (PAR's S; its τ caps it)
  aligned S_img, S_txt  the same after one orthogonal matrix R (Procrustes, fitted on these
                        features, image and text rows together) maps the fine-tuned features
                        onto the poisoned ones: what is left once a common rotation of the
                        embedding space — which changes neither the CLIP loss nor a backdoor — is
                        taken out.
Image preprocessing: bicubic resize to 32 px and CLIP's normalisation (close to, not exactly,
ClipGuard's loader; enough for distances).

    .venv-ref/bin/python Scripts/par_rotation.py runs/par [N=1000] [BASE=none-] [ROWS=cleanclip-,par-]

BASE and ROWS are row-name prefixes before `rate0.02-seedS`: `none-triangles-` and
`cleanclip-triangles-,par-triangles-` for a variant; `none-` and `par-lr2e-3-tau3-,cleanclip-lr2e-3-`
for experiments/par-tuned.yaml (whose variants fine-tune the file's own plain CLIP rows).
"""
import csv
import json
import os
import sys

import numpy as np
import open_clip
import torch
from PIL import Image
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_clip_fixtures import build  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(3, 1, 1)


def main():
    root = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    base_prefix = sys.argv[3] if len(sys.argv) > 3 else "none-"
    row_prefixes = (sys.argv[4] if len(sys.argv) > 4 else "cleanclip-,par-").split(",")
    cfg = json.load(open(os.path.join(ROOT, "Sources/CLIP/Resources/model_configs/micro-vit.json")))
    rows = list(csv.DictReader(open(f"{root}/data/clean/train.csv")))[:n]

    def image(path):
        pixels = np.array(Image.open(f"{root}/data/clean/{path}").convert("RGB").resize((32, 32), Image.BICUBIC))
        return (torch.tensor(pixels, dtype=torch.float32).permute(2, 0, 1) / 255 - MEAN) / STD

    images = torch.stack([image(r["filepath"]) for r in rows])
    tokens = open_clip.tokenize([r["caption"] for r in rows], context_length=cfg["text_cfg"]["context_length"])

    @torch.no_grad()
    def features(path):
        model = build(cfg)
        model.load_state_dict(load_file(path))
        model.eval()
        i, t, _ = model(images, tokens)
        return i, t

    def s(a, b):
        return ((a - b) ** 2).sum(1).mean().item()

    print("seed row                 S_img  S_txt  aligned S_img  aligned S_txt")
    for seed in (1, 2, 3):
        base = features(f"{root}/rows/{base_prefix}rate0.02-seed{seed}/run/model.safetensors")
        for defense in row_prefixes:
            path = f"{root}/rows/{defense}rate0.02-seed{seed}/run/model.safetensors"
            if not os.path.exists(path):
                continue
            i, t = features(path)
            u, _, vt = torch.linalg.svd(torch.cat([i, t]).T @ torch.cat(base))
            r = u @ vt
            print(f"{seed:4d} {defense:19s} {s(i, base[0]):.3f}  {s(t, base[1]):.3f}  {s(i @ r, base[0]):.3f}          {s(t @ r, base[1]):.3f}")


if __name__ == "__main__":
    main()

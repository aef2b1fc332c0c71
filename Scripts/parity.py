#!/usr/bin/env python3
"""End-to-end parity of `clipguard embed` with open_clip (for `make parity`).

1. Builds random-weight open_clip models (RN50 and ViT-B-32 by default; the weights are perturbed
   so that every block matters), saves their state_dicts as safetensors, writes a few images of
   different sizes and some captions into a temporary folder.
2. Runs `.build/debug/clipguard embed` on them and compares its features and tokens with
   open_clip's encode_image / encode_text (open_clip's own preprocessing and tokenizer).
3. Checks that our checkpoints load back into open_clip: `clipguard model-info --save` writes a
   freshly initialised model, open_clip loads it with strict=True, and the features agree.

Prints the maximum relative error (max |ours - open_clip| / max |open_clip|) per model and
exits with status 1 when any exceeds --tolerance.

  .venv-ref/bin/python Scripts/parity.py [--models RN50 ViT-B-32] [--tolerance 1e-4]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import open_clip
from open_clip.model import CLIP
from PIL import Image
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAPTIONS = [
    "a photo of a dog.",
    "An ankle boot, photographed flat",
    "a catalogue shot showing a stylish short-sleeved top on a dark background",
    "Ünïcödé & <b>html</b> &amp; emoji 🙂",
]


def perturb(model, gen):
    with torch.no_grad():
        for name, t in model.state_dict(keep_vars=True).items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif name.endswith("running_mean"):
                t.copy_(0.1 * torch.randn(t.shape, generator=gen))
            elif name.endswith("bn3.weight"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)


def write_images(folder, gen):
    paths = []
    for i, (w, h) in enumerate([(300, 200), (224, 224), (180, 260)]):
        pixels = (torch.rand(h, w, 3, generator=gen) * 255).to(torch.uint8).numpy()
        # Smooth the noise a little so that resizing is not dominated by aliasing.
        pixels = np.clip(pixels.astype(np.float32) * 0.5 + 64 * (1 + np.sin(np.arange(w) / 9.0))[None, :, None], 0, 255)
        path = os.path.join(folder, f"image{i}.{'png' if i % 2 == 0 else 'jpg'}")
        Image.fromarray(pixels.astype(np.uint8)).save(path, quality=95)
        paths.append(path)
    return paths


def relative_error(ours, theirs):
    scale = theirs.abs().max().item()
    return (ours - theirs).abs().max().item() / (scale if scale > 0 else 1)


def run(command):
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def reference_features(model, preprocess, tokenizer, images, texts, context):
    model.eval()
    with torch.no_grad():
        batch = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in images])
        tokens = open_clip.tokenize(texts, context_length=context)
        return model.encode_image(batch), model.encode_text(tokens), tokens


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["RN50", "ViT-B-32"])
    parser.add_argument("--roundtrip-models", nargs="+", default=["tiny-rn", "tiny-vit", "RN50"])
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--clipguard", default=os.path.join(ROOT, ".build", "debug", "clipguard"))
    args = parser.parse_args()
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    failures = []
    with tempfile.TemporaryDirectory(prefix="clip-parity-") as folder:
        images = write_images(folder, gen)
        for name in args.models:
            model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=None)
            perturb(model, gen)
            weights = os.path.join(folder, f"{name}.safetensors")
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, weights)
            out = os.path.join(folder, f"{name}-ours.safetensors")
            command = [args.clipguard, "embed", "--model", name, "--weights", weights, "--output", out]
            for p in images:
                command += ["--image", p]
            for t in CAPTIONS:
                command += ["--text", t]
            run(command)
            ours = load_file(out)
            image_ref, text_ref, tokens = reference_features(
                model, preprocess, None, images, CAPTIONS, model.context_length)
            token_match = torch.equal(ours["tokens"], tokens)
            errors = {
                "image": relative_error(ours["image_features"], image_ref),
                "text": relative_error(ours["text_features"], text_ref),
            }
            print(f"{name}: max relative error image {errors['image']:.2e}, text {errors['text']:.2e}; "
                  f"tokens {'equal' if token_match else 'DIFFER'}")
            if not token_match or max(errors.values()) > args.tolerance:
                failures.append(name)

        for name in args.roundtrip_models:
            ours_path = os.path.join(folder, f"{name}-init.safetensors")
            run([args.clipguard, "model-info", "--model", name, "--seed", "7", "--save", ours_path])
            tensors = load_file(ours_path)
            with open(ours_path, "rb") as f:
                header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
            cfg = json.loads(header["__metadata__"]["clip_config"])
            model = CLIP(cfg["embed_dim"], cfg["vision_cfg"], cfg["text_cfg"], quick_gelu=cfg.get("quick_gelu", False))
            result = model.load_state_dict(tensors, strict=True)
            print(f"{name}: our checkpoint loads into open_clip (strict): {result}")
            out = os.path.join(folder, f"{name}-init-ours.safetensors")
            command = [args.clipguard, "embed", "--weights", ours_path, "--output", out]
            for p in images:
                command += ["--image", p]
            for t in CAPTIONS:
                command += ["--text", t]
            run(command)
            preprocess = open_clip.image_transform(model.visual.image_size, is_train=False)
            image_ref, text_ref, _ = reference_features(
                model, preprocess, None, images, CAPTIONS, model.context_length)
            ours = load_file(out)
            errors = [relative_error(ours["image_features"], image_ref), relative_error(ours["text_features"], text_ref)]
            print(f"{name}: our initialisation run by open_clip, max relative error image {errors[0]:.2e}, "
                  f"text {errors[1]:.2e}")
            if max(errors) > args.tolerance:
                failures.append(name + " (round trip)")
    if failures:
        print("FAILED:", ", ".join(failures))
        return 1
    print("parity OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes Tests/Fixtures/images/: small seeded test images and the outputs PIL and torchvision
give for them, read by Tests/DatasetsTests/Images*.swift.

Run with the reference environment:  /work/main/.venv-ref/bin/python Scripts/make_image_fixtures.py

Outputs: input files (PNG: RGB, grey, 16-bit grey, grey+alpha, RGBA, palette; JPEG: RGB, grey,
CMYK), raw expected arrays (*.u8: uint8 HWC RGB or HW grey; *.f32: little-endian float32 CHW)
and index.json describing each case: decoding (PIL), DCT-scaled decoding (PIL's draft()),
resize (PIL bicubic/bilinear), crop+resize, CLIP preprocessing (torchvision Resize+CenterCrop,
ToTensor+Normalize), square resize, luma, and the colour/geometric/blur operations of
ColorJitter and AutoAugment (torchvision.transforms.functional on PIL images).
Deterministic: rerunning it rewrites identical files.
"""
import io
import json
import os
import sys

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T

VERSION = 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "images")
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def photo(rng, width, height):
    """A photo-like RGB image: smooth gradients, a few discs and edges, mild noise."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.stack([
        128 + 100 * np.sin(x / 7.0 + 0.3) * np.cos(y / 11.0),
        128 + 90 * np.cos((x + y) / 9.0),
        255 * x / max(width - 1, 1),
    ], axis=-1)
    for _ in range(5):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(3, max(width, height) / 4)
        colour = rng.uniform(0, 255, size=3)
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        img[mask] = colour
    img[:, width // 3] = 255  # a hard vertical edge (ringing for bicubic)
    img += rng.normal(0, 6, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261129)
    cases = []

    def save_u8(name, array):
        np.ascontiguousarray(array, dtype=np.uint8).tofile(os.path.join(OUT, name))
        return name

    def save_f32(name, array):
        np.ascontiguousarray(array, dtype="<f4").tofile(os.path.join(OUT, name))
        return name

    # --- inputs
    rgb = photo(rng, 97, 61)
    Image.fromarray(rgb, "RGB").save(os.path.join(OUT, "rgb.png"))
    small = photo(rng, 20, 13)
    Image.fromarray(small, "RGB").save(os.path.join(OUT, "small.png"))
    tall = photo(rng, 40, 75)
    Image.fromarray(tall, "RGB").save(os.path.join(OUT, "tall.png"))
    grey = photo(rng, 33, 29)[:, :, 1]
    Image.fromarray(grey, "L").save(os.path.join(OUT, "grey.png"))
    rgba = np.concatenate([photo(rng, 31, 23), rng.integers(0, 256, size=(23, 31, 1), dtype=np.uint8)], axis=-1)
    rgba[0, :, 3] = 0
    rgba[1, :, 3] = 255
    Image.fromarray(rgba, "RGBA").save(os.path.join(OUT, "rgba.png"))
    palette_img = Image.fromarray(photo(rng, 27, 19), "RGB").quantize(colors=16, method=Image.Quantize.MEDIANCUT)
    palette_img.save(os.path.join(OUT, "palette.png"))
    jpeg_src = photo(rng, 128, 96)
    Image.fromarray(jpeg_src, "RGB").save(os.path.join(OUT, "photo.jpg"), quality=90)

    grey_jpeg = photo(rng, 40, 30)[:, :, 0]
    Image.fromarray(grey_jpeg, "L").save(os.path.join(OUT, "grey.jpg"), quality=90)
    Image.fromarray(photo(rng, 36, 28), "RGB").convert("CMYK").save(os.path.join(OUT, "cmyk.jpg"), quality=92)
    grey16 = (photo(rng, 21, 17)[:, :, 2].astype(np.uint16) * 257 + rng.integers(0, 257, size=(17, 21))).astype(np.uint16)
    Image.fromarray(grey16).save(os.path.join(OUT, "grey16.png"))
    la = np.stack([photo(rng, 19, 13)[:, :, 1], rng.integers(0, 256, size=(13, 19), dtype=np.uint8)], axis=-1)
    Image.fromarray(la, "LA").save(os.path.join(OUT, "greyalpha.png"))

    # --- decode expectations (PIL's own decoders; RGBA composited on white by formula)
    alpha = rgba[:, :, 3:4].astype(np.uint32)
    on_white = (rgba[:, :, :3].astype(np.uint32) * alpha + 255 * (255 - alpha) + 127) // 255
    decode = [
        ("rgb.png", np.asarray(Image.open(os.path.join(OUT, "rgb.png")).convert("RGB"))),
        ("grey.png", np.asarray(Image.open(os.path.join(OUT, "grey.png")).convert("RGB"))),
        ("rgba.png", on_white.astype(np.uint8)),
        ("palette.png", np.asarray(Image.open(os.path.join(OUT, "palette.png")).convert("RGB"))),
        ("photo.jpg", np.asarray(Image.open(os.path.join(OUT, "photo.jpg")).convert("RGB"))),
        ("grey.jpg", np.asarray(Image.open(os.path.join(OUT, "grey.jpg")).convert("RGB"))),
        ("cmyk.jpg", np.asarray(Image.open(os.path.join(OUT, "cmyk.jpg")).convert("RGB"))),
        # 16-bit grey scaled to 8 bits by rounding v / 257 (PIL's own I;16 -> RGB clips instead).
        ("grey16.png", np.repeat(np.rint(grey16 / 257.0).astype(np.uint8)[:, :, None], 3, axis=-1)),
        ("greyalpha.png", np.repeat(((la[:, :, :1].astype(np.uint32) * la[:, :, 1:].astype(np.uint32)
                                      + 255 * (255 - la[:, :, 1:].astype(np.uint32)) + 127) // 255).astype(np.uint8),
                                    3, axis=-1)),
    ]
    for name, array in decode:
        h, w = array.shape[:2]
        cases.append({"kind": "decode", "input": name, "width": w, "height": h,
                      "expected": save_u8(f"decode_{name}.u8", array)})

    # DCT-domain downscale: PIL's draft() asks libjpeg for the same 1/2, 1/4, 1/8 scaling.
    for min_side, request in [(24, (32, 24)), (48, (64, 48)), (12, (16, 12))]:
        im = Image.open(os.path.join(OUT, "photo.jpg"))
        im.draft("RGB", request)
        array = np.asarray(im.convert("RGB"))
        h, w = array.shape[:2]
        cases.append({"kind": "decode", "input": "photo.jpg", "minimumSide": min_side, "width": w, "height": h,
                      "expected": save_u8(f"decode_photo_min{min_side}.u8", array)})

    # --- resize (PIL Image.resize, bicubic and bilinear; downsampling and upsampling)
    for name, size, resample in [
        ("rgb.png", (40, 25), "bicubic"), ("rgb.png", (31, 47), "bicubic"), ("rgb.png", (200, 130), "bicubic"),
        ("small.png", (64, 41), "bicubic"), ("tall.png", (17, 9), "bicubic"), ("rgb.png", (40, 25), "bilinear"),
        ("small.png", (33, 50), "bilinear"), ("rgb.png", (120, 40), "bicubic"), ("tall.png", (30, 40), "bicubic"),
        ("rgb.png", (60, 20), "bicubic"),
    ]:
        im = Image.open(os.path.join(OUT, name)).convert("RGB")
        filt = Image.Resampling.BICUBIC if resample == "bicubic" else Image.Resampling.BILINEAR
        out = np.asarray(im.resize(size, filt))
        cases.append({"kind": "resize", "input": name, "width": size[0], "height": size[1], "filter": resample,
                      "expected": save_u8(f"resize_{name}_{size[0]}x{size[1]}_{resample}.u8", out)})

    # --- crop then resize (PIL crop + resize), as RandomResizedCrop does
    im = Image.open(os.path.join(OUT, "rgb.png")).convert("RGB")
    box = (13, 7, 13 + 50, 7 + 41)
    out = np.asarray(im.crop(box).resize((24, 24), Image.Resampling.BILINEAR))
    cases.append({"kind": "cropResize", "input": "rgb.png", "crop": [13, 7, 50, 41], "width": 24, "height": 24,
                  "filter": "bilinear", "expected": save_u8("cropresize_rgb.u8", out)})

    # --- CLIP preprocessing: torchvision Resize(size, BICUBIC) + CenterCrop(size) [+ ToTensor + Normalize]
    for name, size in [("rgb.png", 32), ("tall.png", 24), ("small.png", 32), ("photo.jpg", 45), ("rgb.png", 61)]:
        im = Image.open(os.path.join(OUT, name)).convert("RGB")
        geometry = T.Compose([T.Resize(size, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(size)])
        cropped = geometry(im)
        tensor = T.Normalize(CLIP_MEAN, CLIP_STD)(T.ToTensor()(cropped))
        stem = f"clip_{name}_{size}"
        cases.append({"kind": "resizeCenterCrop", "input": name, "size": size,
                      "expected": save_u8(stem + ".u8", np.asarray(cropped)),
                      "expectedFloats": save_f32(stem + ".f32", tensor.numpy())})
    for name, size in [("rgb.png", 32), ("tall.png", 20)]:
        im = Image.open(os.path.join(OUT, name)).convert("RGB")
        out = T.Resize((size, size), interpolation=T.InterpolationMode.BICUBIC)(im)
        cases.append({"kind": "squareResize", "input": name, "size": size,
                      "expected": save_u8(f"square_{name}_{size}.u8", np.asarray(out))})

    # --- PIL luma (convert("L")), flip
    for name in ["rgb.png", "palette.png"]:
        im = Image.open(os.path.join(OUT, name)).convert("RGB")
        cases.append({"kind": "luma", "input": name, "width": im.width, "height": im.height,
                      "expected": save_u8(f"luma_{name}.u8", np.asarray(im.convert("L")))})

    # --- colour and geometric ops on PIL images (torchvision.transforms.functional)
    import math
    import torchvision.transforms.functional as F
    im = Image.open(os.path.join(OUT, "rgb.png")).convert("RGB")
    from PIL import ImageOps
    ops = [
        ("brightness", 0.6, F.adjust_brightness(im, 0.6)), ("brightness", 1.4, F.adjust_brightness(im, 1.4)),
        ("contrast", 0.5, F.adjust_contrast(im, 0.5)), ("contrast", 1.6, F.adjust_contrast(im, 1.6)),
        ("saturation", 0.3, F.adjust_saturation(im, 0.3)), ("saturation", 1.7, F.adjust_saturation(im, 1.7)),
        ("hue", -0.1, F.adjust_hue(im, -0.1)), ("hue", 0.25, F.adjust_hue(im, 0.25)),
        ("sharpness", 1.8, F.adjust_sharpness(im, 1.8)), ("sharpness", 0.3, F.adjust_sharpness(im, 0.3)),
        ("posterize", 3, F.posterize(im, 3)), ("solarize", 100.0, F.solarize(im, 100.0)),
        ("autocontrast", 0, F.autocontrast(im)), ("equalize", 0, F.equalize(im)), ("invert", 0, F.invert(im)),
        ("rotate", 20.0, F.rotate(im, 20.0, interpolation=T.InterpolationMode.NEAREST)),
        ("rotate", -13.0, F.rotate(im, -13.0, interpolation=T.InterpolationMode.NEAREST)),
        ("shearX", 0.2, F.affine(im, angle=0.0, translate=[0, 0], scale=1.0,
                                 shear=[math.degrees(math.atan(0.2)), 0.0],
                                 interpolation=T.InterpolationMode.NEAREST, center=[0, 0])),
        ("shearX", -0.3, F.affine(im, angle=0.0, translate=[0, 0], scale=1.0,
                                  shear=[math.degrees(math.atan(-0.3)), 0.0],
                                  interpolation=T.InterpolationMode.NEAREST, center=[0, 0])),
        ("gaussianBlur5", 1.3, F.gaussian_blur(im, [5, 5], [1.3, 1.3])),
        ("gaussianBlur23", 0.7, F.gaussian_blur(im, [23, 23], [0.7, 0.7])),
    ]
    for op, value, out in ops:
        cases.append({"kind": "op", "input": "rgb.png", "op": op, "value": float(value),
                      "expected": save_u8(f"op_{op}_{value}.u8", np.asarray(out))})

    index = {
        "version": VERSION,
        "generator": "Scripts/make_image_fixtures.py",
        "pillow": PIL.__version__, "torchvision": torchvision.__version__, "torch": torch.__version__,
        "numpy": np.__version__, "python": sys.version.split()[0],
        "cases": cases,
    }
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

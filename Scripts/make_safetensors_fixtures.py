#!/usr/bin/env python3
"""Writes the safetensors test fixtures under Tests/Fixtures/safetensors/.

Run with the reference environment (Scripts/reference-env.sh):
    .venv-ref/bin/python Scripts/make_safetensors_fixtures.py

Outputs (all tiny, deterministic):
  all_dtypes.safetensors   one tensor per dtype ClipGuard handles, a scalar, two zero-size
                           tensors and a metadata map with escapes and non-ASCII text, written
                           by Python's safetensors (the byte layout the Swift writer must match).
  all_dtypes.json          the same tensors' dtype, shape and row-major values (exact numbers).
  layout.safetensors       the same tensors with one metadata key: Python's exact bytes, which
                           the Swift writer reproduces (with several metadata keys Python's order
                           of them is random per process; Swift sorts them).
  open_clip_tiny.safetensors  the state_dict of a tiny open_clip CLIP (ResNet tower, seeded),
                           saved with a config in __metadata__.
  open_clip_tiny.json      every key's dtype and shape, and the full values of a few tensors.
"""
import json
import os
import sys

import open_clip
import safetensors
import torch
from safetensors.torch import save_file

VERSION = 1
SEED = 20261129
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "safetensors")

NAMES = {
    torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def describe(tensor, with_values=True):
    entry = {"dtype": NAMES[tensor.dtype], "shape": list(tensor.shape)}
    if with_values:
        # float64 holds every value of these dtypes exactly (the int64 values stay below 2**53).
        entry["values"] = [float(v) for v in tensor.reshape(-1).to(torch.float64).tolist()]
    return entry


def all_dtypes():
    tensors = {
        "float32.matrix": (torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.25 - 0.5),
        "float64.vector": torch.tensor([1.0 / 3.0, -2.5e-300, 1e300], dtype=torch.float64),
        "float16.matrix": torch.tensor([[0.5, -1.25], [65504.0, 6.1035156e-05]], dtype=torch.float16),
        "bfloat16.vector": torch.tensor([1.0, -3.140625, 1.0e30, 0.0078125], dtype=torch.bfloat16),
        "int64.vector": torch.tensor([2**40 + 3, -(2**50), 0], dtype=torch.int64),
        "int32.cube": torch.arange(-4, 4, dtype=torch.int32).reshape(2, 2, 2),
        "int16.vector": torch.tensor([-32768, 32767, 7], dtype=torch.int16),
        "int8.vector": torch.tensor([-128, 127, -1, 0], dtype=torch.int8),
        "uint8.vector": torch.tensor([0, 255, 17], dtype=torch.uint8),
        "bool.vector": torch.tensor([True, False, True], dtype=torch.bool),
        "scalar": torch.tensor(3.5, dtype=torch.float32),
        "empty.rows": torch.zeros(0, 3, dtype=torch.float32),
        "empty.cols": torch.zeros(2, 0, dtype=torch.int64),
    }
    metadata = {
        "format": "pt",
        "fixture_version": str(VERSION),
        "config": json.dumps({"embed_dim": 8, "name": "tiny"}),
        "text": 'caf\u00e9 \u2713 "quoted" back\\slash / tab\there\nnewline \u0001',
    }
    save_file(tensors, os.path.join(OUT, "all_dtypes.safetensors"), metadata=metadata)
    # Rust's safetensors writes __metadata__ in HashMap order, which varies from run to run, so the
    # byte-exact layout reference carries a single metadata key.
    save_file(tensors, os.path.join(OUT, "layout.safetensors"), metadata={"format": "pt"})
    expected = {
        "version": VERSION,
        "metadata": metadata,
        "tensors": {name: describe(t) for name, t in tensors.items()},
    }
    with open(os.path.join(OUT, "all_dtypes.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


def open_clip_tiny():
    torch.manual_seed(SEED)
    vision = {"layers": [1, 1, 1, 1], "width": 2, "head_width": 8, "image_size": 32}
    text = {"context_length": 8, "vocab_size": 32, "width": 8, "heads": 2, "layers": 1}
    model = open_clip.CLIP(embed_dim=8, vision_cfg=vision, text_cfg=text)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    config = {"embed_dim": 8, "vision_cfg": vision, "text_cfg": text}
    metadata = {"config": json.dumps(config, sort_keys=True), "step": "0", "fixture_version": str(VERSION)}
    save_file(state, os.path.join(OUT, "open_clip_tiny.safetensors"), metadata=metadata)
    checked = ["logit_scale", "visual.conv1.weight", "positional_embedding", "text_projection"]
    expected = {
        "version": VERSION,
        "metadata": metadata,
        "tensors": {k: describe(v, with_values=k in checked) for k, v in state.items()},
    }
    with open(os.path.join(OUT, "open_clip_tiny.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


def main():
    os.makedirs(OUT, exist_ok=True)
    print("torch", torch.__version__, "safetensors", safetensors.__version__, "open_clip", open_clip.__version__,
          file=sys.stderr)
    all_dtypes()
    open_clip_tiny()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the NN fixtures (Tests/Fixtures/nn/*.safetensors) from PyTorch and open_clip.

Run with the reference environment:
    /work/main/.venv-ref/bin/python Scripts/make_nn_fixtures.py

Every layer file holds, as float32 unless noted:
    state.<name>        the layer's state_dict (parameters and buffers), loaded by name in Swift
    input[.<arg>]       the inputs
    cotangent           a fixed random tensor R shaped like the output
    output              the layer's output
    grad_input[.<arg>]  d sum(output * R) / d input
    grad.<name>         d sum(output * R) / d parameter
    after.<name>        buffers after the call (BatchNorm in training)
Optimizer files hold the initial parameters (state.<name>), the gradients of two steps
(grad1.<name>, grad2.<name>), the parameters after each step (after1.<name>, after2.<name>)
and the optimizer state after the second step. The schedule file holds float64 learning rates.
Seeded: running it again gives identical files.
"""
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from open_clip.transformer import LayerNorm as OpenCLIPLayerNorm, QuickGELU
from open_clip_train.scheduler import cosine_lr, const_lr

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "nn")


def randomize_(module, gen):
    """Replaces every floating parameter and buffer with non-trivial values."""
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if name.endswith("num_batches_tracked"):
                t.fill_(7)
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=gen) * 0.5)


def layer_fixture(file, module, inputs, gen, randomize=True, call=None, after_buffers=False):
    """Runs `module` on `inputs` (dict arg -> tensor) and saves everything the Swift test needs."""
    if randomize:
        randomize_(module, gen)
    tensors = {f"state.{k}": v.detach().clone().contiguous() for k, v in module.state_dict().items()}
    leaves = {}
    for arg, x in inputs.items():
        key = "input" if arg == "" else f"input.{arg}"
        tensors[key] = x.detach().clone()
        if x.is_floating_point() and arg != "mask":
            leaves[arg] = x.detach().clone().requires_grad_(True)
        else:
            leaves[arg] = x
    out = call(module, leaves) if call else module(leaves[""])
    cot = torch.randn(out.shape, generator=gen)
    (out * cot).sum().backward()
    tensors["cotangent"] = cot
    tensors["output"] = out.detach()
    for arg, x in leaves.items():
        if x.requires_grad:
            tensors["grad_input" if arg == "" else f"grad_input.{arg}"] = x.grad
    for name, p in module.named_parameters():
        tensors[f"grad.{name}"] = p.grad
    if after_buffers:
        for name, b in module.named_buffers():
            tensors[f"after.{name}"] = b.detach().clone()
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(OUT, file))


def optimizer_fixture(file, make_optimizer):
    """Two optimizer steps on a small named parameter set with fixed gradients."""
    gen = torch.Generator().manual_seed(sum(map(ord, file)))
    shapes = {"fc.weight": (3, 4), "fc.bias": (3,), "ln_1.weight": (4,), "proj": (4, 2), "logit_scale": ()}
    params = {n: torch.randn(s, generator=gen).requires_grad_(True) for n, s in shapes.items()}
    opt = make_optimizer(params)
    tensors = {f"state.{n}": p.detach().clone() for n, p in params.items()}
    for step in (1, 2):
        for n, p in params.items():
            p.grad = torch.randn(p.shape, generator=gen)
            tensors[f"grad{step}.{n}"] = p.grad.clone()
        opt.step()
        for n, p in params.items():
            tensors[f"after{step}.{n}"] = p.detach().clone()
    for n, p in params.items():
        for k, v in opt.state[p].items():
            tensors[f"{k}.{n}"] = v.detach().clone().reshape(v.shape)
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(OUT, file))


def open_clip_groups(params, weight_decay):
    exclude = lambda n, p: p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n
    gain_or_bias = [p for n, p in params.items() if exclude(n, p)]
    rest = [p for n, p in params.items() if not exclude(n, p)]
    return [{"params": gain_or_bias, "weight_decay": 0.0}, {"params": rest, "weight_decay": weight_decay}]


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)

    layer_fixture("linear.safetensors", nn.Linear(5, 3), {"": torch.randn(2, 4, 5, generator=gen)}, gen)
    layer_fixture(
        "conv2d.safetensors", nn.Conv2d(4, 6, 3, stride=2, padding=1), {"": torch.randn(2, 4, 7, 7, generator=gen)}, gen)
    layer_fixture(
        "conv2d_grouped.safetensors", nn.Conv2d(4, 6, 3, groups=2, bias=False),
        {"": torch.randn(2, 4, 5, 5, generator=gen)}, gen)
    bn = nn.BatchNorm2d(3)
    layer_fixture(
        "batchnorm2d_train.safetensors", bn.train(), {"": torch.randn(4, 3, 3, 3, generator=gen) * 2 + 1}, gen,
        after_buffers=True)
    layer_fixture(
        "batchnorm2d_eval.safetensors", nn.BatchNorm2d(3).eval(), {"": torch.randn(4, 3, 3, 3, generator=gen)}, gen)
    layer_fixture("layernorm.safetensors", OpenCLIPLayerNorm(6), {"": torch.randn(2, 3, 6, generator=gen) * 3}, gen)
    layer_fixture(
        "embedding.safetensors", nn.Embedding(10, 4), {"": torch.randint(0, 10, (2, 3), generator=gen)}, gen,
        call=lambda m, x: m(x[""]))

    def cross(m, x):
        return m(x["query"], x["key"], x["value"], attn_mask=x["mask"], need_weights=False)[0]

    mask = torch.randn(5, 3, generator=gen)
    layer_fixture(
        "mha_cross.safetensors", nn.MultiheadAttention(8, 2, batch_first=True),
        {"query": torch.randn(2, 5, 8, generator=gen), "key": torch.randn(2, 3, 8, generator=gen),
         "value": torch.randn(2, 3, 8, generator=gen), "mask": mask}, gen, call=cross)

    def self_causal(m, x):
        length = x[""].shape[1]
        causal = torch.full((length, length), float("-inf")).triu(1)
        return m(x[""], x[""], x[""], attn_mask=causal, need_weights=False)[0]

    layer_fixture(
        "mha_self_causal.safetensors", nn.MultiheadAttention(8, 2, batch_first=True),
        {"": torch.randn(2, 4, 8, generator=gen)}, gen, call=self_causal)
    layer_fixture("gelu.safetensors", nn.GELU(), {"": torch.randn(3, 5, generator=gen) * 2}, gen)
    layer_fixture("quick_gelu.safetensors", QuickGELU(), {"": torch.randn(3, 5, generator=gen) * 2}, gen)
    layer_fixture("relu.safetensors", nn.ReLU(), {"": torch.randn(3, 5, generator=gen)}, gen)
    layer_fixture(
        "sequential.safetensors", nn.Sequential(nn.Linear(4, 6), nn.GELU(), nn.Linear(6, 2)),
        {"": torch.randn(3, 4, generator=gen)}, gen)

    optimizer_fixture(
        "adamw.safetensors",
        lambda p: torch.optim.AdamW(open_clip_groups(p, 0.2), lr=1e-2, betas=(0.9, 0.98), eps=1e-6))
    optimizer_fixture(
        "sgd.safetensors",
        lambda p: torch.optim.SGD(list(p.values()), lr=0.05, momentum=0.9, weight_decay=0.01))
    optimizer_fixture(
        "sgd_nesterov.safetensors",
        lambda p: torch.optim.SGD(list(p.values()), lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=True))

    # open_clip's schedules over their whole range (they are undefined past `steps`).
    dummy = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    cosine = cosine_lr(dummy, 5e-4, 10, 100)
    constant = const_lr(dummy, 5e-4, 10, 100)
    save_file(
        {"cosine": torch.tensor([cosine(s) for s in range(101)], dtype=torch.float64),
         "constant": torch.tensor([constant(s) for s in range(101)], dtype=torch.float64)},
        os.path.join(OUT, "schedule.safetensors"))


if __name__ == "__main__":
    main()

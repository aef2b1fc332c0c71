#!/usr/bin/env python3
"""Writes the defence test fixtures under Tests/Fixtures/defenses/.

Needs the reference environment (torch, safetensors, numpy, scikit-learn):
    make reference-env
    .venv-ref/bin/python Scripts/make_defense_fixtures.py

Outputs (tiny, deterministic):
  gmm.json              1-D data sets and what scikit-learn's GaussianMixture(n_components=2,
                        random_state=0) -- the call SafeCLIP makes in src/samplers.py -- fits to
                        each: means, variances, weights, mean log-likelihood (score), n_iter,
                        converged, and the posterior of the larger-mean component per value.
  losses.safetensors    float64 unit-norm features of two views of a batch (B = 4, D = 3), a
                        logit scale, memory-bank / pool contents, and the value and gradients of
                        each defence loss as PyTorch computes them (see `losses()` for names).
"""
import json
import os

import numpy as np
import sklearn
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from sklearn.mixture import GaussianMixture

VERSION = 1
SEED = 20261129
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "defenses")


def gmm_cases():
    rng = np.random.default_rng(SEED)
    cases = {
        # clean pairs around 0.3, a small low-similarity group (e.g. mismatched or poisoned)
        "bimodal": np.concatenate([rng.normal(0.30, 0.05, 300), rng.normal(0.05, 0.04, 60)]),
        # a skewed bulk plus a tight high group, like CLIP similarities after warm-up
        "skewed": np.concatenate([rng.beta(2.0, 5.0, 400) * 0.5, rng.normal(0.42, 0.02, 80)]),
        # one exactly repeated value (a zero-variance cluster) plus a spread group
        "spike": np.concatenate([np.full(100, 0.25), rng.normal(0.5, 0.1, 100)]),
        # only two distinct values
        "two_values": np.array([0.1] * 5 + [0.7] * 3),
        # one Gaussian: the two components overlap (local optima possible)
        "unimodal": rng.normal(0.2, 0.1, 200),
    }
    out = {}
    for name, x in cases.items():
        x = x.astype(np.float64)
        gmm = GaussianMixture(n_components=2, random_state=0).fit(x.reshape(-1, 1))
        largest = int(np.argmax(gmm.means_))
        out[name] = {
            "values": x.tolist(),
            "means": gmm.means_.ravel().tolist(),
            "variances": gmm.covariances_.ravel().tolist(),
            "weights": gmm.weights_.tolist(),
            "score": float(gmm.score(x.reshape(-1, 1))),
            "n_iter": int(gmm.n_iter_),
            "converged": bool(gmm.converged_),
            "posterior_largest": gmm.predict_proba(x.reshape(-1, 1))[:, largest].tolist(),
        }
    return out


def unit(shape, gen):
    return F.normalize(torch.randn(*shape, generator=gen, dtype=torch.float64), dim=-1)


def clip_loss(a, b, scale):
    logits = scale.exp() * a @ b.t()
    target = torch.arange(a.shape[0])
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


def losses():
    gen = torch.Generator().manual_seed(SEED)
    b, d = 4, 3
    t = {
        "image1": unit((b, d), gen), "image2": unit((b, d), gen),
        "text1": unit((b, d), gen), "text2": unit((b, d), gen),
        "logit_scale": torch.tensor(np.log(1 / 0.07) * 0.5, dtype=torch.float64),
        "bank_image": unit((5, d), gen), "bank_text": unit((5, d), gen),
        "pool": unit((6, d), gen),
    }
    target = torch.arange(b)

    def run(name, fn, inputs):
        leaves = {k: t[k].clone().requires_grad_(True) for k in inputs}
        loss = fn(leaves)
        loss.backward()
        t[f"{name}.loss"] = loss.detach()
        for k in inputs:
            grad = leaves[k].grad  # None where the loss does not depend on the input
            t[f"{name}.grad.{k}"] = torch.zeros_like(t[k]) if grad is None else grad.detach()

    every = ["image1", "image2", "text1", "text2", "logit_scale"]
    # CLIP loss on (image1, text1): ½[CE(s·I·Tᵀ) + CE(s·T·Iᵀ)]
    run("clip", lambda v: clip_loss(v["image1"], v["text1"], v["logit_scale"]), ["image1", "text1", "logit_scale"])
    # SafeCLIP unimodal (src/train.py get_loss, inmodal without bank): rows = view 2, columns = view 1
    run("unimodal", lambda v: (
        F.cross_entropy(v["logit_scale"].exp() * v["image2"] @ v["image1"].t(), target)
        + F.cross_entropy(v["logit_scale"].exp() * v["text2"] @ v["text1"].t(), target)) / 2, every)

    # SafeCLIP unimodal with NNCLR banks: view 1 replaced by its nearest (cosine) bank entry, detached
    def nearest(queries, bank):
        index = torch.argmax(F.normalize(queries, dim=1) @ F.normalize(bank, dim=1).t(), dim=1)
        return bank[index], index
    nn_image, idx_image = nearest(t["image1"], t["bank_image"])
    nn_text, idx_text = nearest(t["text1"], t["bank_text"])
    t["unimodal_bank.nearest_image_index"] = idx_image
    t["unimodal_bank.nearest_text_index"] = idx_text
    run("unimodal_bank", lambda v: (
        F.cross_entropy(v["logit_scale"].exp() * v["image2"] @ nn_image.t(), target)
        + F.cross_entropy(v["logit_scale"].exp() * v["text2"] @ nn_text.t(), target)) / 2, every)

    # SafeCLIP cross-augmented CLIP loss (cross_aug): logits_text_per_image = s·I1·T2ᵀ,
    # logits_image_per_text = s·T1·I2ᵀ
    run("cross_aug", lambda v: (
        F.cross_entropy(v["logit_scale"].exp() * v["image1"] @ v["text2"].t(), target)
        + F.cross_entropy(v["logit_scale"].exp() * v["text1"] @ v["image2"].t(), target)) / 2, every)

    # CleanCLIP (src/train.py get_loss, inmodal): CLIP(I, T) + λ·½[CE(s·I·I'ᵀ) + CE(s·T·T'ᵀ)]
    lam = 0.7
    t["cleanclip.lambda"] = torch.tensor(lam, dtype=torch.float64)
    run("cleanclip", lambda v: clip_loss(v["image1"], v["text1"], v["logit_scale"]) + lam * (
        F.cross_entropy(v["logit_scale"].exp() * v["image1"] @ v["image2"].t(), target)
        + F.cross_entropy(v["logit_scale"].exp() * v["text1"] @ v["text2"].t(), target)) / 2, every)

    # RoCLIP matching epoch (model/src/train.py get_loss): T_nn = nearest pool entry to each image,
    # logits_image_per_text = s·T_nn·Iᵀ, logits_text_per_image its transpose
    nn_pool, idx_pool = nearest(t["image1"], t["pool"])
    t["roclip.nearest_index"] = idx_pool
    run("roclip", lambda v: clip_loss(v["image1"], nn_pool, v["logit_scale"]), ["image1", "logit_scale"])
    return t


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "gmm.json"), "w") as f:
        json.dump({"version": VERSION, "sklearn": sklearn.__version__, "cases": gmm_cases()}, f, indent=1)
    tensors = {k: v.contiguous() for k, v in losses().items()}
    save_file(tensors, os.path.join(OUT, "losses.safetensors"),
              metadata={"version": str(VERSION), "torch": torch.__version__, "seed": str(SEED)})


if __name__ == "__main__":
    main()

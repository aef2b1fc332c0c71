#!/usr/bin/env python3
"""Writes one fixture per defence objective under Tests/Fixtures/training/ (seeded, deterministic):
the loss, a few gradients and one AdamW step of a micro open_clip ViT CLIP on fixed views, with
each loss written as the official code writes it.

Run with the reference environment:  .venv-ref/bin/python Scripts/make_objective_fixtures.py

References (read from the official repositories; the loss bodies below follow them line by line):
  SafeCLIP   BigML-CS-UCLA/SafeCLIP SafeCLIP/src/train.py `get_loss`: with `inmodal` the model runs
             on cat([view1, view2]) and the loss is ½[CE(s·I₂·I₁ᵀ) + CE(s·T₂·T₁ᵀ)] (rows: view 2,
             columns: view 1); with the memory bank (`image_memory_bank(image_embeds, update=True)`,
             lightly's NNMemoryBankModule) view 1 is replaced by its nearest bank row (cosine
             similarity, bank as it was before the batch is enqueued, detached); `cross_aug` (not
             inmodal): ½[CE(s·I₁·T₂ᵀ) + CE(s·T₁·I₂ᵀ)]. s = logit_scale.exp().
  CleanCLIP  nishadsinghi/CleanCLIP src/train.py `get_loss` with `inmodal`: model on cat([original,
             augmented]); clip_weight·½[CE(s·I·Tᵀ) + CE(s·T·Iᵀ)] + inmodal_weight·½[CE(s·I·I'ᵀ) +
             CE(s·T·T'ᵀ)] (rows: originals = view 1, columns: augmented = view 2).
  RoCLIP     BigML-CS-UCLA/RoCLIP model/src/train.py `get_loss` in a matching epoch: nn =
             text_memory_bank(image_embeds, update=False) (nearest pool caption of each image,
             detached); ½[CE(s·I·nnᵀ) + CE(s·nn·Iᵀ)] + 0·CE(s·I·Tᵀ). The zero-weighted term keeps
             the text tower in the graph: its gradients are zeros, not None, so torch's AdamW still
             applies weight decay to the decayed text parameters (see after.*).
The optimizer step is torch.optim.AdamW with open_clip's two parameter groups (exempt: rank < 2,
"bn", "ln", "bias", "logit_scale" in the name → weight decay 0), lr constant, no gradient
clipping, then logit_scale.clamp_(0, ln 100) (open_clip_train/train.py).

Files:
  objective-model.json                 the micro model config (open_clip field names; vocabulary 64,
                                       so tokens are given directly, not from captions)
  objective_<name>.safetensors for name in safeclip_unimodal, safeclip_unimodal_bank,
  safeclip_cross_augmented, cleanclip, roclip_matched; metadata {"version": "1"}:
    model.<state_dict name>            float32 initial weights (open_clip's init, perturbed;
                                       logit_scale = ln(1/0.07) + 0.25)
    view1.images, view2.images         [6, 3, 16, 16] float32, already normalised model inputs
    view1.tokens, view2.tokens         [6, 8] int64 (SOT = 62 … EOT = 63, the row's largest id;
                                       zero padding); view 2 is a perturbed copy of view 1 (other
                                       pixels, some tokens replaced), as an augmentation would be.
                                       roclip_matched has view 1 only (RoCLIP trains on one view).
    features.view1.image, features.view1.text, features.view2.image, features.view2.text
                                       [6, 8] float32: the model's L2-normalised features (train mode)
    bank.image, bank.text              [10, 8] float32 unit rows (safeclip_unimodal_bank only): the
                                       NNCLR banks before the step (row order = lightly's columns)
    pool.text                          [10, 8] float32 unit rows (roclip_matched only): the caption pool
    nearest.image, nearest.text        [6] int64 (bank) / nearest.pool [6] int64 (RoCLIP): the bank
                                       row chosen for each query
    hp.lr, hp.weight_decay, hp.beta1, hp.beta2, hp.eps, hp.lambda
                                       float64 scalars (lambda: CleanCLIP's inmodal_weight; clip_weight 1;
                                       0 where unused)
    loss                               float32 scalar: the objective's value
    grad.<name>                        float32 gradients of logit_scale, visual.proj, text_projection,
                                       visual.conv1.weight, ln_final.weight, token_embedding.weight
                                       (zeros, not absent, where the reference graph gives zeros)
    after.<state_dict name>            float32 weights after one AdamW step and the clamp
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import training_reference as ref  # noqa: E402
from make_clip_fixtures import tokens  # noqa: E402

VERSION = "1"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "training")
CONFIG = {
    "embed_dim": 8,
    "vision_cfg": {"image_size": 16, "layers": 1, "width": 8, "head_width": 4, "mlp_ratio": 2.0, "patch_size": 8},
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 8, "heads": 2, "layers": 1, "mlp_ratio": 2.0},
}
BATCH, BANK = 6, 10
# eps 1e-4: AdamW's first step is lr·g/(|g| + eps), whose slope in g is at most lr/eps; with a
# small eps, gradients that are zero in exact arithmetic (attention key biases) or tiny would turn
# float rounding into lr-sized steps of either sign, and after.* would not be reproducible.
HP = {"lr": 1e-2, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.98, "eps": 1e-4}
GRADS = ["logit_scale", "visual.proj", "text_projection", "visual.conv1.weight", "ln_final.weight",
         "token_embedding.weight"]


def ce(logits):
    return F.cross_entropy(logits, torch.arange(logits.shape[0]))


def nearest(bank_rows, queries):
    """lightly's NNMemoryBankModule look-up: argmax cosine similarity, the bank row itself, detached."""
    bank = bank_rows.clone().detach()
    similarity = torch.einsum("nd,md->nm", F.normalize(queries, dim=1), F.normalize(bank, dim=1))
    index = torch.argmax(similarity, dim=1)
    return torch.index_select(bank, 0, index), index


def augmented_tokens(gen, t, vocab):
    out = t.clone()
    inner = (out > 0) & (out < vocab - 2)
    replace = inner & (torch.rand(out.shape, generator=gen) < 0.4)
    out[replace] = torch.randint(1, vocab - 2, (int(replace.sum()),), generator=gen)
    return out


def unit_rows(gen, n, d):
    return F.normalize(torch.randn(n, d, generator=gen), dim=1)


def objective(name, model, v1, v2, extra):
    """The loss as the official code computes it, plus the nearest indices it used."""
    s = model.logit_scale.exp()
    info = {}
    if name == "roclip_matched":
        image, text, _ = model(v1[0], v1[1])
        info["features.view1.image"], info["features.view1.text"] = image, text
        nn, index = nearest(extra["pool.text"], image)
        info["nearest.pool"] = index
        logits_text_per_image_zero = s * image @ text.t()
        logits_image_per_text = s * nn @ image.t()
        logits_text_per_image = logits_image_per_text.t()
        return (ce(logits_text_per_image) + ce(logits_image_per_text)) / 2 + 0 * ce(logits_text_per_image_zero), info
    image_all, text_all, _ = model(torch.cat([v1[0], v2[0]]), torch.cat([v1[1], v2[1]]))
    image1, image2 = image_all[:BATCH], image_all[BATCH:]
    text1, text2 = text_all[:BATCH], text_all[BATCH:]
    info.update({"features.view1.image": image1, "features.view1.text": text1,
                 "features.view2.image": image2, "features.view2.text": text2})
    if name == "safeclip_unimodal":
        return (ce(s * image2 @ image1.t()) + ce(s * text2 @ text1.t())) / 2, info
    if name == "safeclip_unimodal_bank":
        image_nn, info["nearest.image"] = nearest(extra["bank.image"], image1)
        text_nn, info["nearest.text"] = nearest(extra["bank.text"], text1)
        return (ce(s * image2 @ image_nn.t()) + ce(s * text2 @ text_nn.t())) / 2, info
    if name == "safeclip_cross_augmented":
        return (ce(s * image1 @ text2.t()) + ce(s * text1 @ image2.t())) / 2, info
    if name == "cleanclip":
        logits = s * image1 @ text1.t()
        crossmodal = (ce(logits) + ce(logits.t())) / 2
        inmodal = (ce(s * image1 @ image2.t()) + ce(s * text1 @ text2.t())) / 2
        return 1.0 * crossmodal + extra["lambda"] * inmodal, info
    raise ValueError(name)


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "objective-model.json"), "w") as f:
        json.dump(CONFIG, f, indent=4)
        f.write("\n")
    vocab, context = CONFIG["text_cfg"]["vocab_size"], CONFIG["text_cfg"]["context_length"]
    size, dim = CONFIG["vision_cfg"]["image_size"], CONFIG["embed_dim"]
    names = ["safeclip_unimodal", "safeclip_unimodal_bank", "safeclip_cross_augmented", "cleanclip", "roclip_matched"]
    for index, name in enumerate(names):
        gen = torch.Generator().manual_seed(100 + index)
        torch.manual_seed(100 + index)
        model = ref.build(CONFIG)
        with torch.no_grad():
            for key, t in model.state_dict(keep_vars=True).items():
                if key == "logit_scale":
                    t.fill_(math.log(1 / 0.07) + 0.25)
                elif t.is_floating_point():
                    t.add_(0.05 * torch.randn(t.shape, generator=gen))
        init = ref.state_dict(model)
        images1 = torch.randn(BATCH, 3, size, size, generator=gen)
        images2 = images1 + 0.3 * torch.randn(BATCH, 3, size, size, generator=gen)
        tokens1 = tokens(gen, BATCH, context, vocab)
        tokens2 = augmented_tokens(gen, tokens1, vocab)
        extra = {"lambda": 1.0 if name == "cleanclip" else 0.0}
        if name == "safeclip_unimodal_bank":
            extra["bank.image"], extra["bank.text"] = unit_rows(gen, BANK, dim), unit_rows(gen, BANK, dim)
        if name == "roclip_matched":
            extra["pool.text"] = unit_rows(gen, BANK, dim)

        model.train()
        optimizer = ref.make_optimizer(model, HP["lr"], HP["weight_decay"], (HP["beta1"], HP["beta2"]), HP["eps"])
        optimizer.zero_grad()
        loss, info = objective(name, model, (images1, tokens1), (images2, tokens2), extra)
        loss.backward()
        params = dict(model.named_parameters())
        grads = {f"grad.{g}": (params[g].grad if params[g].grad is not None else torch.zeros_like(params[g])).clone()
                 for g in GRADS}
        optimizer.step()
        ref.clamp_logit_scale(model)

        tensors = {f"model.{k}": v for k, v in init.items()}
        tensors["view1.images"], tensors["view1.tokens"] = images1, tokens1
        if name != "roclip_matched":
            tensors["view2.images"], tensors["view2.tokens"] = images2, tokens2
        for key, value in info.items():
            tensors[key] = value.detach().contiguous()
        for key in ("bank.image", "bank.text", "pool.text"):
            if key in extra:
                tensors[key] = extra[key].contiguous()
        for key, value in {**HP, "lambda": extra["lambda"]}.items():
            tensors[f"hp.{key}"] = torch.tensor(value, dtype=torch.float64)
        tensors["loss"] = loss.detach()
        tensors.update({k: v.contiguous() for k, v in grads.items()})
        tensors.update({f"after.{k}": v for k, v in ref.state_dict(model).items()})
        save_file(tensors, os.path.join(OUT, f"objective_{name}.safetensors"), metadata={"version": VERSION})
        print(f"{name}: loss {loss.item():.6f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes Tests/Fixtures/defenses/par.safetensors: PAR's loss and learning-rate schedule as the
reference code computes them (nmndeep/PerturbAndRecover, losses.py and utils.cosine_scheduler,
copied below with the distributed gather removed: one process gathers nothing).

Needs the reference environment (torch, safetensors, numpy):
    make reference-env
    .venv-ref/bin/python Scripts/make_par_fixtures.py

Tensors (float64; B = 4 rows, D = 3):
  CASE.image, CASE.text                 features of the model being cleaned (L2-normalised)
  CASE.frozen_image, CASE.frozen_text   the frozen poisoned model's (L2-normalised)
  CASE.logit_scale, CASE.tau            log of the logit scale (a constant, as the reference's
                                        `logit_scale.exp().item()`), the threshold
  CASE.loss, CASE.img_loss, CASE.text_loss, CASE.clip_loss    the reference's outputs
  CASE.grad.image, CASE.grad.text       d total-loss / d features of the cleaned model
for CASE in
  near:   frozen features close to the cleaned model's: both S ≤ τ, both terms kept;
  far:    frozen features nearly opposite: both S > τ, both terms zeroed;
  mixed:  τ between S_img and S_txt: the image term kept, the text term zeroed.
  schedule.E_N     utils.cosine_scheduler(3e-6, 1e-9, E, N, warmup_epochs=0.5·E, start_warmup_value=3e-5)
                   for (E, N) in (2, 7), (3, 10), (1, 5)

and Tests/Fixtures/training/objective_par.safetensors: one PAR training step of the micro open_clip
ViT of Scripts/make_objective_fixtures.py (objective-model.json), in that file's layout:
  model.<name>       float32 weights of the FROZEN poisoned model (what init_weights holds)
  trained.<name>     float32 weights of the model being cleaned before the step (the frozen ones
                     moved a little, as after some PAR steps, so that S > 0)
  view1.images, view1.tokens   the (augmented) batch both models see
  features.view1.image/text, features.frozen.image/text   the two models' normalised features
  hp.lr, hp.weight_decay, hp.beta1, hp.beta2, hp.eps, hp.tau   (tau halfway between S_img and S_txt,
                     so that the step keeps one term and zeroes the other), hp.s_img, hp.s_txt
  loss               float32: train.py's total loss (the logit scale a constant, `.exp().item()`)
  after.<name>       float32 weights after torch.optim.AdamW (open_clip's groups; logit_scale has no
                     gradient and is skipped) and the logit-scale clamp
"""
import math
import sys
import os

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

VERSION = 1
SEED = 20261207
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "defenses")
OUT_TRAINING = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "training")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


# --- reference code (losses.py), unchanged but for the gather ---------------------------------
def threshold_tensor(input_tensor, threshold_value, threshold_result=None):
    if threshold_result is None:
        threshold_result = threshold_value
    threshold_value = torch.tensor(threshold_value).to(input_tensor.device)
    threshold_result = torch.tensor(threshold_result).to(input_tensor.device)
    return torch.where(input_tensor > threshold_value, torch.tensor(threshold_result, dtype=input_tensor.dtype), input_tensor)


def l2(out, targets, reduction='none'):
    assert out.shape == targets.shape
    assert out.shape[0] > 1
    squared_error_batch = F.mse_loss(out, targets, reduction='none')
    if reduction == 'mean':
        squared_error_batch = torch.mean(squared_error_batch.sum(dim=1))
    else:
        squared_error_batch = squared_error_batch.sum(dim=1)
    return squared_error_batch


def compute_loss(loss_str, embedding, embedding_orig, reduction='mean'):
    assert loss_str == 'l2'
    return l2(out=embedding, targets=embedding_orig, reduction=reduction)


def par_loss(outputs, loss_thresh):
    """CLIPLoss.forward of losses.py with world size 1 (rank 0: labels = arange)."""
    image_embed = F.normalize(outputs["clean_image_embed"], dim=-1, p=2)
    text_embed = F.normalize(outputs["text_embed"], dim=-1, p=2)
    image_embed_aug = F.normalize(outputs["aug_image_embed"], dim=-1, p=2)
    text_embed_aug = F.normalize(outputs["aug_text_embed"], dim=-1, p=2)
    logit_scale = outputs["logit_scale"]
    labels = torch.arange(image_embed.size(0))
    logits_per_image = logit_scale * image_embed @ text_embed.t()
    logits_per_text = logit_scale * text_embed @ image_embed.t()
    lossclip = (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2
    img_loss = threshold_tensor(compute_loss('l2', image_embed, image_embed_aug), loss_thresh, 0.0)
    text_loss = threshold_tensor(compute_loss('l2', text_embed, text_embed_aug), loss_thresh, 0.0)
    return lossclip - 0.5 * (img_loss + text_loss), lossclip, img_loss, text_loss


# --- reference code (utils.py) ------------------------------------------------------------------
def cosine_scheduler(base_value, final_value, epochs, niter_per_ep, warmup_epochs=0, start_warmup_value=0):
    warmup_schedule = np.array([])
    warmup_iters = int(warmup_epochs * niter_per_ep)
    if warmup_epochs > 0:
        warmup_schedule = np.linspace(start_warmup_value, base_value, warmup_iters)
    iters = np.arange(epochs * niter_per_ep - warmup_iters)
    schedule = final_value + 0.5 * (base_value - final_value) * (1 + np.cos(np.pi * iters / len(iters)))
    schedule = np.concatenate((warmup_schedule, schedule))
    assert len(schedule) == epochs * niter_per_ep
    return schedule


def unit(x):
    return F.normalize(x, dim=-1)


def main():
    gen = torch.Generator().manual_seed(SEED)
    b, d = 4, 3
    t = {}
    image = unit(torch.randn(b, d, generator=gen, dtype=torch.float64))
    text = unit(torch.randn(b, d, generator=gen, dtype=torch.float64))
    noise_i = torch.randn(b, d, generator=gen, dtype=torch.float64)
    noise_t = torch.randn(b, d, generator=gen, dtype=torch.float64)
    cases = {
        "near": (unit(image + 0.3 * noise_i), unit(text + 0.3 * noise_t), 2.15),
        "far": (unit(-image + 0.2 * noise_i), unit(-text + 0.2 * noise_t), 2.15),
        # image moved a little, text nearly reversed; tau in between
        "mixed": (unit(image + 0.5 * noise_i), unit(-text + 0.2 * noise_t), None),
    }
    logit_scale = torch.tensor(np.log(1 / 0.07) * 0.5, dtype=torch.float64)
    for name, (frozen_image, frozen_text, tau) in cases.items():
        s_img = l2(image, frozen_image, 'mean').item()
        s_txt = l2(text, frozen_text, 'mean').item()
        if tau is None:
            assert s_img < s_txt, (s_img, s_txt)
            tau = (s_img + s_txt) / 2
        leaves = {"image": image.clone().requires_grad_(True), "text": text.clone().requires_grad_(True)}
        total, clip, img_loss, text_loss = par_loss({
            "clean_image_embed": leaves["image"], "text_embed": leaves["text"],
            "aug_image_embed": frozen_image, "aug_text_embed": frozen_text,
            "logit_scale": logit_scale.exp().item()}, tau)
        total.backward()
        kept = (img_loss.item() != 0, text_loss.item() != 0)
        expected = {"near": (True, True), "far": (False, False), "mixed": (True, False)}[name]
        assert kept == expected, (name, kept, s_img, s_txt, tau)
        t.update({
            f"{name}.image": image, f"{name}.text": text,
            f"{name}.frozen_image": frozen_image, f"{name}.frozen_text": frozen_text,
            f"{name}.logit_scale": logit_scale, f"{name}.tau": torch.tensor(tau, dtype=torch.float64),
            f"{name}.loss": total.detach(), f"{name}.clip_loss": clip.detach(),
            f"{name}.img_loss": img_loss.detach(), f"{name}.text_loss": text_loss.detach(),
            f"{name}.s_img": torch.tensor(s_img, dtype=torch.float64), f"{name}.s_txt": torch.tensor(s_txt, dtype=torch.float64),
            f"{name}.grad.image": leaves["image"].grad.detach(), f"{name}.grad.text": leaves["text"].grad.detach(),
        })
    for epochs, niter in [(2, 7), (3, 10), (1, 5)]:
        schedule = cosine_scheduler(3e-6, 1e-9, epochs, niter, warmup_epochs=0.5 * epochs, start_warmup_value=3e-5)
        t[f"schedule.{epochs}_{niter}"] = torch.tensor(schedule, dtype=torch.float64)
    os.makedirs(OUT, exist_ok=True)
    save_file({k: v.detach().clone().contiguous() for k, v in t.items()}, os.path.join(OUT, "par.safetensors"),
              metadata={"version": str(VERSION), "torch": torch.__version__, "seed": str(SEED)})


def trainer_step():
    """One PAR step of the micro model, as train.py takes it (world size 1, no AMP)."""
    import make_objective_fixtures as objective  # the micro config, batch and hyperparameters
    import training_reference as ref
    from make_clip_fixtures import tokens

    torch.set_num_threads(1)
    cfg, batch, hp = objective.CONFIG, objective.BATCH, objective.HP
    gen = torch.Generator().manual_seed(SEED + 1)
    torch.manual_seed(SEED + 1)
    frozen = ref.build(cfg)
    with torch.no_grad():
        for key, t in frozen.state_dict(keep_vars=True).items():
            if key == "logit_scale":
                t.fill_(math.log(1 / 0.07) + 0.25)
            elif t.is_floating_point():
                t.add_(0.05 * torch.randn(t.shape, generator=gen))
    model = ref.build(cfg)
    model.load_state_dict(frozen.state_dict())
    with torch.no_grad():
        for key, t in model.state_dict(keep_vars=True).items():
            if key != "logit_scale" and t.is_floating_point():
                t.add_(0.08 * torch.randn(t.shape, generator=gen))
    frozen_weights, trained_weights = ref.state_dict(frozen), ref.state_dict(model)
    size, context, vocab = cfg["vision_cfg"]["image_size"], cfg["text_cfg"]["context_length"], cfg["text_cfg"]["vocab_size"]
    images = torch.randn(batch, 3, size, size, generator=gen)
    toks = tokens(gen, batch, context, vocab)

    frozen.eval()  # utils.load_clip_model ends with model.eval(); train.py never switches t_model back
    frozen.requires_grad_(False)
    model.train()
    optimizer = ref.make_optimizer(model, hp["lr"], hp["weight_decay"], (hp["beta1"], hp["beta2"]), hp["eps"])
    optimizer.zero_grad()
    with torch.no_grad():
        frozen_image, frozen_text, _ = frozen(images, toks)
    image, text, _ = model(images, toks)
    s_img = l2(F.normalize(image, dim=-1), F.normalize(frozen_image, dim=-1), 'mean').item()
    s_txt = l2(F.normalize(text, dim=-1), F.normalize(frozen_text, dim=-1), 'mean').item()
    assert abs(s_img - s_txt) > 0.2 * min(s_img, s_txt), (s_img, s_txt)
    tau = (s_img + s_txt) / 2
    outputs = {"clean_image_embed": image, "text_embed": text, "aug_image_embed": frozen_image,
               "aug_text_embed": frozen_text, "logit_scale": model.logit_scale.exp().item()}
    loss, _, img_loss, text_loss = par_loss(outputs, tau)
    assert (img_loss.item() == 0) != (text_loss.item() == 0)
    loss.backward()
    assert model.logit_scale.grad is None
    optimizer.step()
    ref.clamp_logit_scale(model)

    tensors = {f"model.{k}": v for k, v in frozen_weights.items()}
    tensors.update({f"trained.{k}": v for k, v in trained_weights.items()})
    tensors["view1.images"], tensors["view1.tokens"] = images, toks
    tensors["features.view1.image"], tensors["features.view1.text"] = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
    tensors["features.frozen.image"] = F.normalize(frozen_image, dim=-1)
    tensors["features.frozen.text"] = F.normalize(frozen_text, dim=-1)
    for key, value in {**hp, "tau": tau, "s_img": s_img, "s_txt": s_txt}.items():
        tensors[f"hp.{key}"] = torch.tensor(value, dtype=torch.float64)
    tensors["loss"] = loss.detach()
    tensors.update({f"after.{k}": v for k, v in ref.state_dict(model).items()})
    save_file({k: v.detach().clone().contiguous() for k, v in tensors.items()}, os.path.join(OUT_TRAINING, "objective_par.safetensors"),
              metadata={"version": "1", "torch": torch.__version__, "seed": str(SEED + 1)})
    print(f"par step: loss {loss.item():.6f}, S_img {s_img:.4f}, S_txt {s_txt:.4f}, tau {tau:.4f}")


if __name__ == "__main__":
    main()
    trainer_step()

#!/usr/bin/env python3
"""Writes the golden training fixtures under Tests/Fixtures/training/ (seeded, deterministic):
open_clip trains a micro ResNet CLIP and a micro ViT CLIP for 24 steps, and
Tests/TrainingTests/GoldenTrainingTests.swift trains the same steps through ClipGuard's trainer.

Run with the reference environment:  .venv-ref/bin/python Scripts/make_training_fixtures.py

The step is open_clip's own (Scripts/training_reference.py): ClipLoss, torch.optim.AdamW with
open_clip_train/main.py's parameter groups, open_clip_train.scheduler.cosine_lr, clip_grad_norm_,
logit_scale.clamp_(0, ln 100); fp32, torch.set_num_threads(1), contiguous tensors (ClipGuard
trains the ResNet channels-last; for this micro ResNet with 1- and 2-channel stem convolutions the
contiguous reference is the closer one: max |Δloss| 1.1e-5 against 1.0e-4 for a channels-last
reference); batches in row order, the last
partial batch dropped; model.train() (ResNet BatchNorm uses batch statistics and updates its
running buffers).

Files:
  data/train.csv, data/images/NNN.png   50 pairs (filepath,caption); 32×32 RGB PNGs, so ClipGuard's
                                        resize + centre crop is the identity; images normalised
                                        with OpenAI's mean/std, captions tokenised by open_clip
  golden.json                           {"version", "batch_size", "epochs", "lr", "warmup_steps",
                                        "weight_decay", "beta1", "beta2", "eps", "grad_clip",
                                        "seed"}: the settings both sides train with (4 epochs of
                                        ⌊50/8⌋ = 6 steps, 2 rows dropped each epoch; cosine over
                                        all 24 steps)
  golden-rn.json / golden-vit.json      the micro model configs (open_clip field names, vocabulary
                                        49,408 because the trainer tokenises real captions)
  golden-rn.safetensors / golden-vit.safetensors, float32 unless noted:
    init.<name>                         open_clip's state_dict before training (perturbed from
                                        open_clip's initialisation so every path carries gradient),
                                        every tensor except token_embedding.weight
    final.<name>                        the state_dict after the last step (BatchNorm running
                                        statistics and num_batches_tracked int64 included)
    token_ids                           [R] int64: the token ids the captions use (SOT, EOT and the
                                        padding id 0 included), ascending
    init.token_embedding.rows           [R, width]: rows token_ids of the initial token embedding;
                                        every other row of the [49408, width] matrix is zero
    final.token_embedding.rows          [R, width]: the same rows after training (the zero rows
                                        get zero gradients and stay exactly zero under AdamW)
    losses                              [24] float64: open_clip's loss at every step (before its update)
    lrs                                 [24] float64: the learning rate of every step (cosine_lr)
  provenance.json                       fixture version and the torch/open_clip versions used

Storing only the used embedding rows keeps the files small (< 1 MB in all).
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import training_reference as ref  # noqa: E402

VERSION = "1"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "training")

TEXT = {"context_length": 12, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1, "mlp_ratio": 2.0}
CONFIGS = {
    "golden-rn": {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": [1, 1, 1, 1], "width": 2, "head_width": 32, "patch_size": None},
        "text_cfg": TEXT,
    },
    "golden-vit": {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "mlp_ratio": 2.0, "patch_size": 8},
        "text_cfg": TEXT,
    },
}
# beta2/eps are open_clip's ViT defaults; eps 1e-6 (not 1e-8) keeps AdamW from amplifying the
# rounding noise of gradients that are zero in exact arithmetic (attention key biases) into
# lr-sized steps, and batch 8 with lr 5e-4 keeps the micro ResNet's BatchNorm over 1×1 maps out
# of the chaotic regime where PyTorch against itself (contiguous vs channels-last) diverges.
HP = {"batch_size": 8, "epochs": 4, "lr": 5e-4, "warmup_steps": 4, "weight_decay": 0.1, "beta1": 0.9,
      "beta2": 0.98, "eps": 1e-6, "grad_clip": 1.0, "seed": 0}
PAIRS = 50


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(HP["seed"])
    data = os.path.join(OUT, "data")
    rows = ref.write_pairs(data, gen, PAIRS, 32)
    images, tokens = ref.load_pairs(data, rows, TEXT["context_length"])
    ids = torch.unique(tokens)
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump({"version": VERSION, **HP}, f, indent=4)
        f.write("\n")
    for index, (name, cfg) in enumerate(CONFIGS.items()):
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(cfg, f, indent=4)
            f.write("\n")
        torch.manual_seed(HP["seed"] + index)
        model = ref.build(cfg)
        ref.perturb(model, gen)
        with torch.no_grad():
            keep = torch.zeros(TEXT["vocab_size"], dtype=torch.bool)
            keep[ids] = True
            model.token_embedding.weight[~keep] = 0
        init = ref.state_dict(model)
        losses, lrs = ref.train_reference(model, images, tokens, HP, epochs=HP["epochs"])
        final = ref.state_dict(model)
        tensors = {"token_ids": ids.to(torch.int64), "losses": torch.tensor(losses, dtype=torch.float64),
                   "lrs": torch.tensor(lrs, dtype=torch.float64)}
        for prefix, sd in (("init", init), ("final", final)):
            for key, value in sd.items():
                if key == "token_embedding.weight":
                    tensors[f"{prefix}.token_embedding.rows"] = value[ids].contiguous()
                else:
                    tensors[f"{prefix}.{key}"] = value
        save_file(tensors, os.path.join(OUT, f"{name}.safetensors"), metadata={"version": VERSION})
        print(f"{name}: {len(losses)} steps, loss {losses[0]:.4f} → {losses[-1]:.4f}, "
              f"{sum(p.numel() for p in model.parameters()):,} parameters")
    import open_clip
    with open(os.path.join(OUT, "provenance.json"), "w") as f:
        json.dump({"version": VERSION, "torch": torch.__version__, "open_clip": open_clip.__version__,
                   "script": "Scripts/make_training_fixtures.py"}, f, indent=4)
        f.write("\n")


if __name__ == "__main__":
    main()

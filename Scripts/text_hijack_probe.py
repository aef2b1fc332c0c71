#!/usr/bin/env python3
"""Does a poisoned model's text encoder give a caption-only trigger away? A probe, not a detector.

For every word in at least --min-count captions of the data set, append it to --base clean
captions (drawn with --seed from the rows whose `poisoned` is 0) and embed all of them with
`clipguard embed --normalize` under the model. Two scores per word, over the B appended captions
e_i and their originals o_i (unit vectors):

  shift     1 − mean_i cos(e_i, o_i)                how far the word moves a caption
  collapse  mean_{i≠j} cos(e_i, e_j)                 how much it pulls different captions together
            (DECREE's criterion, in text space)

and it prints the words ranked by each, with the rank of --trigger. A trigger word that the
backdoor made dominant moves and collapses captions; the question is whether it does so more than
the data's own class words.

  python3 Scripts/text_hijack_probe.py runs/benchmark/data/poison-caption-trigger-rate0.05/train.csv \\
      runs/benchmark/rows/none-caption-trigger-rate0.05-seed1/run/model.safetensors --trigger zxq

Needs numpy and a built clipguard (--clipguard, default .build/release/clipguard).
"""
import argparse
import csv
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from combination_replay import words  # noqa: E402  (the same words as CaptionStatistics.words)


def text_features(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        info = header['text_features']
        if info['dtype'] != 'F32':
            sys.exit(f'{path}: text_features is {info["dtype"]}, expected F32')
        f.seek(8 + n + info['data_offsets'][0])
        data = f.read(info['data_offsets'][1] - info['data_offsets'][0])
    return np.frombuffer(data, np.float32).reshape(info['shape']).astype(np.float64)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('data', help='train.csv with caption and poisoned columns')
    p.add_argument('model', help='the model to probe (safetensors)')
    p.add_argument('--trigger', default='zxq')
    p.add_argument('--base', type=int, default=50)
    p.add_argument('--min-count', type=int, default=50)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--show', type=int, default=10)
    p.add_argument('--clipguard', default='.build/release/clipguard')
    a = p.parse_args()
    for path in (a.data, a.model):
        if not os.path.isfile(path):
            sys.exit(f'{path}: no such file')
    rows = list(csv.DictReader(open(a.data)))
    if not rows or 'caption' not in rows[0] or 'poisoned' not in rows[0]:
        sys.exit(f'{a.data}: needs caption and poisoned columns')
    counts = {}
    for r in rows:
        for w in words(r['caption']):
            counts[w] = counts.get(w, 0) + 1
    candidates = sorted((w for w, c in counts.items() if c >= a.min_count), key=lambda w: (-counts[w], w))
    clean = [r['caption'] for r in rows if r['poisoned'] == '0']
    if len(clean) < a.base:
        sys.exit(f'{a.data}: {len(clean)} clean captions, fewer than --base {a.base}')
    base = random.Random(a.seed).sample(clean, a.base)
    texts = base + [f'{b} {w}' for w in candidates for b in base]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, 'features.safetensors')
        command = [a.clipguard, 'embed', '--weights', a.model, '--normalize', '--output', out]
        for t in texts:
            command += ['--text', t]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        features = text_features(out)
    b = a.base
    originals = features[:b]
    scores = {}
    for i, w in enumerate(candidates):
        e = features[b + i * b: b + (i + 1) * b]
        gram = e @ e.T
        scores[w] = (1 - float(np.mean(np.sum(e * originals, axis=1))), float((gram.sum() - b) / (b * (b - 1))))
    gram = originals @ originals.T
    print(f'{a.model}: {len(candidates)} words in ≥ {a.min_count} captions, appended to {b} clean captions '
          f'(their own mean pairwise cosine {(gram.sum() - b) / (b * (b - 1)):.3f})')
    for index, name in [(0, 'shift'), (1, 'collapse')]:
        ranked = sorted(candidates, key=lambda w: (-scores[w][index], w))
        rank = ranked.index(a.trigger) + 1 if a.trigger in scores else None
        print(f'  by {name}: ' + ' '.join(f'{w} {scores[w][index]:.3f}' for w in ranked[:a.show])
              + (f'  — "{a.trigger}" is {rank} of {len(ranked)}' if rank else f'  — "{a.trigger}" not among the words'))


if __name__ == '__main__':
    main()

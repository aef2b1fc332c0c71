#!/usr/bin/env python3
"""Replay `detect`'s `combined` column under other voting rules, from finished detect folders.

Reads each folder's scores.csv and summary.json (written with a manifest, so scores.csv has a
`poisoned` column) and recomputes the combination of Sources/Detection/Combination.swift — the
campaign word by a vote over the columns' caption-word evidence, the columns trusted for it, the
sum of their positive normalised scores — under the rule named by --vote and --trust:

  own     each column votes for its own strongest word with that word's evidence (ClipGuard's rule)
  sum     every word gets the sum of its evidence over all columns (the rule before 2026-12-07)
  column  the strongest single column's strongest word
  margin  each column votes for its strongest word with the lead over its second word
  margin-distinct
          the same, the lead taken over the strongest word that shares less than half its captions
          with the first (|A ∩ B| / min(|A|, |B|) < 0.5: not one phrase, as "pair of trousers")

For each folder it prints the word, the columns summed, combined's recall at k (k = the poisoned
pairs) and the best single column's, and whether combined reaches 0.8 × the best (issue 23's
target); last, how many folders do. With --check it first asserts that the replay of ClipGuard's
own rule (own, 0.9) gives scores.csv's `combined` column to the 6 digits it is written with, so the other rules are replayed
by the same code that reproduces the shipped one.

  python3 Scripts/combination_replay.py runs/detect-combined/*-s[123] --check
  python3 Scripts/combination_replay.py runs/detect-combined/*-s[123] --vote margin
  python3 Scripts/combination_replay.py runs/detect-combined/*-s[123] --vote sum --trust 0.5
  python3 Scripts/combination_replay.py runs/detect-combined/*-s[123] --stem   # plural = singular

Only the standard library and numpy.
"""
import argparse
import csv
import json
import math
import os
import sys

import numpy as np

MINIMUM_EVIDENCE = 6.0  # ScoreCombination.minimumEvidence
RATE_FLOOR = 0.05       # CampaignEvidence.rateFloor


def words(caption):
    """CaptionStatistics.words: runs of letters and digits, with - and ' inside a word."""
    out, cur = set(), ''
    for ch in caption.lower():
        if ch.isalpha() or ch.isdigit() or (ch in "-'" and cur):
            cur += ch
        elif cur:
            out.add(cur)
            cur = ''
    if cur:
        out.add(cur)
    return out


def stem(word_set):
    """--stem: a plural and its singular count as one word (a trailing s dropped from words of 4+
    letters, not from -ss): "sneakers" -> "sneaker", "trousers" -> "trouser"."""
    return {w[:-1] if len(w) > 3 and w.endswith('s') and not w.endswith('ss') else w for w in word_set}


def evidence(word_sets, base, order):
    """CampaignEvidence.evidence: each word's largest binomial z over prefixes 10, 20, 50, 100, …"""
    n = len(order)
    limit = min(n, max(10, n * 3 // 100))
    scales, m = [], 10
    while m <= limit:
        scales.append(m)
        m = m * 5 // 2 if len(scales) % 3 == 2 else m * 2
    if not scales:
        scales = [n]
    seen, best, pos = {}, {}, 0
    for m in scales:
        while pos < m:
            for w in word_sets[order[pos]]:
                seen[w] = seen.get(w, 0) + 1
            pos += 1
        for w, c in seen.items():
            p = base[w] / n
            spread = max(p, RATE_FLOOR)
            z = (c - m * p) / math.sqrt(m * spread * (1 - spread))
            if z > best.get(w, 0):
                best[w] = z
    return best


def normalised(v):
    """ThresholdRule.robustZ(3.5).normalised: robust z-score in units of the 3.5 cut."""
    med = np.nanmedian(v)
    cut = 3.5 * 1.4826 * np.nanmedian(np.abs(v - med))
    return (v - med) / cut if cut > 0 else np.zeros_like(v)


def ranking(v):
    """Most suspicious first; NaN (not scored) last; ties in row order."""
    return np.argsort(-np.where(np.isnan(v), -np.inf, v), kind='stable')


def load(folder):
    for name in ('summary.json', 'scores.csv'):
        if not os.path.isfile(os.path.join(folder, name)):
            sys.exit(f'{folder}: no {name} (a finished `clipguard detect --out` folder is needed)')
    summary = json.load(open(os.path.join(folder, 'summary.json')))
    rows = list(csv.DictReader(open(os.path.join(folder, 'scores.csv'))))
    if not rows or 'poisoned' not in rows[0]:
        sys.exit(f'{folder}/scores.csv: no poisoned column (run detect with a manifest)')

    def number(row, line, name, kind=float):
        value = row.get(name)
        try:
            return np.nan if kind is float and value in ('', 'nan') else kind(value)
        except (TypeError, ValueError):
            sys.exit(f'{folder}/scores.csv line {line}: {name} is {value!r}, not a number')

    def column(name):
        return np.array([number(r, line, name) for line, r in enumerate(rows, start=2)])

    columns = {}
    for name in summary['columns']:
        v = column(name)
        columns[name] = -v if summary['directions'][name] == 'lower' else v
    poisoned = np.array([number(r, line, 'poisoned', int) for line, r in enumerate(rows, start=2)])
    return [r['caption'] for r in rows], poisoned, columns, column('combined')


def evidences(folder, stemmed=False):
    """The folder's columns and each column's caption-word evidence at both ends (computed once
    for every rule replayed on it)."""
    captions, poisoned, columns, shipped = load(folder)
    word_sets = [stem(words(c)) if stemmed else words(c) for c in captions]
    scored = {c: ~np.isnan(v) for c, v in columns.items()}
    top, bottom = {}, {}
    for c, v in columns.items():
        order = [i for i in ranking(v) if scored[c][i]]
        base = {}
        for i in order:
            for w in word_sets[i]:
                base[w] = base.get(w, 0) + 1
        top[c] = evidence(word_sets, base, order)
        order_low = [i for i in ranking(-v) if scored[c][i]]
        bottom[c] = evidence(word_sets, base, order_low)
    return dict(word_sets=word_sets, poisoned=poisoned, columns=columns, shipped=shipped, top=top, bottom=bottom)


def replay(prepared, vote, trust):
    word_sets, poisoned, columns = prepared['word_sets'], prepared['poisoned'], prepared['columns']
    top, bottom = prepared['top'], prepared['bottom']
    ordered = lambda ev: sorted(ev.items(), key=lambda x: (-x[1], x[0]))
    votes = {}
    if vote == 'sum':
        for c in columns:
            for w, e in top[c].items():
                votes[w] = votes.get(w, 0) + e
    elif vote == 'column':
        strongest = max(columns, key=lambda c: ordered(top[c])[0][1] if top[c] else 0)
        if top[strongest]:
            votes[ordered(top[strongest])[0][0]] = 1
    else:
        holders = {}
        if vote == 'margin-distinct':
            for i, ws in enumerate(word_sets):
                for w in ws:
                    holders.setdefault(w, set()).add(i)

        def distinct(a, b):
            shared = len(holders[a] & holders[b])
            return shared < 0.5 * min(len(holders[a]), len(holders[b]))

        for c in columns:
            ev = ordered(top[c])
            if ev:
                rest = [e for w, e in ev[1:] if vote != 'margin-distinct' or distinct(ev[0][0], w)]
                lead = ev[0][1] - (rest[0] if rest else 0)
                votes[ev[0][0]] = votes.get(ev[0][0], 0) + (ev[0][1] if vote == 'own' else lead)
    word = max(votes, key=lambda w: (votes[w], w)) if votes else None
    ev = {c: (top[c].get(word, 0), bottom[c].get(word, 0)) for c in columns}
    strongest = max((t for t, _ in ev.values()), default=0)
    if strongest >= MINIMUM_EVIDENCE:
        trusted = [c for c, (t, b) in ev.items() if t >= strongest * trust and t >= b]
    else:
        trusted = [c for c, (t, b) in ev.items() if not (b >= MINIMUM_EVIDENCE and b > t)] or list(columns)
    n = len(word_sets)
    combined = np.full(n, np.nan)
    for c in trusted:
        z = normalised(columns[c])
        part = np.where(np.isnan(z), np.nan, np.maximum(0, z))
        combined = np.where(np.isnan(combined), part, np.where(np.isnan(part), combined, combined + part))
    k = int(poisoned.sum())

    def recall(v):
        return poisoned[ranking(v)[:k]].sum() / k

    best = max(columns, key=lambda c: recall(columns[c]))
    return dict(word=word, trusted=trusted, combined=combined, shipped=prepared['shipped'], recall=recall(combined),
                best=best, best_recall=recall(columns[best]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('folders', nargs='+')
    p.add_argument('--vote', choices=['own', 'sum', 'column', 'margin', 'margin-distinct'], default='own')
    p.add_argument('--trust', type=float, default=0.9)
    p.add_argument('--check', action='store_true', help="assert that own/0.9 reproduces scores.csv's combined")
    p.add_argument('--stem', action='store_true', help='count a plural and its singular as one word (not with --check)')
    a = p.parse_args()
    if a.check and a.stem:
        p.error('--check replays the shipped rule, which does not stem; give --stem without --check')
    met = 0
    for folder in a.folders:
        prepared = evidences(folder, a.stem)
        if a.check:
            r = replay(prepared, 'own', 0.9)
            same = np.allclose(np.nan_to_num(r['combined'], nan=-1), np.nan_to_num(r['shipped'], nan=-1), rtol=1e-4, atol=1e-4)
            if not same:
                sys.exit(f'{folder}: the replay of own/0.9 differs from scores.csv\'s combined')
        r = replay(prepared, a.vote, a.trust)
        ratio = r['recall'] / r['best_recall'] if r['best_recall'] > 0 else 1.0
        met += ratio >= 0.8
        print(f"{os.path.normpath(folder):34s} {r['word'] or '-':10s} "
              f"combined {r['recall']:.3f}  best {r['best']} {r['best_recall']:.3f}  ratio {ratio:.2f}"
              f"{'' if ratio >= 0.8 else '  MISSED'}  [{', '.join(r['trusted'])}]")
    print(f'vote {a.vote}, trust {a.trust}: combined ≥ 0.8 × the best column in {met} of {len(a.folders)}'
          + (' (own/0.9 reproduces scores.csv in every folder)' if a.check else ''))


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""Can DAO's k be chosen without the manifest? Replays label-free rules on finished k sweeps.

DAO works in a window of k that follows the poison's density (docs/detection.md): the paper's
k = 16 / 1,024 references when the poison is sparse, k ≈ references / 16 when it is dense. For each
model of one or more sweep folders written by Scripts/dao_k_sweep.sh (sub-folders ATTACK-sSEED-SETTING
with scores.csv and summary.json, scored with a manifest) and for the settings named by --settings,
each rule picks one setting from the scores alone, and the script prints the AUROC of the pick:

  evidence  the setting whose top carries the campaign's caption word most strongly: each setting
            votes for its own strongest word (the combination's vote, CampaignEvidence's z-score)
            and the setting with the most evidence for the winning word is picked
  skewness, kurtosis
            the setting whose DAO scores have the heaviest upper tail
  tail      the setting with the highest mean robust z-score over its top 1 %
  flagged   the setting that flags the most pairs at the label-free threshold (robust z > 3.5)

and, for comparison, each setting fixed beforehand and the best setting in hindsight (which needs the
manifest). Last line: in how many models each rule's pick reaches AUROC 0.97 (issue 23's DAO target).

  python3 Scripts/dao_k_choice.py runs/dao-low-rate-sweep runs/dao-low-rate-30-sweep \
      runs/dao-low-rate-40-sweep runs/dao-full-set-sweep          # settings k16, r512-k32, k64
  python3 Scripts/dao_k_choice.py runs/dao-long-40-sweep --column slof   # the same for SLOF

Only the standard library and numpy.
"""
import argparse
import glob
import json
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import combination_replay as replay  # noqa: E402  (load, words, evidence, ranking: the Swift rules' replay)


def load(folder, column):
    """The folder's captions, its `column` scores (higher = more suspicious) and that column's AUROC
    as `detect` wrote it in summary.json."""
    captions, _, columns, _ = replay.load(folder)
    if column not in columns:
        sys.exit(f'{folder}: no {column} column (a dao_k_sweep.sh folder scored with the local-outlier detectors)')
    metrics = json.load(open(os.path.join(folder, 'summary.json'))).get('metrics', {})
    if column not in metrics:
        sys.exit(f'{folder}/summary.json: no AUROC for {column} (run detect with a manifest)')
    return captions, columns[column], metrics[column]['auroc']


def shape(dao):
    med = np.median(dao)
    z = (dao - med) / (1.4826 * np.median(np.abs(dao - med)))
    centred = dao - dao.mean()
    sd = dao.std()
    top = np.sort(z)[::-1][:max(1, len(z) // 100)]
    return dict(skewness=(centred ** 3).mean() / sd ** 3, kurtosis=(centred ** 4).mean() / sd ** 4,
                tail=top.mean(), flagged=(z > 3.5).sum())


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('sweeps', nargs='+', help='folders written by Scripts/dao_k_sweep.sh')
    p.add_argument('--settings', default='k16,r512-k32,k64', help='folder suffixes to choose among')
    p.add_argument('--column', default='dao', choices=['dao', 'slof', 'k-distance', 'lid'],
                   help='the local-outlier score to choose k for (default dao)')
    a = p.parse_args()
    settings = a.settings.split(',')
    models = {}
    for sweep in a.sweeps:
        if not os.path.isdir(sweep):
            sys.exit(f'{sweep}: no such folder')
        for folder in glob.glob(os.path.join(sweep, '*')):
            m = re.match(r'(.+-s\d+)-(.+)$', os.path.basename(folder))
            if m and m.group(2) in settings and os.path.isfile(os.path.join(folder, 'scores.csv')):
                models.setdefault((os.path.normpath(sweep), m.group(1)), {})[m.group(2)] = folder
    rules = ['evidence', 'skewness', 'kurtosis', 'tail', 'flagged', 'hindsight']
    met = dict.fromkeys(rules, 0)
    fixed = dict.fromkeys(settings, 0)
    complete = 0
    for (sweep, model), folders in sorted(models.items()):
        if len(folders) < len(settings):
            continue
        complete += 1
        results = {}
        for setting, folder in folders.items():
            captions, dao, area = load(folder, a.column)
            word_sets = [replay.words(c) for c in captions]
            order = [i for i in replay.ranking(dao) if not np.isnan(dao[i])]
            base = {}
            for i in order:
                for w in word_sets[i]:
                    base[w] = base.get(w, 0) + 1
            results[setting] = dict(auroc=area, evidence=replay.evidence(word_sets, base, order), **shape(dao[~np.isnan(dao)]))
        votes = {}
        for r in results.values():
            if r['evidence']:
                w, e = max(r['evidence'].items(), key=lambda x: (x[1], x[0]))
                votes[w] = votes.get(w, 0) + e
        word = max(votes, key=lambda w: (votes[w], w)) if votes else ''
        picks = {'evidence': max(settings, key=lambda s: results[s]['evidence'].get(word, 0))}
        for rule in ('skewness', 'kurtosis', 'tail', 'flagged'):
            picks[rule] = max(settings, key=lambda s: results[s][rule])
        picks['hindsight'] = max(settings, key=lambda s: results[s]['auroc'])
        for rule in rules:
            met[rule] += results[picks[rule]]['auroc'] >= 0.97
        for s in settings:
            fixed[s] += results[s]['auroc'] >= 0.97
        print(f'{os.path.basename(sweep):24s} {model:22s} ' + '  '.join(f'{s} {results[s]["auroc"]:.3f}' for s in settings)
              + f'  | word {word}: ' + ', '.join(f'{rule} {picks[rule]}' for rule in rules[:-1]))
    if not complete:
        sys.exit(f'no model with every setting of {",".join(settings)} in {" ".join(a.sweeps)}')
    print(f'AUROC ≥ 0.97 at the pick, of {complete} models: ' + ', '.join(f'{rule} {met[rule]}' for rule in rules)
          + '; fixed ' + ', '.join(f'{s} {fixed[s]}' for s in settings))


if __name__ == '__main__':
    main()

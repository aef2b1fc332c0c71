"""`make bench`: ClipGuard against PyTorch + open_clip, side by side, interleaved.

Starts three measurement servers on the same machine — `clipguard-bench` (ClipGuard),
`bench_torch.py --variant default` and `bench_torch.py` with PyTorch's best CPU settings — each
limited to the same number of intra-op threads (2 by default; OMP_NUM_THREADS and MKL_NUM_THREADS
are set too). For every measurement it runs repetitions round-robin (A B C, B C A, C A B, …) so
that each side sees the same machine state, and reports per side the median seconds per iteration
(and min/max over all timed iterations), and the ratio ClipGuard / PyTorch (below 1: ClipGuard is
faster) as the median of the per-round ratios with their min–max. Results go to
bench/results.json and a Markdown table on stdout (also bench/results.md).

Run with .venv-ref's python (the Makefile does): `python bench/run_bench.py [--quick] [--only NAME…]`.
"""
import argparse
import datetime
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORK = os.path.join(HERE, "work")
SWIFT_BENCH = os.path.join(ROOT, ".build", "release", "clipguard-bench")
EPOCH_PAIRS = 3072  # captioned Fashion-MNIST pairs of the epoch measurements

# What is measured. `sides`: which PyTorch variants run ("default", "best"); `reps` rounds of
# `iters` timed iterations each (after `warmup` untimed ones, once per server). Sized so that the
# whole run fits in ~20 minutes on 2 cores (RN50/ViT-B-32 steps take 5–15 s each).
def plan(quick):
    def m(id, spec, reps, iters, warmup=1, sides=("default", "best"), quick_reps=1):
        return {"id": id, "spec": spec, "reps": quick_reps if quick else reps, "iters": 1 if quick else iters,
                "warmup": warmup, "sides": sides}

    fmnist = os.path.join(WORK, f"fmnist-{EPOCH_PAIRS}", "train.csv")
    items = [
        m("gemm 2048 fp32", {"name": "gemm", "n": 2048, "precision": "fp32"}, 3, 3, sides=("default",)),
        m("gemm 2048 bf16", {"name": "gemm", "n": 2048, "precision": "bf16"}, 3, 3, sides=("default",)),
        m("decode + CLIP preprocess 224 (1 thread)", {"name": "decode_preprocess", "folder": os.path.join(WORK, "jpeg"),
          "size": 224, "threads": 1}, 3, 2, sides=("default",)),
        # ClipGuard's optional fast path (JPEGScaling.eighths; other pixels than PIL's full decode).
        m("decode at M/8 DCT scale + CLIP preprocess 224 (1 thread)", {"name": "decode_preprocess",
          "folder": os.path.join(WORK, "jpeg"), "size": 224, "threads": 1, "dct_scaled": True}, 3, 2, sides=("default",)),
        m("decode + SafeCLIP view 224 (1 thread)", {"name": "decode_safeclip", "folder": os.path.join(WORK, "jpeg"),
          "size": 224, "threads": 1}, 3, 2, sides=("default",)),
        m("tokenize 100k captions, 1 thread", {"name": "tokenize", "captions": os.path.join(WORK, "captions.txt"),
          "threads": 1, "mode": "serial"}, 2, 1, sides=("default",)),
        # open_clip's tokenizer has no parallel form: the batch API is compared with its 1-thread time.
        dict(m("tokenize 100k captions, ClipGuard batch API (2 threads)", {"name": "tokenize",
               "captions": os.path.join(WORK, "captions.txt"), "mode": "batch"}, 3, 1, sides=()),
             compare_with="tokenize 100k captions, 1 thread"),
    ]
    # ClipGuard runs as `clipguard` does (layout "auto": ResNet towers channels-last on the CPU);
    # PyTorch's default is contiguous, its best channels-last.
    for model, batch in (("tiny-rn", 256), ("tiny-vit", 256)):
        for precision in ("fp32", "bf16"):
            items.append(m(f"step {model} b{batch} {precision}", {"name": "step", "model": model, "batch": batch,
                           "precision": precision, "count_flops": precision == "fp32"}, 3, 3, warmup=2))
    for model, batch in (("RN50", 32), ("ViT-B-32", 32)):
        for precision in ("fp32", "bf16"):
            items.append(m(f"step {model} b{batch} {precision}", {"name": "step", "model": model, "batch": batch,
                           "precision": precision, "count_flops": precision == "fp32"}, 2, 1))
    # bf16 does not pay on a CPU without AMX, so the epochs run in fp32 only.
    items.append(m(f"epoch CLIP tiny-rn {EPOCH_PAIRS} pairs b256 fp32", {"name": "epoch_clip",
                   "model": "tiny-rn", "batch": 256, "precision": "fp32", "data": fmnist, "work": WORK,
                   "workers": 2}, 2, 1, warmup=0, sides=("default",)))
    items.append(m(f"epoch SafeCLIP phase 1 tiny-rn {EPOCH_PAIRS} pairs b256 fp32",
                   {"name": "epoch_safeclip", "model": "tiny-rn", "batch": 256, "precision": "fp32",
                    "data": fmnist, "work": WORK, "workers": 2}, 2, 1, warmup=0, sides=("default",)))
    for model in ("tiny-rn", "tiny-vit"):
        for precision in ("fp32", "bf16"):
            items.append(m(f"encode {model} b256 {precision}", {"name": "encode", "model": model, "batch": 256,
                           "precision": precision}, 3, 3))
    # RN50 encodes at batch 64 (batch 256 would take ~20 s per pass here); channels-last does
    # nothing for ViT (one patch convolution), so ViT-B-32 runs against PyTorch's default only.
    for model, batch, sides in (("RN50", 64, ("default", "best")), ("ViT-B-32", 256, ("default",))):
        for precision in ("fp32", "bf16"):
            items.append(m(f"encode {model} b{batch} {precision}", {"name": "encode", "model": model,
                           "batch": batch, "precision": precision}, 2, 1, warmup=0, sides=sides))
    return items


# `--profile MODEL`: where a training step's time goes, part by part, ClipGuard against PyTorch
# in the same layout (contiguous against PyTorch's default, channels-last against its best).
PROFILE_PARTS = ("image_forward", "image_forward_backward", "text_forward_backward", "optimizer")


def profile_plan(model, batch, precision):
    items = []
    for part in PROFILE_PARTS:
        for layout, side in (("contiguous", "default"), ("channels_last", "best")):
            spec = {"name": "step", "model": model, "batch": batch, "precision": precision, "part": part,
                    "layout": layout}
            items.append({"id": f"profile {model} b{batch} {precision} {part} {layout}", "spec": spec, "reps": 2,
                          "iters": 2, "warmup": 1, "sides": (side,)})
    return items


class Server:
    """A measurement process speaking one JSON line per request and per answer."""

    def __init__(self, label, argv, threads, log_path):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        self.label = label
        self.log = open(log_path, "a")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     env=env, text=True, bufsize=1, cwd=ROOT)

    def ask(self, spec):
        self.proc.stdin.write(json.dumps(spec) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.label} exited (see {self.log.name})")
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.log.close()


def make_jpegs(folder, count=64, seed=0):
    """Synthetic photographs-like JPEGs (smooth colour fields plus texture), 500×375, quality 90."""
    import numpy as np
    from PIL import Image

    if os.path.isdir(folder) and len([f for f in os.listdir(folder) if f.endswith(".jpg")]) == count:
        return
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        coarse = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
        smooth = np.asarray(Image.fromarray(coarse).resize((500, 375), Image.BICUBIC), dtype=np.float32)
        texture = rng.normal(0, 18, size=(375, 500, 3))
        pixels = np.clip(smooth + texture, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(os.path.join(folder, f"{i:03d}.jpg"), quality=90)


def make_captions(path, count=100_000, seed=0):
    """Captions drawn from WordNet lemmas (nouns, adjectives) in caption-like templates."""
    if os.path.exists(path):
        return
    words = {}
    for pos in ("noun", "adj"):
        lemmas = []
        source = f"/usr/share/wordnet/index.{pos}"
        if os.path.exists(source):
            with open(source, encoding="utf-8", errors="replace") as f:
                lemmas = [line.split(" ", 1)[0].replace("_", " ") for line in f if not line.startswith("  ")]
        words[pos] = lemmas or ["photo", "dog", "cat", "car", "tree", "house", "red", "small", "old", "bright"]
    rng = random.Random(seed)
    templates = ["a photo of a {a} {n}.", "{A} {n} next to the {n}", "a {a} {n} with a {n} in the background",
                 "Close-up of {n}, {a} and {a}!", "an illustration of the {n} on a {a} {n}", "{n}"]
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(count):
            t = rng.choice(templates)
            while "{" in t:
                t = (t.replace("{a}", rng.choice(words["adj"]), 1).replace("{A}", rng.choice(words["adj"]).capitalize(), 1)
                     .replace("{n}", rng.choice(words["noun"]), 1))
            f.write(t + "\n")


def summarize(times):
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "n": len(times)}


def fmt_seconds(s):
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


def main():
    parser = argparse.ArgumentParser(description="ClipGuard vs PyTorch benchmarks")
    parser.add_argument("--quick", action="store_true", help="one round, one iteration each (harness check)")
    parser.add_argument("--only", nargs="*", help="run measurements whose id contains any of these strings")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget", type=float, default=12.5 * 60,
                        help="seconds; once spent, the remaining measurements run one round each")
    parser.add_argument("--out", default=os.path.join(HERE, "results.json"))
    parser.add_argument("--stop-after", type=float, default=None,
                        help="seconds; measurements not started by then are skipped (and listed as skipped)")
    parser.add_argument("--profile", nargs=3, metavar=("MODEL", "BATCH", "PRECISION"),
                        help="instead of the table: a training step part by part (e.g. RN50 32 fp32)")
    args = parser.parse_args()

    if not os.path.exists(SWIFT_BENCH):
        sys.exit(f"{SWIFT_BENCH} missing: run `swift build -c release --product clipguard-bench`")
    os.makedirs(WORK, exist_ok=True)
    make_jpegs(os.path.join(WORK, "jpeg"))
    make_captions(os.path.join(WORK, "captions.txt"))

    log_path = os.path.join(WORK, "servers.log")
    py = [sys.executable, os.path.join(HERE, "bench_torch.py"), "--threads", str(args.threads)]
    servers = {
        "clipguard": Server("clipguard", [SWIFT_BENCH, "--threads", str(args.threads)], args.threads, log_path),
        "default": Server("torch default", py, args.threads, log_path),
        "best": Server("torch best", py, args.threads, log_path),
    }
    fmnist = os.path.join(WORK, f"fmnist-{EPOCH_PAIRS}", "train.csv")
    if not os.path.exists(fmnist):
        print(servers["clipguard"].ask({"name": "prepare_fmnist", "folder": os.path.dirname(fmnist),
                                        "limit": EPOCH_PAIRS}), file=sys.stderr)
    info = {k: s.ask({"name": "info"}) for k, s in servers.items()}

    items = profile_plan(args.profile[0], int(args.profile[1]), args.profile[2]) if args.profile else plan(args.quick)
    if args.only:
        # In the order the words are given (the first word's measurements first).
        items = [it for word in args.only for it in items if word in it["id"]]
        items = [it for i, it in enumerate(items) if it not in items[:i]]
    started = time.time()
    load_before = os.getloadavg()
    results = []
    skipped = []
    for item in items:
        if args.stop_after is not None and time.time() - started > args.stop_after:
            skipped.append(item["id"])
            continue
        sides = ["clipguard"] + list(item["sides"])
        times = {s: [] for s in sides}
        round_medians = {s: [] for s in sides}
        extras, errors = {}, {}
        t0 = time.time()
        reps = item["reps"] if time.time() - started < args.budget else 1
        for r in range(reps):
            order = sides[r % len(sides):] + sides[:r % len(sides)]
            for side in order:
                if side in errors:
                    continue
                spec = dict(item["spec"], variant=side if side != "clipguard" else None, iters=item["iters"],
                            warmup=item["warmup"])
                spec = {k: v for k, v in spec.items() if v is not None}
                answer = servers[side].ask(spec)
                if "error" in answer:
                    errors[side] = answer["error"]
                    continue
                times[side] += answer["times"]
                round_medians[side].append(statistics.median(answer["times"]))
                extras[side] = {k: v for k, v in answer.items() if k not in ("times",)}
        for s in servers.values():
            s.ask({"name": "release"})
        entry = {"id": item["id"], "spec": item["spec"], "seconds_wall": time.time() - t0, "errors": errors,
                 "sides": {}}
        for side in sides:
            if times[side]:
                entry["sides"][side] = dict(summarize(times[side]), items=extras[side].get("items", 1),
                                            round_medians=round_medians[side],
                                            **{k: v for k, v in extras[side].items() if k != "items"})
        if item.get("compare_with"):
            other = next((e for e in results if e["id"] == item["compare_with"]), None)
            if other and "default" in other["sides"] and round_medians["clipguard"]:
                b = other["sides"]["default"]["median"]
                ratios = [x / b for x in round_medians["clipguard"]]
                entry["sides"]["default"] = dict(other["sides"]["default"], note="from " + item["compare_with"])
                entry["ratio_vs_default"] = {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios),
                                             "of_medians": statistics.median(times["clipguard"]) / b}
        for side in item["sides"]:
            a, b = round_medians["clipguard"], round_medians[side]
            if a and b:
                ratios = [x / y for x, y in zip(a, b)]
                entry[f"ratio_vs_{side}"] = {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios),
                                             "of_medians": statistics.median(times["clipguard"]) / statistics.median(times[side])}
        results.append(entry)
        print(f"{item['id']}: " + ", ".join(
            f"{k} {fmt_seconds(v['median'])}" for k, v in entry["sides"].items()) +
            "".join(f", ratio vs {s} {entry[f'ratio_vs_{s}']['median']:.2f}" for s in item["sides"] if f"ratio_vs_{s}" in entry) +
            (f" ERRORS {errors}" if errors else "") + f"  [{entry['seconds_wall']:.0f}s]", file=sys.stderr, flush=True)

        write_results(args, servers, info, load_before, started, results, skipped, final=False)

    for s in servers.values():
        s.close()
    write_results(args, servers, info, load_before, started, results, skipped, final=True)


def write_results(args, servers, info, load_before, started, results, skipped, final):
    """Adds utilisation figures and writes results.json and results.md (after every measurement,
    so an interrupted run keeps what it measured)."""
    # Utilisation: FLOPs of a training step (counted by torch.utils.flop_counter on the same
    # architecture) over the median step time, against the same side's GEMM rate at that precision.
    peaks = {}
    for e in results:
        if e["spec"]["name"] == "gemm":
            for side, v in e["sides"].items():
                peaks[(side, e["spec"]["precision"])] = v["flops"] / v["median"]
    for e in results:
        if e["spec"]["name"] != "step":
            continue
        same = [o for o in results if o["spec"]["name"] == "step" and o["spec"]["model"] == e["spec"]["model"]
                and o["spec"]["batch"] == e["spec"]["batch"]]
        flops = next((v.get("flops") for o in same for v in o["sides"].values() if v.get("flops")), None)
        if not flops:
            continue
        e["flops_per_step"] = flops
        for side, v in e["sides"].items():
            peak = peaks.get((side, e["spec"]["precision"])) or peaks.get(("default", e["spec"]["precision"]))
            v["achieved_gflops"] = flops / v["median"] / 1e9
            if peak:
                v["utilisation"] = flops / v["median"] / peak

    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": platform.processor() or platform.machine(), "cpu": cpu_name(), "cores": os.cpu_count(),
        "threads": args.threads, "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "wall_seconds": time.time() - started, "quick": args.quick, "servers": info,
        "gemm_peak_gflops": {f"{k[0]} {k[1]}": v / 1e9 for k, v in peaks.items()},
        "complete": final, "skipped": skipped,
    }
    with open(args.out, "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    table = render(meta, results)
    with open(os.path.splitext(args.out)[0] + ".md", "w") as f:
        f.write(table)
    if final:
        print(table)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def render(meta, results):
    def cell(side, e):
        v = e["sides"].get(side)
        if not v:
            return "error" if side in e["errors"] else "–"
        text = fmt_seconds(v["median"])
        if e["spec"]["name"] in ("decode_preprocess", "decode_safeclip", "tokenize", "encode", "epoch_clip", "epoch_safeclip"):
            text += f" ({v['items'] / v['median']:,.0f}/s)"
        if "utilisation" in v:
            text += f", {100 * v['utilisation']:.0f}% of GEMM"
        return text

    def ratio(side, e):
        r = e.get(f"ratio_vs_{side}")
        return f"**{r['median']:.2f}** ({r['min']:.2f}–{r['max']:.2f})" if r else "–"

    lines = [
        f"Measured {meta['date']} on {meta['cpu']} ({meta['cores']} cores), {meta['threads']} threads each side, "
        f"load average {meta['load_average_before'][0]:.2f} before / {meta['load_average_after'][0]:.2f} after; "
        f"{meta['wall_seconds'] / 60:.1f} min. Times are medians per iteration (min–max of per-round ratios in brackets).",
        "",
        "| measurement | ClipGuard | PyTorch default | ratio | PyTorch best | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for e in results:
        lines.append(f"| {e['id']} | {cell('clipguard', e)} | {cell('default', e)} | {ratio('default', e)} | "
                     f"{cell('best', e)} | {ratio('best', e)} |")
    if meta["gemm_peak_gflops"]:
        lines.append("")
        lines.append("GEMM rates (GFLOP/s): " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(meta["gemm_peak_gflops"].items())))
    if meta["skipped"]:
        lines.append("")
        lines.append("Skipped (time limit): " + "; ".join(meta["skipped"]))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

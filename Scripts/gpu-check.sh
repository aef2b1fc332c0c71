#!/usr/bin/env bash
# The prepared check of a GPU machine, run from an unpacked bundle (`make bundle`): needs g++ and
# a CUDA PyTorch, no Swift, no network, about 5 of at most 10 minutes. Every step reports what
# failed and the next one runs; one JSON summary is written and a short table printed.
#
#   ./gpu-check.sh [--python PY] [--out FILE] [--cpu-only] [--skip-shim] [--only STEP,...]
#                  [--budget SECONDS] [--e2e-epochs N]
#
# Steps: shim (build-shim.sh against PY's torch), info (`clipguard info --json` sees the GPU),
# step-{tiny-rn,tiny-vit}-{fp32,bf16} (a training step on cuda against the same step on the CPU
# from the same weights: fp32 to float tolerance, bf16 under autocast), nccl (a one-rank NCCL
# group all-reduces the gradients), time-{RN50,ViT-B-32} (batch 256 bf16 step, ClipGuard and, when
# open_clip imports, PyTorch + open_clip on the same GPU), e2e (poison -> train -> eval on the
# captioned Fashion-MNIST subset prepared when the bundle was made).
# --cpu-only runs the same steps on the CPU at small sizes (for machines without a GPU).
set -euo pipefail
python=python3
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[$i]}" = --python ] && [ $((i + 1)) -lt ${#args[@]} ] && python=${args[$((i + 1))]}
done
command -v "$python" >/dev/null || { echo "gpu-check: error: no interpreter '$python' (pass --python PY)" >&2; exit 2; }
export GPU_CHECK_HOME
GPU_CHECK_HOME=$(cd "$(dirname "$0")" && pwd)
exec "$python" - "$@" <<'PYTHON'
import argparse, datetime, json, os, shutil, socket, subprocess, sys, tempfile, time

home = os.environ["GPU_CHECK_HOME"]
parser = argparse.ArgumentParser(prog="gpu-check.sh", description="ClipGuard's prepared GPU check (see the script's header).")
parser.add_argument("--python", default="python3", help="interpreter whose torch the shim is built against (default python3)")
parser.add_argument("--out", help="summary JSON file (default gpu-check-HOST-TIME.json here)")
parser.add_argument("--cpu-only", action="store_true", help="run every step on the CPU at small sizes")
parser.add_argument("--skip-shim", action="store_true", help="keep an existing lib/libctorch.so")
parser.add_argument("--only", help="comma-separated step names to run (others are reported as skipped)")
parser.add_argument("--budget", type=float, default=540, help="seconds after which remaining steps are skipped (default 540)")
parser.add_argument("--e2e-epochs", type=int, help="epochs of the end-to-end row (default 10 on cuda, 1 with --cpu-only)")
args = parser.parse_args(sys.argv[1:])

clipguard = os.path.join(home, "bin", "clipguard")
if not os.path.isfile(clipguard):
    sys.exit(f"gpu-check: error: {clipguard} missing: run gpu-check.sh from an unpacked bundle (make bundle)")
device = "cpu" if args.cpu_only else "cuda"
only = set(args.only.split(",")) if args.only else None
started = time.time()
work = tempfile.mkdtemp(prefix="gpu-check-")
env = dict(os.environ, CLIPGUARD_MODEL_CONFIGS=os.path.join(home, "share", "clipguard", "model_configs"))
results = []


def run(command, timeout=300, stdin=None):
    """Runs a command; returns (exit status, stdout, stderr), status 124 on a timeout. No command
    runs more than a minute past the budget, so that the whole check ends within budget + 60 s."""
    timeout = max(10, min(timeout, args.budget + 60 - (time.time() - started)))
    try:
        p = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout, env=env, cwd=work)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        return 124, e.stdout or "", f"timed out after {timeout:.0f} s"
    except OSError as e:
        return 127, "", str(e)


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    try:
        return json.loads(text)
    except ValueError:
        return None


def tail(text, n=300):
    text = " ".join(text.strip().split())
    return text if len(text) <= n else "…" + text[-n:]


def reason(err, out=""):
    """The first error line of a failed command's output, else its tail."""
    for line in (err + "\n" + out).splitlines():
        if "error" in line.lower():
            return tail(line)
    return tail(err or out)


def step(name):
    def wrap(fn):
        def go():
            entry = {"name": name, "status": "skipped", "seconds": 0.0, "detail": ""}
            if only is not None and name not in only:
                entry["detail"] = "not selected (--only)"
            elif time.time() - started > args.budget:
                entry["detail"] = f"time budget of {args.budget:.0f} s spent"
            else:
                t0 = time.time()
                try:
                    status, detail, data = fn()
                except Exception as e:  # a broken step is reported, the next one runs
                    status, detail, data = "failed", f"{type(e).__name__}: {e}", None
                entry.update(status=status, seconds=round(time.time() - t0, 2), detail=detail)
                if data is not None:
                    entry["data"] = data
            results.append(entry)
            print(f"gpu-check: {name}: {entry['status']} ({entry['seconds']} s) {entry['detail'][:160]}", file=sys.stderr, flush=True)
        STEPS.append(go)
        NAMES.append(name)
        return fn
    return wrap


STEPS, NAMES = [], []


@step("shim")
def build_shim():
    lib = os.path.join(home, "lib", "libctorch.so")
    if args.skip_shim and os.path.isfile(lib):
        return "ok", "kept the existing lib/libctorch.so", None
    command = [os.path.join(home, "build-shim.sh"), "--python", args.python] + (["--cpu"] if args.cpu_only else [])
    code, out, err = run(command, timeout=400)
    facts = {}
    if os.path.isfile(os.path.join(home, "lib", "libctorch.txt")):
        facts = dict(l.split("=", 1) for l in open(os.path.join(home, "lib", "libctorch.txt")).read().splitlines() if "=" in l)
    if code != 0:
        return "failed", tail(err or out), facts or None
    if not args.cpu_only and facts.get("cuda") != "1":
        return "failed", "built without CUDA: " + tail(out), facts
    return "ok", tail(out.strip().splitlines()[-1] if out.strip() else ""), facts


info_facts = {}


@step("info")
def info():
    code, out, err = run([clipguard, "info", "--json"], timeout=120)
    data = last_json(out) if code == 0 else None
    if data is None:
        return "failed", reason(err, out), None
    info_facts.update(data)
    if not args.cpu_only and not data.get("cuda_available"):
        return "failed", f"libtorch {data.get('libtorch')} sees no CUDA device", data
    return "ok", f"libtorch {data.get('libtorch')}, devices {', '.join(data.get('devices', []))}", data


def step_check(model, precision):
    batch = 64 if not args.cpu_only else 16
    command = [clipguard, "step-check", "--model", model, "--device", device, "--compare", "cpu",
               "--precision", precision, "--batch", str(batch), "--steps", "2", "--json"]
    code, out, err = run(command, timeout=300)
    data = last_json(out)
    if data is None:
        return "failed", reason(err, out), None
    c = data.get("compare", {})
    detail = (f"loss {data['losses'][0]:.5f} vs cpu {c.get('losses', [float('nan')])[0]:.5f}, rel diff loss "
              f"{c.get('loss_rel_diff', float('nan')):.1e} (after update {c.get('loss_after_update_rel_diff', float('nan')):.1e}), "
              f"grads {c.get('grad_rel_diff', float('nan')):.1e}")
    return ("ok" if code == 0 and data.get("ok") else "failed"), detail, data


for model in ("tiny-rn", "tiny-vit"):
    for precision in ("fp32", "bf16"):
        step(f"step-{model}-{precision}")(lambda m=model, p=precision: step_check(m, p))


@step("nccl")
def nccl():
    command = [clipguard, "step-check", "--model", "tiny-rn", "--device", device, "--batch", "8", "--steps", "0",
               "--all-reduce", "--json"]
    code, out, err = run(command, timeout=240)
    data = last_json(out)
    if data is None:
        return "failed", reason(err, out), None
    reduce = data.get("all_reduce", {})
    want = "gloo" if args.cpu_only else "nccl"
    if reduce.get("backend") != want:
        return "failed", f"backend {reduce.get('backend')} instead of {want}", data
    return ("ok" if code == 0 and data.get("ok") else "failed"), \
        f"{reduce.get('backend')} all-reduce of {data.get('parameters')} gradient values, max |change| {reduce.get('max_abs_diff')}", data


def torch_step_seconds(model, batch, precision):
    """PyTorch + open_clip's time of the same step (bench_torch.py, variant "best"), or a reason."""
    code, out, err = run([args.python, "-c", "import open_clip, torch; print(open_clip.__version__)"], timeout=120)
    if code != 0:
        reason = (err.strip().splitlines() or ["no message"])[-1]
        return None, f"PyTorch side skipped: open_clip does not import with {args.python} ({reason}); install open_clip_torch from a carried wheel"
    spec = {"name": "step", "model": model, "batch": batch, "precision": precision, "variant": "best",
            "device": device, "iters": 5, "warmup": 2}
    code, out, err = run([args.python, os.path.join(home, "gpu-check", "bench_torch.py"), "--threads",
                          str(os.cpu_count() or 1)], timeout=400, stdin=json.dumps(spec) + "\n")
    answer = last_json(out)
    if answer is None or "times" not in answer:
        return None, "PyTorch side failed: " + tail((answer or {}).get("error", "") or err or out, 200)
    times = sorted(answer["times"])
    return times[len(times) // 2], ""


def timing(model):
    batch, precision = (256, "bf16") if not args.cpu_only else (8, "fp32")
    if args.cpu_only:
        model = {"RN50": "tiny-rn", "ViT-B-32": "tiny-vit"}[model]
    command = [clipguard, "step-check", "--model", model, "--device", device, "--precision", precision,
               "--batch", str(batch), "--steps", "5", "--channels-last", "--json"]
    code, out, err = run(command, timeout=400)
    data = last_json(out)
    if data is None or "step_seconds_median" not in data:
        return "failed", reason(err, out), data
    ours = data["step_seconds_median"]
    theirs, note = torch_step_seconds(model, batch, precision)
    data = {"model": model, "batch": batch, "precision": precision, "clipguard_seconds": ours, "pytorch_seconds": theirs}
    if theirs is None:
        return "ok", f"{model} b{batch} {precision}: ClipGuard {ours:.3f} s/step; {note}", data
    data["ratio"] = ours / theirs
    return "ok", f"{model} b{batch} {precision}: ClipGuard {ours:.3f} s, PyTorch {theirs:.3f} s, ratio {ours / theirs:.2f}", data


step("time-RN50")(lambda: timing("RN50"))
step("time-ViT-B-32")(lambda: timing("ViT-B-32"))


@step("e2e")
def end_to_end():
    fm = os.path.join(home, "gpu-check", "fm")
    if not os.path.isfile(os.path.join(fm, "train.csv")):
        return "skipped", f"no prepared data in {fm} (the bundle was made without Fashion-MNIST)", None
    epochs = args.e2e_epochs or (1 if args.cpu_only else 10)
    poison, runs = os.path.join(work, "poison"), os.path.join(work, "run")
    code, out, err = run([clipguard, "poison", "--data", os.path.join(fm, "train.csv"), "--out", poison, "--target", "sneaker",
                          "--trigger", "patch", "--rate", "0.02", "--captions", "natural", "--image-size", "32"], timeout=200)
    if code != 0:
        return "failed", "poison: " + reason(err, out), None
    limit = ["--limit", "300"] if args.cpu_only else []
    code, out, err = run([clipguard, "train", "--data", os.path.join(poison, "train.csv"), "--model", "tiny-rn",
                          "--epochs", str(epochs), "--batch-size", "128", "--lr", "1e-3", "--device", device,
                          "--out", runs], timeout=400)
    if code != 0:
        return "failed", "train: " + reason(err, out), None
    code, out, err = run([clipguard, "eval", "--checkpoint", os.path.join(runs, "model.safetensors"), "--dataset",
                          os.path.join(fm, "eval"), "--trigger-from", os.path.join(poison, "manifest.json"),
                          "--device", device, "--json"] + limit, timeout=200)
    data = last_json(out)
    if code != 0 or data is None:
        return "failed", "eval: " + reason(err, out), None
    data["epochs"] = epochs
    return "ok", f"tiny-rn {epochs} epochs on {device}: clean top-1 {data.get('top1')}, ASR {data.get('asr')}", data


if only is not None and only - set(NAMES):
    parser.error(f"--only: unknown step(s) {', '.join(sorted(only - set(NAMES)))} (steps: {', '.join(NAMES)})")
for go in STEPS:
    go()

gpu = None
if shutil.which("nvidia-smi"):
    code, out, _ = run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"], timeout=30)
    gpu = out.strip() if code == 0 else None
summary = {
    "tool": "clipguard gpu-check",
    "bundle": os.path.basename(home),
    "mode": "cpu-only" if args.cpu_only else "cuda",
    "started": datetime.datetime.fromtimestamp(started, datetime.timezone.utc).isoformat(timespec="seconds"),
    "seconds": round(time.time() - started, 1),
    "host": socket.gethostname(),
    "cpu_cores": os.cpu_count(),
    "gpu": gpu,
    "python": args.python,
    "libtorch": info_facts.get("libtorch"),
    "counts": {s: sum(r["status"] == s for r in results) for s in ("ok", "failed", "skipped")},
    "steps": results,
}
out_path = args.out or f"gpu-check-{socket.gethostname()}-{time.strftime('%Y%m%d-%H%M%S')}.json"
with open(out_path, "w") as f:
    json.dump(summary, f, indent=2)
shutil.rmtree(work, ignore_errors=True)

print(f"\n{'step':<20} {'status':<8} {'s':>7}  detail")
for r in results:
    print(f"{r['name']:<20} {r['status']:<8} {r['seconds']:>7.1f}  {r['detail'][:110]}")
c = summary["counts"]
print(f"\n{c['ok']} ok, {c['failed']} failed, {c['skipped']} skipped in {summary['seconds']} s ({summary['mode']}); summary: {out_path}")
sys.exit(1 if c["failed"] else 0)
PYTHON

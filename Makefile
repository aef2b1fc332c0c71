# ClipGuard. `make demo` and `make test` set everything up first (see README.md).
SHELL := /bin/bash
SWIFT ?= swift
# libtorch's OpenMP threads sleep instead of spinning between parallel regions; on a 2-core
# machine spinning threads starve the data loader (see docs/reference/performance.md, "Threads").
export OMP_WAIT_POLICY ?= PASSIVE
# Whether `make setup` chose a CUDA libtorch whose GPU libraries are present. Passed to SwiftPM,
# which caches its evaluation of Package.swift and re-reads it only when an input it reads changes.
SWIFT_ENV = CLIPGUARD_CUDA=$$(test -f .deps/libtorch-gpu.stamp && echo 1 || echo 0)

.PHONY: setup build release test demo bench parity outcome fixtures reference-env tb-env clean bundle bundle-test
setup:
	@Scripts/setup.sh

build: setup
	$(SWIFT_ENV) $(SWIFT) build

release: setup
	$(SWIFT_ENV) $(SWIFT) build -c release

test: setup tb-env
	$(SWIFT_ENV) $(SWIFT) build --build-tests
	$(SWIFT_ENV) CLIPGUARD_SLOW_TESTS=1 $(SWIFT) test --skip-build

# The relocatable bundle dist/clipguard-VERSION-linux-x86_64.tar.xz: a release `clipguard` that
# loads the shim as libctorch.so, built on the target by the bundle's build-shim.sh against its
# torch (see docs/reference/bundle.md).
bundle: setup
	@Scripts/bundle.sh

# Unpacks the bundle into an empty folder and, without Swift or .deps (env -i), builds the shim
# against a fresh venv's torch and trains a tiny model; BUNDLE_TORCH_WHEEL picks the torch.
bundle-test: bundle
	@Scripts/bundle-test.sh

# The Python reference (PyTorch CPU + open_clip + PIL) used by fixtures, parity and benchmarks;
# never a run-time dependency.
reference-env:
	@Scripts/reference-env.sh

# The `tensorboard` Python package, with which the tests read ClipGuard's event files back
# (Scripts/read_tensorboard.py); never a run-time dependency. ~35 s the first time.
tb-env:
	@Scripts/tb-env.sh


# Features of random RN50 and ViT-B-32 through `clipguard embed` against open_clip's; then
# training: open_clip's own step and `clipguard train` for 22 steps of tiny-rn and tiny-vit from
# the same weights on the same batches (per-step |Δloss|, largest |Δw|; Scripts/train_parity.py).
parity: build reference-env
	.venv-ref/bin/python Scripts/parity.py
	.venv-ref/bin/python Scripts/train_parity.py

# Clean zero-shot top-1 and ASR of a backdoored tiny-rn trained by ClipGuard and by PyTorch/open_clip
# on the same poisoned data, 2 seeds each (docs/reference/outcome-agreement.md; settings from the
# environment, see the script). About 45 minutes on this loaded 2-core machine.
outcome: setup reference-env
	$(SWIFT_ENV) $(SWIFT) build -c release --product clipguard
	Scripts/outcome_agreement.sh

# Regenerates every committed test fixture from its seeded script.
fixtures: reference-env
	for s in Scripts/make_*_fixtures.py; do echo "== $$s"; .venv-ref/bin/python $$s || exit 1; done

# ClipGuard vs PyTorch side by side (see bench/README.md); ~20 minutes on 2 cores.
bench: setup reference-env
	$(SWIFT_ENV) $(SWIFT) build -c release --product clipguard-bench
	.venv-ref/bin/python bench/run_bench.py $(BENCH_ARGS)

clean:
	rm -rf .build

# The study at small scale (experiments/demo.yaml): data, poisoning, CLIP vs SafeCLIP vs CleanCLIP
# at 2% of 10,000 pairs over 3 seeds, report. Re-running continues a stopped demo and skips
# finished rows. Debug build (the image pipeline is compiled optimised in every build): measured 2026-12-04 on this
# 2-core machine, 7 min 25 s in a fresh clone after set-up and build.
DEMO_OUT ?= runs/demo
demo: setup
	$(SWIFT_ENV) $(SWIFT) build --product clipguard
	.build/debug/clipguard experiment run experiments/demo.yaml --out $(DEMO_OUT)

# ClipGuard. `make demo` and `make test` set everything up first (see README.md).
SHELL := /bin/bash
SWIFT ?= swift

.PHONY: setup build test demo bench fixtures clean
setup:
	@Scripts/setup.sh

build: setup
	$(SWIFT) build

test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

clean:
	rm -rf .build

# The small-scale study (experiments/demo.yaml): data, poisoning, CLIP vs SafeCLIP, report.
# Release build: training is several times faster than with a debug build's data pipeline.
# Re-running continues a stopped demo and skips finished rows. Measured 2026-11-29 on the shared
# 2-core machine (load 6-12): 28:52 for the four rows (CLIP 4 min, SafeCLIP 8-12 min each) plus
# the release build (11 min under load from a partly warm .build; a debug build took 5 min).
DEMO_OUT ?= runs/demo
demo: setup
	$(SWIFT) build -c release --product clipguard
	.build/release/clipguard experiment run experiments/demo.yaml --out $(DEMO_OUT)

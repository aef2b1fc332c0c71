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

# The Python reference environment (PyTorch CPU + open_clip) that `make bench` compares against;
# never a run-time dependency of ClipGuard.
.venv-ref/stamp: Scripts/reference-env.sh
	@Scripts/reference-env.sh

# ClipGuard vs PyTorch side by side (see bench/README.md); ~20 minutes on 2 cores.
bench: setup .venv-ref/stamp
	$(SWIFT) build -c release --product clipguard-bench
	.venv-ref/bin/python bench/run_bench.py $(BENCH_ARGS)

clean:
	rm -rf .build

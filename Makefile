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

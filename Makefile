# tidal: two commands on a fresh machine — `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv system dashboard-assets demo test lint format clean llm demo-llm kserve-venv bench bench-router bench-coldstart

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

# Debian packages the tests and demo use (hey, nginx, prometheus); installed only when missing.
system:
	@bash scripts/install-system.sh

# ruff, and the layers of docs/ARCHITECTURE.md as import contracts (.importlinter).
lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

format: venv
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

test: venv system llm lint dashboard-assets
	$(BIN)/python -m pytest

demo: venv system dashboard-assets
	@bash examples/demo.sh

# The dashboard's chart library (uPlot, pinned) from npm into build/dashboard-assets/ (ignored);
# a no-op when installed. The plane serves it from there: no CDN at run time.
dashboard-assets: system
	@bash scripts/install-dashboard-assets.sh

# The CPU LLM engine (llama-cpp-python, compiled once per machine with portable AVX2 flags into
# ~/.cache/tidal/wheels) and the demo model; a no-op when both are installed. `make demo` skips it.
llm: venv
	@bash scripts/install-llm.sh

# The seed's LLM journey on the local plane: serve qwen, curl it through the router, load it with hey.
demo-llm: venv system llm
	@bash examples/llm/demo.sh

# KServe 0.21 (+ the same scikit-learn) in its own venv: the peer of benchmarks/predict and the
# kserve SDK client of tests/runtimes/test_kserve_sdk.py. About a minute on a fresh machine.
KSERVE_VENV := .venv-kserve
kserve-venv: $(KSERVE_VENV)/.installed

$(KSERVE_VENV)/.installed:
	@test -x $(KSERVE_VENV)/bin/python || $(PY) -m venv $(KSERVE_VENV)
	$(KSERVE_VENV)/bin/pip install -q kserve==0.21.0 scikit-learn==1.9.1 joblib==1.6.0
	@touch $@

# Every benchmark, one after the other, then the README's speed table generated from the results
# (benchmarks/all, scripts/readme_speed.py): about 60 min on a 2-core machine (more when it is
# busy); `make bench QUICK=1`, the shortest settings that still make sense: about 20 min;
# `BENCH="router coldstart"` runs only those. Not part of `make test`.
bench: venv system llm kserve-venv dashboard-assets
	@bash benchmarks/all $(if $(QUICK),--quick) $(BENCH)

# Router throughput (direct vs router vs nginx, hey -c 20 30 s) and pod cold start (median of 20).
bench-router: venv system
	$(BIN)/python benchmarks/router/run.py

bench-coldstart: venv
	$(BIN)/python benchmarks/coldstart/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

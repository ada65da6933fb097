# Fresh-machine entry points. `make demo` runs the pipeline on the embedded log;
# `make test` installs everything the tests need (Python deps, Kafka jars, kinesis-local) and runs them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: help setup dev-servers demo test lint typecheck check bench clean

help:
	@echo "make demo   - set up and run the whole pipeline on the embedded local log"
	@echo "make test   - set up and run lint, type checks and the full test suite"
	@echo "make bench  - run the benchmarks under bench/"

$(BIN)/streamjury: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

setup: $(BIN)/streamjury

dev-servers: setup
	$(BIN)/streamjury dev kafka install
	$(BIN)/streamjury dev kinesis install

demo: setup
	$(BIN)/streamjury demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

test: setup dev-servers lint typecheck
	$(BIN)/python -m pytest

# Benchmarks get their own venv: quixstreams (the comparison pipeline) pins an older
# confluent-kafka than the one the project and its tests run on.
BENCH := .venv-bench/bin

$(BENCH)/python: pyproject.toml
	$(PYTHON) -m venv .venv-bench
	$(BENCH)/pip install -q --upgrade pip
	$(BENCH)/pip install -q -e '.[dev,bench]'
	@touch $@

bench: $(BENCH)/python
	$(BENCH)/python bench/consumer_throughput.py

clean:
	rm -rf $(VENV) .venv-bench .streamjury .pytest_cache .mypy_cache .ruff_cache

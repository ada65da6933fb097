# Fresh-machine entry points. `make demo` runs the pipeline on the embedded log;
# `make test` installs everything the tests need (Python deps, Kafka jars, kinesis-local) and runs them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: help setup dev-servers demo test lint typecheck check bench bench-smoke bench-consumer clean \
	container-tools container-base test-containers

help:
	@echo "make demo   - set up and run the whole pipeline on the embedded local log"
	@echo "make test   - set up and run lint, type checks and the full test suite"
	@echo "make bench  - run the benchmark suite (bench/), results in docs/benchmarks.md"
	@echo "make test-containers - build the images with podman and run them (tests/containers/)"

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
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

# Everything, the container tier included (it needs the tools container-tools installs).
test: setup dev-servers container-tools lint typecheck
	$(BIN)/python -m pytest

# The container tier: podman builds and runs the service and Lambda images. No Docker engine
# and no image registry are needed: the base image is made from Debian packages.
CONTAINER_PACKAGES := podman buildah runc debootstrap
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export CONTAINERS_CONF := $(CURDIR)/tests/containers/containers.conf

container-tools:
	@command -v podman >/dev/null && command -v debootstrap >/dev/null || { \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(CONTAINER_PACKAGES); }

container-base: setup container-tools
	$(BIN)/python -m tests.containers.base_image

test-containers: setup dev-servers container-base
	$(BIN)/python -m pytest tests/containers

# Benchmarks get their own venv: quixstreams (the comparison pipeline) pins an older
# confluent-kafka than the one the project and its tests run on.
BENCH := .venv-bench/bin

$(BENCH)/python: pyproject.toml
	$(PYTHON) -m venv .venv-bench
	$(BENCH)/pip install -q --upgrade pip
	$(BENCH)/pip install -q -e '.[dev,bench]'
	@touch $@

# `make bench`: the whole suite on the project's own Kafka broker (~15 min), written to
# docs/benchmarks.md (+ plots, raw JSON, py-spy flame graphs in docs/profiles/).
bench: $(BENCH)/python
	$(BENCH)/python -m bench --json docs/benchmarks.json --report docs/benchmarks.md

bench-smoke: $(BENCH)/python
	$(BENCH)/python -m bench --size smoke

bench-consumer: $(BENCH)/python
	$(BENCH)/python bench/consumer_throughput.py

clean:
	rm -rf $(VENV) .venv-bench .streamjury .pytest_cache .mypy_cache .ruff_cache

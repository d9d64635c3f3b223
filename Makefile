# COOL-CHIC: codec, bench and reports. `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= ../shared

# Bench / report variables (override on the command line).
# PRESET=auto: fast on CPUs, paper on CUDA GPUs; DEVICES=auto: every CUDA GPU, else the CPU;
# WORKERS empty: one worker per core (one torch thread each) on CPU.
PRESET ?= auto
LAMBDAS ?= 0.0001,0.0005,0.004,0.02
IMAGES ?=
WORKERS ?=
DATA_DIR ?=
OUT ?= results/kodak
RESULTS ?= $(OUT)
DEVICES ?= auto
CODEC ?= coolchic

.DEFAULT_GOAL := help
.PHONY: help install test test-all lint docs build-kernels bench-decode bench-encode kodak kodak-dry-run report clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

install: ## Create .venv, install torch==2.13.0 (CPU) then the project with dev extras
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	# CPU torch first, so that the project's `torch>=2.3` is already met and no CUDA build is pulled.
	# GPU users: install your CUDA build of torch into .venv first, then run `make install TORCH_SPEC=`.
	$(if $(TORCH_SPEC),$(BIN)/pip install "$(TORCH_SPEC)",)
	$(BIN)/pip install -e '.[dev,codecs]'

TORCH_SPEC ?= torch==2.13.0

test: ## Fast test suite (under 10 minutes on 2 cores)
	$(BIN)/python -m pytest -q -m "not slow" --timeout=900

test-all: ## Every test, including all 96 reference bitstreams
	$(BIN)/python -m pytest -q --timeout=3600

lint: ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

docs: ## Regenerate docs/cli.md from the command-line parsers
	$(BIN)/python -m coolchic_cli.reference > docs/cli.md.tmp && mv docs/cli.md.tmp docs/cli.md

build-kernels: ## Build the fused C++ training kernels now (else at first use, about 30 s)
	$(BIN)/python -c "from coolchic_core.model import fused; fused.load(required=True)"

bench-decode: ## Median decode time per Kodak image (reference bitstreams)
	$(BIN)/python -m bench.decode_speed --bitstreams $(SHARED)/reference/coolchic-v1/bitstreams

bench-encode: ## Median ms per training iteration at 768x512 (paper architecture)
	$(BIN)/python -m bench.encode_speed --image $(SHARED)/datasets/kodak/kodim01.png

KODAK_BENCH = $(BIN)/coolchic bench --dataset kodak --preset $(PRESET) --lambdas $(LAMBDAS) \
	$(if $(IMAGES),--images $(IMAGES),) $(if $(WORKERS),--workers $(WORKERS),) --devices $(DEVICES) \
	$(if $(DATA_DIR),--data-dir $(DATA_DIR),) --out $(OUT)

kodak: ## Encode Kodak (PRESET, LAMBDAS, IMAGES, WORKERS, DEVICES, DATA_DIR, OUT), then the report
	$(KODAK_BENCH)
	$(BIN)/coolchic report --results $(OUT) --anchors hm,bmshj2018-hyperprior,vtm,coolchic-v1

kodak-dry-run: ## What `make kodak` would run and skip, with estimated times; writes nothing
	$(KODAK_BENCH) --dry-run

report: ## Write bd_rate.tsv, rd_curve.png/svg and report.md for RESULTS=DIR
	$(BIN)/coolchic report --results $(RESULTS) --anchors hm,bmshj2018-hyperprior,vtm,coolchic-v1

clean: ## Remove caches (keeps .venv and results)
	rm -rf .pytest_cache .ruff_cache .hypothesis build dist *.egg-info

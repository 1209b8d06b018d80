# The two commands a new machine needs: `make quickstart` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: quickstart test test-fast lint bench-server bench-trainer bench-search clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

quickstart: $(STAMP)
	$(BIN)/hpsearch quickstart

test: lint
	$(BIN)/python -m pytest

# the in-process tests: no server, worker or browser processes, no PostgreSQL; one pytest
# process per core
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n auto -m "not slow and not browser and not postgres"

lint: $(STAMP)
	$(BIN)/ruff check app worker hpsearch examples tests benchmarks migrations
	$(BIN)/lint-imports
	$(BIN)/mypy

bench-server: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_server.py

bench-trainer: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_trainer.py

bench-search: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_search.py

clean:
	rm -rf $(VENV) .hpsearch .pytest_cache .ruff_cache test-artifacts

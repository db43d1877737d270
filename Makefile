# ketaclinic: `make run` serves the demo clinic, `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-fast lint format bench install browser pdf-libs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/ketaclinic db upgrade
	$(BIN)/ketaclinic demo
	$(BIN)/ketaclinic serve --host $(HOST) --port $(PORT)

browser:
	bash scripts/install-chromium.sh

pdf-libs:
	bash scripts/install-pdf-libs.sh

# One test worker per CPU (pytest-xdist); each worker has its own SQLite files and PostgreSQL schema.
TEST_WORKERS ?= auto

test: $(STAMP) browser pdf-libs
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist load

test-fast: $(STAMP) pdf-libs
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist load -m "not browser"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/mypy benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: $(STAMP)
	bash benchmarks/run.sh

clean:
	rm -rf $(VENV) .venv-bench var .pytest_cache .mypy_cache .ruff_cache

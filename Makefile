# One task runner for developers and CI.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help demo test lint typecheck unit bench clean focus-validator

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## set up, simulate 30 days of a product on the embedded ledger, print the report
	$(BIN)/costtrail demo --ledger costtrail.duckdb --fresh

lint: $(STAMP)  ## ruff (lint + format check) and the import contract
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)  ## mypy --strict on the package
	$(BIN)/mypy src/costtrail

focus-validator: $(STAMP)  ## the FinOps Foundation's focus-validator in its own venv (.venv-focus/)
	$(BIN)/python tests/finance/finance_focus_venv.py

unit: $(STAMP) focus-validator  ## the whole test suite
	$(BIN)/python -m pytest -q -p no:cacheprovider

test: lint typecheck unit  ## lint, type checks and the whole suite

bench: $(STAMP)  ## measure and rewrite bench/RESULTS.md (not part of make test)
	$(BIN)/python -m bench.record

clean:  ## remove the venv and local ledgers
	rm -rf $(VENV) .venv-focus costtrail.duckdb costtrail.duckdb.wal

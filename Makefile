# Two commands matter: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test

.PHONY: run test lint typecheck contracts pytest bench bench-clickhouse clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# METERLY_DATABASE_URL=postgresql://... make run  serves another database; METERLY_FROZEN_TIME works too.
run: $(STAMP)
	$(BIN)/meterly quickstart --database-url "$${METERLY_DATABASE_URL:-sqlite:///var/meterly.db}" --port 3000

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

# The domain's branch coverage is that of its own unit tests and properties (tests/unit),
# run under the coverage tracer; the rest of the suite runs without it (the tracer, called
# on every function call, made the whole suite 40 % slower). PYTEST_ARGS: what to run.
pytest: $(STAMP)
ifeq ($(strip $(PYTEST_ARGS)),)
	$(BIN)/pytest -n 2 --cov=meterly.domain --cov-branch --cov-report= tests/unit
	$(BIN)/pytest -n 2 --ignore=tests/unit tests
else
	$(BIN)/pytest -n 2 --cov=meterly.domain --cov-branch --cov-report= $(PYTEST_ARGS)
endif
	@echo "== Branch coverage of the domain (tests/unit) =="
	$(BIN)/coverage report --include='*/meterly/domain/*'

test: lint typecheck contracts pytest

bench: $(STAMP)
	$(BIN)/python -m bench $(if $(QUICK),--quick,)
	$(BIN)/python -m bench.clickhouse $(if $(QUICK),--quick,)
	$(BIN)/python -m bench.clickhouse_billing $(if $(QUICK),--quick,)

# The ClickHouse event store on chdb alone, then a billing run with its events there
# (QUICK=1: 1M events instead of 10M).
bench-clickhouse: $(STAMP)
	$(BIN)/python -m bench.clickhouse $(if $(QUICK),--quick,)
	$(BIN)/python -m bench.clickhouse_billing $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache

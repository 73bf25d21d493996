# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make run PORT=8081` (and LEGACY_PORT, CLOUD_PORT) when the default ports are taken.
PORT ?= 8080
LEGACY_PORT ?= 9101
CLOUD_PORT ?= 9102

.PHONY: install run test lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/gateway demo --port $(PORT) --legacy-port $(LEGACY_PORT) --cloud-port $(CLOUD_PORT)

test: install
	$(BIN)/python -m tests.redis_server $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check gateway erp_simulators tests bench
	$(BIN)/ruff format --check gateway erp_simulators tests bench
	$(BIN)/mypy gateway erp_simulators
	$(BIN)/lint-imports --no-logo

bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

format: install
	$(BIN)/ruff format gateway erp_simulators tests bench
	$(BIN)/ruff check --fix gateway erp_simulators tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

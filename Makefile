# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make run PORT=8081` (and LEGACY_PORT, CLOUD_PORT) when the default ports are taken.
PORT ?= 8080
LEGACY_PORT ?= 9101
CLOUD_PORT ?= 9102
# `make test TEST_WORKERS=0` runs the suite in one process (pytest-xdist's workers otherwise:
# most of the suite's time is waiting for servers, ERPs and timeouts, not computing).
TEST_WORKERS ?= 2
# Every dependency's version, locked: `make install`, CI and the image's wheelhouse use it.
CONSTRAINTS := constraints.txt
LOCK_VENV := .lock-venv
LINTED := gateway erp_simulators tests bench deploy

.PHONY: install run test lint format bench bench-shadow lock wheelhouse image image-test clean

install: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/gateway demo --port $(PORT) --legacy-port $(LEGACY_PORT) --cloud-port $(CLOUD_PORT)

test: install
	$(BIN)/python -m tests.redis_server $(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy gateway erp_simulators
	$(BIN)/mypy deploy/wheelhouse.py deploy/run_image_test.py
	$(BIN)/lint-imports --no-logo

bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-shadow: install
	$(BIN)/python -m bench.shadow_cost $(SHADOW_ARGS)

format: install
	$(BIN)/ruff format $(LINTED)
	$(BIN)/ruff check --fix $(LINTED)

# Re-lock: the newest versions pyproject.toml allows, installed into a fresh venv, frozen.
# async-timeout is installed explicitly: redis needs it on Python < 3.11.3 (Debian bookworm's
# 3.11.2, the image's local base), which a newer Python here would not pull in.
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/pip install --quiet '.[dev]' async-timeout
	{ sed -n '/^#/p' $(CONSTRAINTS); \
	  $(LOCK_VENV)/bin/pip freeze --exclude erp-coexistence-gateway; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf $(LOCK_VENV)

# The project and its runtime dependencies as wheels for the image (wheelhouse/), from the lock.
wheelhouse: install
	$(BIN)/python deploy/wheelhouse.py $(WHEELHOUSE_ARGS)

# The container image (erp-coexistence-gateway:local); the engine and the base as image-test.
image: install
	$(BIN)/python deploy/run_image_test.py --build-only $(IMAGE_TEST_ARGS)

# Build the image and run it: Redis, both simulators, /readyz, an order, a SIGTERM drain.
image-test: install
	$(BIN)/python deploy/run_image_test.py $(IMAGE_TEST_ARGS)

clean:
	rm -rf $(VENV) $(LOCK_VENV) wheelhouse build .pytest_cache .mypy_cache .ruff_cache

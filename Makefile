# polyad: `make run` starts the agent, `make test` installs what the tests need and runs them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: install dev run test lint services bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

dev: $(VENV)/.dev-installed

$(VENV)/.dev-installed: $(VENV)/.installed pyproject.toml examples/polyad-vision/pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet -e examples/polyad-vision  # the plugin the tests load
	touch $@

run: install
	$(BIN)/polyad serve --print-admin-token $(ARGS)

services:
	scripts/test-services.sh

lint: dev
	$(BIN)/ruff check polyad tests bench examples
	$(BIN)/mypy

# pytest exits 5 when it collected no test; that is not a failure of the suite.
test: dev services lint
	$(BIN)/pytest || [ $$? -eq 5 ]

# Throughput ratios measured in one run (this machine is shared and noisy).
bench: dev
	$(BIN)/python -m bench.status_throughput
	$(BIN)/python -m bench.tasks_throughput
	$(BIN)/python -m bench.cache_throughput

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info

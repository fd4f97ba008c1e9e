# Two entry points: `make demo` runs the app on the embedded default model, `make test` runs the tests.
# Each builds its own virtual environment from the pinned requirements, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench clean-venv

$(VENV)/.app-installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --ignore-requires-python opa-golib-python-bindings==0.4.4
	touch $@

$(VENV)/.test-installed: $(VENV)/.app-installed requirements-test.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-test.txt
	bash scripts/ensure_browser.sh
	touch $@

demo: $(VENV)/.app-installed
	$(PY) app.py

test: $(VENV)/.test-installed
	$(PY) -m pytest -n 2 --dist loadgroup --no-loadscope-reorder

bench: $(VENV)/.test-installed
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)

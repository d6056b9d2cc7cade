# Two commands on a fresh machine: `make run` starts the service, `make test` runs every test
# (as root on Debian it also brings up the real Znuny the end-to-end tests need, see tests/e2e).
# Both create the virtual environment (.venv) first; nothing else needs installing by hand.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/gunicorn -c gunicorn.conf.py 'app:create_app()'

# The quality gate first: lint (ruff), types (mypy), layering (import-linter, .importlinter); then every test.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check bouncer filters app.py gunicorn.conf.py
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint
	scripts/ensure-chromium
	scripts/ensure-znuny
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) bench/classify.py
	$(PY) bench/webhook.py
	$(PY) bench/pages.py
	$(PY) bench/sweep.py

clean:
	rm -rf $(VENV) .pytest_cache

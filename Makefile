# Kite Desk: `make run` (app + sandbox), `make serve` (production), `make test` (the whole suite), `make bench`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: run serve test bench lint clean

# `make serve`: the production web app. Settings from the environment or .env (DEBUG off); gthread
# workers as bench/run.py measures them. It stops at the first step the configuration fails.
BIND    ?= 127.0.0.1:8000
WORKERS ?= 2
THREADS ?= 4

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e ".[test]"
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	@$(BIN)/python -m config.envfile
	@DEBUG=on $(BIN)/python manage.py migrate --noinput -v 0
	@DEBUG=on KITE_SANDBOX_MARKET_ALWAYS_OPEN=on PYTHON=$(BIN)/python bash bin/run-dev.sh

serve: $(VENV)/.installed-run
	$(BIN)/python manage.py collectstatic --noinput -v 0
	$(BIN)/python manage.py migrate --noinput
	exec $(BIN)/python -m gunicorn config.wsgi:application --bind $(BIND) --worker-class gthread \
		--workers $(WORKERS) --threads $(THREADS) --keep-alive 30

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run.py

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) *.egg-info test-db.sqlite3*

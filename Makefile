# Kite Desk: `make run` (app + sandbox), `make serve` (production), `make test` (the whole suite), `make bench`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: run serve test bench lint clean

# `make serve`: the production web app. Settings from the environment or .env (DEBUG off); gunicorn with
# uvicorn workers serving config.asgi (config/gunicorn_conf.py), WORKERS processes on BIND (default: 2 with
# REDIS_URL, 1 without; more than one needs REDIS_URL). It stops at the first step the configuration fails.
BIND    ?= 127.0.0.1:8000
WORKERS ?=

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e ".[test]"
	@touch $@ $(VENV)/.installed-run

# `make run [SANDBOX_PORT=8765] [APP_PORT=8000]`: the sandbox and the app on 127.0.0.1 (bin/run-dev.sh).
SANDBOX_PORT ?= 8765
APP_PORT     ?= 8000
run: $(VENV)/.installed-run
	@$(BIN)/python -m config.envfile
	@DEBUG=on $(BIN)/python manage.py migrate --noinput -v 0
	@DEBUG=on KITE_SANDBOX_MARKET_ALWAYS_OPEN=on SANDBOX_PORT='$(SANDBOX_PORT)' APP_PORT='$(APP_PORT)' \
		PYTHON=$(BIN)/python bash bin/run-dev.sh

serve: $(VENV)/.installed-run
	$(BIN)/python manage.py collectstatic --noinput -v 0
	$(BIN)/python manage.py migrate --noinput
	BIND=$(BIND) WORKERS=$(WORKERS) exec $(BIN)/python -m gunicorn -c config/gunicorn_conf.py config.asgi:application

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run.py

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) *.egg-info test-db.sqlite3*

# Kite Desk: `make run` (app + sandbox), `make test` (the whole suite), `make bench`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: run test bench lint clean

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

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run.py

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) *.egg-info test-db.sqlite3*

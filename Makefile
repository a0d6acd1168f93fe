# Two entry points from a fresh clone: `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install run test lint openapi calendar

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# compile the inference kernel now, so the first `serve` does not; the
	# server falls back to torch's operator when it cannot be built
	-$(BIN)/python -m models.nn.infer_kernel
	touch $@

install: $(VENV)/.installed

# train the default LSTM on the bundled NFLX data, then serve on 127.0.0.1:8000
run: install
	$(BIN)/rnn-forecast train --serve

# two test processes; the Celery tests run together in one of them
test: install
	$(BIN)/python -m pytest -n 2

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# rewrite openapi.json from the app; commit it with every change to the API
openapi: install
	$(BIN)/python scripts/export_openapi.py

# rewrite models/xnys_sessions.txt from exchange-calendars after upgrading it
calendar: install
	$(BIN)/python scripts/export_calendar.py

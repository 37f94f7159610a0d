# The two commands: `make run` (the demo on SQLite) and `make test` (lint + the whole suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(PY) bin/rundemo.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The scale-out configuration: the BFF's own tests again on PostgreSQL + Redis.
SCALEOUT_ENV := DATABASE_URL=postgres://postgres@127.0.0.1:5432/bff \
	CACHE_URL=redis://127.0.0.1:6379/14 BFF_LOCK_BACKEND=bff.locks.redis.RedisLock

test: $(STAMP) lint
	$(PY) bin/ensure_test_services.py
	npm ci --prefix tests/support/node_op --no-audit --no-fund --loglevel=error
	$(VENV)/bin/pytest
	$(SCALEOUT_ENV) $(VENV)/bin/pytest tests/accounts tests/bff tests/test_end_to_end.py -m "not browser" -p no:cacheprovider

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) bin/ensure_test_services.py --bench
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) var/*.sqlite3

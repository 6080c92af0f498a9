# Support OS — the two commands are `make run` and `make test`.
# Needs only Python 3.11 and make; everything else is installed into .venv from pyproject.toml.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(VENV)/bin
# python3.11 if present, else python3 (which must then be a 3.11)
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
# re-install only when pyproject.toml is newer than this stamp
STAMP := $(VENV)/.supportos-installed

.PHONY: help venv run test lint fmt clean bench-screening bench-bundle bench-deps bench-resolve bench-hot-account bench-outbox-drain \
	bench bench-partner-read bench-console-list bench-sqlite bench-scale

help:
	@echo "make run    create .venv, install, start the service on http://127.0.0.1:8000 (SUPPORTOS_HOST/SUPPORTOS_PORT)"
	@echo "make test   create .venv, install, then ruff, ruff format --check, mypy --strict, lint-imports, pytest"
	@echo "make lint   static checks only (no pytest)"
	@echo "make fmt    format and auto-fix with ruff"
	@echo "make bench-screening  recall and false-positive rate of message screening on its corpus"
	@echo "make bench-bundle     peak memory inspecting a ~1 GB diagnostics bundle vs a 10 MB one"
	@echo "make bench-resolve    disputeResolve over HTTP vs pgbench -f with the same SQL (PostgreSQL)"
	@echo "make bench-hot-account  resolve + saga with every posting on one set of accounts vs spread"
	@echo "make bench-outbox-drain workers draining 20,000 no-op jobs vs a raw SKIP LOCKED loop and procrastinate"
	@echo "make bench-partner-read   disputeState over GraphQL (API key) vs a bare Starlette+asyncpg route"
	@echo "make bench-console-list   disputes page of 50 with nested relations vs raw asyncpg; statements per request"
	@echo "make bench-sqlite         partner-read and resolve on the embedded SQLite vs raw sqlite3 (same statements)"
	@echo "make bench-scale          disputes, cases and the SLA scheduler tick at 1M orders vs 10k (PostgreSQL)"
	@echo "make bench        every timing benchmark above, one after the other"
	@echo "make clean  remove .venv and caches (keeps var/, the local database)"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "error: python3.11 (or python3) not found on PATH" >&2; exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
		|| { echo "error: $(PYTHON) is not Python 3.11; install python3.11 or run: make PYTHON=/path/to/python3.11 ..." >&2; exit 1; }
	@if [ ! -x "$(BIN)/python" ]; then \
		echo "creating $(VENV) with $(PYTHON)"; \
		$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
			echo "error: could not create $(VENV) (on Debian/Ubuntu: apt install python3.11-venv)" >&2; exit 1; }; \
	fi
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: venv
	$(BIN)/supportos migrate
	$(BIN)/supportos seed-demo
	$(BIN)/supportos serve

test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench-screening: venv
	$(BIN)/python -m bench.screening

bench-bundle: venv
	$(BIN)/python -m bench.bundle_memory

# the bench extra (procrastinate, pyinstrument): installed for the benchmarks only, never by `make test`
BENCH_STAMP := $(VENV)/.supportos-bench-installed

bench-deps: $(BENCH_STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

bench-resolve: bench-deps
	$(BIN)/python -m bench.resolve

bench-hot-account: bench-deps
	$(BIN)/python -m bench.hot_account

bench-outbox-drain: bench-deps
	$(BIN)/python -m bench.outbox_drain

bench-partner-read: bench-deps
	$(BIN)/python -m bench.partner_read

bench-console-list: bench-deps
	$(BIN)/python -m bench.console_list

bench-sqlite: bench-deps
	$(BIN)/python -m bench.sqlite_bench

bench-scale: bench-deps
	$(BIN)/python -m bench.scale

# every timing benchmark; -k (keep going) so that one missed target does not hide the others
bench: bench-deps
	$(MAKE) -k bench-partner-read bench-console-list bench-sqlite bench-resolve bench-hot-account bench-outbox-drain bench-scale

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .import_linter_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Two commands do all set-up on a fresh machine:
#   make run   - virtualenv, install, migrate, serve the API on ./var/mailtrail.db
#   make test  - system packages (PostgreSQL, Dovecot, Chromium for the console's pages), test extras, lint (ruff, mypy), the whole suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run demo lint test system-deps bench bench-api wrk bench-api-build bench-api-scale bench-compare-import clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	# caldav's HTTP client (niquests) brings urllib3-future, whose wheel replaces urllib3 in place
	# (a .pth file) and breaks requests; built from source with this variable, it stays apart.
	URLLIB3_NO_OVERRIDE=1 $(BIN)/pip install --quiet --no-binary urllib3-future -e ".[test]"
	touch $@

run: $(VENV)/.installed
	$(BIN)/mailtrail serve --host $(HOST) --port $(PORT)

demo: $(VENV)/.installed
	$(BIN)/mailtrail demo

system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || missing="$$missing dovecot-imapd"; \
	command -v mbsync >/dev/null 2>&1 || missing="$$missing isync"; \
	command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium chromium-driver"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "missing Debian packages:$$missing (run: sudo apt-get install$$missing)"; exit 1; \
		fi; \
	fi

# Static checks (configured in pyproject.toml): ruff's lint and format check over the tree, mypy
# on the layers that hold the rules. `make test` (and so CI) runs them before the tests.
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy domain application projections

test: lint system-deps $(VENV)/.installed
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(BIN)/python bench/bench_import.py

# API read throughput with wrk (Debian package `wrk`, installed here when missing);
# e.g. make bench-api BENCH_API_ARGS="--sizes 20000 --keep var/bench"
BENCH_API_ARGS ?=
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
		else echo "missing Debian package: wrk (run: sudo apt-get install wrk)"; exit 1; fi; }

bench-api: system-deps wrk $(VENV)/.installed
	$(BIN)/python bench/bench_api.py $(BENCH_API_ARGS)

# Issue 12's scale run: stores of 20,000, 200,000 and 1,000,000 messages kept in BENCH_STORES
# (built once by bench-api-build; a kept store's views are rebuilt from its events when the
# migration head changed), both backends, 8 and 32 connections; figures in bench/out/api.json.
BENCH_STORES ?= var/bench
BENCH_SIZES ?= 20000,200000,1000000
BENCH_BACKENDS ?= sqlite,postgresql
bench-api-build: system-deps $(VENV)/.installed
	$(BIN)/python bench/bench_api.py --build-only --store $(BENCH_STORES) --sizes $(BENCH_SIZES) --backends $(BENCH_BACKENDS)

bench-api-scale: system-deps wrk $(VENV)/.installed
	$(BIN)/python bench/bench_api.py --store $(BENCH_STORES) --sizes $(BENCH_SIZES) --backends $(BENCH_BACKENDS) $(BENCH_API_ARGS)

# Import and replay rates of BASELINE beside the working tree, interleaved (e.g. BASELINE=4f2cc75)
BASELINE ?= HEAD
bench-compare-import: $(VENV)/.installed
	$(BIN)/python bench/compare_import.py --baseline $(BASELINE) $(BENCH_COMPARE_ARGS)

clean:
	rm -rf $(VENV) var

# The two commands: `make run` starts z0, `make test` runs the whole suite (`make bench`: the benchmarks).
# Both create .venv and install what they need on a machine with only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
WRANGLER_VERSION := 4.80.0
WRANGLER := .cache/wrangler/node_modules/.bin/wrangler
PROMTOOL := .cache/prometheus/promtool
LINT_PATHS := src tests $(wildcard bench)

.PHONY: run test lint format bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "z0 needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@ $(VENV)/.installed-run

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@touch $@ $(VENV)/.installed-test $(VENV)/.installed-run

# wrangler is a test tool (tenants deploy with it); the test that needs it says why it skips without npm.
$(WRANGLER):
	@if command -v npm >/dev/null 2>&1; then \
		npm install --silent --no-audit --no-fund --prefix .cache/wrangler wrangler@$(WRANGLER_VERSION) \
		|| echo "wrangler $(WRANGLER_VERSION) could not be installed; its test will skip"; \
	else echo "npm not found: the wrangler test will skip"; fi

# promtool checks deploy/prometheus/alerts.yml (tests/observe/test_alerts.py). Where it is not on PATH it
# is taken out of Debian's prometheus package without installing that package: no prometheus user, no
# service started or enabled, nothing outside .cache (apt-get download needs no root). Where that
# fails, the test says why it skips.
$(PROMTOOL):
	@if command -v promtool >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then \
		rm -rf .cache/prometheus && mkdir -p .cache/prometheus && \
		(cd .cache/prometheus && apt-get download -q -o APT::Sandbox::User=root prometheus \
		 && dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x --strip-components=3 ./usr/bin/promtool \
		 && rm prometheus_*.deb && ./promtool --version | head -1) \
		|| echo "promtool could not be taken from Debian's prometheus package (try apt-get update); its test will skip"; \
	else echo "apt-get not found: install promtool (Prometheus) for the alert rules' test, or it will skip"; fi

run: $(VENV)/.installed-run
	$(BIN)/z0 serve $(ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

test: lint $(WRANGLER) $(PROMTOOL)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Every benchmark, rewriting BENCHMARKS.md and bench/plots/ (runtime, metering and peers: about 6 minutes
# on 2 cores; bench/all.py says what each took). wrk is the HTTP client: installed with apt-get where it is missing (as root); bench/peers_bench.py installs its
# pinned workerd with npm into bench/.workerd (git-ignored).
bench: $(VENV)/.installed-bench
	@if ! command -v wrk >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get install -y -q wrk || (apt-get update -q && apt-get install -y -q wrk); \
		else echo "make bench needs wrk: install it (Debian/Ubuntu: sudo apt-get install wrk), or run make bench as root" >&2; exit 1; fi; \
	fi
	$(BIN)/python bench/all.py --write

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache z0-data bench/.workerd

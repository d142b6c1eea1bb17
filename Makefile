# 直营工作台 — the two commands that matter are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

DEMO_CUSTOMERS ?= 20000
DEMO_OPERATORS ?= 60
DEMO_ENV := var/demo.env
# Loads the demo's generated settings (secrets, sandbox address) into the recipe's shell.
WITH_DEMO_ENV := set -a && . ./$(DEMO_ENV) && set +a &&

.PHONY: install install-dev demo demo-reset test lint format bench chaos services chromium messages clean

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

## demo: install, build the demo bank (first run only) and run every process; Ctrl-C stops them all.
demo: $(VENV)/.runtime
	$(PY) deploy/write_demo_env.py $(DEMO_ENV)
	$(WITH_DEMO_ENV) $(PY) manage.py migrate --noinput -v0
	$(WITH_DEMO_ENV) $(PY) manage.py collectstatic --noinput -v0
	@if [ ! -f var/demo-seeded ]; then \
		$(WITH_DEMO_ENV) $(PY) manage.py seed_demo --customers $(DEMO_CUSTOMERS) --operators $(DEMO_OPERATORS) && touch var/demo-seeded; \
	fi
	@$(PY) deploy/demo_banner.py
	$(WITH_DEMO_ENV) WEB_PORT=$${PORT:-8000} honcho --procfile deploy/Procfile --app-root . start --port $${PORT:-8000}

## demo-reset: forget the demo bank so that the next `make demo` builds it again.
demo-reset:
	rm -rf var/workbench.sqlite3* var/demo-seeded var/broker var/exports var/celerybeat-schedule* var/wecom-sandbox.sqlite3*

## test: the whole suite against PostgreSQL and Redis on 127.0.0.1, lint and the migration check included.
test: $(VENV)/.dev services chromium
	ruff check .
	ruff format --check .
	DJANGO_SETTINGS_MODULE=tests.settings DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres $(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest -p no:cacheprovider -n 2 --dist loadfile -q

lint: $(VENV)/.dev
	ruff check .
	ruff format --check .

format: $(VENV)/.dev
	ruff check --fix .
	ruff format .

## bench: the benchmarks at 1M customers against DATABASE_URL (default: a workbench_bench database on 127.0.0.1).
bench: $(VENV)/.dev services
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/workbench_bench} $(PY) -m bench foundation --customers 1000000
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/workbench_bench} $(PY) -m bench imports --customers 1000000
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/workbench_bench} $(PY) -m bench tagging --customers 1000000
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/workbench_bench} $(PY) -m bench engine --customers 1000000

## chaos: the delivery engine against real processes that get killed (worker SIGKILL ×3, Redis restarted) and a
## faulty WeCom sandbox; ends with a JSON ledger line whose "duplicates" and "lost" must be 0 (docs/delivery.md).
chaos: $(VENV)/.dev services
	DATABASE_URL=$${CHAOS_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/workbench_chaos} $(PY) -m bench chaos --customers $${CHAOS_CUSTOMERS:-50000}

## services: make sure PostgreSQL and Redis answer on 127.0.0.1 (starts them where this machine can).
services:
	@deploy/ensure_services.sh

## chromium: Debian's Chromium and a CJK font for the browser tests (never a downloaded browser build).
chromium:
	@command -v chromium >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q . || \
		{ apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }

messages: $(VENV)/.dev
	DEBUG=1 $(PY) manage.py makemessages -l zh_Hans --ignore=.venv --ignore=var
	DEBUG=1 $(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf var/test test-artifacts .pytest_cache .ruff_cache

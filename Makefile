# The two commands a newcomer needs (see README):
#   make ingest     set up .venv, start a local OpenSearch, index the fashion catalog
#   make test       set up .venv, start a local OpenSearch if needed, run lint and all tests
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
CATALOG ?= ../shared/data/fashion/catalog.csv
# The offline ImageNet encoder works everywhere; real users set clip:clip-ViT-B-32 (the CLI default).
ENCODER ?= $(or $(VISEARCH_ENCODER),efficientnet-lite0)

.PHONY: setup test lint up down ingest browser

setup: $(STAMP) browser

# The browser test drives Debian's Chromium (Playwright's own browser download is not used).
# Installed here when missing and we are root on a Debian-like machine; otherwise say how.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq chromium fonts-dejavu-core; \
	  else \
	    echo "chromium not found: install Debian's chromium (apt-get install chromium);" \
	      "tests/test_browser.py skips without it (and fails under CI=true)"; \
	  fi; }

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint browser
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(VENV)/bin/python -m pytest -q

up: $(STAMP)
	@if [ -z "$$OPENSEARCH_URL" ]; then $(VENV)/bin/visearch opensearch up; fi

down: $(STAMP)
	$(VENV)/bin/visearch opensearch down

ingest: up
	$(VENV)/bin/visearch ingest $(CATALOG) --encoder $(ENCODER) --report ingest-errors.jsonl

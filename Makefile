# The two commands a newcomer needs (see README):
#   make test                     set up .venv, start a local OpenSearch if needed, run all tests
#   make ingest CATALOG=...       set up .venv, start OpenSearch, index a catalog
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
CATALOG ?= ../shared/data/fashion/catalog.csv
export HF_HUB_OFFLINE ?= 1

.PHONY: setup test lint up down ingest

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(VENV)/bin/python -m pytest -q

up: $(STAMP)
	$(VENV)/bin/visearch opensearch up

down: $(STAMP)
	$(VENV)/bin/visearch opensearch down

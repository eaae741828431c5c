# The two commands a newcomer needs (see README):
#   make ingest     set up .venv, start a local OpenSearch, index the fashion catalog
#   make test       set up .venv, start a local OpenSearch if needed, run lint and all tests
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
CATALOG ?= ../shared/data/fashion/catalog.csv
# The offline ImageNet encoder works everywhere; real users set clip:clip-ViT-B-32 (the CLI default).
ENCODER ?= $(or $(VISEARCH_ENCODER),efficientnet-lite0)

.PHONY: setup test lint up down ingest

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(VENV)/bin/python -m pytest -q

up: $(STAMP)
	@if [ -z "$$OPENSEARCH_URL" ]; then $(VENV)/bin/visearch opensearch up; fi

down: $(STAMP)
	$(VENV)/bin/visearch opensearch down

ingest: up
	$(VENV)/bin/visearch ingest $(CATALOG) --encoder $(ENCODER) --report ingest-errors.jsonl

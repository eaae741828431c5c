# The two commands a newcomer needs (see README):
#   make ingest     set up .venv, start a local OpenSearch, index the fashion catalog
#   make test       set up .venv, start a local OpenSearch if needed, run lint and all tests
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
CATALOG ?= ../shared/data/fashion/catalog.csv
# The offline ImageNet encoder works everywhere; real users set clip:clip-ViT-B-32 (the CLI default).
ENCODER ?= $(or $(VISEARCH_ENCODER),efficientnet-lite0)

.PHONY: setup test test-elasticsearch lint up down ingest browser

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

# Everything on OpenSearch, then the integration tests that also hold on Elasticsearch.
test: lint browser
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(VENV)/bin/python -m pytest -q
	$(MAKE) --no-print-directory test-elasticsearch

# The integration tests, run again on Elasticsearch (the local node of `visearch
# elasticsearch up`, or ELASTICSEARCH_URL); see README, Elasticsearch. Not here: the files that
# test OpenSearch's own things (test_opensearch.py: the k-NN plugin and stemming english;
# test_secure_node.py: the security plugin) and the Elasticsearch files the first run already
# sends there. Deselected, each a documented difference: the request-count tests (the
# Elasticsearch client asks for the nodes info first) and red boots (no stemming without
# analysis-common).
ES_TESTS := $(addprefix tests/test_,$(addsuffix .py,api api_attributes attribute_neighbours attributes \
	attributes_zero_shot browser browser_attributes bulk cli detected_boost grocery_recall \
	hostile_api hostile_ingest ingest ingest_faults multi_photo newcomer plugin_request quality \
	real_embeddings relevance rerank runtimes search shards_exact)) \
	--deselect tests/test_search.py::test_each_search_is_one_http_request \
	--deselect tests/test_search.py::test_open_searcher_reads_the_index_encoder_once \
	--deselect tests/test_relevance.py::test_red_boots_are_footwear_not_handbags
test-elasticsearch: $(STAMP)
	VISEARCH_TEST_ENGINE=elasticsearch HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
	  $(VENV)/bin/python -m pytest -q $(ES_TESTS)

up: $(STAMP)
	@if [ -z "$$OPENSEARCH_URL" ]; then $(VENV)/bin/visearch opensearch up; fi

down: $(STAMP)
	$(VENV)/bin/visearch opensearch down

ingest: up
	$(VENV)/bin/visearch ingest $(CATALOG) --encoder $(ENCODER) --report ingest-errors.jsonl

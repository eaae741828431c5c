# The visearch HTTP service (`visearch serve`); docker-compose.yml runs it beside OpenSearch.
# The same image runs the other commands: `docker compose run --rm visearch visearch ingest ...`.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/visearch

RUN useradd --create-home --home-dir /home/visearch --uid 10001 visearch \
    && mkdir -p /home/visearch/.cache && chown visearch /home/visearch/.cache
WORKDIR /app
COPY . .
RUN pip install .

USER visearch
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"
CMD ["visearch", "serve", "--host", "0.0.0.0", "--port", "8080"]

"""visearch on a secured node: TLS on HTTP and transport, users, least-privilege roles.

This module starts its own secured node (`visearch opensearch up --secure` on port 9360:
security plugin, a CA and certificates made here, generated passwords) and runs the
integration path through it with the users of the two roles: ingest (the real pipeline and
the CLI) as `visearch_ingest`, search (the library and the CLI) as `visearch_search`. Then
what must fail does, with a message that names the cause: the search user writing, deleting
or reading another index; a wrong password; a CA that did not sign the node's certificate.

To run the whole suite against a secured cluster instead, point OPENSEARCH_URL at it with
OPENSEARCH_CA_CERTS, OPENSEARCH_USER and OPENSEARCH_PASSWORD (conftest.os_client uses them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from opensearchpy.exceptions import AuthorizationException

from support import ENCODER, FASHION, RUN_PREFIX, fashion_rows, with_business_fields, write_catalog
from visearch import cli

PORT = int(os.environ.get("VISEARCH_SECURE_TEST_PORT", 9360))
URL = f"https://127.0.0.1:{PORT}"
ALIAS = f"{RUN_PREFIX}-secure"
PRODUCTS = 40

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Secured:
    url: str
    ca: str
    passwords: dict[str, str]

    def env(self, user: str, **extra: str) -> dict[str, str]:
        return {
            "OPENSEARCH_URL": self.url,
            "OPENSEARCH_CA_CERTS": self.ca,
            "OPENSEARCH_USER": user,
            "OPENSEARCH_PASSWORD": self.passwords[user],
            "VISEARCH_INDEX": ALIAS,
            **extra,
        }

    def client(self, user: str, password: str | None = None, ca: str | None = None):  # noqa: ANN201
        from visearch.engine.connection import make_client

        secret = self.passwords[user] if password is None else password
        return make_client(self.url, ca_certs=ca or self.ca, user=user, password=secret)


@pytest.fixture(scope="module")
def secured() -> Iterator[Secured]:
    """The secured node, started here (and stopped after, when this module started it)."""
    runner = CliRunner()
    env = {"OPENSEARCH_URL": URL, "VISEARCH_INDEX": ALIAS}
    before = runner.invoke(cli.main, ["opensearch", "status", "--json"], env=env)
    started = runner.invoke(cli.main, ["opensearch", "up", "--secure", "--json"], env=env)
    assert started.exit_code == 0, started.output
    status = json.loads(started.stdout)
    assert status["status"] in ("green", "yellow") and "opensearch-security" in status["plugins"]
    passwords = json.loads(Path(status["credentials"]).read_text())
    assert all(secret not in started.output for secret in passwords.values())  # never printed
    yield Secured(URL, status["ca_certs"], passwords)
    admin = Secured(URL, status["ca_certs"], passwords).client("admin")
    admin.indices.delete(index=f"{ALIAS}*", ignore_unavailable=True, expand_wildcards="all")
    if before.exit_code != 0 and not os.environ.get("VISEARCH_KEEP_NODE"):
        runner.invoke(cli.main, ["opensearch", "down"], env=env)


@pytest.fixture(scope="module")
def ingested(secured: Secured, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    """The ingest user builds the alias with the CLI (the real encoder and pipeline)."""
    rows = [with_business_fields(row) for row in fashion_rows(PRODUCTS)]
    catalog = write_catalog(tmp_path_factory.mktemp("secure") / "catalog.csv", rows)
    flags = ["--images-root", str(FASHION), "--encoder", ENCODER, "--quiet", "--json"]
    rows = [{**row, "image": str(FASHION / row["image"])} for row in rows]
    catalog = write_catalog(catalog, rows)
    result = CliRunner().invoke(
        cli.main,
        ["ingest", str(catalog), *flags],
        env=secured.env("visearch_ingest"),
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["embedded"], summary["failed"]) == (PRODUCTS, 0)
    return rows


def test_the_node_speaks_tls_only_with_users(secured: Secured) -> None:
    from visearch.engine.connection import access_problem

    admin = secured.client("admin")
    assert "opensearch-security" in {p["component"] for p in admin.cat.plugins(format="json")}
    anonymous = secured.client("admin", password="")
    with pytest.raises(Exception) as refused:  # noqa: PT011 - the type is the next line's check
        anonymous.info()
    assert "401" in str(access_problem(refused.value, URL, secured.ca, None))


def test_ingest_and_search_with_their_users(
    secured: Secured, ingested: list[dict[str, str]], encoder, tmp_path: Path
) -> None:  # noqa: ANN001
    from visearch.ingest.catalog import CatalogSource
    from visearch.ingest.pipeline import IngestOptions, run_ingest
    from visearch.plugin.params import SearchParams
    from visearch.plugin.search import open_searcher

    searcher = open_searcher(
        secured.client("visearch_search"), ALIAS, load_encoder=lambda _: encoder
    )
    first = ingested[0]["sku"]
    result = searcher.search(
        SearchParams(image=str(FASHION / "images" / f"{first}.jpg"), facets=("gender",), k=5)
    )
    assert result.hits[0].sku == first and sum(v.count for v in result.facets["gender"]) > 0
    assert searcher.search(SearchParams(keywords="shirt", facets=("gender",))).total > 0
    # A rebuild (new index, copied vectors, alias swap, lock) with the ingest user alone.
    catalog = write_catalog(tmp_path / "catalog.csv", ingested)
    summary = run_ingest(
        secured.client("visearch_ingest"),
        CatalogSource(catalog),
        ALIAS,
        encoder.name,
        lambda: encoder,
        IngestOptions(rebuild=True, image_roots=(FASHION,)),
    )
    assert (summary.failed, summary.copied) == (0, PRODUCTS)
    cli_search = CliRunner().invoke(
        cli.main,
        ["search", "--keywords", "shirt", "--facet", "gender", "--json"],
        env=secured.env("visearch_search"),
    )
    assert cli_search.exit_code == 0, cli_search.output
    assert json.loads(cli_search.stdout)["total"] > 0


def test_the_search_user_only_reads_its_alias(
    secured: Secured, ingested: list[dict[str, str]]
) -> None:
    search = secured.client("visearch_search")
    other = f"{ALIAS}-other"
    secured.client("admin").indices.create(index=other, ignore=[400])
    forbidden = [
        lambda: search.index(index=ALIAS, id="x", body={"sku": "x"}),
        lambda: search.delete(index=ALIAS, id=ingested[0]["sku"]),
        lambda: search.indices.delete(index=ALIAS),
        lambda: search.search(index=other, body={"query": {"match_all": {}}}),
        lambda: search.search(index="visearch-locks"),
        lambda: search.indices.put_index_template(name="x", body={"index_patterns": ["x*"]}),
    ]
    for attempt in forbidden:
        with pytest.raises(AuthorizationException):
            attempt()
    assert search.count(index=ALIAS)["count"] == PRODUCTS


def test_a_wrong_password_or_ca_says_so(secured: Secured, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["search", "--keywords", "shirt"]
    wrong = secured.env("visearch_search", OPENSEARCH_PASSWORD="not-the-password")
    refused = runner.invoke(cli.main, args, env=wrong)
    assert refused.exit_code != 0
    assert "refused the password of user 'visearch_search'" in refused.output
    assert "not-the-password" not in refused.output

    from visearch.scripts.node_security import ensure_certificates

    ensure_certificates(tmp_path / "another")  # a CA of its own, which signed nothing there
    other_ca = str(tmp_path / "another" / "root-ca.pem")
    untrusted = runner.invoke(cli.main, args, env=secured.env("visearch_search",
                              OPENSEARCH_CA_CERTS=other_ca))  # fmt: skip
    assert untrusted.exit_code != 0
    assert f"is not signed by the CA file {other_ca}" in untrusted.output
    assert "Is it running?" not in untrusted.output  # not mistaken for a cluster that is down


def test_status_shows_where_the_secrets_are_not_them(secured: Secured) -> None:
    result = CliRunner().invoke(cli.main, ["opensearch", "status"], env={"OPENSEARCH_URL": URL})
    assert result.exit_code == 0 and "TLS CA:" in result.output
    assert all(secret not in result.output for secret in secured.passwords.values())

"""The search page in a real browser: `visearch serve` in a subprocess over the shared fashion
index, driven by Playwright in Debian's headless Chromium (never Playwright's own download).

Screenshots go to artifacts/browser/ at a desktop (1280x800) and a phone (390x844) size.
Without Chromium the test skips, except in CI (CI=true), where a missing browser is a
failure: `make setup` installs it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
import requests

from support import (
    FASHION,
    REPO,
    RUN_PREFIX,
    drop_indices,
    fashion_rows,
    ingest,
    write_catalog,
)
from visearch.web.launch import serve_in_background

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("VISEARCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "artifacts" / "browser"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PUMA_TSHIRT = "10045"  # Puma Men Heroes Party Graphic Blue Tshirts
HTML = b"<!doctype html><html><body>not a photo</body></html>"


def _require_browser() -> None:
    problem = None
    if not os.access(CHROMIUM, os.X_OK):
        problem = f"Debian's chromium not found at {CHROMIUM}; `make setup` installs it as root"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed: .venv/bin/pip install -e '.[test]'"
    if problem:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(problem)
        pytest.skip(problem)


def _serve(opensearch_url: str, alias: str) -> Iterator[str]:
    flags = ["--images-base", str(FASHION)]
    with serve_in_background(
        opensearch_url, alias, flags, environ=os.environ, timeout_s=120
    ) as base:
        yield base


@pytest.fixture(scope="module")
def server(opensearch_url: str, search_alias: str) -> Iterator[str]:
    """`visearch serve` on a free loopback port; its base URL once /healthz says ok."""
    _require_browser()
    yield from _serve(opensearch_url, search_alias)


@pytest.fixture(scope="module")
def priceless_server(opensearch_url: str, os_client, encoder, tmp_path_factory) -> Iterator[str]:  # noqa: ANN001
    """The service over a dozen products of the catalog as it is: no prices at all."""
    _require_browser()
    from visearch.mappings.install import template_name

    rows = fashion_rows(12)
    assert "price" not in rows[0]
    alias = f"{RUN_PREFIX}-priceless"
    catalog = write_catalog(tmp_path_factory.mktemp("priceless") / "catalog.csv", rows)
    try:
        ingest(os_client, catalog, alias, encoder, images_dir=FASHION)
        yield from _serve(opensearch_url, alias)
    finally:
        drop_indices(os_client, f"{alias}*")
        os_client.indices.delete_index_template(name=template_name(alias), ignore=[404])


def launch_chromium():  # noqa: ANN201
    """Debian's headless Chromium under Playwright, for a module's tests; closed after."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def browser(server: str):  # noqa: ANN201
    yield from launch_chromium()


class Page:
    """A page of the search app that records script errors and CSP violations."""

    def __init__(self, browser, base: str, viewport: dict, scale: float = 1) -> None:  # noqa: ANN001
        self.page = browser.new_page(viewport=viewport, device_scale_factor=scale)
        self.problems: list[str] = []
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))
        self.page.on("console", self._console)
        self.page.goto(base)
        self.ready()

    def _console(self, message) -> None:  # noqa: ANN001
        if "Content Security Policy" in message.text:  # (failed loads may be expected)
            self.problems.append(message.text)

    def ready(self) -> None:
        self.page.wait_for_selector('body[data-state="ready"]', timeout=30_000)

    def upload(self, sku: str) -> None:
        self.page.set_input_files("#file-input", str(FASHION / "images" / f"{sku}.jpg"))
        self.first_is(sku)

    def first_is(self, sku: str) -> None:
        self.page.wait_for_function(
            "sku => document.querySelector('#results .card')?.dataset.sku === sku"
            " && document.body.dataset.state === 'ready'",
            arg=sku,
            timeout=30_000,
        )

    def search_words(self, words: str) -> None:
        self.page.fill("#words", words)
        self.page.click("#search-button")
        self.ready()

    def cards(self) -> list[dict[str, str]]:
        return self.page.eval_on_selector_all(
            "#results .card",
            "cards => cards.map(c => ({sku: c.dataset.sku,"
            " colour: c.getAttribute('data-attr-colour_group'),"
            " why: c.querySelector('.why')?.textContent ?? '', text: c.innerText}))",
        )

    def chips(self) -> list[str]:
        return self.page.eval_on_selector_all("#chips .chip span", "s => s.map(x => x.textContent)")

    def photos_loaded(self, selector: str = "#results .card img", n: int = 8) -> None:
        self.page.wait_for_function(
            "([selector, n]) => [...document.querySelectorAll(selector)].slice(0, n)"
            ".every(img => img.complete && img.naturalWidth > 0)",
            arg=[selector, n],
            timeout=30_000,
        )

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    def facet_box(self, field: str):  # noqa: ANN201
        box = self.page.locator(f'#facets details[data-field="{field}"]')
        if box.get_attribute("open") is None:
            box.locator("summary").click()
        return box

    def close(self) -> None:
        assert self.problems == []
        self.page.close()


def test_photo_search_filters_as_chips_and_more_like_this(server: str, browser) -> None:  # noqa: ANN001
    app = Page(browser, server, DESKTOP)
    page = app.page
    assert page.locator("#facets details").count() >= 3  # the landing browse
    app.upload(PUMA_TSHIRT)
    cards = app.cards()
    assert len(cards) == 24 and cards[0]["why"] == "look 1.00"
    assert "by look" in page.inner_text("#status")
    # The card says what the product is: sku, brand, article type, colour and gender.
    first = page.locator("#results .card").first
    assert first.locator(".sku").inner_text() == PUMA_TSHIRT
    assert first.locator(".brand").inner_text() == "Puma"
    assert first.locator(".attrs-line").inner_text() == "Tshirts · Blue · Men"
    app.photos_loaded()
    app.shot("desktop-results")

    colour = next(c for c in ("Black", "White", "Grey") if c in {c["colour"] for c in cards})
    box = app.facet_box("colour_group").locator(f'input[value="{colour}"]')
    count = int(box.locator("xpath=following-sibling::span[@class='count']").inner_text())
    box.check()
    app.ready()
    narrowed = app.cards()
    assert narrowed and {card["colour"] for card in narrowed} == {colour}
    assert len(narrowed) == min(count, 24)
    assert app.chips() == [f"colour group: {colour}"]
    app.photos_loaded()
    app.shot("desktop-filtered")

    # (9a) "More like this": the drop zone shows that product and says so, not the upload.
    chosen = narrowed[0]["sku"]
    page.locator(f'#results .card[data-sku="{chosen}"] button.more').click()
    app.ready()
    assert page.locator("#product").get_attribute("open") is None  # the button opens no panel
    assert page.inner_text("#drop-caption") == f"like {chosen}"
    app.photos_loaded("#preview", 1)
    assert page.get_attribute("#preview", "src") == f"/images/images/{chosen}.jpg"
    assert chosen not in {card["sku"] for card in app.cards()}

    # (9b) The filter carries over to new words, visibly; a chip removes it, Clear all too.
    app.search_words("shirt")
    assert app.chips() == [f"colour group: {colour}"]
    page.locator("#chips .chip button").click()
    app.ready()
    assert app.chips() == [] and page.locator("#active").is_hidden()
    assert not page.locator(f'#facets input[value="{colour}"]').is_checked()
    app.facet_box("gender").locator('input[value="Men"]').check()
    app.ready()
    page.fill("#price-max", "50")
    page.click("#search-button")
    app.ready()
    assert app.chips() == ["gender: Men", "price ≤ 50.00"]
    page.click("#chips-clear")
    app.ready()
    assert app.chips() == [] and page.input_value("#price-max") == ""
    assert page.locator("#facets input:checked").count() == 0
    app.close()


def test_cards_explain_words_and_open_the_product_panel(server: str, browser) -> None:  # noqa: ANN001
    app = Page(browser, server, DESKTOP)
    page = app.page
    app.search_words("red handbag")  # "handbag" matches "Handbags": a plural s may go
    cards = app.cards()
    assert cards and "by words" in page.inner_text("#status")
    assert cards[0]["why"] == "matches: red, handbag"

    sku = cards[0]["sku"]
    product = requests.get(f"{server}/v1/products/{sku}", timeout=10).json()
    page.locator(f'#results .card[data-sku="{sku}"] .thumb').click()
    page.wait_for_selector('#product[open][data-state="ready"]')
    rows = page.eval_on_selector_all(
        "#product-attrs .attr",
        "rows => rows.map(r => [r.dataset.name, r.querySelector('dd').textContent])",
    )
    assert dict(rows) == product["attributes"] and len(rows) == len(product["attributes"])
    assert page.inner_text("#product-title") == product["title"]
    assert page.inner_text("#product-price") == f"{product['price']:.2f}"
    stock = "in stock" if product["in_stock"] else "out of stock"
    assert page.inner_text("#product-stock") == stock
    app.photos_loaded("#product-image", 1)
    assert page.get_attribute("#product-image", "src") == product["image_url"]
    app.shot("desktop-panel")
    page.click("#product-close")
    assert page.locator("#product").get_attribute("open") is None
    page.locator("#results .card .title").nth(1).click()  # the title opens it too
    page.wait_for_selector('#product[open][data-state="ready"]')
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.getElementById('product').open")
    app.close()


def test_refused_uploads_and_words_that_match_nothing(server: str, browser) -> None:  # noqa: ANN001
    app = Page(browser, server, DESKTOP)
    page = app.page
    searches: list[str] = []
    page.on("request", lambda r: searches.append(r.url) if "/v1/search" in r.url else None)
    assert app.cards()
    # (9c) Not an image by its type: refused in the page, no request, no old results.
    note = {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}
    page.set_input_files("#file-input", note)
    page.wait_for_selector('body[data-state="error"]')
    status = page.inner_text("#status")
    assert "notes.txt" in status and "not an image" in status
    assert page.get_attribute("#status", "data-kind") == "error" and page.is_visible("#status")
    assert app.cards() == [] and page.locator("#preview").is_hidden() and searches == []

    app.upload(PUMA_TSHIRT)  # results again, then a "photo" whose bytes are a web page
    fake = {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": HTML}
    page.set_input_files("#file-input", fake)
    page.wait_for_selector('body[data-state="error"]')
    assert "not a supported image" in page.inner_text("#status")  # the API's own message
    assert app.cards() == [] and page.locator("#preview").is_hidden()
    assert page.locator("#drop-hint").is_visible()

    # (9e) Words that match nothing say what was searched and what to try.
    app.search_words("xyzzyq")
    status = page.inner_text("#status")
    assert "“xyzzyq”" in status and "fewer words" in status and "spelling" in status
    app.close()


def test_price_inputs_only_for_a_catalog_with_prices(
    server: str,
    priceless_server: str,
    browser,  # noqa: ANN001
) -> None:
    for base, shown in ((server, True), (priceless_server, False)):
        app = Page(browser, base, DESKTOP)
        app.page.wait_for_selector('#price[data-checked="true"]', state="attached")
        assert app.page.locator("#price").is_visible() is shown, base
        app.close()


def _boxes(page) -> dict[str, dict[str, float]]:  # noqa: ANN001
    """Each open facet box's height and the height of what it holds."""
    return page.eval_on_selector_all(
        "#facets details[open]",
        "boxes => Object.fromEntries(boxes.map(b => [b.dataset.field, {"
        " height: b.getBoundingClientRect().height,"
        " content: b.querySelector('summary').offsetHeight + b.querySelector('ul').offsetHeight"
        "}]))",
    )


def test_phone_results_first_and_facets_in_a_drawer(server: str, browser) -> None:  # noqa: ANN001
    app = Page(browser, server, PHONE, scale=2)
    page = app.page
    app.upload("10001")
    # (10) The first result is on screen after an upload, nothing is wider than the screen.
    scroll_width, screen, height, card, top = page.evaluate(
        "() => [document.documentElement.scrollWidth, innerWidth, innerHeight,"
        " document.querySelector('#results .card').getBoundingClientRect().width,"
        " document.querySelector('#results .card').getBoundingClientRect().top]"
    )
    assert scroll_width <= screen and screen / 3 < card < screen / 2
    assert top + 250 < height, top
    assert page.is_visible("#filters-button") and not page.is_visible("#facets")
    app.photos_loaded(n=4)
    app.shot("phone-results")

    page.click("#filters-button")
    page.wait_for_function(  # the drawer has slid in
        "() => document.getElementById('facets').getBoundingClientRect().right <= innerWidth"
    )
    app.facet_box("colour_group")
    app.facet_box("gender")
    boxes = _boxes(page)
    assert boxes["gender"]["height"] < boxes["colour_group"]["height"]
    for field, box in boxes.items():  # each box keeps its own height (2: its border)
        assert abs(box["height"] - box["content"] - 2) <= 1, (field, box)
    page.locator('#facets details[data-field="gender"] input[value="Men"]').check()
    app.ready()
    app.shot("phone-drawer")
    total = page.inner_text("#status").split()[0]
    assert page.inner_text("#drawer-done") == f"Show {total} results"
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.body.classList.contains('drawer-open')")
    assert page.inner_text("#filters-button") == "Filters (1)"
    assert app.chips() == ["gender: Men"] and page.is_visible("#chips")

    page.locator("#results .card .thumb").first.click()
    page.wait_for_selector('#product[open][data-state="ready"]')
    app.photos_loaded("#product-image", 1)
    app.shot("phone-panel")
    page.click("#product-close")
    app.close()

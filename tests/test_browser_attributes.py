"""The catalog-health view in a real browser (as tests/test_browser.py, whose Page it uses):
coverage per attribute, the probable mislabels with photos, "Accept" -> the product's panel
says "corrected" -> "Revert" -> the catalog's value again. Desktop screenshots go to
artifacts/browser/."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from test_browser import (
    DESKTOP,
    PHONE,
    Page,
    _require_browser,
    launch_chromium,
)

from support import FASHION, mislabelled_shoe, trained_attributes_alias
from visearch.web.launch import serve_in_background

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def health_server(opensearch_url: str, os_client, encoder, tmp_path_factory) -> Iterator[str]:  # noqa: ANN001
    _require_browser()
    alias = trained_attributes_alias(os_client, encoder, tmp_path_factory.mktemp("attr-web"))
    flags = ["--images-base", str(FASHION)]
    with serve_in_background(
        opensearch_url, alias, flags, environ=os.environ, timeout_s=120
    ) as base:
        yield base


@pytest.fixture(scope="module")
def chromium(health_server: str):  # noqa: ANN201
    yield from launch_chromium()


def _source(page, name: str) -> tuple[str, str, str]:  # noqa: ANN001
    """(value, source, words) of attribute `name` in the open product panel."""
    row = page.locator(f'#product-attrs .attr[data-name="{name}"]')
    return (
        row.locator("dd").first.inner_text(),
        row.get_attribute("data-source") or "",
        row.locator("dd.source").inner_text(),
    )


def _open_panel(page, sku: str) -> None:  # noqa: ANN001
    page.locator(f'#mislabels li[data-sku="{sku}"] button.title').click()
    page.wait_for_selector('#product[open][data-state="ready"]')


def test_accept_a_prediction_then_revert_it_in_the_panel(health_server: str, chromium) -> None:  # noqa: ANN001
    shoe = mislabelled_shoe()
    app = Page(chromium, health_server + "/#health", DESKTOP)
    page = app.page
    page.wait_for_selector('#health[data-state="ready"]')
    assert page.locator("#query").is_hidden() and page.locator("main.layout").is_hidden()
    category = page.locator('#coverage tr[data-attribute="category"]')
    assert category.locator("td.catalog").inner_text() == "90"
    page.fill("#review-threshold", "0.5")
    page.dispatch_event("#review-threshold", "change")
    row = page.locator(f'#mislabels li[data-sku="{shoe["sku"]}"][data-attribute="category"]')
    row.wait_for(timeout=30_000)
    assert "Apparel" in row.locator(".catalog").inner_text()
    assert row.locator(".predicted").inner_text() == "Footwear"
    app.photos_loaded(f'#mislabels li[data-sku="{shoe["sku"]}"] img', 1)
    app.shot("desktop-health")

    _open_panel(page, shoe["sku"])
    value, source, words = _source(page, "category")
    assert (value, source) == ("Apparel", "catalog") and "photo says Footwear" in words
    page.click("#product-close")

    row.locator("button.accept").click()
    page.wait_for_selector(f'#mislabels li[data-sku="{shoe["sku"]}"][data-done="true"]')
    assert "is now “Footwear”" in page.inner_text("#health-status")
    _open_panel(page, shoe["sku"])
    value, source, words = _source(page, "category")
    assert (value, source) == ("Footwear", "corrected")
    assert words.startswith("corrected by web") and "catalog: Apparel" in words
    app.photos_loaded("#product-image", 1)
    app.shot("desktop-health-corrected")

    page.locator('#product-attrs .attr[data-name="category"] button.revert').click()
    page.wait_for_function(
        "() => document.querySelector('#product-attrs .attr[data-name=\"category\"]')"
        "?.dataset.source === 'catalog'"
    )
    assert _source(page, "category")[0] == "Apparel"
    page.click("#product-close")
    page.wait_for_selector(f'#mislabels li[data-sku="{shoe["sku"]}"]:not([data-done])')
    app.close()


def test_the_health_view_fits_a_phone(health_server: str, chromium) -> None:  # noqa: ANN001
    """On a phone the coverage table and the mislabel cards fit the screen (no sideways
    scrolling), photo beside the values, and Accept is on screen to tap."""
    shoe = mislabelled_shoe()
    app = Page(chromium, health_server + "/#health", PHONE, scale=2)
    page = app.page
    page.wait_for_selector('#health[data-state="ready"]')
    page.fill("#review-threshold", "0.5")
    page.dispatch_event("#review-threshold", "change")
    card = f'#mislabels li[data-sku="{shoe["sku"]}"][data-attribute="category"]'
    page.locator(card).wait_for(timeout=30_000)
    app.photos_loaded(f"{card} img", 1)
    page.locator(card).scroll_into_view_if_needed()
    scroll_width, screen, table, item, photo, accept = page.evaluate(
        """card => {
          const box = el => el.getBoundingClientRect().toJSON();
          const row = document.querySelector(card);
          return [document.documentElement.scrollWidth, innerWidth,
                  box(document.getElementById('coverage')), box(row),
                  box(row.querySelector('img')), box(row.querySelector('button.accept'))];
        }""",
        card,
    )
    assert scroll_width <= screen, (scroll_width, screen)
    assert table["right"] <= screen and item["right"] <= screen and accept["right"] <= screen
    assert photo["right"] <= item["left"] + item["width"] / 3  # the photo sits beside the text
    assert accept["height"] >= 28  # big enough to tap
    app.shot("phone-health")
    app.close()


def test_a_photo_search_shows_detected_attributes_as_chips(health_server: str, chromium) -> None:  # noqa: ANN001
    app = Page(chromium, health_server, DESKTOP)
    page = app.page
    shoe = mislabelled_shoe()
    app.upload(shoe["sku"])
    chip = page.locator('#detected-chips li[data-field="category"]')
    assert chip.get_attribute("data-value") == "Footwear"
    app.photos_loaded(n=5)
    app.shot("desktop-detected")
    chip.locator("button").click()
    app.ready()
    assert app.chips() == ["category: Footwear"]
    assert page.locator('#detected-chips li[data-field="category"]').count() == 0
    app.close()

"""The search page in a real browser: `visearch serve` in a subprocess over the shared fashion
index, driven by Playwright in Debian's headless Chromium (never Playwright's own download).

Screenshots go to artifacts/browser/. Without Chromium the test skips, except in CI
(CI=true), where a missing browser is a failure: `make setup` installs it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from support import FASHION, REPO
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
PUMA_TSHIRT = "10045"


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


@pytest.fixture(scope="module")
def server(opensearch_url: str, search_alias: str) -> Iterator[str]:
    """`visearch serve` on a free loopback port; its base URL once /healthz says ok."""
    _require_browser()
    flags = ["--images-base", str(FASHION)]
    with serve_in_background(
        opensearch_url, search_alias, flags, environ=os.environ, timeout_s=120
    ) as base:
        yield base


@pytest.fixture(scope="module")
def browser(server: str):  # noqa: ANN201
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def _ready(page) -> None:  # noqa: ANN001
    page.wait_for_selector('body[data-state="ready"]', timeout=30_000)


def _shown(page) -> list[dict[str, str]]:  # noqa: ANN001
    return page.eval_on_selector_all(
        "#results .card",
        "cards => cards.map(c => ({sku: c.dataset.sku,"
        " colour: c.getAttribute('data-attr-colour_group')}))",
    )


def test_upload_a_photo_then_narrow_by_colour(server: str, browser) -> None:  # noqa: ANN001
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server)
    _ready(page)  # the landing browse: facets of the whole catalog
    assert page.locator("#facets details").count() >= 3

    page.set_input_files("#file-input", str(FASHION / "images" / f"{PUMA_TSHIRT}.jpg"))
    page.wait_for_function(
        "sku => document.querySelector('#results .card')?.dataset.sku === sku"
        " && document.body.dataset.state === 'ready'",
        arg=PUMA_TSHIRT,
        timeout=30_000,
    )
    cards = _shown(page)
    assert len(cards) == 24 and cards[0]["sku"] == PUMA_TSHIRT
    assert "by look" in page.inner_text("#status")
    page.wait_for_function(  # product photos load from /images/
        "() => [...document.querySelectorAll('#results img')].slice(0, 8)"
        ".every(img => img.complete && img.naturalWidth > 0)",
        timeout=30_000,
    )
    page.screenshot(path=str(ARTIFACTS / "desktop-photo.png"), full_page=True)

    colours = {card["colour"] for card in cards}
    colour = next(c for c in ("Black", "White", "Grey", "Red") if c in colours)
    group = page.locator('#facets details[data-field="colour_group"]')
    if group.get_attribute("open") is None:
        group.locator("summary").click()
    box = group.locator(f'input[value="{colour}"]')
    count = int(box.locator("xpath=following-sibling::span[@class='count']").inner_text())
    box.check()
    _ready(page)
    narrowed = _shown(page)
    assert narrowed and {card["colour"] for card in narrowed} == {colour}
    assert len(narrowed) == min(count, 24)
    assert page.locator(f'#facets input[value="{colour}"]').is_checked()
    page.screenshot(path=str(ARTIFACTS / "desktop-colour.png"), full_page=True)

    first = narrowed[0]["sku"]
    page.locator(f'#results .card[data-sku="{first}"] button.more').click()
    _ready(page)
    assert "More like" in page.inner_text("#similar")
    assert first not in {card["sku"] for card in _shown(page)}
    assert errors == []
    page.close()


def test_phone_sized_screen(server: str, browser) -> None:  # noqa: ANN001
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.goto(server)
    _ready(page)
    page.set_input_files("#file-input", str(FASHION / "images" / "10001.jpg"))
    page.wait_for_function(
        "() => document.querySelector('#results .card')?.dataset.sku === '10001'"
        " && document.body.dataset.state === 'ready'",
        timeout=30_000,
    )
    # Two columns, nothing wider than the screen.
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth,"
        " document.querySelector('#results .card').getBoundingClientRect().width]"
    )
    scroll_width, screen, card = widths
    assert scroll_width <= screen and screen / 3 < card < screen / 2
    page.screenshot(path=str(ARTIFACTS / "phone.png"), full_page=False)
    page.close()

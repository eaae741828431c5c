"""Products with several photos: all stored, ranked by their best photo, never duplicated."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from support import GROCERY, RUN_PREFIX, ingest
from visearch.plugin.params import SearchParams
from visearch.plugin.search import Searcher

GALLERY = GROCERY / "gallery.csv"
PRODUCTS = 12
PHOTOS_PER_PRODUCT = 4

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def photos_file(tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:  # noqa: ANN001
    """A photos file with a few in-store shots of the first gallery products."""
    with GROCERY.joinpath("gallery.csv").open(newline="") as handle:
        skus = [row["sku"] for row in csv.DictReader(handle)][:PRODUCTS]
    chosen: dict[str, list[str]] = {sku: [] for sku in skus}
    with GROCERY.joinpath("gallery_natural.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["sku"] in chosen and len(chosen[row["sku"]]) < PHOTOS_PER_PRODUCT:
                chosen[row["sku"]].append(str(GROCERY / row["image"]))
    path = tmp_path_factory.mktemp("photos") / "photos.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "sku"])
        writer.writerows((image, sku) for sku, images in chosen.items() for image in images)
        writer.writerow([str(GROCERY / "gallery" / "nope.jpg"), skus[0]])  # a bad extra photo
        writer.writerow([str(GROCERY / "gallery" / "Lime.jpg"), "not-in-catalog"])
    return path, chosen


@pytest.fixture(scope="module")
def alias(os_client, encoder, photos_file) -> str:  # noqa: ANN001
    path, chosen = photos_file
    name = f"{RUN_PREFIX}-multi"
    summary = ingest(os_client, GALLERY, name, encoder, photos=path)
    extra = sum(len(images) for images in chosen.values())
    assert summary.read == 81
    assert (summary.embedded, summary.photos_embedded) == (81, 81 + extra)  # every good photo
    reasons = [error.reason for error in summary.errors]
    assert len(reasons) == 2
    assert any("nope.jpg" in reason and "not found" in reason for reason in reasons)
    assert any("not-in-catalog" in reason for reason in reasons)
    return name


def test_all_photos_are_stored(os_client, alias, photos_file) -> None:
    _, chosen = photos_file
    sku = next(iter(chosen))
    source = os_client.get(index=alias, id=sku)["_source"]
    assert source["photo_count"] == 1 + PHOTOS_PER_PRODUCT
    assert len(source["photos"]) == 1 + PHOTOS_PER_PRODUCT
    assert source["photos"][0]["image"] == source["image"]  # the main photo first


def test_an_extra_photo_finds_its_product_once(os_client, alias, encoder, photos_file) -> None:
    _, chosen = photos_file
    searcher = Searcher(os_client, alias, encoder)
    for sku, images in chosen.items():
        result = searcher.search(SearchParams(image=images[-1], k=20, facets=("subcategory",)))
        skus = [hit.sku for hit in result.hits]
        assert skus[0] == sku  # that exact photo is stored with the product
        assert result.hits[0].explanation.similarity == pytest.approx(1.0, abs=1e-4)
        assert len(skus) == len(set(skus))  # a product never appears twice
        # Facets count products: they add up to the candidate pool, not to photos.
        counts = sum(value.count for value in result.facets["subcategory"])
        assert counts == result.total <= 81


def test_reruns_keep_multi_photo_products_unchanged(os_client, alias, encoder, photos_file) -> None:
    path, _ = photos_file
    again = ingest(os_client, GALLERY, alias, encoder, photos=path)
    assert (again.embedded, again.updated, again.unchanged) == (0, 0, 81)
    # Dropping one extra photo changes that product's photo set: only it is re-embedded.
    rows = list(csv.reader(path.open()))
    dropped = rows.pop(1)
    smaller = path.with_name("smaller.csv")
    with smaller.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    fewer = ingest(os_client, GALLERY, alias, encoder, photos=smaller)
    assert (fewer.embedded, fewer.photos_embedded) == (1, PHOTOS_PER_PRODUCT)  # main + 3 extras
    assert Counter(e.stage for e in fewer.errors)["validate"] == 1  # the unknown sku again
    stored = os_client.get(index=alias, id=dropped[1])["_source"]
    assert dropped[0] not in [photo["image"] for photo in stored["photos"]]

"""A contact sheet of the worst failing queries: each query photo beside its top hits, the
right product framed in green (and shown at the end of its row when it is not among them).
People would rather look than read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageOps

from visearch.quality.catalog_vectors import CatalogVectors
from visearch.vectors.images import ImageError, load_image

TILE = 160
LABEL = 18
GREEN, GREY, WHITE = (30, 160, 60), (200, 200, 200), (255, 255, 255)


def contact_sheet(
    failures: Sequence[dict[str, Any]],
    catalog: CatalogVectors,
    images_base: Path | None,
    path: Path,
    worst: int = 10,
) -> Path:
    rows = list(failures[:worst])
    width = TILE * 7
    sheet = Image.new("RGB", (width, max(1, len(rows)) * (TILE + LABEL)), WHITE)
    for y, failure in enumerate(rows):
        top = y * (TILE + LABEL)
        relevant = set(failure["relevant"])
        tiles = [(failure.get("image"), None, f"query {failure['query_id']}", False)]
        tiles += [
            (hit["image"], images_base, hit["sku"], hit["sku"] in relevant)
            for hit in failure["top5"]
        ]
        if not relevant & {hit["sku"] for hit in failure["top5"]}:
            sku = failure["relevant"][0]
            rank = failure.get("rank_of_relevant")
            ref = catalog.attributes.get(sku, {}).get("image")
            tiles.append((ref, images_base, f"{sku} (rank {rank or '>20'})", True))
        for x, (ref, base, caption, right) in enumerate(tiles):
            _paste(sheet, ref, base, (x * TILE, top), caption, right)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def _paste(sheet: Image.Image, ref: str | None, base: Path | None, at: tuple[int, int],
           caption: str, right: bool) -> None:  # fmt: skip
    tile = _tile(ref, base)
    if right:
        tile = ImageOps.expand(ImageOps.fit(tile, (TILE - 8, TILE - 8)), border=4, fill=GREEN)
    sheet.paste(tile, at)
    draw = ImageDraw.Draw(sheet)
    draw.text((at[0] + 4, at[1] + TILE + 3), caption[:26], fill=GREEN if right else (0, 0, 0))


def _tile(ref: str | None, base: Path | None) -> Image.Image:
    if ref:
        try:
            return ImageOps.pad(load_image(ref, base), (TILE, TILE), color=WHITE)
        except ImageError:
            pass
    return Image.new("RGB", (TILE, TILE), GREY)

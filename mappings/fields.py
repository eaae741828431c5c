"""Every document field name with a fixed meaning, in one place below ingest and query.

The index template (`products.json`) spells the same names; `tests/test_architecture.py`
checks that the two agree.
"""

from __future__ import annotations

import re

SKU = "sku"  # the document id, also a keyword field (hits read it from doc values)
PHOTOS_FIELD = "photos"  # nested: one entry per photo of the product
PHOTO_IMAGE = "image"  # inside each photo: the reference it was read from
PHOTO_DIGEST = "sha256"  # inside each photo: its bytes' SHA-256 (exact duplicates)
PHOTO_VECTOR = "vector"  # inside each photo: the knn_vector
VECTOR_FIELD = f"{PHOTOS_FIELD}.{PHOTO_VECTOR}"  # the knn_vector field's full path
PHOTO_COLOUR = "colour_features"  # inside each photo: its foreground colours (attributes/colour.py)
# Attributes from photos (attributes/): `predicted.<attr>` = {value, confidence, model, doubt}
# beside the catalog value, never over it; `overrides.<attr>` = a merchandiser's correction
# {value, catalog, by, at}, which the attribute itself also holds.
PREDICTED = "predicted"
OVERRIDES = "overrides"
# The normalised mean of a product's photo vectors: how the product looks over all its photos
# (the re-ranker's "overall look" signal, plugin/rerank.py). A knn_vector beside the photos.
PHOTO_CENTROID = "photo_centroid"

# Bookkeeping ingest writes for itself: never filters, facets or extra attributes.
PHOTO_COUNT = "photo_count"
ENCODER = "encoder"
VECTOR_KEY = "vector_key"  # hash of the photos' bytes + encoder: re-embed when it changes
DOC_HASH = "doc_hash"  # hash of every other field: partial update when it changes
INDEXED_AT = "indexed_at"
EMBEDDED_AT = "embedded_at"
INTERNAL_FIELDS = (
    PHOTOS_FIELD,
    PHOTO_CENTROID,
    PHOTO_COUNT,
    ENCODER,
    VECTOR_KEY,
    DOC_HASH,
    INDEXED_AT,
    EMBEDDED_AT,
    PREDICTED,
    OVERRIDES,
)

# Every keyword attribute has a case- and accent-folded sub-field `<name>.ci` (filters forgive
# case) and is copied into one English-analysed text field (keywords match attribute words).
FOLDED = "ci"
ATTRIBUTES_TEXT = "attributes_text"

# Keyword attributes every catalog may fill; any other column becomes an extra keyword attribute.
STANDARD_ATTRIBUTES = (
    "colour",
    "colour_group",
    "category",
    "subcategory",
    "article_type",
    "brand",
    "gender",
    "season",
    "usage",
)
# The standard attributes that say what kind of product it is: a photo plus words ranks
# products of the kind the photo shows above others that match the words.
KIND_ATTRIBUTES = ("category", "subcategory", "article_type")
# Fields with a fixed meaning, never extra attributes. `images` holds more photos of the
# product (separated by |), as do columns image_2, image_3, ...
CORE_FIELDS = (
    SKU, "image", "images", "title", "description", "price", "in_stock", "popularity",
)  # fmt: skip
EXTRA_IMAGE_COLUMN = re.compile(r"image_(\d+)")
# A catalog column with one of these names is renamed `attr_<name>` (plus the old
# single-vector field of mapping version 1).
RESERVED_FIELDS = frozenset({*INTERNAL_FIELDS, "image_vector"})

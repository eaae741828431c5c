"""Query image/text -> one unit query vector, with the encoder checked against the index.

The encoder is handed in (plugin/ never imports torch); images go through ingest.images, the
one loader, so a catalog photo used as a query gets exactly the pixels ingest embedded.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from visearch.plugin.errors import (
    EncoderMismatchError,
    InvalidParamsError,
    QueryImageError,
    UnsupportedQueryError,
)
from visearch.plugin.params import ImageInput, SearchParams
from visearch.plugin.schema import IndexSchema
from visearch.vectors.encoders import Encoder
from visearch.vectors.images import (
    DEFAULT_CONFIG,
    ImageError,
    ImageLoaderConfig,
    decode_image,
    load_image,
)

BYTES_REF = "<uploaded bytes>"


def check_encoder(params: SearchParams, schema: IndexSchema, encoder: Encoder | None) -> Encoder:
    """The encoder can embed this query, and its vectors compare with the index's."""
    if encoder is None:
        raise UnsupportedQueryError(
            "image and text queries need an encoder; this Searcher was made without one"
        )
    if params.text is not None and not encoder.supports_text:
        raise UnsupportedQueryError(
            f"encoder {encoder.name!r} embeds images only, so it cannot search by text; "
            "use keywords for a text search, or an index built with a CLIP encoder (clip:...)"
        )
    if schema.encoder is not None and schema.encoder != encoder.name:
        raise EncoderMismatchError(schema.alias, schema.encoder, encoder.name)
    if schema.dim is not None and schema.dim != encoder.dim:
        detail = f" ({encoder.dim} dimensions, the index has {schema.dim})"
        raise EncoderMismatchError(schema.alias, str(schema.encoder), encoder.name, detail)
    return encoder


def load_query_image(image: ImageInput, config: ImageLoaderConfig = DEFAULT_CONFIG) -> Image.Image:
    """RGB pixels of a path, http(s) URL, bytes or PIL image; failures -> QueryImageError."""
    try:
        if isinstance(image, Image.Image):
            return image if image.mode == "RGB" else image.convert("RGB")
        if isinstance(image, bytes | bytearray):
            return decode_image(bytes(image), BYTES_REF, config)
        return load_image(os.fspath(image), None, config)
    except ImageError as error:
        raise QueryImageError(error.ref, error.reason) from error


def embed_query(
    encoder: Encoder,
    image: Image.Image | None,
    text: str | None,
    image_weight: float = 1.0,
    text_weight: float = 1.0,
) -> np.ndarray:
    """normalise(image_weight * v_img + text_weight * v_txt) over whichever are given."""
    blend = np.zeros(encoder.dim, dtype=np.float32)
    if image is not None:
        blend += image_weight * encoder.embed_images([image])[0]
    if text is not None:
        blend += text_weight * encoder.embed_texts([text])[0]
    norm = float(np.linalg.norm(blend))
    if norm < 1e-6:
        raise InvalidParamsError("the weighted image and text vectors cancel out; change weights")
    return (blend / norm).astype(np.float32)

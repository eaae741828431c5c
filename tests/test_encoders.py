"""Encoder contract tests: shapes, dtype, norms, determinism, batching, errors, real weights.

CLIP runs on a tiny random-weight model (the hub is unreachable), so nothing here asserts
relevance for CLIP; only EfficientNet-Lite0, with real ImageNet weights, is checked on photos.
No OpenSearch needed.
"""

from __future__ import annotations

import os

# Before anything imports huggingface_hub, which reads these once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support import FASHION
from visearch.scripts.random_clip import save_random_clip, tiny_config
from visearch.vectors import load_encoder
from visearch.vectors.encoders import Encoder, EncoderError
from visearch.vectors.load import image_fitter

EFFNET = "efficientnet-lite0"

# Chosen from catalog.csv: two T-shirts of different colours, a shoe and a watch. Margins
# (same-type minus cross-type cosine) are about 0.45 with the real weights, so this is robust.
TSHIRT_BLACK = "10006"  # Nike Men AS T90 Black Tshirts
TSHIRT_RED = "10009"  # Nike Men Town Round Red Neck T-Shirts
SHOE = "10127"  # Rockport Men Espresso Brown Casual Shoes
WATCH = "10098"  # Fastrack Men Analogue Plastic White Watch


def synthetic_images(n: int, seed: int = 0) -> list[Image.Image]:
    """Varied sizes and aspect ratios, so resizing and cropping are exercised."""
    rng = np.random.default_rng(seed)
    sizes = [(168, 224), (224, 168), (300, 300), (64, 97), (500, 120)]
    out = []
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        out.append(Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB"))
    return out


def catalog_photo(sku: str) -> Image.Image:
    from visearch.vectors.images import load_image

    return load_image(f"images/{sku}.jpg", base_dir=FASHION)


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_clip(tmp_path_factory.mktemp("models") / "tiny-clip", tiny_config())


@pytest.fixture(scope="module")
def clip_spec(tiny_clip_dir: Path) -> str:
    return "clip:" + str(tiny_clip_dir)


@pytest.fixture(scope="module")
def clip(clip_spec: str) -> Encoder:
    return load_encoder(clip_spec)


@pytest.fixture(scope="module")
def effnet() -> Encoder:
    return load_encoder(EFFNET)


@pytest.fixture(params=["clip", "effnet"])
def encoder(request: pytest.FixtureRequest) -> Encoder:
    return request.getfixturevalue(request.param)


def assert_embeddings(vectors: np.ndarray, n: int, dim: int) -> None:
    assert vectors.shape == (n, dim)
    assert vectors.dtype == np.float32
    assert vectors.flags["C_CONTIGUOUS"]
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_identity(clip: Encoder, effnet: Encoder, tiny_clip_dir: Path) -> None:
    assert isinstance(clip, Encoder) and isinstance(effnet, Encoder)
    assert clip.name == "clip:" + str(tiny_clip_dir)
    assert (clip.dim, clip.supports_text) == (512, True)
    assert (effnet.name, effnet.dim, effnet.supports_text) == (EFFNET, 1280, False)


def test_image_embeddings_shape_dtype_norm(encoder: Encoder) -> None:
    assert_embeddings(encoder.embed_images(synthetic_images(5)), 5, encoder.dim)


def test_deterministic(encoder: Encoder) -> None:
    image = synthetic_images(1, seed=7)[0]
    twice = encoder.embed_images([image, image.copy()])
    again = encoder.embed_images([image])
    np.testing.assert_allclose(twice[0], twice[1], atol=1e-6)
    np.testing.assert_allclose(twice[0], again[0], atol=1e-5)


@pytest.mark.parametrize("kind", ["clip", "effnet"])
def test_batching_invariant(kind: str, clip_spec: str) -> None:
    spec = clip_spec if kind == "clip" else EFFNET
    images = synthetic_images(5, seed=3)
    small = load_encoder(spec, batch_size=2).embed_images(images)
    large = load_encoder(spec, batch_size=32).embed_images(images)
    assert_embeddings(small, 5, large.shape[1])
    np.testing.assert_allclose(small, large, atol=1e-5)


def test_empty_input(encoder: Encoder) -> None:
    empty = encoder.embed_images([])
    assert empty.shape == (0, encoder.dim) and empty.dtype == np.float32


def test_clip_text(clip: Encoder) -> None:
    texts = ["red t-shirt", "brown leather shoes", "a watch with a steel strap"]
    vectors = clip.embed_texts(texts)
    assert_embeddings(vectors, 3, clip.dim)
    assert vectors.shape[1] == clip.embed_images(synthetic_images(1)).shape[1]
    assert not np.allclose(vectors[0], vectors[1])  # inputs reach the model (not relevance)
    np.testing.assert_allclose(clip.embed_texts(texts[:1])[0], vectors[0], atol=1e-5)
    empty = clip.embed_texts([])
    assert empty.shape == (0, clip.dim) and empty.dtype == np.float32


def test_efficientnet_has_no_text(effnet: Encoder) -> None:
    with pytest.raises(EncoderError, match="efficientnet-lite0 has no text tower"):
        effnet.embed_texts(["red t-shirt"])


@pytest.mark.parametrize("spec", ["resnet50", "clip:", "clip", "efficientnet-lite1", ""])
def test_unknown_spec(spec: str) -> None:
    with pytest.raises(EncoderError) as err:
        load_encoder(spec)
    assert "clip:<" in str(err.value) and EFFNET in str(err.value)


def test_missing_clip_path(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match="cannot load CLIP model"):
        load_encoder("clip:" + str(tmp_path / "nope"))


def test_random_clip_is_idempotent(tiny_clip_dir: Path) -> None:
    weights = tiny_clip_dir / "0_CLIPModel" / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert save_random_clip(tiny_clip_dir, tiny_config()) == tiny_clip_dir
    assert weights.stat().st_mtime_ns == before


def test_efficientnet_real_photos(effnet: Encoder) -> None:
    skus = [TSHIRT_BLACK, TSHIRT_RED, SHOE, WATCH]
    vectors = effnet.embed_images([catalog_photo(sku) for sku in skus])
    assert_embeddings(vectors, 4, 1280)
    sim = vectors @ vectors.T
    same_type = sim[0, 1]
    cross_type = max(sim[0, 2], sim[0, 3], sim[1, 2], sim[1, 3])
    assert same_type > cross_type + 0.2, sim.round(3)


def test_photos_fitted_ahead_embed_as_the_photos_themselves(effnet: Encoder) -> None:
    # Ingest crops and resizes photos in its decode threads (image_fitter), beside the model:
    # the vectors must be those of the photos as the model would have fitted them itself.
    photo = catalog_photo(SHOE)
    photos = [photo, photo.resize((500, 260)), photo.convert("L"), photo.resize((224, 224))]
    fit = image_fitter(effnet.name)
    assert fit is not None and image_fitter("clip:clip-ViT-B-32@int8") is None
    fitted = [fit(p) for p in photos]
    assert all(p.size == (224, 224) and p.mode == "RGB" for p in fitted)
    assert np.array_equal(effnet.embed_images(fitted), effnet.embed_images(photos))

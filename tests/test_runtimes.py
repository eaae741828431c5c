"""Encoder runtimes: fp32 exports reproduce torch, int8/bf16 pass the quality gate or are
refused with its figures, the cache is reused, names say the precision, `auto` chooses and
remembers, and tiny CLIP runs both towers through ONNX.

Kept small (a few dozen photos, the tiny CLIP): speed and full-size quality are measured by
bench/encode_throughput.py. No OpenSearch needed.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from support import FASHION, GROCERY
from visearch.scripts.random_clip import save_random_clip, tiny_config
from visearch.vectors import Runtime, encoder_name, load_encoder, resolve_spec
from visearch.vectors.encoders import EncoderError, unit_rows
from visearch.vectors.keys import vector_key
from visearch.vectors.runtimes import default_threads, split_precision
from visearch.vectors.runtimes.gate import GateRefusedError, GateRun, LabelledSet
from visearch.vectors.runtimes.sessions import cpu_has_bf16
from visearch.web.backend import encoder_info
from visearch.web.batching import BatchingEncoder

EFFNET = "efficientnet-lite0"


def fashion_photos(n: int = 6) -> list:
    from visearch.vectors.images import load_image

    return [load_image(f"images/{10000 + i}.jpg", base_dir=FASHION) for i in range(n)]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="module")
def small_quality_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Grocery val, every 6th query (50) against the whole gallery (81): the real task, small."""
    folder = tmp_path_factory.mktemp("quality")
    with (GROCERY / "queries.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["split"] == "val"][::6]
    with (GROCERY / "gallery.csv").open(newline="") as handle:
        gallery = list(csv.DictReader(handle))
    for name, table in (("queries.csv", rows), ("gallery.csv", gallery)):
        for row in table:
            row["image"] = str(GROCERY / row["image"])
        with (folder / name).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)
    return folder


@pytest.fixture(scope="module")
def calibration() -> list[Path]:
    """A few of grocery's own catalog photos (never among the quality set's)."""
    return sorted((GROCERY / "gallery_natural" / "train").glob("*.jpg"))[::80]


@pytest.fixture(scope="module")
def torch_effnet():
    return load_encoder(EFFNET, device="cpu")


def test_runtime_parsing() -> None:
    assert (Runtime.parse("openvino:2").engine, Runtime.parse("openvino:2").threads) == (
        "openvino",
        2,
    )
    assert Runtime.parse(None).engine == "torch" and Runtime.parse("AUTO").engine == "auto"
    assert Runtime.parse("onnx").thread_count == default_threads() >= 1
    for bad in ("tensorrt", "onnx:0", "onnx:x"):
        with pytest.raises(EncoderError):
            Runtime.parse(bad)


@pytest.mark.parametrize("command", ["ingest", "search", "serve", "eval", "tune"])
def test_every_model_command_takes_the_runtime(command: str, tmp_path: Path) -> None:
    """ingest, search, serve, eval and tune share the runtime options, flag and environment
    alike, and a bad runtime is a usage error before anything is loaded."""
    from click.testing import CliRunner

    from visearch import cli

    runner = CliRunner()
    shown = runner.invoke(cli.main, [command, "--help"], terminal_width=200).output
    for option in ("--runtime", "VISEARCH_RUNTIME", "--calibration", "--quality-set"):
        assert option in shown
    listed = tmp_path / "list.csv"
    listed.write_text("image\n")
    args = [command, str(listed)] if command in ("ingest", "eval", "tune") else [command]
    bad = runner.invoke(cli.main, args, env={"VISEARCH_RUNTIME": "tensorrt"})
    assert bad.exit_code == 2 and "unknown runtime 'tensorrt'" in bad.output


def test_commands_load_the_encoder_on_their_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one loader every command uses hands the configured runtime, with its calibration
    photos and labelled set, to `load_encoder`."""
    import visearch.vectors
    from visearch.commands.options import Settings

    calls = []
    monkeypatch.setattr(visearch.vectors, "load_encoder", lambda spec, **kw: calls.append(kw))
    settings = Settings(runtime="openvino:1", calibration=tmp_path, quality_set=GROCERY)
    settings.encoder_loader(batch_size=8)(f"{EFFNET}@int8")
    [given] = calls
    assert given["runtime"] == Runtime("openvino", 1, calibration=tmp_path, quality=GROCERY)
    assert given["batch_size"] == 8


def test_benchmarks_compare_runtimes_side_by_side() -> None:
    """`--runtimes torch,auto@auto` is torch fp32 against the fastest precision that passes the
    gate, each on the alias that holds its precision."""
    import argparse

    from bench.runtime_args import add_runtime_args, alias_for, runtime_sides

    parser = argparse.ArgumentParser()
    parser.add_argument("--encoder", default=EFFNET)
    add_runtime_args(parser)
    sides = runtime_sides(parser.parse_args(["--runtimes", "torch, openvino:1@int8"]))
    assert [(s.encoder, str(s.runtime), s.slug) for s in sides] == [
        (EFFNET, "torch", "torch"),
        (f"{EFFNET}@int8", "openvino:1", "openvino-1-int8"),
    ]
    [alone] = runtime_sides(parser.parse_args(["--runtime", "onnx"]))
    assert (alone.encoder, alone.runtime.engine) == (EFFNET, "onnx")
    assert alias_for("bench-fashion", EFFNET) == "bench-fashion"
    assert alias_for("bench-fashion", f"{EFFNET}@int8") == "bench-fashion-int8"


def test_names_say_the_precision_where_vectors_differ() -> None:
    assert encoder_name(EFFNET) == encoder_name(f"{EFFNET}@fp32") == EFFNET
    assert encoder_name(f"{EFFNET}@int8") == f"{EFFNET}@int8"
    assert split_precision("clip:/models/a@b") == ("clip:/models/a@b", "fp32")
    assert split_precision("clip:/models/vit@bf16") == ("clip:/models/vit", "bf16")
    digests = ["ab" * 32]
    assert vector_key(digests, encoder_name(EFFNET)) != vector_key(digests, f"{EFFNET}@int8")
    assert resolve_spec(f"{EFFNET}@auto", "torch") == EFFNET  # torch runs fp32 only
    with pytest.raises(EncoderError, match="torch runs fp32 only"):
        load_encoder(f"{EFFNET}@int8")


def test_fp32_exports_reproduce_torch(cache: Path, torch_effnet) -> None:
    photos = fashion_photos()
    reference = torch_effnet.embed_images(photos)
    for engine in ("onnx", "openvino"):
        encoder = load_encoder(EFFNET, runtime=Runtime(engine, cache_dir=cache), batch_size=4)
        assert (encoder.name, encoder.dim, encoder.supports_text) == (EFFNET, 1280, False)
        vectors = encoder.embed_images(photos)
        assert vectors.dtype == np.float32 and vectors.flags["C_CONTIGUOUS"]
        assert cosines(vectors, reference).min() > 0.9999, engine
        assert encoder.embed_images([]).shape == (0, 1280)
        with pytest.raises(EncoderError, match="no text tower"):
            encoder.embed_texts(["red"])
        # what /healthz and /v1/config report, through the service's micro-batcher
        batching = BatchingEncoder(encoder)
        assert encoder_info(batching)["runtime"] == f"{engine}/fp32 x{encoder.threads}"
        batching.close()
    assert encoder_info(torch_effnet)["runtime"] == "torch"
    [model_dir] = [d for d in cache.iterdir() if d.is_dir()]
    assert (model_dir / "fp32-image.onnx").is_file()


def test_the_cache_is_reused(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from visearch.vectors.runtimes.families import EfficientNetFamily

    load_encoder(EFFNET, runtime=Runtime("onnx", cache_dir=cache))
    [export] = cache.glob("*/fp32-image.onnx")
    before = export.stat().st_mtime_ns

    def no_export(*_: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(EfficientNetFamily, "export", no_export)
    assert load_encoder(EFFNET, runtime=Runtime("onnx", cache_dir=cache)).name == EFFNET
    assert export.stat().st_mtime_ns == before
    # A cached export loads without torch at all.
    code = (
        "import sys; from visearch.vectors import Runtime, load_encoder; "
        f"load_encoder({EFFNET!r}, runtime=Runtime('onnx', cache_dir={str(cache)!r})); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_vector_changing_precision_needs_the_gate(cache: Path) -> None:
    with pytest.raises(EncoderError, match="calibrat"):
        load_encoder(f"{EFFNET}@int8", runtime=Runtime("onnx", cache_dir=cache))
    if cpu_has_bf16():
        with pytest.raises(EncoderError, match="quality gate"):
            load_encoder(f"{EFFNET}@bf16", runtime=Runtime("openvino", cache_dir=cache))


def test_the_gate_refuses_changed_vectors_with_figures(cache: Path, small_quality_set: Path):
    fp32 = load_encoder(EFFNET, runtime=Runtime("openvino", cache_dir=cache))

    class Noisy:
        name, dim, supports_text = "noisy", 1280, False

        def embed_images(self, images):
            vectors = fp32.embed_images(images)
            noisy = vectors + np.random.default_rng(0).normal(0, 0.01, vectors.shape)
            return unit_rows(noisy)

    run = GateRun(LabelledSet.read(small_quality_set), fp32)
    assert run.judge("same", fp32).passed
    verdict = run.judge("noisy", Noisy())
    assert not verdict.passed and verdict.mean_cosine < 0.99
    assert "mean cosine to fp32" in GateRefusedError(verdict).args[0]
    assert (verdict.queries, verdict.gallery) == (50, 81)


def test_int8_and_bf16_pass_or_are_refused(
    cache: Path, small_quality_set: Path, calibration: list[Path]
) -> None:
    runtime = Runtime("auto", cache_dir=cache, calibration=calibration, quality=small_quality_set)
    assert resolve_spec(f"{EFFNET}@auto", Runtime("auto", cache_dir=cache)) == EFFNET  # unjudged
    wanted = [("onnx", "int8"), ("openvino", "int8")] + [("openvino", "bf16")] * cpu_has_bf16()
    passed = []
    for engine, precision in wanted:
        spec = f"{EFFNET}@{precision}"
        try:
            encoder = load_encoder(spec, runtime=Runtime.parse(engine, **_data(runtime)))
        except GateRefusedError as refused:
            verdict = refused.verdict
            assert verdict.reasons and "R@1" in str(refused) and "mean cosine" in str(refused)
            assert verdict.mean_cosine < 0.99 or any(
                verdict.reference[k] - verdict.recall[k] > 0.01 for k in (1, 5)
            )
            continue
        assert encoder.name == spec and encoder.precision == precision
        passed.append(spec)
        # Judged once: the verdict is cached, and no photos are needed any more.
        again = load_encoder(spec, runtime=Runtime(engine, cache_dir=cache))
        assert again.name == spec
    chosen = resolve_spec(f"{EFFNET}@auto", runtime)
    assert chosen in (EFFNET, *passed)
    # Every process on this machine resolves @auto the same way, from the cached choice.
    assert resolve_spec(f"{EFFNET}@auto", Runtime("auto", cache_dir=cache)) == chosen
    assert load_encoder(f"{EFFNET}@auto", runtime=Runtime("auto", cache_dir=cache)).name == chosen


def _data(runtime: Runtime) -> dict:
    return {
        "cache_dir": runtime.cache_dir,
        "calibration": runtime.calibration,
        "quality": runtime.quality,
    }


def test_auto_choice_is_cached(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from visearch.vectors.runtimes import auto

    first = load_encoder(EFFNET, runtime=Runtime("auto", cache_dir=cache))
    assert first.name == EFFNET and first.engine in ("onnx", "openvino")

    def no_timing(*_: object, **__: object) -> None:
        raise AssertionError("measured again")

    monkeypatch.setattr(auto, "measure", no_timing)
    again = load_encoder(EFFNET, runtime=Runtime("auto", cache_dir=cache))
    assert (again.engine, again.precision) == (first.engine, first.precision)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> str:
    return "clip:" + str(save_random_clip(tmp_path_factory.mktemp("m") / "tiny", tiny_config()))


def test_tiny_clip_both_towers_through_onnx(tiny_clip: str, cache: Path) -> None:
    torch_clip = load_encoder(tiny_clip, device="cpu")
    exported = load_encoder(tiny_clip, runtime=Runtime("onnx", cache_dir=cache), batch_size=2)
    assert (exported.name, exported.dim, exported.supports_text) == (tiny_clip, 512, True)
    photos = fashion_photos(5)
    texts = ["red ankle boots", "a watch", "striped shirt " * 60]  # the last one is truncated
    images, words = torch_clip.embed_images(photos), torch_clip.embed_texts(texts)
    assert cosines(exported.embed_images(photos), images).min() > 0.9999
    assert cosines(exported.embed_texts(texts), words).min() > 0.9999
    assert exported.embed_texts([]).shape == (0, 512)
    # int8 for a ViT is dynamic (MatMul weights, no calibration). Random weights make the
    # gate's recall meaningless, so only the towers and their fidelity are checked here.
    from visearch.vectors.runtimes.build import Variant
    from visearch.vectors.runtimes.families import family_for

    variant = Variant.of(family_for(tiny_clip), Runtime("onnx", cache_dir=cache))
    int8 = variant.open("onnx", "int8", gate=False)
    assert int8.name == f"{tiny_clip}@int8"
    assert cosines(int8.embed_images(photos), images).mean() > 0.99
    assert cosines(int8.embed_texts(texts), words).mean() > 0.99


@pytest.mark.slow
def test_cli_runtime_queries_a_torch_built_index(
    os_client,
    opensearch_url: str,
    encoder,
    cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--runtime onnx` queries an index that torch built: same name, same vectors, no
    re-embedding; a bad runtime is a usage error."""
    import json
    import shutil

    from click.testing import CliRunner

    from support import RUN_PREFIX, fashion_rows, ingest, write_catalog
    from visearch import cli

    alias = f"{RUN_PREFIX}-runtime"
    catalog = write_catalog(tmp_path / "catalog.csv", fashion_rows(12))
    assert ingest(os_client, catalog, alias, encoder, images_dir=FASHION).failed == 0
    monkeypatch.setenv("HOME", str(tmp_path))  # the CLI's model cache is under it
    models = tmp_path / ".cache" / "visearch" / "models"
    # This module's EfficientNet export: the CLI must find and reuse it.
    shutil.copytree(cache, models, ignore=lambda _, names: [n for n in names if "clip" in n])
    [export] = models.glob("efficientnet*/fp32-image.onnx")
    before = export.stat().st_mtime_ns
    env = {"OPENSEARCH_URL": opensearch_url, "VISEARCH_INDEX": alias}
    photo = str(FASHION / "images" / "10003.jpg")
    args = ["search", "--image", photo, "--k", "3", "--json"]
    result = CliRunner().invoke(cli.main, [*args, "--runtime", "onnx:1"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hits"][0]["sku"] == "10003"
    assert export.stat().st_mtime_ns == before
    bad = CliRunner().invoke(cli.main, [*args, "--runtime", "tensorrt"], env=env)
    assert bad.exit_code == 2 and "unknown runtime" in bad.output

"""Configuration in one place: environment variables give the defaults, flags override them,
and every command gets plain values. The shared options are decorators defined once here.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

DEFAULT_URL = "http://127.0.0.1:9200"
DEFAULT_ELASTICSEARCH_URL = "http://127.0.0.1:9250"  # the local Elasticsearch node's port
DEFAULT_INDEX = "products"
DEFAULT_ENCODER = "clip:clip-ViT-B-32"
DEFAULT_RUNTIME = "torch"
DEFAULT_SHARDS = 1
DEFAULT_REPLICAS = 0

Command = Callable[..., Any]


def env_opensearch_url() -> str:
    """OPENSEARCH_URL, or the default: for scripts (bench/) that take the same setting."""
    return os.environ.get("OPENSEARCH_URL", DEFAULT_URL)


def env_credentials() -> dict[str, Any]:
    """make_client's TLS and basic-auth arguments from OPENSEARCH_CA_CERTS, OPENSEARCH_USER and
    OPENSEARCH_PASSWORD: for scripts (bench/, test fixtures) that reach a secured cluster."""
    return {
        "ca_certs": os.environ.get("OPENSEARCH_CA_CERTS") or None,
        "user": os.environ.get("OPENSEARCH_USER") or None,
        "password": os.environ.get("OPENSEARCH_PASSWORD") or None,
    }


@dataclass(frozen=True)
class Settings:
    """What every command may need: where OpenSearch is, which alias, which encoder."""

    opensearch_url: str = DEFAULT_URL
    index: str = DEFAULT_INDEX
    encoder: str | None = None
    """Asked for by flag or environment; None: the one the index records (else the default)."""
    adapter: Path | None = None
    reranker: Path | None = None
    """A re-ranker from `visearch tune --train reranker` (None: results in look order)."""
    device: str | None = None
    runtime: str = DEFAULT_RUNTIME
    """torch, onnx, openvino or auto, with optional `:THREADS` (see vectors/runtimes)."""
    calibration: Path | None = None
    quality_set: Path | None = None
    ca_certs: Path | None = None
    """The CA file an https cluster's certificate is checked against (default: the system's)."""
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    """Basic auth when the URL carries none (OPENSEARCH_USER / OPENSEARCH_PASSWORD)."""

    def runtime_config(self) -> Any:
        """The encoder runtime with the data int8/bf16 need once per machine."""
        from visearch.vectors import Runtime

        return Runtime.parse(self.runtime, calibration=self.calibration, quality=self.quality_set)

    def load_reranker(self) -> Any:
        """The re-ranker asked for, or None (RerankerError when it cannot be read)."""
        from visearch.plugin.rerank import Reranker

        return Reranker.load(self.reranker) if self.reranker else None

    def client(self, timeout_s: float = 30.0, connect_timeout_s: float | None = None) -> Any:
        from visearch.engine.connection import make_client

        return make_client(
            self.opensearch_url,
            engine="auto",  # OpenSearch or Elasticsearch: the cluster says which
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
            ca_certs=str(self.ca_certs) if self.ca_certs else None,
            user=self.user,
            password=self.password,
        )

    def encoder_loader(self, *, batch_size: int = 32) -> Callable[[str], Any]:
        """spec -> the encoder, with this command's adapter and device."""
        from visearch.vectors import load_encoder

        def load(spec: str) -> Any:
            return load_encoder(
                spec,
                adapter=self.adapter,
                device=self.device,
                batch_size=batch_size,
                runtime=self.runtime_config(),
            )

        return load


def _index_name(_: click.Context, __: click.Parameter, value: str) -> str:
    from visearch.engine.names import check_index_name

    try:
        return check_index_name(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def quiet_model_loading() -> None:
    """No download or checkpoint progress bars from the model libraries: the commands say
    what they load themselves, and `--json` output stays the only output."""
    import logging

    for name in ("transformers", "sentence_transformers", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from huggingface_hub.utils import disable_progress_bars
    except ImportError:  # an older hub without the switch
        return
    disable_progress_bars()


def opensearch_url_option(command: Command) -> Command:
    return click.option(
        "--opensearch-url",
        envvar="OPENSEARCH_URL",
        default=DEFAULT_URL,
        show_default=True,
        help="OpenSearch to talk to; a cluster's node URLs comma-separated; user:password@ for "
        "basic auth (else OPENSEARCH_USER / OPENSEARCH_PASSWORD) [env OPENSEARCH_URL].",
    )(command)


def elasticsearch_url_option(command: Command) -> Command:
    """Where the local Elasticsearch node listens (`visearch elasticsearch up`); the other
    commands reach it through --opensearch-url, which serves either engine."""
    return click.option(
        "--elasticsearch-url",
        envvar="ELASTICSEARCH_URL",
        default=DEFAULT_ELASTICSEARCH_URL,
        show_default=True,
        help="The local Elasticsearch node's URL (loopback) [env ELASTICSEARCH_URL].",
    )(command)


def ca_certs_option(command: Command) -> Command:
    return click.option(
        "--ca-certs",
        envvar="OPENSEARCH_CA_CERTS",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="PEM file of the CA that signed the cluster's certificate (https URLs; default: "
        "the system's CAs) [env OPENSEARCH_CA_CERTS].",
    )(command)


def index_layout_options(command: Command) -> Command:
    """--shards and --replicas: the layout of the indices an ingest creates."""
    command = click.option(
        "--replicas",
        envvar="VISEARCH_REPLICAS",
        type=click.IntRange(0, 10),
        default=DEFAULT_REPLICAS,
        show_default=True,
        help="Replicas of each shard of new indices; 1 on a cluster of 2+ nodes "
        "[env VISEARCH_REPLICAS].",
    )(command)
    return click.option(
        "--shards",
        envvar="VISEARCH_SHARDS",
        type=click.IntRange(1, 1024),
        default=DEFAULT_SHARDS,
        show_default=True,
        help="Primary shards of new indices (a rebuild applies a change); one per data node "
        "on a cluster [env VISEARCH_SHARDS].",
    )(command)


def json_option(what: str) -> Callable[[Command], Command]:
    """`--json`: print `what` as JSON instead of for people."""
    return click.option("--json", "as_json", is_flag=True, help=f"Print {what} as JSON.")


def reranker_option(command: Command) -> Command:
    return click.option(
        "--reranker",
        envvar="VISEARCH_RERANKER",
        type=click.Path(exists=True, path_type=Path),
        help="Re-rank the top 100 of photo and text searches with this model, from `visearch "
        "tune --train reranker` [env VISEARCH_RERANKER].",
    )(command)


def device_option(command: Command) -> Command:
    return click.option(
        "--device", default=None, help="torch device (default: cuda if present, else cpu)."
    )(command)


def _runtime(_: click.Context, __: click.Parameter, value: str) -> str:
    from visearch.vectors import Runtime
    from visearch.vectors.encoders import EncoderError

    try:
        return str(Runtime.parse(value))
    except EncoderError as error:
        raise click.BadParameter(str(error)) from None


def runtime_options(command: Command) -> Command:
    """--runtime, --calibration and --quality-set: how the encoder runs, and the data that
    int8/bf16 need once per machine (calibration photos, a labelled set for the gate)."""
    path = click.Path(exists=True, path_type=Path)
    command = click.option(
        "--quality-set",
        envvar="VISEARCH_QUALITY_SET",
        type=path,
        help="Labelled set for the int8/bf16 quality gate: a folder with queries.csv and "
        "gallery.csv, like ../shared/data/grocery [env VISEARCH_QUALITY_SET].",
    )(command)
    command = click.option(
        "--calibration",
        envvar="VISEARCH_CALIBRATION",
        type=path,
        help="Catalog photos to calibrate int8 on (a folder, or a CSV with an image column) "
        "[env VISEARCH_CALIBRATION].",
    )(command)
    command = _gather_runtime(command)
    return click.option(
        "--runtime",
        envvar="VISEARCH_RUNTIME",
        default=DEFAULT_RUNTIME,
        show_default=True,
        callback=_runtime,
        help="How the encoder runs: torch, onnx, openvino or auto (the fastest that passes the "
        "quality gate here), optionally :THREADS (openvino:2) [env VISEARCH_RUNTIME].",
    )(command)


def _gather_runtime(command: Command) -> Command:
    """The three runtime options as one `runtime` keyword: Settings' fields of the same names."""

    @functools.wraps(command)
    def wrapper(*args: Any, runtime: str, calibration: Path | None, quality_set: Path | None,
                **kwargs: Any) -> Any:  # fmt: skip
        gathered = {"runtime": runtime, "calibration": calibration, "quality_set": quality_set}
        return command(*args, runtime=gathered, **kwargs)

    return wrapper


def _resolved(settings: Settings) -> Settings:
    """An asked-for `@auto` precision, resolved once here, so the name ingest records and the
    encoder every later step loads agree."""
    from dataclasses import replace

    if not settings.encoder or "@auto" not in settings.encoder:
        return settings
    from visearch.vectors import resolve_spec
    from visearch.vectors.encoders import EncoderError

    try:
        return replace(settings, encoder=resolve_spec(settings.encoder, settings.runtime_config()))
    except EncoderError as error:
        raise click.ClickException(f"--encoder {settings.encoder}: {error}") from None


def settings_options(command: Command) -> Command:
    """--opensearch-url, --index, --encoder, --adapter, --device and the runtime options,
    gathered into `settings`."""

    @opensearch_url_option
    @click.option(
        "--index",
        envvar="VISEARCH_INDEX",
        default=DEFAULT_INDEX,
        show_default=True,
        callback=_index_name,
        help="The alias queries and ingest use [env VISEARCH_INDEX].",
    )
    @click.option(
        "--encoder",
        envvar="VISEARCH_ENCODER",
        help="clip:<model id or path> or efficientnet-lite0, optionally @int8, @bf16 or @auto "
        "(precision); default: the one the index was "
        f"built with, else {DEFAULT_ENCODER} [env VISEARCH_ENCODER].",
    )
    @click.option(
        "--adapter",
        envvar="VISEARCH_ADAPTER",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help="Catalog-tuned adapter folder from `visearch tune` [env VISEARCH_ADAPTER].",
    )
    @reranker_option
    @device_option
    @runtime_options
    @ca_certs_option
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        opensearch_url: str,
        index: str,
        encoder: str | None,
        adapter: Path | None,
        reranker: Path | None,
        device: str | None,
        runtime: dict[str, Any],
        ca_certs: Path | None,
        **kwargs: Any,
    ) -> Any:
        settings = Settings(
            opensearch_url=opensearch_url,
            index=index,
            encoder=(encoder or "").strip() or None,
            adapter=adapter,
            reranker=reranker,
            device=device,
            **runtime,
            ca_certs=ca_certs,
            user=os.environ.get("OPENSEARCH_USER") or None,
            password=os.environ.get("OPENSEARCH_PASSWORD") or None,
        )
        return command(*args, settings=_resolved(settings), **kwargs)

    return wrapper


def emit(data: dict[str, Any], as_json: bool, render: Callable[[dict[str, Any]], str]) -> None:
    """Print `data` as JSON for machines or through `render` for people."""
    click.echo(json.dumps(data, indent=2, default=str) if as_json else render(data))

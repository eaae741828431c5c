"""The vectors layer below ingest and query: image loading, the network guard, encoders and
their runtimes, adapters, and the one `load_encoder`."""

from visearch.vectors.load import encoder_name, load_encoder, resolve_spec
from visearch.vectors.runtimes import Runtime

__all__ = ["Runtime", "encoder_name", "load_encoder", "resolve_spec"]

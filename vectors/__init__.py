"""The vectors layer below ingest and query: image loading, the network guard, encoders,
adapters, and the one `load_encoder`."""

from visearch.vectors.load import encoder_name, load_encoder

__all__ = ["encoder_name", "load_encoder"]

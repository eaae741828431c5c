"""Search quality: evaluation against labelled queries, and catalog-tuned adapters."""

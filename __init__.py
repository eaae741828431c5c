"""visearch: visual product search for e-commerce on OpenSearch.

Installed, the repository's top-level folders are this one package's subpackages
(`pyproject.toml` maps `visearch` to the repository root): `visearch.plugin` is `plugin/`,
`visearch.cli` is `cli.py`. The README's layout section shows which way the imports go.
"""

__version__ = "0.1.0"

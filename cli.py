"""`visearch`: the command line. Each command parses, calls the library, and renders; the
commands live in `commands/`, configuration (environment + flags) in `commands/options.py`.
"""

from __future__ import annotations

import click

from visearch.commands.attributes import attributes_group
from visearch.commands.ingest import ingest_command
from visearch.commands.node import elasticsearch_group, opensearch_group
from visearch.commands.quality import eval_command, tune_command
from visearch.commands.search import search_command
from visearch.commands.serve import serve_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """visearch: visual product search on OpenSearch."""


for command in (
    opensearch_group,
    elasticsearch_group,
    ingest_command,
    serve_command,
    search_command,
    eval_command,
    tune_command,
    attributes_group,
):
    main.add_command(command)


if __name__ == "__main__":
    main()

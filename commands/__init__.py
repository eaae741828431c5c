"""The `visearch` subcommands: each parses, calls the library, and renders."""

"""The HTTP service and web page over `plugin.search.Searcher` (`visearch serve`)."""

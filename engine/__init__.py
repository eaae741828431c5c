"""The cluster connection shared by ingest, query and the web app (the one client factory)."""

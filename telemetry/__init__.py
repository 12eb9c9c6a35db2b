"""Device protocols, ingest, the H3 live position store, nearest search, presence, simulator."""

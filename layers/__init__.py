"""Map layers as data: pure functions from state to GeoJSON and style hints."""

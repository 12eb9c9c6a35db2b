"""Grids, people, devices and market entities: load, validate, index (the base package)."""

"""Benchmarks: each measures gridwatch against a baseline in the same run (`make bench`)."""

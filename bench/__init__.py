"""Benchmarks and quality measurements (see README.md); run as ``python -m bench.<name>``."""

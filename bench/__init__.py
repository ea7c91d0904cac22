"""Tether's benchmark suite: ``python -m bench [--full] [--scenario NAME]`` (see docs/performance.md)."""

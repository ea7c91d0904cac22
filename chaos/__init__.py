"""Chaos: faults, load and invariants against the local control plane (``make chaos``)."""

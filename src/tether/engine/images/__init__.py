"""Image update automation as pure functions: the ImagePolicy spec, tag choice, file edits.

The controller lists tags (adapters.registry.tags), asks ``select`` which one
the policy wants, asks ``markers`` how each file must change, and hands the
edits to the Git writer (adapters.git.writeback). Nothing here does I/O.
"""

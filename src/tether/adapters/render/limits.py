"""Size limits on everything a render reads and produces.

Whoever can push to a watched repository controls the input of every render,
so a small file must not be able to cost the controller a lot of memory or
time: a 500-byte YAML alias bomb expands to hundreds of millions of nodes,
and a chart can print gigabytes. Each limit is generous for real manifests
and fails the render with an error naming the file and the limit.

Defaults:

=========================  ===========  ============================================
limit                      default      applies to
=========================  ===========  ============================================
MAX_FILE_BYTES             8 MiB        one manifest, kustomization or value file
MAX_YAML_NODES             1,000,000    nodes of one file, aliases expanded
MAX_YAML_ALIASES           10,000       alias uses in one file
MAX_YAML_DEPTH             100          nesting of mappings and sequences
MAX_RENDERED_BYTES         64 MiB       output of one render (tool stdout, all files)
MAX_RENDERED_OBJECTS       10,000       objects of one render
=========================  ===========  ============================================
"""

from __future__ import annotations

from tether.adapters.render.errors import RenderError

MiB = 1024 * 1024

MAX_FILE_BYTES = 8 * MiB
MAX_YAML_NODES = 1_000_000
MAX_YAML_ALIASES = 10_000
MAX_YAML_DEPTH = 100
MAX_RENDERED_BYTES = 64 * MiB
MAX_RENDERED_OBJECTS = 10_000


def check_file_size(data: bytes | str, file: str, limit: int | None = None) -> None:
    """RenderError when one input file is larger than ``limit`` bytes."""
    limit = MAX_FILE_BYTES if limit is None else limit
    size = len(data.encode() if isinstance(data, str) else data)
    if size > limit:
        raise RenderError(f"file is {size} bytes, over the limit of {limit} bytes per file", file)


def check_rendered_size(size: int, where: str, limit: int | None = None) -> None:
    limit = MAX_RENDERED_BYTES if limit is None else limit
    if size > limit:
        raise RenderError(
            f"render produced {size} bytes or more, over the limit of {limit} bytes", where
        )


def check_object_count(count: int, where: str, limit: int | None = None) -> None:
    limit = MAX_RENDERED_OBJECTS if limit is None else limit
    if count > limit:
        raise RenderError(
            f"render produced {count} objects, over the limit of {limit} objects", where
        )

"""Renderers: plain manifests, kustomize and helm, from repository files to objects."""

from tether.adapters.render.cache import RenderCache
from tether.adapters.render.errors import RenderError
from tether.adapters.render.files import load_directory
from tether.adapters.render.render import describe, render
from tether.adapters.render.source import RenderSource, parse_source

__all__ = [
    "RenderCache",
    "RenderError",
    "RenderSource",
    "describe",
    "load_directory",
    "parse_source",
    "render",
]

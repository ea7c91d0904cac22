"""Sync waves and per-resource sync options, read from the objects' annotations.

Argo CD users carry these in their repositories, so Tether reads Argo CD's
names unchanged and accepts ``tether.dev/`` aliases::

    argocd.argoproj.io/sync-wave: "-1"           (alias tether.dev/sync-wave;
                                                  else helm.sh/hook-weight; else 0)
    argocd.argoproj.io/sync-options: Prune=false,Delete=false,PruneLast=true
                                                 (alias tether.dev/sync-options)

A wave that is not an integer is refused rather than guessed: an object
applied in the wrong wave is how a migration runs after the code it prepares.
"""

from __future__ import annotations

from tether.engine import objects
from tether.engine.objects import Obj, key_of

WAVE_ANNOTATIONS = ("argocd.argoproj.io/sync-wave", "tether.dev/sync-wave")
HELM_HOOK_WEIGHT = "helm.sh/hook-weight"
# Later wins: the Tether spelling over Argo CD's when both name an option.
OPTIONS_ANNOTATIONS = ("argocd.argoproj.io/sync-options", "tether.dev/sync-options")


class WaveError(ValueError):
    """An annotation Tether cannot read; nothing of the sync is applied."""


def wave_of(obj: Obj) -> int:
    """The object's sync wave: Argo CD's annotation, Tether's alias, Helm's hook weight, 0."""
    found = objects.annotations(obj)
    for name in (*WAVE_ANNOTATIONS, HELM_HOOK_WEIGHT):
        text = found.get(name)
        if text is None:
            continue
        try:
            return int(str(text).strip())
        except ValueError:
            key = key_of(obj)
            raise WaveError(
                f"{key.kind}/{key.name}: annotation {name}={text!r} is not an integer"
            ) from None
    return 0


def options_of(obj: Obj | None) -> dict[str, str]:
    """The object's sync options by name (Tether's annotation over Argo CD's)."""
    if obj is None:
        return {}
    found = objects.annotations(obj)
    out: dict[str, str] = {}
    for name in OPTIONS_ANNOTATIONS:
        for part in str(found.get(name) or "").split(","):
            key, sep, value = part.strip().partition("=")
            if sep:
                out[key.strip()] = value.strip().lower()
    return out


def may_prune(obj: Obj | None) -> bool:
    """False for ``Prune=false``: the object stays (the app shows it as needing a prune)."""
    return options_of(obj).get("Prune") != "false"


def may_delete(obj: Obj | None) -> bool:
    """False for ``Delete=false``: the object outlives its app's cascade delete."""
    return options_of(obj).get("Delete") != "false"


def prune_last(obj: Obj | None) -> bool:
    return options_of(obj).get("PruneLast") == "true"

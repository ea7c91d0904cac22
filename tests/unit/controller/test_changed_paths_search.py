"""Which apps a commit touched: answered by a search over the changed paths sorted once,
the same answer as looking at every changed path."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tether.adapters.git.tree import ChangedPaths, normalise_repo_path

SEGMENTS = st.sampled_from(["apps", "app", "app-1", "app-10", "web", "base", "a.yaml", "b"])
PATHS = st.lists(SEGMENTS, min_size=1, max_size=4).map("/".join)


def _scan(changed: set[str], app_path: str) -> bool:
    base = normalise_repo_path(app_path)
    if not base:
        return bool(changed)
    return any(p == base or p.startswith(base + "/") or base.startswith(p + "/") for p in changed)


@settings(max_examples=400, deadline=None)
@given(st.sets(PATHS, max_size=30), PATHS | st.just(""))
def test_the_search_answers_as_a_scan_would(changed: set[str], app_path: str) -> None:
    assert ChangedPaths(changed).touches(app_path) == _scan(changed, app_path)


def test_a_sibling_sharing_a_prefix_is_not_touched() -> None:
    changed = ChangedPaths({"apps/app-10/deployment.yaml", "apps/app-1x"})
    assert not changed.touches("apps/app-1")
    assert changed.touches("apps/app-10")
    assert changed.touches("apps")
    assert ChangedPaths({"apps"}).touches("apps/app-1/")  # a folder replaced by a file


def test_the_paths_are_still_a_set() -> None:
    changed = ChangedPaths(["a/x.yaml", "b/y.yaml"])
    assert changed == {"a/x.yaml", "b/y.yaml"} and bool(changed)
    assert not ChangedPaths()

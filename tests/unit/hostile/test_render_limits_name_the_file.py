"""A render over a limit names the file that took it over, not only the app's directory."""

from __future__ import annotations

import pytest

from tether.adapters.render import RenderError, limits, render


def _configmaps(count: int, prefix: str) -> bytes:
    docs = [
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {prefix}-{i}\n" for i in range(count)
    ]
    return "---\n".join(docs).encode()


def test_too_many_objects_names_the_file_that_went_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_RENDERED_OBJECTS", 5)
    files = {"apps/x/a.yaml": _configmaps(3, "a"), "apps/x/b.yaml": _configmaps(3, "b")}
    with pytest.raises(RenderError, match=r"^apps/x/b\.yaml: render produced 6 objects"):
        render(files, {"repoURL": "https://example.com/r.git", "path": "apps/x"})


def test_too_many_bytes_names_the_file_that_went_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_RENDERED_BYTES", 100)
    files = {"apps/x/a.yaml": _configmaps(1, "a"), "apps/x/b.yaml": _configmaps(1, "b")}
    with pytest.raises(RenderError, match=r"^apps/x/b\.yaml: render produced \d+ bytes"):
        render(files, {"repoURL": "https://example.com/r.git", "path": "apps/x"})

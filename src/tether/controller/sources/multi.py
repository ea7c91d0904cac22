"""Multi-source Applications (``spec.sources``, Argo CD's shape).

Each source resolves to its own revision (a commit, or a chart version) and
the app's revision is those revisions joined by ``,`` in source order
(``1.4.0,3f2a9c...``): a new commit in any source, a values-only commit
included, is a new app revision, shown in status and history, and a
rollback to a history entry pins every source again. Sources with a
``ref`` lend their Git files to the others' ``$ref/...`` value files and are
rendered themselves only when they set a ``path``. The objects of all
rendered sources are deployed together; the same object from two sources
is an error naming both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.adapters import git
from tether.adapters.render import RenderError
from tether.engine.application import ApplicationSpec, Source
from tether.engine.objects import Obj, key_of

if TYPE_CHECKING:
    from tether.controller.sources.step import RenderResult, Sources

MULTI_SEPARATOR = ","


def source_spec(spec: ApplicationSpec, source: Source) -> ApplicationSpec:
    """``spec`` as if ``source`` were its only source."""
    return spec.model_copy(update={"source": source, "sources": []})


def split_revision(revision: str | None, count: int) -> list[str | None]:
    """Per-source revisions of an app revision; a bare revision pins the first source."""
    if not revision:
        return [None] * count
    parts = revision.split(MULTI_SEPARATOR)
    if len(parts) == count:
        return [p or None for p in parts]
    return [revision] + [None] * (count - 1)


class MultiSources:
    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self._messages: dict[str, str] = {}

    def _credentials(self, spec: ApplicationSpec, source: Source) -> git.GitCredentials | None:
        return self.sources.git_credentials(source.repo_url, spec.project)

    async def resolve(
        self, spec: ApplicationSpec, revision: str | None, *, since: float | None
    ) -> str:
        wanted = split_revision(revision, len(spec.sources))
        resolved = []
        for source, rev in zip(spec.sources, wanted, strict=True):
            creds = self._credentials(spec, source)
            one = source_spec(spec, source)
            resolved.append(await self.sources.resolve(one, rev, creds, since=since))
        return MULTI_SEPARATOR.join(resolved)

    async def render(
        self, app_key: str, spec: ApplicationSpec, revision: str, *, app_name: str
    ) -> RenderResult:
        from tether.controller.sources.step import RenderResult

        revisions = revision.split(MULTI_SEPARATOR)
        if len(revisions) != len(spec.sources):
            raise RenderError(f"revision {revision!r} does not name one revision per source")
        refs: dict[str, dict[str, bytes]] = {}
        for source, rev in zip(spec.sources, revisions, strict=True):
            if source.ref is None:
                continue
            if source.is_chart or source.is_artifact:
                what = "a chart" if source.is_chart else "an OCI artifact"
                raise RenderError(f"source with ref: {source.ref} is {what}; refs must be Git")
            creds = self._credentials(spec, source)
            refs[source.ref] = await self.sources.files_at(source.repo_url, rev, creds)
        located: list[tuple[int, Obj]] = []
        rendered = False
        for number, (source, rev) in enumerate(zip(spec.sources, revisions, strict=True)):
            if not source.renders:
                continue
            result = await self.sources.render(
                f"{app_key}#{number}",
                source_spec(spec, source),
                rev,
                self._credentials(spec, source),
                app_name=app_name,
                refs=refs,
            )
            rendered = rendered or result.rendered
            located.extend((number, obj) for obj in result.objects)
        _check_unique(located)
        self._remember(spec, revisions, revision)
        return RenderResult(revision, [obj for _, obj in located], rendered=rendered)

    def _remember(self, spec: ApplicationSpec, revisions: list[str], revision: str) -> None:
        parts = []
        for source, rev in zip(spec.sources, revisions, strict=True):
            chart = self.sources.charts.message(
                source.repo_url, rev
            ) or self.sources.artifacts.message(source.repo_url, rev)
            name = source.ref or source.chart or source.path
            parts.append(chart or f"{name}@{rev[:12]}")
        self._messages[revision] = "; ".join(parts)
        while len(self._messages) > 256:
            self._messages.pop(next(iter(self._messages)))

    def message(self, revision: str) -> str:
        return self._messages.get(revision, "")


def _check_unique(located: list[tuple[int, Obj]]) -> None:
    seen: dict[object, int] = {}
    for number, obj in located:
        key = key_of(obj)
        if key in seen and seen[key] != number:
            raise RenderError(f"{key} is rendered by sources[{seen[key]}] and sources[{number}]")
        seen[key] = number

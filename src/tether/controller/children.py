"""The app-of-apps step of a reconcile: what an app may do with the Applications it renders.

Runs after the render, before anything is compared or applied. An app that
renders itself or an app above it is refused (``ManagesAncestor``), and an
app may render Applications only when its project lists the app namespace
as a destination: together with the project's ``namespaceResourceWhitelist``
naming Application (checked with every other kind), that is the permission
to create apps, and so the tenancy boundary of app of apps.
"""

from __future__ import annotations

from tether.controller import projects as project_step
from tether.controller.live_cache import LiveCache
from tether.controller.passes import Pass, Stop
from tether.engine import application as appmodel
from tether.engine import children, projects
from tether.engine.objects import ObjectKey, key_of

CONDITION = "ManagesAncestor"


def admit_children(p: Pass, live: LiveCache, app_namespace: str) -> None:
    """Stop the pass when the rendered Applications may not be applied."""
    rendered = [o for o in p.desired if children.is_app_object(o)]
    if not rendered:
        return

    def parent_of(name: str) -> str | None:
        return children.parent_label(
            live.get(ObjectKey(appmodel.GROUP, appmodel.KIND, app_namespace, name))
        )

    refusal = children.guard(p.name, p.desired, parent_of)
    if refusal is not None:
        raise Stop(CONDITION, refusal)
    assert p.project is not None
    if not projects.destination_allowed(
        p.project, appmodel.IN_CLUSTER, app_namespace, app_namespace
    ):
        names = ", ".join(f"{key_of(o).kind}/{key_of(o).name}" for o in rendered[:5])
        more = f" (and {len(rendered) - 5} more)" if len(rendered) > 5 else ""
        raise Stop(
            project_step.CONDITION,
            f"nothing applied: {names}{more}: Applications are created in the app namespace "
            f"{app_namespace!r}, which is not a destination of project {p.project.name} (an "
            "app may render Applications only where its project lists the app namespace as a "
            "destination and names Application in namespaceResourceWhitelist)",
        )
    # A project that may not create Applications at all is refused later, with every
    # other kind it does not whitelist; this names only the project a child escapes to.
    apps = children.applications(rendered)
    may_create = not projects.check_objects(p.project, [key_of(o) for o in apps])
    # ApplicationSets keep to the project by themselves (the set controller checks it).
    outside = children.project_refusal(p.project, apps) if may_create else None
    if outside is not None:
        raise Stop(project_step.CONDITION, outside)

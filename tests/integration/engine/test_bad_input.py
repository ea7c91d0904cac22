"""Bad input never reaches the cluster: the last good state stays, a condition says why.

Each broken commit below also changes the ConfigMap (LOG_LEVEL -> debug) and
deletes a file (the Service), so "untouched" is checked both ways: nothing
from that render was applied and nothing was pruned.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from fixtures.gitserver import GitServer, free_port, wait_for_port
from fixtures.tether import Apps, condition, example_files
from fixtures.waiting import await_for
from tether.controller.runtime import Controller

AUTO = {"prune": True, "selfHeal": True}


class Story:
    """A synced app, ready to receive a broken commit."""

    def __init__(self, git_repo: Any, apps: Apps, dest: str, flavour: str, path: str) -> None:
        self.git_repo, self.apps, self.dest = git_repo, apps, dest
        self.files = example_files(flavour)
        self.path = path
        self.name = ""

    async def start(self, repo_url: str | None = None, **create: Any) -> str:
        self.git_repo.commit(self.files, message="good")
        self.name = await self.apps.create(
            repo_url or self.git_repo.git_url,
            path=self.path,
            dest=self.dest,
            automated=AUTO,
            **create,
        )
        await self.apps.wait_synced(self.name)
        return self.name

    def changed_config(self) -> dict[str, str | None]:
        """The ConfigMap changed and the Service file deleted (flavour-aware)."""
        out: dict[str, str | None] = {}
        for path, text in self.files.items():
            if "LOG_LEVEL: info" in text:
                out[path] = text.replace("LOG_LEVEL: info", "LOG_LEVEL: debug")
            if path.endswith("service.yaml"):
                out[path] = None
        if any(p.endswith("kustomization.yaml") for p in self.files):
            kust = next(p for p in self.files if p.endswith("base/kustomization.yaml"))
            out[kust] = self.files[kust].replace("  - service.yaml\n", "")
        return out

    async def expect_refused(self, ctype: str, *needles: str) -> dict[str, Any]:
        def has(st: dict[str, Any]) -> bool:
            cond = condition(st, ctype)
            return cond is not None and all(n in cond["message"] for n in needles)

        st = await self.apps.wait(self.name, has, f"{ctype} naming {needles}")
        await self.untouched()
        return st

    async def untouched(self) -> None:
        kube = self.apps.kube
        cms = [
            o
            for o in await self._list("v1", "ConfigMap")
            if o["metadata"]["name"].startswith("finance-api-config")
        ]
        assert len(cms) == 1 and cms[0]["data"]["LOG_LEVEL"] == "info", cms
        services = await self._list("v1", "Service")
        assert [s["metadata"]["name"] for s in services] == ["finance-api"], "pruned"
        deployment = await kube.get("apps/v1", "Deployment", "finance-api", self.dest)
        assert deployment["spec"]["replicas"] == 1

    async def _list(self, api_version: str, kind: str) -> list[dict[str, Any]]:
        api = await self.apps.kube.resource_for(api_version, kind)
        items, _ = await self.apps.kube.list(api, self.dest)
        return [o for o in items if o["metadata"]["name"] != "kube-root-ca.crt"]


@pytest.fixture
def story(git_repo: Any, apps: Apps, dest_namespace: str) -> Story:
    return Story(git_repo, apps, dest_namespace, "plain", "apps/finance")


async def test_invalid_yaml_names_the_file_and_line(story: Story) -> None:
    await story.start()
    broken = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  a: [1, 2\n"
    story.git_repo.commit(story.changed_config() | {"apps/finance/extra.yaml": broken})
    st = await story.expect_refused("ComparisonError", "apps/finance/extra.yaml:")
    message = condition(st, "ComparisonError")["message"]  # type: ignore[index]
    line = message.split("apps/finance/extra.yaml:")[1].split(":")[0]
    assert line.isdigit() and 5 <= int(line) <= 7, message


async def test_duplicate_objects_are_refused_naming_the_object(story: Story) -> None:
    await story.start()
    copy = story.files["apps/finance/configmap.yaml"]
    story.git_repo.commit(story.changed_config() | {"apps/finance/copy.yaml": copy})
    await story.expect_refused("ComparisonError", "duplicate", "finance-api-config")


async def test_unknown_kind_is_an_error_on_that_resource_and_nothing_is_applied(
    story: Story, controller: Controller
) -> None:
    await story.start()
    widget = (
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: gadget\nspec:\n  size: 3\n"
    )
    story.git_repo.commit(story.changed_config() | {"apps/finance/widget.yaml": widget})

    def widget_error(st: dict[str, Any]) -> bool:
        return any(
            r["kind"] == "Widget" and "Widget" in (r.get("message") or "")
            for r in st.get("resources") or []
        )

    st = await story.apps.wait(story.name, widget_error, "an error on the Widget resource")
    passes = controller.metrics.reconciles
    await await_for(lambda: _after(controller, passes + 2), what="two more passes")
    await story.untouched()
    assert st["sync"]["status"] == "OutOfSync"
    widget_entry = next(r for r in st["resources"] if r["kind"] == "Widget")
    assert "example.com/v1" in widget_entry["message"], widget_entry
    st = await story.apps.status(story.name)
    assert condition(st, "SyncError") is not None
    assert "Widget" in st["operationState"]["message"]
    assert "nothing was applied" in st["operationState"]["message"]


async def _after(controller: Controller, count: int) -> bool:
    return controller.metrics.reconciles >= count


async def test_path_missing_at_that_revision_keeps_the_last_state(story: Story) -> None:
    await story.start()
    story.git_repo.commit(
        {p: None for p in story.files} | {"elsewhere/README.md": "moved\n"},
        message="moved the app away",
    )
    await story.expect_refused("ComparisonError", "apps/finance", "does not exist")


async def test_kustomize_error_names_the_kustomization(
    git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    story = Story(git_repo, apps, dest_namespace, "kustomize", "apps/finance/base")
    await story.start()
    kust = "apps/finance/base/kustomization.yaml"
    changed = story.changed_config()
    changed[kust] = str(changed[kust]) + "  - missing.yaml\n"
    git_repo.commit(changed)
    await story.expect_refused("ComparisonError", "missing.yaml")


async def test_helm_error_names_the_template(
    git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    story = Story(git_repo, apps, dest_namespace, "helm", "apps/finance/finance-app")
    await story.start()
    broken = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: {{ nosuchfunc }}\n"
    git_repo.commit(
        story.changed_config() | {"apps/finance/finance-app/templates/broken.yaml": broken}
    )
    await story.expect_refused("ComparisonError", "broken.yaml", "nosuchfunc")


async def test_symlink_escaping_the_repository_is_refused(story: Story) -> None:
    await story.start()
    story.git_repo.commit(
        story.changed_config(),
        symlinks={"apps/finance/passwd.yaml": "../../../../../../etc/passwd"},
    )
    await story.expect_refused("ComparisonError", "passwd.yaml")


async def test_object_in_another_namespace_is_refused_naming_it(story: Story) -> None:
    await story.start()
    other = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sneaky\n"
        "  namespace: kube-system\ndata:\n  a: '1'\n"
    )
    story.git_repo.commit(story.changed_config() | {"apps/finance/sneaky.yaml": other})
    await story.expect_refused("ComparisonError", "ConfigMap/sneaky", "kube-system")


@pytest.fixture
def own_daemon(git_server: GitServer) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A git daemon this test may kill: the Git server going away."""
    port = free_port()
    proc = subprocess.Popen(
        [
            "git",
            "daemon",
            "--export-all",
            "--reuseaddr",
            f"--base-path={git_server.repos}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(git_server.repos),
        ],
        env=git_server.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # `git daemon` forks git-daemon: kill the whole group
    )
    wait_for_port(port, proc)
    yield f"git://127.0.0.1:{port}", proc
    _kill_group(proc)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(5)


async def test_unreachable_git_keeps_the_last_synced_state_and_reports_it(
    story: Story, own_daemon: tuple[str, subprocess.Popen[bytes]]
) -> None:
    base, daemon = own_daemon
    await story.start(repo_url=f"{base}/{story.git_repo.name}.git")
    _kill_group(daemon)
    story.git_repo.commit(story.changed_config(), message="pushed while the server is down")
    st = await story.expect_refused("ComparisonError", "cannot read the source")
    assert st["sync"]["status"] == "Synced"
    assert [h["id"] for h in st["history"]] == [1]


async def test_invalid_spec_is_an_invalid_spec_condition_naming_the_field(
    story: Story, controller: Controller
) -> None:
    name = await story.start()
    await story.apps.kube.merge_patch(
        "tether.dev/v1alpha1",
        "Application",
        name,
        {"spec": {"syncPolicy": {"syncOptions": ["Prune=sometimes"]}}},
        "tether",
    )
    st = await story.expect_refused("InvalidSpec", "spec.syncPolicy.syncOptions", "Prune=sometimes")
    assert condition(st, "InvalidSpec") is not None
    story.git_repo.commit(story.changed_config(), message="while the spec is invalid")
    passes = controller.metrics.reconciles
    await await_for(lambda: _after(controller, passes + 2), what="two more passes")
    await story.untouched()

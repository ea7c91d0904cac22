"""What the Flux scenario creates and when it counts an app as done."""

from typing import Any

from bench import fluxmttp

SHA = "0123456789abcdef0123456789abcdef01234567"


def _ks(ready: str, revision: str, generation: int = 1, observed: int = 1) -> dict[str, Any]:
    cond = {"type": "Ready", "status": ready, "reason": "R", "observedGeneration": observed}
    return {
        "metadata": {"name": "app-3", "generation": generation},
        "status": {"lastAppliedRevision": revision, "conditions": [cond]},
    }


def test_kustomization_follows_flux_benchmark_settings() -> None:
    spec = fluxmttp.kustomization(3)["spec"]
    assert spec["path"] == "./apps/app-3"
    assert spec["targetNamespace"] == "app-3"
    assert (spec["prune"], spec["wait"], spec["interval"], spec["timeout"]) == (
        True,
        True,
        "60m",
        "5m",
    )
    assert spec["sourceRef"] == {"kind": "GitRepository", "name": fluxmttp.GITREPO}


def test_each_app_folder_holds_its_namespace_because_flux_does_not_create_it() -> None:
    files = fluxmttp.repo_files(2, "6.7.1")
    assert "kind: Namespace" in files["apps/app-1/namespace.yaml"]
    assert "name: app-1" in files["apps/app-1/namespace.yaml"]
    assert "6.7.1" in files["apps/app-0/deployment.yaml"]
    assert len(files) == 10


def test_an_app_is_done_when_ready_at_the_pushed_commit() -> None:
    assert fluxmttp.applied(_ks("True", f"main@sha1:{SHA}"), SHA)
    assert not fluxmttp.applied(_ks("True", "main@sha1:other"), SHA)
    assert not fluxmttp.applied(_ks("False", f"main@sha1:{SHA}"), SHA)
    assert not fluxmttp.applied({"metadata": {"name": "x"}}, SHA)


def test_a_failed_first_pass_counts_as_reconciled_once() -> None:
    assert fluxmttp.reconciled_once(_ks("False", ""))
    assert fluxmttp.reconciled_once(_ks("True", "main@sha1:x"))


def test_a_pass_in_progress_or_of_an_older_generation_does_not() -> None:
    assert not fluxmttp.reconciled_once(_ks("Unknown", ""))
    assert not fluxmttp.reconciled_once(_ks("False", "", generation=2, observed=1))
    assert not fluxmttp.reconciled_once({"metadata": {"generation": 1}, "status": {}})

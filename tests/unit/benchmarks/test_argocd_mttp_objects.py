"""What the Argo CD scenario creates and when it counts an app as done."""

from bench import argocdmttp

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_applications_carry_tethers_spec_in_argo_cds_group() -> None:
    app = argocdmttp.application(4, "http://127.0.0.1:1/bench.git")
    assert app["apiVersion"] == "argoproj.io/v1alpha1"
    assert app["metadata"] == {"name": "app-4", "namespace": "argocd"}
    spec = app["spec"]
    assert spec["project"] == "default"
    assert spec["source"]["path"] == "apps/app-4"
    assert spec["destination"] == {
        "namespace": "app-4",
        "server": "https://kubernetes.default.svc",
    }
    assert "CreateNamespace=true" in spec["syncPolicy"]["syncOptions"]


def test_an_app_is_done_when_synced_at_the_commit_and_healthy() -> None:
    def app(revision: str, sync: str, health: str) -> dict[str, object]:
        return {
            "status": {
                "sync": {"revision": revision, "status": sync},
                "health": {"status": health},
            }
        }

    assert argocdmttp.synced(app(SHA, "Synced", "Healthy"), SHA)
    assert not argocdmttp.synced(app(SHA, "Synced", "Progressing"), SHA)
    assert not argocdmttp.synced(app(SHA, "OutOfSync", "Healthy"), SHA)
    assert not argocdmttp.synced(app("other", "Synced", "Healthy"), SHA)

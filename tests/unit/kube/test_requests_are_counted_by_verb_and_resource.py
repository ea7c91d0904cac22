from tether.adapters.kube.request_counts import RequestCounts, describe


def test_writes_are_named_as_the_api_server_names_them() -> None:
    apply = "application/apply-patch+yaml"
    path = "/apis/apps/v1/namespaces/a/deployments/web"
    assert describe("PATCH", path, {"dryRun": "All"}, apply) == ("apply", "apps/deployments", True)
    assert describe("PATCH", path, {}, apply) == ("apply", "apps/deployments", False)
    status = "/apis/tether.dev/v1alpha1/namespaces/t/applications/a/status"
    assert describe("PATCH", status, None, "application/merge-patch+json") == (
        "patch",
        "tether.dev/applications/status",
        False,
    )
    assert describe("POST", "/api/v1/namespaces/a/events", None) == ("create", "events", False)


def test_reads_tell_get_list_watch_and_discovery_apart() -> None:
    assert describe("GET", "/api/v1/namespaces/a", None) == ("get", "namespaces", False)
    assert describe("GET", "/api/v1/namespaces", {"limit": 500}) == ("list", "namespaces", False)
    assert describe("GET", "/api/v1/secrets", {"watch": "true"}) == ("watch", "secrets", False)
    assert describe("GET", "/apis/apps/v1", None) == ("discovery", "/apis/apps/v1", False)
    assert describe("GET", "/api/v1/namespaces/a/status", None) == (
        "get",
        "namespaces/status",
        False,
    )


def test_tally_counts_each_request() -> None:
    counts = RequestCounts()
    counts.add("GET", "/api/v1/namespaces/a/configmaps/x", None)
    counts.add("GET", "/api/v1/namespaces/b/configmaps/y", None)
    assert counts.snapshot() == {("get", "configmaps", False): 2}
    assert counts.total() == 2

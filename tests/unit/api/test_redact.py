"""``tether.engine.redact``: plain data in, the same data without credentials out."""

from __future__ import annotations

from tether.engine.redact import MASK, redact, scrub_text, strip_userinfo


def test_userinfo_is_stripped_from_urls() -> None:
    assert strip_userinfo("https://u:p@git.example.com/r.git") == "https://git.example.com/r.git"
    assert strip_userinfo("https://tok@git.example.com:8443/r") == "https://git.example.com:8443/r"
    assert strip_userinfo("ssh://git@host/r.git") == "ssh://host/r.git"
    assert strip_userinfo("git@github.com:acme/r.git") == "git@github.com:acme/r.git"
    assert strip_userinfo("https://host/r.git") == "https://host/r.git"


def test_userinfo_is_stripped_inside_text() -> None:
    text = "fetch of HTTPS://deploy:ghp_x@host/a.git failed; retry https://b@h2/p"
    assert scrub_text(text) == "fetch of HTTPS://host/a.git failed; retry https://h2/p"
    assert scrub_text("mail alice@example.com") == "mail alice@example.com"


def test_helm_values_are_masked_wherever_a_helm_block_appears() -> None:
    helm = {
        "releaseName": "r",
        "valueFiles": ["prod.yaml"],
        "values": "password: x",
        "valuesObject": {"password": "x"},
        "parameters": [{"name": "a", "value": "x", "forceString": True}],
    }
    app = {"spec": {"source": {"helm": helm}}, "status": {"history": [{"source": {"helm": helm}}]}}
    out = redact(app)
    for where in (out["spec"]["source"]["helm"], out["status"]["history"][0]["source"]["helm"]):
        assert where == {
            "releaseName": "r",
            "valueFiles": ["prod.yaml"],
            "values": MASK,
            "valuesObject": MASK,
            "parameters": [{"name": "a", "value": MASK, "forceString": True}],
        }
    assert app["spec"]["source"]["helm"]["values"] == "password: x"  # the input is not changed
    assert redact(app, keep_helm=True) == app

"""Hypothesis strategies for hostile input: JSON values, Kubernetes-shaped objects, YAML text.

Shared by the property tests of this package. Sizes are kept small so that
every property runs in well under a second per hundred examples.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Fast and reproducible: `make test` runs these on every change.
FAST = settings(
    max_examples=100,
    deadline=2000,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Health rules run CEL (slow to evaluate in Python): fewer examples, same reach.
SLOW = settings(FAST, max_examples=30)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),  # what the API server holds
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)


def json_values(max_leaves: int = 25) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(max_size=10), children, max_size=4),
        ),
        max_leaves=max_leaves,
    )


# Words the engine looks for, so generated objects hit its branches.
KEYWORDS = st.sampled_from(
    [
        "status",
        "spec",
        "metadata",
        "conditions",
        "type",
        "reason",
        "message",
        "replicas",
        "readyReplicas",
        "updatedReplicas",
        "availableReplicas",
        "observedGeneration",
        "generation",
        "phase",
        "health",
        "Ready",
        "Available",
        "Progressing",
        "True",
        "False",
        "containerStatuses",
        "state",
        "waiting",
        "terminated",
        "loadBalancer",
        "ingress",
        "succeeded",
        "failed",
        "active",
    ]
)

keys = st.one_of(KEYWORDS, st.text(max_size=8))
k8s_scalars = st.one_of(scalars, KEYWORDS)


def k8s_values(max_leaves: int = 30) -> st.SearchStrategy[Any]:
    """JSON values whose keys and strings are often the words status blocks use."""
    return st.recursive(
        k8s_scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(keys, children, max_size=5),
        ),
        max_leaves=max_leaves,
    )


names = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
label_maps = st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3)

API_KINDS = [
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Pod"),
    ("v1", "Service"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "Namespace"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "ReplicaSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("networking.k8s.io/v1", "Ingress"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ("apiregistration.k8s.io/v1", "APIService"),
    ("argoproj.io/v1alpha1", "Rollout"),
    ("argoproj.io/v1alpha1", "Application"),
    ("cert-manager.io/v1", "Certificate"),
    ("kafka.strimzi.io/v1beta2", "Kafka"),
    ("example.com/v1", "Widget"),
]


@st.composite
def k8s_objects(draw: st.DrawFn, kinds: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """An object as the API server could return it: the envelope is valid, the rest is not."""
    api_version, kind = draw(st.sampled_from(kinds or API_KINDS))
    meta: dict[str, Any] = {"name": draw(names)}
    if draw(st.booleans()):
        meta["namespace"] = draw(names)
    if draw(st.booleans()):
        meta["labels"] = draw(label_maps)
    if draw(st.booleans()):
        meta["annotations"] = draw(label_maps)
    if draw(st.booleans()):
        meta["generation"] = draw(st.integers(min_value=0, max_value=10))
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": meta}
    for part in ("spec", "status", "data"):
        if draw(st.booleans()):
            obj[part] = draw(st.dictionaries(keys, k8s_values(), max_size=5))
    return obj


def yaml_text() -> st.SearchStrategy[str]:
    """YAML that is mostly valid (a dumped JSON value) with hostile edits on top."""
    dumped = st.builds(
        lambda v: yaml.safe_dump(v, default_flow_style=None, allow_unicode=True),
        k8s_values(),
    )
    edits = st.sampled_from(
        [
            "",
            "---\n",
            "\n---\n",
            "&a ",
            "*a ",
            "!!python/object:os.system ",
            "\t",
            ": ",
            "- ",
            "{",
            "[",
            "\ufeff",
            "\r\n",
            "%YAML 1.1\n",
            "!!binary ",
            "<<: *a\n",
            "? ",
            "|\n",
            ">-\n",
        ]
    )

    @st.composite
    def mutated(draw: st.DrawFn) -> str:
        text = draw(dumped)
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            at = draw(st.integers(min_value=0, max_value=len(text)))
            text = text[:at] + draw(edits) + text[at:]
        return text

    return st.one_of(mutated(), st.text(max_size=200))

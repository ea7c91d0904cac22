"""A generated corpus of broken repositories: every way a render can fail, plus hostile files.

Each case is one app directory that first holds a good app (two ConfigMaps,
``cfg`` and ``keep``), then receives one broken commit that also changes
``cfg`` and deletes ``keep``: if anything of that commit were applied, ``cfg``
would change; if anything were pruned, ``keep`` would go. ``names`` is the file
(relative to the app) the condition must name, and ``needles`` the words that
say what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LOLS = ", ".join(['"lol"'] * 9)
ALIAS_BOMB = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: laughs\ndata:\n" + (
    f"  a: &a [{LOLS}]\n"
    + "".join(
        f"  {name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
        for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
)


def configmap(name: str, level: str = "info") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  level: {level}\n"


def many_configmaps(count: int, broken_last: bool = False) -> str:
    docs = [f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m-{i}\n" for i in range(count)]
    if broken_last:
        docs[-1] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {a: b}\n"
    return "---\n".join(docs)


@dataclass(frozen=True)
class Case:
    name: str
    broken: dict[str, str | bytes | None]
    needles: tuple[str, ...]
    names: str | None = None  # the file (relative to the app) the condition names
    flavour: str = "directory"  # directory | kustomize | helm
    extra_good: dict[str, str] = field(default_factory=dict)


def good_files(case: Case) -> dict[str, str]:
    """The app as it is before the broken commit (relative to the app directory)."""
    if case.flavour == "helm":
        return {
            "Chart.yaml": "apiVersion: v2\nname: corpus\nversion: 0.1.0\n",
            "templates/cfg.yaml": configmap("cfg"),
            "templates/keep.yaml": configmap("keep"),
        } | case.extra_good
    files = {"cfg.yaml": configmap("cfg"), "keep.yaml": configmap("keep")} | case.extra_good
    if case.flavour == "kustomize":
        files["kustomization.yaml"] = "resources:\n  - cfg.yaml\n  - keep.yaml\n"
    return files


def broken_commit(case: Case) -> dict[str, str | bytes | None]:
    """cfg changed, keep deleted, and the case's broken files (relative to the app)."""
    if case.flavour == "helm":
        change: dict[str, str | bytes | None] = {
            "templates/cfg.yaml": configmap("cfg", "debug"),
            "templates/keep.yaml": None,
        }
    else:
        change = {"cfg.yaml": configmap("cfg", "debug"), "keep.yaml": None}
    if case.flavour == "kustomize":
        change["kustomization.yaml"] = "resources:\n  - cfg.yaml\n"
    return change | case.broken


MiB = 1024 * 1024

CASES = [
    Case(
        "invalid-yaml", {"bad.yaml": configmap("x") + "  a: [1, 2\n"}, ("invalid YAML",), "bad.yaml"
    ),
    Case(
        "invalid-json", {"bad.json": '{"apiVersion": "v1", "kind": '}, ("invalid JSON",), "bad.json"
    ),
    Case("not-a-mapping", {"bad.yaml": "- a\n- b\n"}, ("not a mapping",), "bad.yaml"),
    Case(
        "no-api-version",
        {"bad.yaml": "kind: ConfigMap\nmetadata:\n  name: x\n"},
        ("has no apiVersion",),
        "bad.yaml",
    ),
    Case(
        "no-kind",
        {"bad.yaml": "apiVersion: v1\nmetadata:\n  name: x\n"},
        ("has no kind",),
        "bad.yaml",
    ),
    Case(
        "no-name",
        {"bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"},
        ("no metadata",),
        "bad.yaml",
    ),
    Case(
        "namespace-not-a-string",
        {"bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: [a]\n"},
        ("metadata.namespace",),
        "bad.yaml",
    ),
    Case(
        "list-item-without-name",
        {
            "bad.yaml": "apiVersion: v1\nkind: List\nitems:\n"
            "  - apiVersion: v1\n    kind: ConfigMap\n"
        },
        ("item 1",),
        "bad.yaml",
    ),
    Case(
        "duplicate-object", {"copy.yaml": configmap("cfg")}, ("duplicate", "ConfigMap"), "copy.yaml"
    ),
    Case(
        "duplicate-keys",
        {"bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  name: y\n"},
        ("already defined at line 4",),
        "bad.yaml",
    ),
    # Refused when placed, after the render: the object is named, not its file.
    Case(
        "object-in-another-namespace",
        {
            "bad.yaml": configmap("sneaky").replace(
                "  name: sneaky\n", "  name: sneaky\n  namespace: kube-system\n"
            )
        },
        ("ConfigMap/sneaky", "kube-system"),
    ),
    Case(
        "giant-file",
        {"giant.yaml": configmap("giant") + "  blob: " + "x" * (9 * MiB) + "\n"},
        ("over the limit",),
        "giant.yaml",
    ),
    Case(
        "deep-nesting",
        {
            "deep.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n  a: "
            + "[" * 10_000
            + "]" * 10_000
            + "\n"
        },
        ("nest",),
        "deep.yaml",
    ),
    Case(
        "deep-nesting-json",
        {
            "deep.json": '{"apiVersion": "v1", "kind": "ConfigMap", "data": '
            + "[" * 100_000
            + "]" * 100_000
            + "}"
        },
        ("nested too deeply",),
        "deep.json",
    ),
    Case("alias-bomb", {"bomb.yaml": ALIAS_BOMB}, ("limit",), "bomb.yaml"),
    Case("recursive-alias", {"loop.yaml": "a: &a [*a]\n"}, ("refers to itself",), "loop.yaml"),
    Case(
        "invalid-utf8",
        {"latin1.yaml": configmap("x").encode() + b"  note: caf\xe9\n"},
        ("not UTF-8",),
        "latin1.yaml",
    ),
    Case(
        "control-character",
        {"ctl.yaml": configmap("x") + "  note: \x07\n"},
        ("control characters",),
        "ctl.yaml",
    ),
    Case(
        "crlf-invalid",
        {"crlf.yaml": (configmap("x") + "  a: [1, 2\n").replace("\n", "\r\n")},
        ("invalid YAML",),
        "crlf.yaml",
    ),
    Case(
        "bom-no-name",
        {
            "bom.yaml": "\ufeffapiVersion: v1\r\nkind: ConfigMap\r\n"
            "metadata:\r\n  labels: {a: b}\r\n"
        },
        ("no metadata.name",),
        "bom.yaml",
    ),
    Case(
        "objects-over-the-limit",
        {"many.yaml": many_configmaps(10_001)},
        ("10002 objects", "over the limit"),
        "many.yaml",
    ),
    Case(
        "ten-thousand-objects-one-broken",
        {"many.yaml": many_configmaps(10_000, broken_last=True)},
        ("document 10000", "no metadata.name"),
        "many.yaml",
    ),
    Case(
        "empty-render-hides-files",
        {"cfg.yaml": None, "main.cue": "package main\n"},
        ("rendered no objects", "main.cue"),
    ),
    Case("jsonnet-error", {"main.jsonnet": "{ a: }\n"}, ("jsonnet",), "main.jsonnet"),
    Case(
        "kustomize-missing-resource",
        {"kustomization.yaml": "resources:\n  - cfg.yaml\n  - missing.yaml\n"},
        ("missing.yaml",),
        flavour="kustomize",
    ),
    Case(
        "helm-template-error",
        {"templates/broken.yaml": configmap("x") + "  a: {{ nosuchfunc }}\n"},
        ("broken.yaml", "nosuchfunc"),
        flavour="helm",
    ),
]

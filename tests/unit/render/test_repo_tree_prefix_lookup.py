"""A commit's sorted tree answers "what is under this path" exactly as a scan of every name."""

import importlib

from tether.adapters.render import files as repo_files
from tether.adapters.render.tree import RepoTree, names_under

# The package exports a function named ``render`` over its module of that name.
render_module = importlib.import_module("tether.adapters.render.render")

TREE = {
    "apps/app-1/deploy.yaml": b"a",
    "apps/app-10/deploy.yaml": b"b",
    "apps/app-1/nested/cm.yaml": b"c",
    "apps/app-1.yaml": b"d",
    "apps/app-2/svc.yaml": b"e",
    "README.md": b"f",
}


def test_names_under_a_prefix_match_a_full_scan_and_nothing_beside_it() -> None:
    tree = RepoTree(TREE)
    for prefix in ("apps/app-1/", "apps/app-1", "apps/", "apps/app-3/", "", "README.md"):
        assert tree.names_under(prefix) == sorted(n for n in TREE if n.startswith(prefix))
        assert sorted(names_under(TREE, prefix)) == tree.names_under(prefix)


def test_an_apps_files_from_a_sorted_tree_are_those_of_a_plain_mapping() -> None:
    tree = RepoTree(TREE)
    assert repo_files.under(tree, "apps/app-1") == repo_files.under(TREE, "apps/app-1")
    assert repo_files.under(tree, "apps/app-1") == {"deploy.yaml": b"a", "nested/cm.yaml": b"c"}
    assert repo_files.under(tree, "apps/app-3") == {}


def test_a_missing_app_path_is_reported_as_missing() -> None:
    tree = RepoTree(TREE)
    assert render_module._path_exists(tree, "apps/app-2")
    assert not render_module._path_exists(tree, "apps/app-3")

"""The chaos smoke: a few of every fault on 20 apps under load, and no invariant broken.

A short run of ``make chaos`` (its own control plane, git daemon, fault proxy
and ``tether controller`` process): the controller SIGKILLed with a sync
requested and a commit pushed just before, kube-apiserver and etcd
restarted, the API answering 429 and 500 for a while, the git server down,
and a force-push rewriting history, while commits and drift keep coming.
After each fault every app must converge to its Git head, with nothing Git
holds missing, nothing pruned that Git holds or the app never owned, no
object flipping, no deploy recorded twice or not at all, and every requested
sync finished once or reported failed.
"""

from __future__ import annotations

import pytest
from chaos.run import Config, run, smoke_plan

pytestmark = pytest.mark.cluster


def test_faults_under_load_break_no_invariant_and_lose_no_sync() -> None:
    result = run(Config(apps=20, plan=smoke_plan()))
    problems = [
        f"fault {f['n']} {f['fault']}: {v}" for f in result["faults"] for v in f["violations"]
    ]
    assert not problems, "\n".join(problems[:30])
    assert result["syncs_lost"] == 0, result["scenarios"]
    assert {f["fault"] for f in result["faults"]} >= {
        "kill",
        "apiserver-restart",
        "etcd-restart",
        "api-429",
        "api-500",
        "git-down",
        "force-push",
    }
    assert all(f["converge_seconds"] is not None for f in result["faults"])

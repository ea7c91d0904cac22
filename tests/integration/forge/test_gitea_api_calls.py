"""The forge adapters against a real Gitea, without a cluster: statuses and pull requests.

These pin the request shapes Tether relies on (``/statuses/{sha}``,
``/pulls`` list, create, edit) to what Gitea really accepts, including the
race of two writers opening the same pull request at once.
"""

from __future__ import annotations

import asyncio
import json

import httpx

from fixtures.gitea import GiteaRepo
from tether.adapters.forge import pulls
from tether.adapters.notify import commit_status as sink
from tether.engine import commit_status as cs
from tether.engine import notifications as n
from tether.engine.images import pullrequest as pr
from tether.testenv.gitea import GiteaServer


def gitea_service(server: GiteaServer, token: str) -> cs.StatusConfig:
    services, problems = cs.parse_services(
        {"service.gitea": f"apiURL: {server.url}\ntoken: $t\n"}, {"t": token}
    )
    assert problems == []
    return services["gitea"]


async def test_a_status_lands_on_the_commit_and_a_bad_token_is_refused_without_echo(
    gitea_server: GiteaServer, gitea_repo: GiteaRepo
) -> None:
    sha = gitea_repo.commit({"a.yaml": "a: 1\n"})
    app = {"spec": {"source": {"repoURL": gitea_repo.url}}, "status": {}}
    notice = n.Notice(n.SYNC_SUCCEEDED, "web", "tether", "ok", "k", sha)
    async with httpx.AsyncClient(timeout=10) as client:
        config = gitea_service(gitea_server, gitea_server.token)
        request = cs.request(notice, config, app)
        assert request is not None
        assert (await sink.send(client, request, config.token)).ok
        bad = gitea_service(gitea_server, "not-a-real-token-0123")
        refused = cs.request(notice, bad, app)
        assert refused is not None
        result = await sink.send(client, refused, bad.token)
    assert not result.ok and result.status == 401
    assert "not-a-real-token" not in result.error
    [status] = gitea_repo.statuses(sha)
    assert (status["status"], status["context"]) == ("success", "tether/web")
    assert json.loads(request.body)["description"] == status["description"]


async def test_ensure_opens_once_then_updates_even_when_two_writers_race(
    gitea_server: GiteaServer, gitea_repo: GiteaRepo
) -> None:
    gitea_repo.commit({"a.yaml": "a: 1\n"})
    gitea_repo.git("checkout", "-q", "-b", "updates")
    gitea_repo.git("commit", "-q", "--allow-empty", "-m", "an update")
    gitea_repo.git("push", "-q", "origin", "updates")
    config = pr.PullRequest.model_validate(
        {"gitea": {"api": gitea_server.url, "tokenRef": {"secretName": "x"}}}
    )
    target = pr.target(config, gitea_repo.url, "updates", "main", gitea_server.token)

    first, second = await asyncio.gather(
        pulls.ensure(target, "Update to 1.1.0", "one"),
        pulls.ensure(target, "Update to 1.1.0", "two"),
    )
    # Gitea takes both creates; the later one closes itself and keeps the older
    assert first.number == second.number
    assert [p["number"] for p in gitea_repo.pulls("open")] == [first.number]
    again = await pulls.ensure(target, "Update to 1.2.0", "three")
    assert (again.number, again.created) == (first.number, False)
    [only] = gitea_repo.pulls("open")
    assert (only["number"], only["title"], only["body"]) == (
        first.number,
        "Update to 1.2.0",
        "three",
    )

    missing = pr.target(config, gitea_repo.url, "no-such-branch", "main", gitea_server.token)
    try:
        await pulls.ensure(missing, "t", "b")
    except pulls.ForgeApiError as exc:
        assert "HTTP" in str(exc) and gitea_server.token not in str(exc)
    else:
        raise AssertionError("a pull request from a missing branch was opened")

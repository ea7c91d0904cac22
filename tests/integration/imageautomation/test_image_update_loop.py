"""The whole loop: a tag pushed to the registry reaches the cluster through a Git commit.

Real parts throughout: the password-protected registry (tags pushed with
skopeo), the git daemon, the local control plane with kwok nodes, and a
Controller that runs image automation beside the app reconciler. Nobody
touches Git by hand after the first commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
from automation_tools import ecr_put

from fixtures.moto_ecr import ACCOUNT, MotoServer
from fixtures.pods import live_pods
from fixtures.registry import RegistryServer
from fixtures.tether import Apps, example_files
from fixtures.waiting import await_for
from tether.controller.runtime import Controller

AUTO = {"prune": True, "selfHeal": True}
ORIGINAL_IMAGE = "image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/finance-api:1.4"


def files_with_marker(image: str, policy: str) -> dict[str, str]:
    files = example_files()
    deploy = files["apps/finance/deployment.yaml"]
    assert ORIGINAL_IMAGE in deploy
    files["apps/finance/deployment.yaml"] = deploy.replace(
        ORIGINAL_IMAGE,
        "# the API image; Tether keeps it at the newest 1.x\n"
        f'          image: {image} # {{"$imagepolicy": "tether:{policy}"}}',
    )
    return files


async def deployment_image(apps: Apps, ns: str) -> str:
    deploy = await apps.kube.get("apps/v1", "Deployment", "finance-api", ns)
    return str(deploy["spec"]["template"]["spec"]["containers"][0]["image"])


async def wait_for_image(apps: Apps, ns: str, image: str) -> None:
    async def rolled() -> bool:
        if await deployment_image(apps, ns) != image:
            return False
        pods = await live_pods(apps.kube, ns)
        return any(p["spec"]["containers"][0]["image"] == image for p in pods)

    await await_for(rolled, timeout=90, what=f"Deployment and a Pod at {image}")


async def test_a_pushed_tag_in_range_is_committed_and_synced_and_one_outside_is_ignored(
    git_repo: Any,
    apps: Apps,
    controller: Controller,
    policies: Any,
    registry_server: RegistryServer,
    repository: str,
    push_tag: Callable[[str, str], None],
    dest_namespace: str,
) -> None:
    image = f"{registry_server.host}/{repository}"
    name = "finance-api-" + repository.rsplit("-", 1)[-1]
    git_repo.commit(files_with_marker(f"{image}:1.0.0", name), message="finance app")
    app = await apps.create(git_repo.git_url, dest=dest_namespace, automated=AUTO)
    await apps.wait_synced(app)
    await policies.create(
        {
            "image": image,
            "secretRef": {"name": await policies.pull_secret(registry_server)},
            "interval": "1s",
            "policy": {"semver": {"range": ">=1.0.0 <2.0.0"}},
            "writeBack": {"repoURL": git_repo.git_url, "branch": "main", "paths": ["apps"]},
        },
        name=name,
    )

    push_tag(repository, "2.0.0")  # outside the range: never chosen
    push_tag(repository, "1.1.0")
    await wait_for_image(apps, dest_namespace, f"{image}:1.1.0")

    git_repo.git("pull", "-q", "origin", "main")
    deploy = (git_repo.work / "apps/finance/deployment.yaml").read_text()
    assert f'image: {image}:1.1.0 # {{"$imagepolicy": "tether:{name}"}}' in deploy
    assert "# the API image; Tether keeps it at the newest 1.x\n" in deploy
    assert files_with_marker(f"{image}:1.1.0", name)["apps/finance/deployment.yaml"] == deploy
    subject = git_repo.git("log", "-1", "--format=%an|%s")
    assert subject == f"Tether Image Automation|Update {image} to 1.1.0"
    body = git_repo.git("log", "-1", "--format=%b")
    assert f"ImagePolicy tether/{name}" in body
    status = await policies.status(name)
    assert status["latestTag"] == "1.1.0"
    assert status["lastCommit"]["sha"] == git_repo.head()
    assert "2.0.0" not in deploy


async def test_an_ecr_repository_is_scanned_through_the_ecr_api_and_kustomize_images_updated(
    git_repo: Any,
    apps: Apps,
    controller: Controller,
    policies: Any,
    moto_ecr: MotoServer,
    dest_namespace: str,
) -> None:
    ecr = boto3.client(
        "ecr",
        region_name="eu-west-1",
        endpoint_url=moto_ecr.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    repo_name = f"team/finance-{dest_namespace}"
    ecr.create_repository(repositoryName=repo_name)
    ecr_put(ecr, repo_name, "1.4.0")
    image = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/{repo_name}"
    files = example_files()
    files["apps/finance/deployment.yaml"] = files["apps/finance/deployment.yaml"].replace(
        ORIGINAL_IMAGE, f"image: {image}:1.4.0"
    )
    files["apps/finance/kustomization.yaml"] = (
        "resources:\n  - configmap.yaml\n  - deployment.yaml\n  - service.yaml\n"
        f"images:\n  # written by Tether\n  - name: {image}\n    newTag: 1.4.0 # ECR\n"
    )
    git_repo.commit(files, message="finance app with kustomize")
    app = await apps.create(git_repo.git_url, dest=dest_namespace, automated=AUTO)
    await apps.wait_synced(app)
    keys = await policies.secret(
        {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    )
    name = await policies.create(
        {
            "image": image,
            "ecr": {"endpointURL": moto_ecr.url, "credentialsSecretRef": {"name": keys}},
            "interval": "1s",
            "policy": {"semver": {"range": "^1.4.0"}},
            "writeBack": {
                "repoURL": git_repo.git_url,
                "kustomize": {"path": "apps/finance"},
            },
        }
    )

    ecr_put(ecr, repo_name, "1.5.0")
    ecr_put(ecr, repo_name, "2.0.0")
    await wait_for_image(apps, dest_namespace, f"{image}:1.5.0")
    git_repo.git("pull", "-q", "origin", "main")
    kustomization = (git_repo.work / "apps/finance/kustomization.yaml").read_text()
    assert kustomization == files["apps/finance/kustomization.yaml"].replace(
        "newTag: 1.4.0 # ECR", "newTag: 1.5.0 # ECR"
    )
    assert (await policies.status(name))["latestTag"] == "1.5.0"


async def test_two_policies_on_one_branch_both_land(
    git_repo: Any,
    controller: Controller,
    policies: Any,
    registry_server: RegistryServer,
    push_tag: Callable[[str, str], None],
) -> None:
    names = []
    for part in ("web", "worker"):
        repository = f"team/{part}-{git_repo.name}"
        registry_server.push_image(repository, "1.0.0", "ci", registry_server.users["ci"])
        names.append(repository)
    pull = await policies.pull_secret(registry_server)
    files = {}
    for repository in names:
        policy = await policies.create(
            {
                "image": f"{registry_server.host}/{repository}",
                "secretRef": {"name": pull},
                "interval": "1s",
                "policy": {"semver": {"range": "1.x"}},
                "writeBack": {"repoURL": git_repo.git_url, "paths": ["apps"]},
            }
        )
        files[f"apps/{repository.split('/')[1]}.yaml"] = (
            f"image: {registry_server.host}/{repository}:1.0.0 "
            f'# {{"$imagepolicy": "tether:{policy}"}}\n'
        )
    git_repo.commit(files)
    for repository in names:
        push_tag(repository, "1.2.0")

    async def both() -> bool:
        git_repo.git("pull", "-q", "origin", "main")
        texts = [(git_repo.work / path).read_text() for path in files]
        return all(":1.2.0 #" in text for text in texts)

    await await_for(both, timeout=60, what="both image updates in Git")
    subjects = git_repo.git("log", "--format=%s", "-3").splitlines()
    assert sorted(s.rsplit(" ", 1)[1] for s in subjects[:2]) == ["1.2.0", "1.2.0"]


async def test_a_helm_values_file_gets_the_tag_and_the_chart_renders_it(
    git_repo: Any,
    apps: Apps,
    controller: Controller,
    policies: Any,
    registry_server: RegistryServer,
    repository: str,
    push_tag: Callable[[str, str], None],
    dest_namespace: str,
) -> None:
    image = f"{registry_server.host}/{repository}"
    files = example_files("helm")
    values_path = "apps/finance/finance-app/values.yaml"
    values = files[values_path].replace(
        "repository: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/finance-api",
        "repository: registry.example.com/placeholder  # set by Tether",
    )
    files[values_path] = values
    git_repo.commit(files, message="finance chart")
    app = await apps.create(
        git_repo.git_url, path="apps/finance/finance-app", dest=dest_namespace, automated=AUTO
    )
    await apps.wait_synced(app)
    push_tag(repository, "1.2.0")
    await policies.create(
        {
            "image": image,
            "secretRef": {"name": await policies.pull_secret(registry_server)},
            "interval": "1s",
            "policy": {"semver": {"range": "^1.0.0"}},
            "writeBack": {
                "repoURL": git_repo.git_url,
                "helm": {"file": values_path, "tagKey": "image.tag", "nameKey": "image.repository"},
            },
        }
    )
    await wait_for_image(apps, dest_namespace, f"{image}:1.2.0")
    git_repo.git("pull", "-q", "origin", "main")
    assert (git_repo.work / values_path).read_text() == values.replace(
        "registry.example.com/placeholder  #", f"{image}  #"
    ).replace('tag: "1.4"', 'tag: "1.2.0"')

"""The seed incident and its cure, on the real control plane with a real registry.

A team pulls finance-api from "ECR" (served by the local docker-registry through
the image-pull checker) with a hand-made imagePullSecret. The registry password
rotates, a scale-out to 3 replicas leaves the new Pods in ImagePullBackOff and
``explain`` names the pull secret. A RegistryCredential with the new password
then rewrites the Secret and the Pods start, without anyone touching them.
"""

from __future__ import annotations

import base64
from typing import Any

from fixtures.pods import live_pods, ready, waiting
from fixtures.registry import CONTROLLER_NS, RegCreds, RegistryServer
from fixtures.tether import Apps, example_files
from fixtures.waiting import await_for
from tether.controller.service import AppService
from tether.engine.registry.spec import dockerconfigjson
from tether.testenv.imagepull import CHECK_VALUE, SIMULATE_LABEL, ImagePullChecker

ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
DEPLOYMENT = "apps/finance/deployment.yaml"


async def test_expired_pull_secret_is_explained_and_cured_by_a_registry_credential(
    git_repo: Any,
    apps: Apps,
    service: AppService,
    regcreds: RegCreds,
    registry_server: RegistryServer,
    dest_namespace: str,
) -> None:
    kube = apps.kube
    user, old_password = registry_server.add_user(f"finance-{dest_namespace}")
    # The team's hand-made pull secret, valid today.
    await kube.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": dest_namespace}}
    )
    config = dockerconfigjson(ECR_HOST, user, old_password)
    await kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": "ecr-pull", "namespace": dest_namespace},
            "data": {".dockerconfigjson": base64.b64encode(config).decode()},
        }
    )
    files = example_files()
    # Pods opt in to real image pulls (kwok leaves them to the checker).
    files[DEPLOYMENT] = files[DEPLOYMENT].replace(
        "        app.kubernetes.io/part-of: finance-app\n    spec:",
        f"        app.kubernetes.io/part-of: finance-app\n"
        f"        {SIMULATE_LABEL}: {CHECK_VALUE}\n    spec:",
    )
    assert CHECK_VALUE in files[DEPLOYMENT]
    git_repo.commit(files, message="finance app, 1 replica")

    async with ImagePullChecker(kube, {ECR_HOST: registry_server.host}, interval=1.0):
        name = await apps.create(
            git_repo.git_url, dest=dest_namespace, automated={"prune": True, "selfHeal": True}
        )
        await apps.wait_synced(name, healthy=True)
        assert [ready(p) for p in await live_pods(kube, dest_namespace)] == [True]

        # The registry password rotates; the running Pod keeps its pulled image.
        registry_server.rotate_password(user)
        git_repo.commit(
            {DEPLOYMENT: files[DEPLOYMENT].replace("replicas: 1", "replicas: 3")},
            message="scale finance-api to 3",
        )

        async def two_backing_off() -> list[dict[str, Any]]:
            pods = await live_pods(kube, dest_namespace)
            stuck = [p for p in pods if waiting(p) == "ImagePullBackOff"]
            return stuck if len(pods) == 3 and len(stuck) == 2 else []

        stuck = await await_for(two_backing_off, what="two new Pods in ImagePullBackOff")
        cs = stuck[0]["status"]["containerStatuses"][0]
        assert "unauthorized: authentication required" in cs["state"]["waiting"]["message"]

        async def explained() -> dict[str, Any] | None:
            result = await service.explain(name)
            return result if "ecr-pull" in result["text"] else None

        why = await await_for(explained, what="explain names the pull secret")
        assert "rejected the credentials in imagePullSecret ecr-pull" in why["text"]
        assert "tether registry list" in why["text"]
        assert old_password not in str(why)

        # The cure: Tether keeps the pull secret, from the new password.
        new_password = registry_server.users[user]
        await regcreds.secret(
            CONTROLLER_NS,
            f"finance-login-{dest_namespace}",
            {"username": user, "password": new_password},
        )
        await regcreds.create(
            f"finance-{dest_namespace}",
            {
                "registry": ECR_HOST,
                "provider": {
                    "type": "basic",
                    "basic": {
                        "secretRef": {
                            "name": f"finance-login-{dest_namespace}",
                            "namespace": CONTROLLER_NS,
                        }
                    },
                },
                "secretName": "ecr-pull",
                "namespaces": {"fromApplications": True},
            },
        )

        async def all_ready() -> bool:
            pods = await live_pods(kube, dest_namespace)
            return len(pods) == 3 and all(ready(p) for p in pods)

        await await_for(all_ready, timeout=90, what="all three Pods Ready without a touch")
        await apps.wait_synced(name, healthy=True)
        secret = await kube.get("v1", "Secret", "ecr-pull", dest_namespace)
        assert secret["metadata"]["labels"]["tether.dev/registry-credential"] == (
            f"finance-{dest_namespace}"
        )
        status = await regcreds.status(f"finance-{dest_namespace}")
        assert dest_namespace in [n["namespace"] for n in status["namespaces"]]
        assert new_password not in str(status)
        await kube.delete("v1", "Secret", f"finance-login-{dest_namespace}", CONTROLLER_NS)

"""Helpers of the image automation tests that are not fixtures."""

from __future__ import annotations

import hashlib
import json
from typing import Any

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def ecr_put(ecr: Any, repository: str, tag: str) -> None:
    """What ``docker push`` does to ECR, through moto: one manifest per tag."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_V2,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": 2, "digest": "sha256:" + hashlib.sha256(tag.encode()).hexdigest()},
        "layers": [],
    }  # fmt: skip
    ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)

"""Image fixtures: the real authenticated registry, and images built once per session.

Builds are cached in ``.cache/images`` by recipe, so only the first session on a
machine pays for the Debian root filesystem of the tether image (about a minute).
"""

from collections.abc import Iterator

import pytest

from fixtures.registry import RegistryServer, registry_server
from tether.testenv import images

__all__ = ["built_finance", "built_tether", "pushed", "registry_server"]


@pytest.fixture(scope="session")
def built_finance() -> images.Image:
    return images.finance_app_image("1.4")


@pytest.fixture(scope="session")
def built_tether() -> images.Image:
    return images.tether_image()


@pytest.fixture(scope="session")
def pushed(
    registry_server: RegistryServer, built_finance: images.Image, built_tether: images.Image
) -> Iterator[dict[str, str]]:
    """Both images pushed as user ``ci``: image name -> registry reference."""
    user, password = "ci", registry_server.users["ci"]
    yield {
        image.name: images.push(image, registry_server.host, user, password, tls_verify=False)
        for image in (built_finance, built_tether)
    }

"""Fixtures for the HTTP contract tests: the app over a fake service and two tokens."""

from __future__ import annotations

import pytest
from api_fakes import ADMIN_TOKEN, READER_TOKEN, FakeAppService, FakeRegistries
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter

from tether.api import Auth, create_app, hash_token


@pytest.fixture
def service() -> FakeAppService:
    return FakeAppService()


@pytest.fixture
def client(service: FakeAppService) -> TestClient:
    metrics = CollectorRegistry()
    Counter("tether_syncs", "Syncs run", registry=metrics).inc()
    auth = Auth(
        {hash_token(ADMIN_TOKEN): ("alice", "admin"), hash_token(READER_TOKEN): ("bob", "readonly")}
    )
    app = create_app(service, FakeRegistries(), auth, metrics, stream_interval=0.01)
    return TestClient(app)

"""Shared fixtures. `stack` trains (or reuses) the model and starts the real three processes
(Rasa, action server, gateway) once per session on free ports with a fresh data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ops.stack import RAISED_LIMITS_ENV, Stack, StackConfig
from ops.train import train
from tests.fixtures.fake_wechat import FakeWechat

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def trained_model() -> Path:
    return train()


@pytest.fixture(scope="session")
def fake_wechat() -> Iterator[FakeWechat]:
    """WeChat's server API, faked on 127.0.0.1; the stack's gateway talks to it."""
    server = FakeWechat().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory, trained_model: Path, fake_wechat: FakeWechat
) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("stack")
    config = StackConfig.on_free_ports(
        var_dir=base / "var",
        log_dir=base / "logs",
        rasa_token="test-token",
        model=trained_model,
        # agents serve around the clock in tests; service hours have tests of their own
        # the tests send far more from one address than a citizen: rate limits raised (they
        # have tests of their own, tests/channels/test_ratelimit.py)
        extra_env={
            "YISHI_HANDOFF_HOURS": "00:00-24:00",
            **RAISED_LIMITS_ENV,
            **fake_wechat.gateway_env(),
        },
    )
    running = Stack(config)
    running.start_all()
    try:
        yield running
    finally:
        running.stop_all()


@pytest.fixture
def gateway(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30, trust_env=False) as client:
        yield client

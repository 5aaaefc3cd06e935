"""Agent events and presence shared by two gateway replicas through a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channels.core.hub import AgentHub
from channels.core.redis_hub import RedisAgentHub
from tests.fixtures.servers import redis_server


class FakeSocket:
    def __init__(self) -> None:
        self.events: list[Any] = []

    async def send_json(self, data: Any, mode: str = "text") -> None:
        self.events.append(data)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


async def _until(check: Any, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_events_and_presence_cross_replicas(redis_url: str) -> None:
    async def go() -> None:
        one = RedisAgentHub(redis_url, prefix="t1", presence_ttl_s=2, refresh_s=0.1)
        two = RedisAgentHub(redis_url, prefix="t1", presence_ttl_s=2, refresh_s=0.1)
        await one.start()
        await two.start()
        try:
            on_one, on_two = FakeSocket(), FakeSocket()
            one.join("a1001", "agent", on_one)
            two.join("a1002", "agent", on_two)
            # each replica sees the other's agent online
            await _until(lambda: two.is_online("a1001") and one.is_online("a1002"))
            assert one.online() == {"a1001", "a1002"} == two.online()
            # an event for an agent connected to the other replica arrives exactly once
            await one.send("a1002", {"type": "message", "text": "您好"})
            await _until(lambda: on_two.events)
            await one.broadcast({"type": "queue"})
            await _until(lambda: len(on_two.events) == 2 and len(on_one.events) == 1)
            await asyncio.sleep(0.2)
            assert on_two.events == [{"type": "message", "text": "您好"}, {"type": "queue"}]
            assert on_one.events == [{"type": "queue"}]
            # leaving clears presence everywhere
            two.leave("a1002", on_two)
            await _until(lambda: not one.is_online("a1002"))
        finally:
            await one.stop()
            await two.stop()

    asyncio.run(go())


def test_a_dead_replica_drops_out_after_the_ttl(redis_url: str) -> None:
    async def go() -> None:
        alive = RedisAgentHub(redis_url, prefix="t2", presence_ttl_s=0.5, refresh_s=0.1)
        dying = RedisAgentHub(redis_url, prefix="t2", presence_ttl_s=0.5, refresh_s=0.1)
        await alive.start()
        await dying.start()
        dying.join("a2001", "agent", FakeSocket())
        await _until(lambda: alive.is_online("a2001"))
        dying._closing = True  # the process dies: no goodbye, no more heartbeats
        await _until(lambda: not alive.is_online("a2001"))
        await alive.stop()
        for task in dying._tasks:
            task.cancel()
        await dying._redis.aclose()

    asyncio.run(go())


def test_without_redis_events_still_reach_local_sockets(tmp_path: Path) -> None:
    async def go() -> None:
        hub = RedisAgentHub("redis://127.0.0.1:1/0", presence_ttl_s=1, refresh_s=0.1)
        await hub.start()  # Redis unreachable: starts anyway
        socket = FakeSocket()
        hub.join("a3001", "agent", socket)
        await hub.send("a3001", {"type": "message"})
        assert socket.events == [{"type": "message"}]
        assert hub.online() == {"a3001"}
        await hub.stop()

    asyncio.run(go())


def test_the_plain_hub_is_the_default() -> None:
    assert not isinstance(AgentHub(), RedisAgentHub)

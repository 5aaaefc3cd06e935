"""Agent events across gateway replicas, through Redis.

Every replica publishes an agent event (a queue change, a citizen's message, a transfer) on one
Redis channel and delivers what it hears on that channel to the sockets connected to it, its own
events included. Which agents are online is a key per agent and replica with a short TTL that the
replica refreshes while the agent's socket is open, so an agent on another replica counts as
online and a replica that dies drops out within the TTL.

When Redis cannot be reached an event is delivered to this replica's sockets only and a warning
is logged: the state lives in the database, so a lost event delays a screen, never a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Coroutine
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from channels.core.hub import AgentHub, Socket

logger = logging.getLogger(__name__)


def _reraise_if_cancelled(exc: BaseException) -> None:
    """redis-py turns a cancellation mid-command into a connection error; a loop that retries
    on connection errors must still stop when its task is cancelled."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


class RedisAgentHub(AgentHub):
    def __init__(
        self,
        url: str,
        prefix: str = "yishi",
        presence_ttl_s: float = 30.0,
        refresh_s: float = 5.0,
    ) -> None:
        super().__init__()
        self._redis: aioredis.Redis = aioredis.from_url(
            url, decode_responses=True, socket_timeout=2.0, socket_connect_timeout=2.0
        )
        self.replica = uuid.uuid4().hex[:12]
        self._channel = f"{prefix}:agent-events"
        self._presence = f"{prefix}:agent-online"
        self._ttl_ms = int(presence_ttl_s * 1000)
        self._refresh_s = refresh_s
        self._remote_online: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        # loops check this too: redis-py may turn a cancellation into a connection error
        self._closing = False

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="agent-hub-listen"),
            asyncio.create_task(self._heartbeat(), name="agent-hub-presence"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=5.0)

    async def stop(self) -> None:
        self._closing = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        with contextlib.suppress(RedisError, OSError):
            local = list(self._sockets)
            if local:
                await self._redis.delete(*(self._key(name) for name in local))
        await self._redis.aclose()

    # -- presence -------------------------------------------------------------------------------
    def _key(self, username: str) -> str:
        return f"{self._presence}:{username}:{self.replica}"

    def join(self, username: str, role: str, socket: Socket) -> None:
        super().join(username, role, socket)
        self._spawn(self._mark_online(username))

    def leave(self, username: str, socket: Socket) -> None:
        super().leave(username, socket)
        if not super().is_online(username):
            self._spawn(self._mark_offline(username))

    def online(self) -> set[str]:
        return super().online() | self._remote_online

    def is_online(self, username: str) -> bool:
        return super().is_online(username) or username in self._remote_online

    async def _mark_online(self, username: str) -> None:
        try:
            await self._redis.set(self._key(username), "1", px=self._ttl_ms)
        except (RedisError, OSError) as exc:
            logger.warning("agent presence not shared (Redis): %s", exc)

    async def _mark_offline(self, username: str) -> None:
        try:
            await self._redis.delete(self._key(username))
        except (RedisError, OSError) as exc:
            logger.warning("agent presence not cleared (Redis): %s", exc)

    async def refresh_presence(self) -> None:
        """Renew this replica's agents and read every replica's (one round of the heartbeat)."""
        pipe = self._redis.pipeline(transaction=False)
        for name in super().online():
            pipe.set(self._key(name), "1", px=self._ttl_ms)
        await pipe.execute()
        seen: set[str] = set()
        async for key in self._redis.scan_iter(match=f"{self._presence}:*", count=500):
            username, _, replica = key[len(self._presence) + 1 :].rpartition(":")
            if username and replica != self.replica:
                seen.add(username)
        self._remote_online = seen

    async def _heartbeat(self) -> None:
        while not self._closing:
            try:
                await self.refresh_presence()
            except (RedisError, OSError) as exc:
                _reraise_if_cancelled(exc)
                logger.warning("agent presence refresh failed (Redis): %s", exc)
            await asyncio.sleep(self._refresh_s)

    # -- events ---------------------------------------------------------------------------------
    async def send(self, username: str, event: dict[str, Any]) -> None:
        await self._publish({"to": username, "event": event}, AgentHub.send(self, username, event))

    async def broadcast(self, event: dict[str, Any]) -> None:
        await self._publish({"to": None, "event": event}, AgentHub.broadcast(self, event))

    async def _publish(self, message: dict[str, Any], local: Coroutine[Any, Any, None]) -> None:
        """Publish for every replica (this one hears it too); without Redis, deliver here."""
        try:
            await self._redis.publish(self._channel, json.dumps(message, ensure_ascii=False))
        except (RedisError, OSError) as exc:
            logger.warning("agent event delivered on this replica only (Redis): %s", exc)
            await local
        else:
            local.close()

    async def _deliver(self, raw: str) -> None:
        try:
            message = json.loads(raw)
            event = message["event"]
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring a malformed agent event from Redis")
            return
        if message.get("to"):
            await AgentHub.send(self, str(message["to"]), event)
        else:
            await AgentHub.broadcast(self, event)

    async def _listen(self) -> None:
        while not self._closing:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self._subscribed.set()
                while not self._closing:
                    item = await pubsub.get_message(timeout=1.0)
                    if item is not None and item.get("type") == "message":
                        await self._deliver(item["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                _reraise_if_cancelled(exc)
                logger.warning("agent events from other replicas paused (Redis): %s", exc)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:  # no loop (a synchronous test): presence catches up on heartbeat
            coro.close()
            return
        self._tasks.append(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)

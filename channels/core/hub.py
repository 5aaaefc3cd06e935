"""Live events for the agent console: which agents are online, and pushes to their sockets.

In-process: each gateway replica knows the agents connected to it. A scale-out deployment
fans events out between replicas through Redis (docs/operations.md); the state itself is in
the database, so a lost event only delays a screen, never loses a message.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Socket(Protocol):
    async def send_json(self, data: Any, mode: str = "text") -> None: ...


class AgentHub:
    def __init__(self) -> None:
        self._sockets: dict[str, set[Socket]] = defaultdict(set)
        self._roles: dict[str, str] = {}

    def join(self, username: str, role: str, socket: Socket) -> None:
        self._sockets[username].add(socket)
        self._roles[username] = role

    def leave(self, username: str, socket: Socket) -> None:
        sockets = self._sockets.get(username)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._sockets[username]

    def online(self) -> set[str]:
        return {name for name, sockets in self._sockets.items() if sockets}

    def is_online(self, username: str) -> bool:
        return bool(self._sockets.get(username))

    async def send(self, username: str, event: dict[str, Any]) -> None:
        for socket in list(self._sockets.get(username, ())):
            await self._safe_send(username, socket, event)

    async def broadcast(self, event: dict[str, Any]) -> None:
        await asyncio.gather(*(self.send(name, event) for name in list(self._sockets)))

    async def _safe_send(self, username: str, socket: Socket, event: dict[str, Any]) -> None:
        try:
            await socket.send_json(event)
        except Exception:  # a closed socket; its handler removes it
            logger.debug("dropping a dead socket of %s", username)
            self.leave(username, socket)

"""The gateway's only way to Rasa: HTTP with timeouts.

Rasa's REST channel answers a message with the bot's messages; the tracker endpoint (Rasa's
HTTP API, token-protected) gives what the trace needs: the latest intent and the active loop.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import httpx

from channels.errors import BotUnavailableError

logger = logging.getLogger(__name__)


class RasaClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str, token: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._token = token

    async def send(
        self, sender: str, text: str, metadata: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Send one citizen message; return Rasa's messages for it."""
        body = {"sender": sender, "message": text, "metadata": metadata or {}}
        data = await self._request("POST", "/webhooks/rest/webhook", json=body)
        if not isinstance(data, list):
            raise BotUnavailableError(f"unexpected webhook answer: {type(data).__name__}")
        return [m for m in data if isinstance(m, dict)]

    # Sanic does not decode %3A in path segments: keep the sender's ':' as it is (the sender
    # pattern admits only URL-safe characters), or Rasa would open a new, empty conversation.
    async def tracker(self, sender: str) -> dict[str, Any]:
        """The conversation's current state, without its event list."""
        path = f"/conversations/{quote(sender, safe=':@=')}/tracker"
        data = await self._request("GET", path, params={"include_events": "NONE"}, auth=True)
        return data if isinstance(data, dict) else {}

    async def parse(self, text: str) -> dict[str, Any]:
        """NLU only: the intent of `text`, without touching any conversation."""
        data = await self._request("POST", "/model/parse", json={"text": text}, auth=True)
        return data if isinstance(data, dict) else {}

    async def status(self) -> dict[str, Any]:
        data = await self._request("GET", "/status", auth=True)
        return data if isinstance(data, dict) else {}

    async def _request(
        self,
        method: str,
        path: str,
        *,
        auth: bool = False,
        params: dict[str, str] | None = None,
        json: Any = None,
    ) -> Any:
        query = dict(params or {})
        if auth:
            query["token"] = self._token
        try:
            response = await self._http.request(
                method, f"{self._base}{path}", params=query, json=json
            )
            response.raise_for_status()
            return response.json()
        except httpx.TimeoutException as exc:
            logger.warning("Rasa %s %s timed out", method, path)
            raise BotUnavailableError("timeout") from exc
        except httpx.HTTPStatusError as exc:
            logger.warning("Rasa %s %s answered %s", method, path, exc.response.status_code)
            raise BotUnavailableError(f"status {exc.response.status_code}") from exc
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("Rasa %s %s failed: %s", method, path, type(exc).__name__)
            raise BotUnavailableError(type(exc).__name__) from exc

"""Readiness of the two processes behind the gateway."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from channels.core.rasa_client import RasaClient
from channels.errors import BotUnavailableError


class HealthChecker:
    def __init__(
        self, rasa: RasaClient, http: httpx.AsyncClient, action_url: str, timeout_s: float
    ):
        self._rasa = rasa
        self._http = http
        self._action_url = action_url.rstrip("/")
        self._timeout = timeout_s

    async def _rasa_status(self) -> dict[str, Any]:
        try:
            status = await asyncio.wait_for(self._rasa.status(), self._timeout)
        except (BotUnavailableError, TimeoutError):
            return {"ready": False}
        model = status.get("model_file")
        return {"ready": bool(model), "model": model, "model_id": status.get("model_id")}

    async def _actions_status(self) -> dict[str, Any]:
        try:
            response = await self._http.get(f"{self._action_url}/health", timeout=self._timeout)
            return {"ready": response.status_code == 200 and response.json().get("status") == "ok"}
        except (httpx.HTTPError, ValueError):
            return {"ready": False}

    async def check(self) -> dict[str, Any]:
        rasa, actions = await asyncio.gather(self._rasa_status(), self._actions_status())
        ready = rasa["ready"] and actions["ready"]
        return {"status": "ok" if ready else "degraded", "rasa": rasa, "actions": actions}

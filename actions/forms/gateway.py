"""The action server's calls to the gateway's internal application API (HTTP, with timeouts)."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import httpx

from actions.metrics import FORM_SUBMISSIONS, GATEWAY_SECONDS

logger = logging.getLogger(__name__)


class GatewayError(Exception):
    """The gateway could not be reached or refused the call; `code` is its error code."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def _base() -> tuple[str, dict[str, str]]:
    url = os.environ.get("YISHI_GATEWAY_URL", "http://127.0.0.1:8000").rstrip("/")
    token = os.environ.get("YISHI_INTERNAL_TOKEN", "yishi-dev-internal-token")
    return url, {"X-Yishi-Token": token}


def _timeout() -> httpx.Timeout:
    total = float(os.environ.get("YISHI_GATEWAY_TIMEOUT_S", "8"))
    return httpx.Timeout(total, connect=min(2.0, total))


def _call(method: str, path: str, **kwargs: Any) -> Any:
    url, headers = _base()
    started = time.perf_counter()
    try:
        with httpx.Client(timeout=_timeout(), trust_env=False) as client:
            response = client.request(method, f"{url}{path}", headers=headers, **kwargs)
    except httpx.HTTPError as exc:
        GATEWAY_SECONDS.labels(path, "unreachable").observe(time.perf_counter() - started)
        logger.warning("gateway %s %s failed: %s", method, path, type(exc).__name__)
        raise GatewayError("unreachable", str(exc)) from exc
    GATEWAY_SECONDS.labels(path, str(response.status_code)).observe(time.perf_counter() - started)
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = {}
        raise GatewayError(
            body.get("error", f"http_{response.status_code}"), body.get("detail", "")
        )
    return response.json()


def submit(
    form_id: str, sender: str, idempotency_key: str, mobile: str, fields: dict[str, Any]
) -> dict[str, Any]:
    body = {
        "form_id": form_id,
        "sender": sender,
        "idempotency_key": idempotency_key,
        "mobile": mobile,
        "fields": fields,
    }
    try:
        result: dict[str, Any] = _call("POST", "/internal/applications", json=body)
    except GatewayError as exc:
        FORM_SUBMISSIONS.labels(form_id, exc.code).inc()
        raise
    FORM_SUBMISSIONS.labels(form_id, "created" if result.get("created") else "duplicate").inc()
    return result


def lookup(receipt: str, mobile_last4: str) -> dict[str, Any]:
    result: dict[str, Any] = _call(
        "POST",
        "/internal/applications/lookup",
        json={"receipt": receipt, "mobile_last4": mobile_last4},
    )
    return result


def history(sender: str) -> dict[str, Any]:
    result: dict[str, Any] = _call("GET", "/internal/history", params={"sender": sender})
    return result


def seal_values(sender: str, values: list[str]) -> list[str]:
    """Vault tokens for personal values (kept encrypted by the gateway), in order."""
    result: list[str] = _call("POST", "/internal/pii", json={"sender": sender, "values": values})[
        "tokens"
    ]
    return result


def reveal_tokens(sender: str, tokens: list[str]) -> dict[str, str]:
    """The values behind this conversation's vault tokens; unknown ones are left out."""
    result: dict[str, str] = _call(
        "POST", "/internal/pii/reveal", json={"sender": sender, "tokens": tokens}
    )["values"]
    return result


def forget_values(sender: str) -> None:
    """Drop what this conversation's forms left in the vault."""
    _call("POST", "/internal/pii/forget", json={"sender": sender})


def free_places(hall: str, day: str) -> dict[str, int]:
    try:
        result: dict[str, int] = _call(
            "GET", "/internal/appointments", params={"hall": hall, "day": day}
        )
        return result
    except GatewayError:
        logger.warning("appointment availability unknown for %s %s", hall, day)
        return {}


_asked_next: dict[str, tuple[float, list[dict[str, Any]]]] = {}
ASKED_NEXT_TTL_S = 600.0


def asked_next(service_id: str) -> list[dict[str, Any]]:
    """Services citizens most often asked about right after `service_id` (learned from
    conversations by the gateway); cached for ten minutes; empty when the gateway is away."""
    now = time.monotonic()
    cached = _asked_next.get(service_id)
    if cached and now - cached[0] < ASKED_NEXT_TTL_S:
        return cached[1]
    try:
        items: list[dict[str, Any]] = _call(
            "GET", "/internal/insights/next", params={"service_id": service_id}
        )["items"]
    except (GatewayError, KeyError, TypeError):
        items = []
    _asked_next[service_id] = (now, items)
    return items

"""Prometheus metrics of the action server, served at `GET /metrics` on its own port.

rasa-sdk runs its Sanic app in worker processes; `rasa_sdk_plugins` (rasa-sdk's plugin hook)
calls `attach` in each, which adds the route and sets up Yishi's logging (masked, text or JSON
by YISHI_LOG_FORMAT) there. The counters are this process's (one worker by default).

- `yishi_actions_kb_answers_total{band}`: knowledge-base answers by band (answer, clarify, none)
- `yishi_actions_form_submissions_total{form,outcome}`: filings sent to the gateway (created,
  duplicate, or the gateway's error code)
- `yishi_actions_gateway_request_duration_seconds{path,outcome}`: calls to the gateway
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from yishi.logging import setup_logging

KB_ANSWERS = Counter(
    "yishi_actions_kb_answers", "Knowledge-base answers by confidence band", ["band"]
)
FORM_SUBMISSIONS = Counter(
    "yishi_actions_form_submissions",
    "Filled forms sent to the gateway, by outcome",
    ["form", "outcome"],
)
GATEWAY_SECONDS = Histogram(
    "yishi_actions_gateway_request_duration_seconds",
    "Calls from the action server to the gateway's internal API",
    ["path", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0),
)
_BANDS = frozenset({"answer", "clarify", "none"})


def count_kb_answer(band: str) -> None:
    KB_ANSWERS.labels(band if band in _BANDS else "none").inc()


def attach(app: Any) -> None:
    """Add `GET /metrics` to rasa-sdk's Sanic app and configure logging in this process."""
    from sanic import response

    setup_logging(
        os.environ.get("YISHI_LOG_LEVEL", "INFO"),
        os.environ.get("YISHI_LOG_FORMAT", "text").lower() == "json"
        or os.environ.get("YISHI_LOG_JSON", "").lower() in ("1", "true", "yes"),
    )

    async def metrics(_: Any) -> Any:
        return response.raw(generate_latest(), content_type=CONTENT_TYPE_LATEST)

    app.add_route(metrics, "/metrics", methods=["GET"], name="yishi_metrics")

"""The action server's metrics: knowledge-base answers by band, filings by outcome, and the
/metrics route rasa-sdk's plugin hook adds to its Sanic app."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from prometheus_client import REGISTRY

from actions import kb_answer
from actions.forms import gateway


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_kb_trace_counts_its_band() -> None:
    before = {b: _value("yishi_actions_kb_answers_total", band=b) for b in ("answer", "none")}
    kb_answer._kb_trace(None, "answer", 0.9)
    kb_answer._kb_trace(None, "none", 0.1)
    kb_answer._kb_trace(None, "made-up", 0.1)  # an unknown band counts as none
    assert _value("yishi_actions_kb_answers_total", band="answer") == before["answer"] + 1
    assert _value("yishi_actions_kb_answers_total", band="none") == before["none"] + 2


def test_submissions_are_counted_by_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: list[Any] = [
        {"receipt": "YS-20260101-000001", "status": "已提交", "created": True},
        {"receipt": "YS-20260101-000001", "status": "已提交", "created": False},
        gateway.GatewayError("slot_full", "约满"),
    ]

    def fake_call(method: str, path: str, **kwargs: Any) -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(gateway, "_call", fake_call)
    form = "id_card_reissue"
    names = ("created", "duplicate", "slot_full")
    before = {
        o: _value("yishi_actions_form_submissions_total", form=form, outcome=o) for o in names
    }
    gateway.submit(form, "web:a", "key-12345678", "13912345678", {})
    gateway.submit(form, "web:a", "key-12345678", "13912345678", {})
    with pytest.raises(gateway.GatewayError):
        gateway.submit(form, "web:a", "key-12345678", "13912345678", {})
    for outcome in names:
        after = _value("yishi_actions_form_submissions_total", form=form, outcome=outcome)
        assert after == before[outcome] + 1, outcome


def test_the_plugin_hook_adds_metrics_to_the_sanic_app() -> None:
    from sanic import Sanic

    import rasa_sdk_plugins

    app = Sanic("yishi_metrics_test")
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        rasa_sdk_plugins.attach_sanic_app_extensions(app)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    assert "/metrics" in {"/" + route.path.lstrip("/") for route in app.router.routes}

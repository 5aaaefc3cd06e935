"""A smoke of `make fuzz` (ops/fuzz.py) on the shared stack: 30 bad inputs spread over every
public endpoint; no 5xx, no crash, /healthz ok, applications unchanged, chat still works."""

from __future__ import annotations

import httpx
import pytest

from ops.fuzz import all_cases, fuzz_stack, print_report, select
from ops.stack import Stack


def test_the_full_suite_has_200_cases_over_every_public_endpoint() -> None:
    cases = all_cases()
    endpoints = {case.endpoint for case in cases}
    assert len(cases) >= 200
    for endpoint in (
        "POST /api/chat",
        "POST /api/chat (form)",
        "POST /api/chat/session",
        "GET /api/chat/updates",
        "POST /api/kb/search",
        "POST /api/progress",
        "POST /api/voice",
        "GET /wechat",
        "POST /wechat",
        "agent (no session)",
        "admin (no credentials)",
        "internal (no token)",
        "unknown routes",
        "raw HTTP",
    ):
        assert endpoint in endpoints, endpoint
    smoke = select(cases, 30)
    assert len(smoke) == 30 and {c.endpoint for c in smoke} == endpoints


@pytest.mark.slow
def test_fuzz_smoke_against_the_running_stack(stack: Stack) -> None:
    report = fuzz_stack(stack, limit=30)
    print_report(report)
    assert len(report.results) == 30
    assert report.ok, "\n".join(report.problems)
    assert not [r for r in report.results if r.outcome in ("5xx", "transport")]
    with httpx.Client(base_url=stack.config.gateway_url, trust_env=False) as client:
        metrics = client.get("/metrics").text
    assert "yishi_http_requests_total" in metrics and 'status="500"' not in metrics

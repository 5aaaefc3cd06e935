"""Smokes of `make bench` and `make soak` on the session stack: the same code, a small load."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from ops.bench import phase
from ops.load import Citizen, Tally, form_script, gateway_send, make_citizens
from ops.soak import soak, verify
from ops.stack import Stack

pytestmark = pytest.mark.slow


def test_form_script_names_differ_between_runs() -> None:
    names = {form_script(run)[1] for run in range(40)}
    assert len(names) == 40


def test_bench_phase_measures_every_message(stack: Stack) -> None:
    result = asyncio.run(phase("gateway", stack.config.gateway_url, 4, 40, 4, {}))
    assert result["sent"] == 40
    assert result["outcomes"] == {"reply": 40}
    assert 0 < result["p50"] <= result["p95"] <= result["p99"]
    assert result["throughput"] > 0


def test_soak_smoke_survives_an_action_server_kill(stack: Stack) -> None:
    citizens = make_citizens(12, "soaksmoke", seed=3)
    tally, chaos, _ = asyncio.run(
        soak(stack, citizens, 150, 6, [(0.3, "actions")], error_pause=(1.0, 3.0))
    )
    assert [event["process"] for event in chaos.events] == ["actions"]
    assert stack.is_ready("actions") and stack.is_ready("gateway")
    result = verify(stack, citizens, tally)
    assert result["sent"] == 150
    # every message: a reply or an explicit error, never silence
    assert result["replied"] + result["explicit_errors"] == 150, result["outcomes"]
    assert result["lost"] == 0
    assert result["conversations_missing_messages"] == 0, result["outcomes"]
    assert result["trackers_missing_turns"] == 0
    assert result["duplicated_records"] == 0
    assert result["receipts_without_record"] == 0


def test_an_error_ends_the_script_and_is_counted(stack: Stack) -> None:
    citizen = Citizen(sender="x", rng=__import__("random").Random(1))  # too short: 422

    async def go() -> tuple[str, Any]:
        async with httpx.AsyncClient(base_url=stack.config.gateway_url, trust_env=False) as c:
            return await gateway_send(c, citizen, "你好")

    outcome, body = asyncio.run(go())
    assert outcome == "error:422" and body is not None and "error" in body
    tally = Tally()
    tally.record(outcome, 0.1)
    assert tally.latencies == [] and tally.outcomes[outcome] == 1

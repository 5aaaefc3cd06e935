"""Personal values out of Rasa's tracker: form slots hold vault tokens, the gateway the values.

Rasa's tracker store masks every event it writes (yishi/tracker_store.py), so a 身份证号 a form
collected in one turn would reach the next turn masked. Before the form actions hand their
events back, `seal` swaps each value that masking would change for a token (`pii:v…`) kept by
the gateway's vault (encrypted; /internal/pii); when a form action starts, `reveal` swaps the
tokens in the slots back for the values, so validation, the summary and the submission see what
the citizen typed. `forget` drops the values once the form is submitted or cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from actions.forms import gateway
from yishi.privacy import mask_pii

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "pii:"


def is_token(value: object) -> bool:
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


def _strings(value: Any, wanted: Any) -> list[str]:
    """Every string inside `value` (dicts and lists walked) for which `wanted` is true."""
    if isinstance(value, str):
        return [value] if wanted(value) else []
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item, wanted)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item, wanted)]
    return []


def _replace(value: Any, mapping: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, dict):
        return {k: _replace(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, mapping) for v in value]
    return value


def _personal(text: str) -> bool:
    return not is_token(text) and mask_pii(text) != text


def _seal_sync(sender: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    values = sorted(
        {s for e in events if e.get("event") == "slot" for s in _strings(e.get("value"), _personal)}
    )
    if not values:
        return events
    mapping = dict(zip(values, gateway.seal_values(sender, values), strict=True))
    return [
        {**e, "value": _replace(e.get("value"), mapping)} if e.get("event") == "slot" else e
        for e in events
    ]


def _reveal_sync(sender: str, value: Any) -> Any:
    tokens = sorted(set(_strings(value, is_token)))
    if not tokens:
        return value
    found = gateway.reveal_tokens(sender, tokens)
    # a token the vault no longer knows (expired draft) reads as not filled in
    return _replace(value, {token: found.get(token) for token in tokens})


async def seal(sender: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events with every personal value in a slot (or inside form_state) replaced by a
    vault token. Raises gateway.GatewayError when the vault cannot be reached."""
    return await asyncio.get_running_loop().run_in_executor(None, _seal_sync, sender, events)


async def reveal(sender: str, value: Any) -> Any:
    """`value` (a slot value, or a dict of them) with vault tokens replaced by what they stand
    for; tokens the vault no longer has become None. Raises gateway.GatewayError."""
    return await asyncio.get_running_loop().run_in_executor(None, _reveal_sync, sender, value)


async def forget(sender: str) -> None:
    """Drop what this conversation's forms left in the vault (best effort: the form-draft
    retention removes it anyway)."""
    try:
        await asyncio.get_running_loop().run_in_executor(None, gateway.forget_values, sender)
    except gateway.GatewayError:
        logger.warning("vault entries of %s not forgotten; the purge will remove them", sender)


def drop_personal(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events with personal values left out (the vault is away: they are never stored
    raw); the form asks for them again."""
    out = []
    for e in events:
        if e.get("event") == "slot" and _strings(e.get("value"), _personal):
            if isinstance(e.get("value"), dict):  # form_state: a value waiting to be confirmed
                kept = {
                    k: v for k, v in e["value"].items() if k not in ("pending", "pending_value")
                }
                e = {**e, "value": kept}
            else:
                e = {**e, "value": None}
        out.append(e)
    return out

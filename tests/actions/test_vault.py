"""Personal values out of Rasa's tracker: the form actions seal them into vault tokens and reveal
them again, with the gateway's vault faked in memory (real rasa-sdk trackers and dispatchers)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.forms import gateway, vault
from actions.forms.engine import VAULT_AWAY, ActionFinishForm, AskSlotAction, ValidateFormAction
from actions.forms.specs import FORMS
from actions.forms.validators import luhn_ok
from ops.stack import free_port
from yishi.privacy import mask_pii

ID_NUMBER = "11010519491231002X"
MOBILE = "13912345678"
CARD = next("622202020011223344" + d for d in "0123456789" if luhn_ok("622202020011223344" + d))
FUND = "fund_withdraw_rent_application"


class FakeVault:
    def __init__(self) -> None:
        self.values: dict[str, tuple[str, str]] = {}
        self.forgotten: list[str] = []

    def seal_values(self, sender: str, values: list[str]) -> list[str]:
        tokens = []
        for value in values:
            token = f"pii:v{len(self.values):024x}"
            self.values[token] = (sender, value)
            tokens.append(token)
        return tokens

    def reveal_tokens(self, sender: str, tokens: list[str]) -> dict[str, str]:
        return {t: self.values[t][1] for t in tokens if self.values.get(t, ("", ""))[0] == sender}

    def forget_values(self, sender: str) -> None:
        self.forgotten.append(sender)
        self.values = {t: v for t, v in self.values.items() if v[0] != sender}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeVault:
    monkeypatch.setenv("YISHI_GATEWAY_URL", f"http://127.0.0.1:{free_port()}")
    faked = FakeVault()
    for name in ("seal_values", "reveal_tokens", "forget_values"):
        monkeypatch.setattr(gateway, name, getattr(faked, name))
    return faked


def _tracker(text: str, requested: str | None, **slots: Any) -> Tracker:
    all_slots = {"requested_slot": requested, **slots}
    events = [{"event": "user", "text": text}]
    if requested:
        all_slots[requested] = text  # what the from_text mapping put there
        events.append({"event": "slot", "name": requested, "value": text})
    return Tracker(
        "web:vault", all_slots, {"text": text, "intent": {"name": "inform"}}, events, False, None,
        {"name": FORMS[FUND].rasa_form}, "action_listen",
    )  # fmt: skip


def _validate(tracker: Tracker) -> tuple[list[dict[str, Any]], list[str]]:
    action = next(a for a in ValidateFormAction.__subclasses__() if a.spec.form_id == FUND)
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action().run(dispatcher, tracker, {}))
    return events, [m.get("text") or "" for m in dispatcher.messages]


def test_seal_swaps_personal_values_for_tokens_and_reveal_swaps_back(fake: FakeVault) -> None:
    events: list[dict[str, Any]] = [
        {"event": "slot", "name": "id_number", "value": ID_NUMBER},
        {"event": "slot", "name": "name", "value": "张三"},
        {"event": "slot", "name": "form_state", "value": {"pending_value": {"value": MOBILE}}},
        {"event": "bot", "text": "不是槽位"},
    ]
    sealed = asyncio.run(vault.seal("web:vault", events))
    assert ID_NUMBER not in json.dumps(sealed) and MOBILE not in json.dumps(sealed)
    assert sealed[1] == events[1] and sealed[3] == events[3]
    token = sealed[0]["value"]
    assert vault.is_token(token) and mask_pii(token) == token
    assert asyncio.run(vault.reveal("web:vault", {"id": token, "x": "pii:vgone"})) == {
        "id": ID_NUMBER,
        "x": None,  # the vault no longer has it: not filled in
    }
    assert asyncio.run(vault.reveal("web:other", token)) is None
    assert asyncio.run(vault.seal("web:vault", events[1:2])) == events[1:2]
    assert len(fake.values) == 2


def test_a_form_turn_hands_back_tokens_and_reads_them_next_turn(fake: FakeVault) -> None:
    events, said = _validate(_tracker(f"我叫李四，身份证{ID_NUMBER}", "name"))
    assert said == [] and ID_NUMBER not in json.dumps(events)
    slots = {e["name"]: e["value"] for e in events}
    assert slots["name"] == "李四" and vault.is_token(slots["id_number"])
    assert slots["requested_slot"] == "fund_account"

    # next turn: the tracker holds the token; the bank card comes in and is sealed too
    tracker = _tracker(
        CARD, "bank_card", name="李四", id_number=slots["id_number"], fund_account=None,
        rent_registered=False, monthly_rent="2500.00", form_state=slots["form_state"],
    )  # fmt: skip
    events, said = _validate(tracker)
    sealed = {e["name"]: e["value"] for e in events}
    assert CARD not in json.dumps(events) and vault.is_token(sealed["bank_card"])
    assert fake.reveal_tokens("web:vault", [sealed["bank_card"]]) == {sealed["bank_card"]: CARD}


def test_the_summary_shows_masked_values_from_tokens(fake: FakeVault) -> None:
    id_token, card_token, mobile_token = fake.seal_values("web:vault", [ID_NUMBER, CARD, MOBILE])
    tracker = _tracker(
        "", None, name="李四", id_number=id_token, fund_account=fake.seal_values("web:vault", ["320100123456"])[0],
        rent_registered=False, monthly_rent="2500.00", bank_card=card_token, mobile=mobile_token,
        form_state={"form": FUND, "session": "s1", "failures": {}},
    )  # fmt: skip
    ask = next(a for a in AskSlotAction.__subclasses__() if a.slot_name == "confirm")
    dispatcher = CollectingDispatcher()
    asyncio.run(ask().run(dispatcher, tracker, {}))
    text = dispatcher.messages[0]["text"]
    assert "110***********002X" in text and "139****5678" in text and "pii:" not in text

    submitted: dict[str, Any] = {}

    def submit(form_id: str, sender: str, key: str, mobile: str, fields: dict[str, Any]) -> Any:
        submitted.update(fields, mobile_arg=mobile)
        return {"receipt": "YS-20261123-000001", "status": "已提交", "created": True}

    state = {"form": FUND, "session": "s1", "failures": {}, "outcome": "confirmed"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gateway, "submit", submit)
        patch.setattr("actions.kb_answer.next_steps_text", lambda service: ("", []))
        dispatcher = CollectingDispatcher()
        asyncio.run(ActionFinishForm().run(dispatcher, _with_state(tracker, state), {}))
    assert submitted["id_number"] == ID_NUMBER and submitted["bank_card"] == CARD
    assert submitted["mobile_arg"] == MOBILE and fake.forgotten == ["web:vault"]


def _with_state(tracker: Tracker, state: dict[str, Any]) -> Tracker:
    return Tracker(
        tracker.sender_id, {**tracker.slots, "form_state": state}, tracker.latest_message, [],
        False, None, {}, "action_listen",
    )  # fmt: skip


def test_without_the_vault_nothing_personal_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YISHI_GATEWAY_URL", f"http://127.0.0.1:{free_port()}")  # nobody there
    events, said = _validate(_tracker(ID_NUMBER, "id_number", name="李四"))
    assert said == [VAULT_AWAY] and ID_NUMBER not in json.dumps(events)
    slots = {e["name"]: e["value"] for e in events}
    assert slots["id_number"] is None

    dropped = vault.drop_personal(
        [{"event": "slot", "name": "form_state", "value": {"form": FUND, "pending": "value",
                                                          "pending_value": {"value": MOBILE}}}]
    )  # fmt: skip
    assert dropped[0]["value"] == {"form": FUND}

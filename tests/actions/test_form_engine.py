"""The form engine with real rasa-sdk trackers and dispatchers (no Rasa server needed)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.forms.engine import FormEngine, next_slot, summary
from actions.forms.specs import FORMS
from ops.stack import free_port

ID_NUMBER = "11010519491231002X"


@pytest.fixture(autouse=True)
def _no_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    # availability lookups go to a closed port: the engine must cope without them
    monkeypatch.setenv("YISHI_GATEWAY_URL", f"http://127.0.0.1:{free_port()}")


def _turn(
    form: str, text: str, requested: str | None, mode: str = "standard", **slots: Any
) -> tuple[dict[str, Any], list[str], CollectingDispatcher]:
    spec = FORMS[form]
    state = slots.pop("form_state", {"form": form, "session": "s1", "failures": {}})
    all_slots = {"form_state": state, "requested_slot": requested, **slots}
    if requested:
        all_slots[requested] = text  # what the from_text mapping put there
    tracker = Tracker(
        "web:test", all_slots,
        {"text": text, "intent": {"name": "inform"}, "metadata": {"mode": mode}}, [], False, None,
        {"name": spec.rasa_form}, "action_listen",
    )  # fmt: skip
    dispatcher = CollectingDispatcher()
    events = asyncio.run(FormEngine(spec, tracker, dispatcher).handle(text, requested))
    sets = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    return sets, [m.get("text") or "" for m in dispatcher.messages], dispatcher


def test_a_valid_value_moves_on_to_the_next_slot() -> None:
    sets, said, _ = _turn("id_card_lost_appointment", ID_NUMBER.lower(), "id_number", name="张三")
    assert sets["id_number"] == ID_NUMBER and sets["requested_slot"] == "mobile"
    assert said == []


def test_a_wrong_value_gets_a_specific_reason_and_is_asked_again() -> None:
    sets, said, _ = _turn(
        "id_card_lost_appointment", "110105194912310021", "id_number", name="张三"
    )
    assert sets["id_number"] is None and sets["requested_slot"] == "id_number"
    assert "校验码" in said[0]
    assert sets["form_state"]["failures"] == {"id_number": 1}


def test_every_value_in_one_message_is_taken() -> None:
    sets, _, _ = _turn("id_card_lost_appointment", "我叫张三电话13912345678", "name")
    assert sets["name"] == "张三" and sets["mobile"] == "13912345678"
    assert sets["requested_slot"] == "id_number"


def test_why_explains_the_purpose_and_keeps_asking() -> None:
    sets, said, _ = _turn(
        "id_card_lost_appointment", "为什么要填这个", "mobile", name="张三", id_number=ID_NUMBER
    )
    assert "短信" in said[0] and sets["requested_slot"] == "mobile"


def test_cancel_is_confirmed_first() -> None:
    sets, said, _ = _turn(
        "fund_withdraw_rent_application", "不办了", "fund_account", name="李四", id_number=ID_NUMBER
    )
    assert "确定不办" in said[0] and sets["form_state"]["pending"] == "cancel"
    assert sets["requested_slot"] == "fund_account"
    sets, _, _ = _turn("fund_withdraw_rent_application", "确定", "fund_account", name="李四",
                       id_number=ID_NUMBER, form_state=sets["form_state"])  # fmt: skip
    assert sets["requested_slot"] is None and sets["form_state"]["outcome"] == "cancelled"


def test_cancel_can_be_taken_back() -> None:
    state = {
        "form": "fund_withdraw_rent_application",
        "session": "s1",
        "failures": {},
        "pending": "cancel",
    }
    sets, said, _ = _turn("fund_withdraw_rent_application", "继续", "fund_account", name="李四",
                          id_number=ID_NUMBER, form_state=state)  # fmt: skip
    assert "继续" in said[0] and sets["requested_slot"] == "fund_account"
    assert "pending" not in sets["form_state"]


def _filled() -> dict[str, Any]:
    return {"name": "张三", "id_number": ID_NUMBER, "mobile": "13912345678", "hall": "city_service_center",
            "appt_date": "2026-12-01", "time_slot": "09:00-10:00"}  # fmt: skip


def test_an_edit_at_the_confirmation_clears_that_field() -> None:
    sets, said, _ = _turn("id_card_lost_appointment", "手机号填错了", "confirm", **_filled())
    assert sets["mobile"] is None and sets["confirm"] is None
    assert sets["requested_slot"] == "mobile"


def test_an_edit_can_carry_the_new_value() -> None:
    sets, said, _ = _turn(
        "id_card_lost_appointment", "把手机号改成13812345678", "confirm", **_filled()
    )
    assert sets["mobile"] == "13812345678" and sets["requested_slot"] == "confirm"


def test_confirming_ends_the_form() -> None:
    sets, _, _ = _turn("id_card_lost_appointment", "确认提交", "confirm", **_filled())
    assert sets["confirm"] is True and sets["requested_slot"] is None
    assert sets["form_state"]["outcome"] == "confirmed"


def test_three_failures_offer_a_person() -> None:
    state = {"form": "id_card_lost_appointment", "session": "s1", "failures": {"mobile": 2}}
    _, said, dispatcher = _turn("id_card_lost_appointment", "12345", "mobile", name="张三",
                                id_number=ID_NUMBER, form_state=state)  # fmt: skip
    assert "转人工" in said[0]
    assert dispatcher.messages[0]["buttons"][0]["payload"] == "转人工"


def test_anonymous_complaints_skip_contact_details() -> None:
    values = {
        "category": "举报",
        "district": "东湖区",
        "address": "湖滨路28号",
        "description": "有人在河道里倾倒建筑垃圾",
    }
    sets, _, _ = _turn("complaint_12345_ticket", "匿名", "anonymous", **values)
    assert sets["anonymous"] is True and sets["requested_slot"] == "confirm"
    assert (
        next_slot(FORMS["complaint_12345_ticket"], {**values, "anonymous": False}) == "contact_name"
    )


def test_rent_amount_follows_the_guide_rule() -> None:
    values: dict[str, Any] = {
        "name": "李四",
        "id_number": ID_NUMBER,
        "fund_account": "320100123456",
        "rent_registered": False,
    }
    sets, said, _ = _turn("fund_withdraw_rent_application", "每月两千五", "monthly_rent", **values)
    assert sets["monthly_rent"] == "2500.00" and "1500.00元/月" in said[0]
    registered = summary(
        FORMS["fund_withdraw_rent_application"],
        {**values, "rent_registered": True, "monthly_rent": "2500.00"},
    )
    assert "按合同月租金2500.00元/月提取" in registered


def test_summary_masks_personal_data() -> None:
    text = summary(FORMS["id_card_lost_appointment"], _filled())
    assert "110***********002X" in text and "139****5678" in text
    assert ID_NUMBER not in text and "13912345678" not in text
    assert "示例市政务服务中心" in text


def test_elder_mode_repeats_a_value_back_before_it_counts() -> None:
    sets, said, dispatcher = _turn(
        "id_card_lost_appointment", "13912345678", "mobile", mode="elder", name="张三",
        id_number=ID_NUMBER,
    )  # fmt: skip
    assert sets["mobile"] is None and sets["requested_slot"] == "mobile"
    assert said == ["您说的是139****5678，对吗？"]
    assert [b["title"] for b in dispatcher.messages[0]["buttons"]] == ["对", "不对，重说"]
    state = sets["form_state"]

    sets, said, _ = _turn("id_card_lost_appointment", "对", "mobile", mode="elder",
                          name="张三", id_number=ID_NUMBER, form_state=state)  # fmt: skip
    assert sets["mobile"] == "13912345678" and sets["requested_slot"] != "mobile"

    sets, said, _ = _turn("id_card_lost_appointment", "不对", "mobile", mode="elder",
                          name="张三", id_number=ID_NUMBER, form_state=dict(state))  # fmt: skip
    assert sets["mobile"] is None and sets["requested_slot"] == "mobile"
    assert said == ["好的，请您再说一遍。"]


def test_elder_mode_takes_one_value_at_a_time() -> None:
    sets, said, _ = _turn(
        "id_card_lost_appointment", "我叫张三电话13912345678", "name", mode="elder"
    )
    assert "mobile" not in sets or sets["mobile"] is None
    assert said == ["您说的是张三，对吗？"]

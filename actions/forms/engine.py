"""Guided filing: one engine behind all five Rasa forms.

Rasa runs the form loop; every citizen message inside a form reaches `validate_<form>` as the
requested slot's text (a `from_text` mapping). Here it is read as what a patient window clerk
would hear: the value asked for (checked, with a specific reason when wrong), other values given
in the same message, "为什么要填这个", an edit ("手机号填错了"), a cancel ("不办了", confirmed
first), a knowledge question (answered, then the form goes on), a request for a person or an
emergency. The engine then names the next slot to ask (`requested_slot`), or ends the form, and
`action_finish_form` submits, cancels or hands over. State lives in the `form_state` slot.

Personal values (身份证号, 手机号, 银行卡号…) never stay in Rasa's tracker: the actions below
reveal the vault tokens in the slots when they start and seal new values into tokens before they
return (actions/forms/vault.py); FormEngine itself only ever sees plain values.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import uuid
from abc import ABC, abstractmethod
from decimal import Decimal
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.forms import gateway, vault
from actions.forms.extract import extract_slots
from actions.forms.specs import (
    ALL_SLOTS,
    FORM_BY_INTENT,
    FORM_BY_RASA_NAME,
    FORM_FOR_SERVICE,
    FORMS,
    RENT_CAP_UNREGISTERED,
    Context,
    FormSpec,
    SlotSpec,
)
from actions.forms.validators import Check, mask_mobile
from actions.modes import is_elder
from yishi.privacy import mask_pii

logger = logging.getLogger(__name__)

FAILURES_BEFORE_HUMAN = 3
# the service whose guide a form files (for next steps after a submission)
SERVICE_FOR_FORM = {
    spec.form_id: service
    for service, (intent, _) in FORM_FOR_SERVICE.items()
    for spec in FORMS.values()
    if spec.intent == intent
}
# answers that are sentences of their own: a word like 取消 inside them is not a command
FREE_TEXT_SLOTS = frozenset({"description", "address"})
_CANCEL = re.compile(
    r"不办了|不填了|不想办|不弄了|先不办|取消|算了|退出|不申请了|不预约了|不备案了|不登记了"
)
_WHY = re.compile(r"为什么|为啥|干嘛|干什么用|有什么用|做什么用|用来干|凭什么")
_HUMAN = re.compile(r"转人工|人工客服|找真人|真人客服|人工服务")
_EMERGENCY = re.compile(r"着火|失火|火灾|晕倒|昏迷|救命|抢劫|煤气泄漏|燃气泄漏|心脏病|大出血|车祸")
_EDIT = re.compile(r"改|填错|写错|输错|说错|弄错|更正|重新填|重填|不对|换个|换一个|换成")
_YES = re.compile(
    r"^(确认|确定|提交|确认提交|是|是的|对|对的|没错|没问题|好|好的|可以|行|嗯|ok|OK|无误|正确)"
)
_NO = re.compile(r"^(不对|不是|错了|说错|不|没有|no|NO)")
_QUESTION = re.compile(r"[?？]|吗|怎么|多少|什么|哪|几|咋|能不能|可不可以|是否|要不要")
VAULT_AWAY = "抱歉，系统暂时无法保存或读取您填写的信息，请稍后再试，或拨打12345政务服务便民热线。"
# which slot an edit is about, by the words citizens use for it
EDIT_TARGETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("id_number", ("身份证",)),
    ("mobile_last4", ("后四位", "后4位", "尾号")),
    ("mobile", ("手机", "电话", "号码")),
    ("bank_card", ("银行卡", "卡号")),
    ("fund_account", ("公积金账号", "账号")),
    ("contact_name", ("称呼", "联系人")),
    ("name", ("名字", "姓名")),
    ("time_slot", ("时段", "几点", "时间段")),
    ("appt_date", ("日期", "哪天", "时间", "号")),
    ("start_date", ("开始", "日期", "时间")),
    ("hall", ("大厅", "地点", "办理点", "地方")),
    ("monthly_rent", ("房租", "租金", "金额")),
    ("rent_registered", ("备案",)),
    ("insured_place", ("参保",)),
    ("destination", ("就医地", "目的地", "去哪")),
    ("filing_type", ("类型",)),
    ("category", ("类别", "类型")),
    ("district", ("区",)),
    ("address", ("地址",)),
    ("description", ("描述", "内容", "情况")),
    ("anonymous", ("匿名",)),
    ("callback", ("回访", "回电")),
    ("receipt", ("编号",)),
)


def _today() -> dt.date:
    return dt.date.today()


def _values(tracker: Tracker, spec: FormSpec) -> dict[str, Any]:
    return {
        s.name: tracker.get_slot(s.name) for s in spec.slots if tracker.get_slot(s.name) is not None
    }


def _context(values: dict[str, Any]) -> Context:
    return Context(today=_today(), values=values, free_places=gateway.free_places)


def next_slot(spec: FormSpec, values: dict[str, Any], confirm: Any = None) -> str | None:
    for name in spec.required(values):
        if name == "confirm":
            return None if confirm else "confirm"
        if values.get(name) is None:
            return name
    return None


def edit_target(text: str, spec: FormSpec) -> str | None:
    names = set(spec.required({})) | {s.name for s in spec.slots}
    for slot, words in EDIT_TARGETS:
        if slot in names and any(w in text for w in words):
            return slot
    return None


def summary(spec: FormSpec, values: dict[str, Any]) -> str:
    lines = [f"请核对您的{spec.title}信息："]
    for name in spec.required(values):
        if name == "confirm":
            continue
        slot = spec.slot(name)
        lines.append(
            f"· {slot.label}：{slot.display(values[name]) if values.get(name) is not None else '（未填）'}"
        )
    if spec.form_id == "fund_withdraw_rent_application" and values.get("monthly_rent") is not None:
        lines.append(f"· 本次可提取：{rent_withdrawal(values)}")
    lines.append("确认无误请回复“确认提交”；需要修改请直接说，比如“改手机号”；不办了请说“不办了”。")
    return "\n".join(lines)


def rent_withdrawal(values: dict[str, Any]) -> str:
    """The monthly amount by the guide's rule (knowledge/guides/fund_withdraw_rent.yaml)."""
    rent = Decimal(str(values["monthly_rent"]))
    if values.get("rent_registered"):
        return f"按合同月租金{rent}元/月提取（不超过本人当月住房公积金月缴存额）"
    capped = min(rent, RENT_CAP_UNREGISTERED).quantize(Decimal("0.01"))
    return (
        f"{capped}元/月（未备案按每人每月{RENT_CAP_UNREGISTERED}元限额提取，夫妻合计不超过3000元）"
    )


def plain(value: Any) -> Any:
    """Slot values must be JSON: amounts and dates as text."""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _buttons(options: list[tuple[str, str]], limit: int = 6) -> list[dict[str, str]]:
    return [{"title": title, "payload": payload} for title, payload in options[:limit]]


class FormEngine:
    """What one message inside a form means, and what to do about it."""

    def __init__(self, spec: FormSpec, tracker: Tracker, dispatcher: CollectingDispatcher) -> None:
        self.spec = spec
        self.tracker = tracker
        self.dispatcher = dispatcher
        self.state: dict[str, Any] = dict(tracker.get_slot("form_state") or {})
        self.state.setdefault("failures", {})
        self.values = _values(tracker, spec)
        self.confirm = tracker.get_slot("confirm")
        self.updates: dict[str, Any] = {}
        self.elder = is_elder(tracker)

    def _set(self, name: str, value: Any) -> None:
        value = plain(value)
        self.updates[name] = value
        if name == "confirm":
            self.confirm = value
        elif value is None:
            self.values.pop(name, None)
        else:
            self.values[name] = value

    def _finish(self, outcome: str) -> list[dict[str, Any]]:
        self.state["outcome"] = outcome
        return self._events(finished=True)

    def _events(self, finished: bool = False) -> list[dict[str, Any]]:
        events = [SlotSet(name, value) for name, value in self.updates.items()]
        events.append(SlotSet("form_state", self.state))
        following = None if finished else next_slot(self.spec, self.values, self.confirm)
        if following is None and not finished:
            self.state["outcome"] = "confirmed" if self.spec.confirm else "complete"
            events[-1] = SlotSet("form_state", self.state)
        events.append(SlotSet("requested_slot", following))
        return events

    # -- the turn ---------------------------------------------------------------------------
    async def handle(self, text: str, requested: str | None) -> list[dict[str, Any]]:
        text = text.strip()
        # the form's from_text mapping put the raw message into the requested slot: it only
        # counts once it has been checked below
        if requested:
            self._set(requested, None)
        if self.state.get("pending") == "value":
            # elder mode: the value was repeated back; this message confirms or corrects it
            self.state.pop("pending")
            said = self.state.pop("pending_value", None) or {}
            if requested and said.get("slot") == requested and _YES.match(text):
                self._set(requested, said.get("value"))
                self.state["failures"].pop(requested, None)
                return self._events()
            if _NO.match(text) and len(text) <= 4:
                self.dispatcher.utter_message(text="好的，请您再说一遍。")
                return self._events()
        if self.state.get("pending") == "cancel":
            self.state.pop("pending")
            if _YES.match(text) or _CANCEL.search(text):
                return self._finish("cancelled")
            self.dispatcher.utter_message(text="好的，我们继续填写。")
            return self._events()
        if _EMERGENCY.search(text):
            self.dispatcher.utter_message(response="utter_emergency")
            return self._events()
        if _HUMAN.search(text):
            return self._finish("handoff")
        # control phrases win over values, except inside a long free-text answer
        control = requested not in FREE_TEXT_SLOTS or len(text) <= 12
        if control and _CANCEL.search(text):
            self.state["pending"] = "cancel"
            self.dispatcher.utter_message(
                text=f"确定不办{self.spec.title}了吗？已填写的信息不会保存。",
                buttons=[
                    {"title": "确定不办了", "payload": "确定"},
                    {"title": "继续填写", "payload": "继续"},
                ],
            )
            return self._events()
        if requested and control and _WHY.search(text):
            self.dispatcher.utter_message(text=self._purpose(requested))
            return self._events()
        if requested == "confirm":
            return self._confirm_turn(text)
        if (
            requested
            and control
            and _EDIT.search(text)
            and (target := edit_target(text, self.spec))
        ):
            if not self._check(requested, text).ok or target != requested:
                return self._edit(target, text)
        return await self._value_turn(text, requested)

    def _purpose(self, requested: str) -> str:
        if requested == "confirm":
            return "提交前请核对一遍，避免信息有误耽误办理。"
        return f"为什么要填{self.spec.slot(requested).label}：{self.spec.slot(requested).purpose}"

    def _check(self, name: str, text: str) -> Check:
        if name == "confirm":
            return Check(bool(_YES.match(text)), True, "")
        return self.spec.slot(name).check(text, _context(self.values))

    def _edit(self, target: str, text: str) -> list[dict[str, Any]]:
        self._set(target, None)
        self._set("confirm", None)
        # "把手机号改成13912345678": the new value may come with the request
        candidate = extract_slots(text).get(
            next((k for k, v in self.spec.extract_map.items() if v == target), "")
        )
        check = self._check(target, candidate) if candidate else None
        if check is not None and check.ok:
            self._set(target, check.value)
            self.dispatcher.utter_message(text=f"好的，{self.spec.slot(target).label}已改好。")
        else:
            self.dispatcher.utter_message(
                text=f"好的，我们重新填写{self.spec.slot(target).label}。"
            )
        return self._events()

    def _confirm_turn(self, text: str) -> list[dict[str, Any]]:
        if _EDIT.search(text) or text.startswith(("修改", "不对", "有误", "错")):
            target = edit_target(text, self.spec)
            if target:
                return self._edit(target, text)
            filled = [n for n in self.spec.required(self.values) if n != "confirm"]
            self.dispatcher.utter_message(
                text="您要修改哪一项？",
                buttons=[
                    {
                        "title": f"改{self.spec.slot(n).label}",
                        "payload": f"改{self.spec.slot(n).label}",
                    }
                    for n in filled[:8]
                ],
            )
            return self._events()
        if _YES.match(text):
            self._set("confirm", True)
            return self._finish("confirmed")
        self.dispatcher.utter_message(text="请回复“确认提交”提交申请，或告诉我要修改哪一项。")
        return self._events()

    async def _value_turn(self, text: str, requested: str | None) -> list[dict[str, Any]]:
        found = extract_slots(text)
        filled_other = []
        for key, slot in self.spec.extract_map.items() if not self.elder else ():
            if (
                key in found
                and slot != requested
                and self.values.get(slot) is None
                and slot in self.spec.required(self.values)
            ):
                check = self._check(slot, found[key])
                if check.ok:
                    self._set(slot, check.value)
                    filled_other.append(slot)
        if requested is None or requested == "confirm":
            return self._events()
        own_key = next((k for k, v in self.spec.extract_map.items() if v == requested), None)
        candidates = [found[own_key]] if own_key and own_key in found else []
        candidates.append(text)
        check = Check(False, None, "")
        for candidate in candidates:
            check = self._check(requested, candidate)
            if check.ok:
                break
        if check.ok and self.elder and not self.spec.slot(requested).options:
            return self._repeat_back(requested, check.value)
        if check.ok:
            self._set(requested, check.value)
            self.state["failures"].pop(requested, None)
            if requested == "monthly_rent":
                self.dispatcher.utter_message(
                    text=f"按规定，本次可提取：{rent_withdrawal(self.values)}。"
                )
            return self._events()
        if filled_other:
            return self._events()  # the message carried other values: just ask on
        if _QUESTION.search(text) and await self._answer_question(text):
            return self._events()
        failures = self.state["failures"].get(requested, 0) + 1
        self.state["failures"][requested] = failures
        if failures >= FAILURES_BEFORE_HUMAN:
            self.dispatcher.utter_message(
                text=f"{check.reason}\n填写遇到困难的话，可以转人工客服，由工作人员帮您办理。",
                buttons=[{"title": "转人工客服", "payload": "转人工"}],
            )
        elif self.elder:
            self.dispatcher.utter_message(
                text=f"{check.reason}\n说不清楚也没关系，可以点“转人工”，或拨打12345请工作人员帮您。",
                buttons=[{"title": "转人工客服", "payload": "转人工"}],
            )
        else:
            self.dispatcher.utter_message(text=check.reason)
        return self._events()

    def _repeat_back(self, slot: str, value: Any) -> list[dict[str, Any]]:
        """Elder mode: say the value back (personal data masked) before it counts."""
        self.state["pending"] = "value"
        self.state["pending_value"] = {"slot": slot, "value": plain(value)}
        shown = mask_pii(str(self.spec.slot(slot).display(value)))
        self.dispatcher.utter_message(
            text=f"您说的是{shown}，对吗？",
            buttons=[{"title": "对", "payload": "对"}, {"title": "不对，重说", "payload": "不对"}],
        )
        return self._events()

    async def _answer_question(self, text: str) -> bool:
        """A knowledge question in the middle of a form: answer it, then go on filling."""
        from actions.kb_answer import answer_inline

        reply = await asyncio.get_running_loop().run_in_executor(None, answer_inline, text)
        if reply is None:
            return False
        self.dispatcher.utter_message(text=f"{reply}\n\n我们接着填写{self.spec.title}。")
        return True


class ValidateFormAction(Action, ABC):
    """validate_<form>: generated for each form below (abstract, so rasa-sdk skips it)."""

    @property
    @abstractmethod
    def spec(self) -> FormSpec: ...

    def name(self) -> str:
        return f"validate_{self.spec.rasa_form}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        requested = tracker.get_slot("requested_slot")
        text = tracker.latest_message.get("text") or ""
        engine = FormEngine(self.spec, tracker, dispatcher)
        if not requested or requested not in tracker.slots_to_validate() or not text:
            return engine._events()  # activation, or a run without a new answer
        sender = tracker.sender_id
        try:
            revealed = await vault.reveal(sender, engine.values)
            engine.values = {k: v for k, v in revealed.items() if v is not None}
            engine.state = await vault.reveal(sender, engine.state)
        except gateway.GatewayError:
            dispatcher.utter_message(text=VAULT_AWAY)
            engine._set(requested, None)  # the raw message must not count as the answer
            return engine._events()
        events = await engine.handle(text, requested)
        try:
            return await vault.seal(sender, events)
        except gateway.GatewayError:
            dispatcher.utter_message(text=VAULT_AWAY)
            return vault.drop_personal(events)


class AskSlotAction(Action, ABC):
    """action_ask_<slot>: the question, with its example and choices; generated per slot."""

    @property
    @abstractmethod
    def slot_name(self) -> str: ...

    def name(self) -> str:
        return f"action_ask_{self.slot_name}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        spec = FORM_BY_RASA_NAME.get(tracker.active_loop_name or "")
        state = tracker.get_slot("form_state") or {}
        if spec is None or state.get("pending"):
            return []  # a cancel question is waiting for its answer
        try:
            values = await vault.reveal(tracker.sender_id, _values(tracker, spec))
        except gateway.GatewayError:
            dispatcher.utter_message(text=VAULT_AWAY)
            return []
        if self.slot_name == "confirm":
            dispatcher.utter_message(
                text=summary(spec, values),
                buttons=[{"title": "确认提交", "payload": "确认提交"}, {"title": "修改信息", "payload": "修改"},
                         {"title": "不办了", "payload": "不办了"}],
            )  # fmt: skip
            return []
        slot: SlotSpec = spec.slot(self.slot_name)
        options = slot.options(_context(values)) if slot.options else []
        prompt = slot.prompt
        if options:
            prompt += "\n" + "\n".join(
                f"{i}. {title}" for i, (title, _) in enumerate(options[:6], 1)
            )
        dispatcher.utter_message(text=prompt, buttons=_buttons(options))
        return []


class ActionPrefillForm(Action):
    """Before a form starts: a fresh session, and every value the request already carried."""

    def name(self) -> str:
        return "action_prefill_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        spec = FORM_BY_INTENT.get(intent or "")
        if spec is None:
            return []
        events: list[dict[str, Any]] = [SlotSet(name, None) for name in ALL_SLOTS]
        state = {"form": spec.form_id, "session": uuid.uuid4().hex[:12], "failures": {}}
        events.append(SlotSet("form_state", state))
        values: dict[str, Any] = {}
        found = extract_slots(tracker.latest_message.get("text") or "")
        if (
            spec.form_id == "service_progress_query"
            and "receipt" not in found
            and tracker.get_slot("last_receipt")
        ):
            found["receipt"] = tracker.get_slot("last_receipt")
        for key, slot in spec.extract_map.items():
            if key in found and slot in {s.name for s in spec.slots}:
                check = spec.slot(slot).check(found[key], _context(values))
                if check.ok:
                    values[slot] = plain(check.value)
                    events.append(SlotSet(slot, plain(check.value)))
        dispatcher.utter_message(
            text=f"好的，我来帮您办理“{spec.title}”，一次问一项，随时可以说“不办了”或“为什么要填这个”。"
        )
        try:
            return await vault.seal(tracker.sender_id, events)
        except gateway.GatewayError:
            return vault.drop_personal(events)  # asked for again, one at a time


class ActionFinishForm(Action):
    """After a form ends: submit and give the receipt, look up progress, cancel or hand over."""

    def name(self) -> str:
        return "action_finish_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        state = tracker.get_slot("form_state") or {}
        spec = FORMS.get(state.get("form", ""))
        reset = [SlotSet(name, None) for name in ALL_SLOTS] + [SlotSet("form_state", None)]
        if spec is None:
            return reset
        outcome = state.get("outcome")
        if outcome == "cancelled":
            await vault.forget(tracker.sender_id)
            dispatcher.utter_message(
                text=f"好的，已取消{spec.title}，填写的信息没有保存。还有什么可以帮您？"
            )
            return reset
        if outcome == "handoff":
            # keep what was collected: the agent who takes over sees it (masked) in the console
            dispatcher.utter_message(response="utter_request_human")
            return [SlotSet("form_state", None)]
        loop = asyncio.get_running_loop()
        try:
            values = await vault.reveal(tracker.sender_id, _values(tracker, spec))
        except gateway.GatewayError:
            dispatcher.utter_message(
                text=VAULT_AWAY, buttons=[{"title": "转人工客服", "payload": "转人工"}]
            )
            return reset
        if spec.form_id == "service_progress_query":
            return reset + await self._lookup(dispatcher, loop, values)
        if any(values.get(n) is None for n in spec.required(values) if n != "confirm"):
            # a value kept longer than the form-draft retention is gone: start again
            dispatcher.utter_message(
                text=f"抱歉，您填写的信息已超过保存时间，请重新办理{spec.title}。",
                buttons=[{"title": f"重新办理{spec.title}", "payload": f"/{spec.intent}"}],
            )
            await vault.forget(tracker.sender_id)
            return reset
        fields = {k: (str(v) if not isinstance(v, bool) else v) for k, v in values.items()}
        mobile = values.get("mobile") or ""
        try:
            result = await loop.run_in_executor(
                None, gateway.submit, spec.form_id, tracker.sender_id,
                f"{tracker.sender_id}/{spec.form_id}/{state.get('session')}", mobile or "10000000000", fields,
            )  # fmt: skip
        except gateway.GatewayError as exc:
            if exc.code == "slot_full":
                await vault.forget(tracker.sender_id)
                dispatcher.utter_message(text="抱歉，您选的时段刚刚约满了，请重新预约并换一个时段。",
                                         buttons=[{"title": "重新预约", "payload": f"/{spec.intent}"}])  # fmt: skip
                return reset
            logger.error("submission of %s failed: %s", spec.form_id, exc)
            dispatcher.utter_message(
                text="抱歉，系统暂时无法提交，您填写的信息没有丢失的风险但尚未提交成功，请稍后再试，或拨打12345政务服务便民热线办理。",
                buttons=[{"title": "转人工客服", "payload": "转人工"}],
            )
            return reset
        receipt = result["receipt"]
        await vault.forget(tracker.sender_id)  # the application record keeps them, encrypted
        tail = (
            f"短信通知将发送到{mask_mobile(mobile)}。"
            if mobile
            else "您选择了匿名，处理结果不会回访。"
        )
        dispatcher.utter_message(
            text=f"提交成功！{spec.title}已受理登记。\n受理编号：{receipt}\n{tail}\n可随时发送“查进度”，凭受理编号和手机号后4位查询办理进度。",
            buttons=[{"title": "查询办理进度", "payload": "/query_progress"}],
            json_message={"yishi": {"trace": {"receipt": receipt}}},
        )
        service = SERVICE_FOR_FORM.get(spec.form_id)
        if service:
            from actions.kb_answer import next_steps_text

            tip, buttons = await loop.run_in_executor(None, next_steps_text, service)
            if tip:
                dispatcher.utter_message(text=tip, buttons=buttons)
        return [*reset, SlotSet("last_receipt", receipt)]

    @staticmethod
    async def _lookup(
        dispatcher: CollectingDispatcher, loop: asyncio.AbstractEventLoop, values: dict[str, Any]
    ) -> list[dict[str, Any]]:
        try:
            found = await loop.run_in_executor(
                None, gateway.lookup, values.get("receipt", ""), values.get("mobile_last4", "")
            )
        except gateway.GatewayError:
            dispatcher.utter_message(
                text="抱歉，进度查询暂时不可用，请稍后再试，或拨打12345政务服务便民热线。"
            )
            return []
        if not found.get("found"):
            dispatcher.utter_message(
                text="没有查到对应的办件，请核对受理编号和手机号后4位是否正确。"
            )
            return []
        history = "\n".join(
            f"· {h['at'][:16].replace('T', ' ')} {h['status']} {h.get('note') or ''}".rstrip()
            for h in found["history"]
        )
        dispatcher.utter_message(
            text=f"受理编号 {found['receipt']} 当前状态：{found['status']}\n办理记录：\n{history}"
        )
        return []


# One validate_<form> per form and one action_ask_<slot> per slot. Kept in module-level lists:
# a class is only weakly referenced by its base, and rasa-sdk finds actions through __subclasses__.
VALIDATE_ACTIONS = [
    type(f"Validate_{spec.form_id}", (ValidateFormAction,), {"spec": spec, "__module__": __name__})
    for spec in FORMS.values()
]
ASK_ACTIONS = [
    type(f"AskSlot_{slot}", (AskSlotAction,), {"slot_name": slot, "__module__": __name__})
    for slot in ALL_SLOTS
]
# Sanic's worker processes get the actions pickled by reference: each class must be an
# attribute of this module under its own name.
globals().update({cls.__name__: cls for cls in (*VALIDATE_ACTIONS, *ASK_ACTIONS)})

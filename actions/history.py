"""A citizen's own recent applications and 12345 tickets, on the channel they use.

The channel's user id (the conversation's sender id) is the identity: the gateway lists only
what was filed from this conversation, so no receipt number or phone digits are needed. A
receipt from another channel is still found with 查进度 (receipt + last four phone digits).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.forms import gateway
from actions.forms.specs import FORMS
from actions.kb_answer import ActionAnswerFromKb

logger = logging.getLogger(__name__)
# what a request for one's own list says: "我的办件记录", "我办过哪些事", "我提交过哪些申请"
_OWN_HISTORY = re.compile(
    r"我.{0,6}(?:办过|办的|办了|记录|申请过|申请都|的申请|工单|诉求|历史|提交|登记过|预约记录|以前|之前|都办)"
    r"|我有哪些|哪些(?:申请|事|业务|诉求|工单)|记录|历史|列表|列出"
)
EMPTY_TEXT = (
    "您在这个渠道还没有办过事项。可以直接问我，比如“身份证丢了怎么补办”，"
    "或者说“我要预约补办身份证”。"
)


def _day(iso: str | None) -> str:
    if not iso or len(iso) < 10:
        return ""
    return f"{int(iso[5:7])}月{int(iso[8:10])}日"


def asks_for_own_history(text: str) -> bool:
    """Whether the message asks for the citizen's own list of applications (a button does)."""
    return not text or text.startswith("/") or bool(_OWN_HISTORY.search(text))


def render_history(data: dict[str, Any]) -> tuple[str, list[dict[str, str]]]:
    lines: list[str] = []
    for app in data.get("applications") or []:
        spec = FORMS.get(app["form_id"])
        title = spec.title if spec else app["form_id"]
        lines.append(f"{title}｜{app['receipt']}｜{app['status']}（{_day(app['created_at'])}提交）")
    for ticket in data.get("tickets") or []:
        state = ticket["status"] + ("，已超期，正在督办" if ticket.get("overdue") else "")
        due = (
            f"，{_day(ticket.get('due_at'))}前答复"
            if ticket["status"] in ("受理", "派单", "办理")
            else ""
        )
        lines.append(
            f"12345{ticket['category']}工单｜{ticket['number']}｜{state}（{ticket['department']}{due}）"
        )
        if ticket.get("answer"):
            lines.append(f"   答复：{ticket['answer'][:60]}")
    if not lines:
        return EMPTY_TEXT, []
    numbered, n = [], 0
    for line in lines:
        if line.startswith(" "):
            numbered.append(line)
        else:
            n += 1
            numbered.append(f"{n}. {line}")
    text = "您在这个渠道最近办理的事项：\n" + "\n".join(numbered)
    return text, [{"title": "查询办件进度", "payload": "/query_progress"}]


class ActionShowHistory(Action):
    def name(self) -> str:
        return "action_show_history"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        text = (tracker.latest_message.get("text") or "").strip()
        if not asks_for_own_history(text):
            # "上线检验都要检查哪些项目" heard as a request for one's list: answer the question
            return await ActionAnswerFromKb().run(dispatcher, tracker, domain)
        loop = asyncio.get_running_loop()
        try:
            data = await loop.run_in_executor(None, gateway.history, tracker.sender_id)
        except gateway.GatewayError as exc:
            logger.warning("history unavailable: %s", exc)
            dispatcher.utter_message(
                text="抱歉，办件记录暂时查不到，请稍后再试，或拨打12345政务服务便民热线。"
            )
            return []
        text, buttons = render_history(data)
        dispatcher.utter_message(text=text, buttons=buttons)
        return []

"""Filing, or a question about the service the filing is for?

Rasa's NLU hears "我租房子住 钱能不能从公积金里出" close to the rent-withdrawal filing, and
"没扯证生的娃 能给他落户口不" sometimes close to any filing at all. Starting a form for a question
is the worst answer there is: the citizen asked something and gets asked for their ID number.
So before a form starts, `action_check_request` looks at the message once more:

- a button payload ("/apply_fund_rent") starts the form;
- a question (a question word, a closing particle, an aspect cue such as 多少钱 or 在哪) that
  does not also ask to file ("我要预约", "帮我查一下", a receipt number) is answered from the
  knowledge base instead; when the answer is about the filing's own service it carries the
  button that starts the form (kb_answer's related buttons), so one tap files;
- anything else starts the form, unless the knowledge base places it under another service
  (band `answer`; `answer` or `clarify` when it is also phrased as a question): the NLU misheard,
  and that form would be the wrong one. A complaint can be about any subject, so its form is
  kept.

The slot `request_is_question` tells the rules which way to go (bot/data/rules/forms.yml).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import kb_answer
from actions.forms.specs import FORM_FOR_SERVICE
from retrieval.aspects import aspect_cues

SLOT = "request_is_question"
SERVICE_FOR_INTENT = {intent: service for service, (intent, _) in FORM_FOR_SERVICE.items()}

# asking for the filing itself
_REQUEST = re.compile(
    r"我(?:要|想要?|得)(?:办|申请|预约|提取?|投诉|反映|举报|登记|备案|查|约|补)|帮(?:我|忙)|给我|麻烦"
    r"|请(?:帮|给|你)|(?:开始|马上|现在|直接)(?:办|申请|预约|填|登记|备案|查)|约个"
    r"|(?:预约|申请|办|登记|备案|查)一下|提交|YS-\d{8}-\d{6}|编号是"
)
# asking about it
_QUESTION = re.compile(
    r"[吗么嘛呢不没][？?！!。\s]*$|[？?]|咋|怎么|怎样|如何|多少|多久|几[天个号点年月岁块元]|哪|啥|什么"
    r"|谁|能不能|可不可以|行不行|中不中|是不是|有没有|要不要|用不用|会不会|能否|可否"
)
# a complaint can be about any subject: its form is right whatever service the words suggest
ANY_SUBJECT = {"apply_complaint"}


def looks_like_question(text: str) -> bool:
    return bool(_QUESTION.search(text) or aspect_cues(text))


def asks_to_file(text: str) -> bool:
    return text.startswith("/") or bool(_REQUEST.search(text))


class ActionCheckRequest(kb_answer.ActionAnswerFromKb):
    def name(self) -> str:
        return "action_check_request"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        text = (tracker.latest_message.get("text") or "").strip()
        intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
        if not await self._answer_instead(text, intent):
            return [SlotSet(SLOT, False)]
        events = await super().run(dispatcher, tracker, domain)
        return [*events, SlotSet(SLOT, True)]

    @staticmethod
    async def _answer_instead(text: str, intent: str) -> bool:
        if not text or text.startswith("/"):  # a button: the citizen chose to file
            return False
        question, request = looks_like_question(text), asks_to_file(text)
        if question and not request:
            return True
        if intent in ANY_SUBJECT:
            return False
        loop = asyncio.get_running_loop()
        searcher = await loop.run_in_executor(None, kb_answer._safe_get)
        if searcher is None:
            return False
        result = await loop.run_in_executor(None, searcher.search, text)
        own, best = SERVICE_FOR_INTENT.get(intent), result.best
        # a question that also asks to file needs less: any firm lead to another service
        bands = {"answer", "clarify"} if question else {"answer"}
        return bool(own and best and result.band in bands and best.service_id not in (None, own))

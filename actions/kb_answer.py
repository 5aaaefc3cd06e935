"""Answers from the knowledge base (knowledge/ → retrieval/), with citation and honest limits.

The searcher is loaded once per action-server process (in the background at start-up) and
swaps in a rebuilt index by itself. Bands: `answer` states the asked aspect of the guide with a
source line and related questions; `clarify` offers up to three service × aspect choices;
`none` says so and offers a person or the 12345 hotline.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.forms.specs import FORM_FOR_SERVICE
from actions.metrics import count_kb_answer
from actions.modes import is_elder
from retrieval.aspects import aspect_cues
from retrieval.documents import Document
from retrieval.life_events import next_steps
from retrieval.schema import ASPECT_NAMES
from retrieval.searcher import SearcherHandle, SearchResult

logger = logging.getLogger(__name__)

_handle = SearcherHandle()
_preload = threading.Thread(target=lambda: _safe_get(), name="kb-preload", daemon=True)

NONE_TEXT = (
    "抱歉，这个问题我在办事指南里没有找到可靠的答案，不想误导您。"
    "您可以换个说法再问，或者转人工客服；也可以拨打12345政务服务便民热线咨询。"
)
# a subject the out-of-scope lexicon names (knowledge/lexicon/out_of_scope.yaml)
OUTSIDE_TEXT = (
    "抱歉，“{subject}”不在一事通现有的办事指南范围内，我不便作答，以免误导您。"
    "您可以转人工客服，或拨打12345政务服务便民热线，问清楚该找哪个部门。"
)
UNAVAILABLE_TEXT = (
    "抱歉，办事指南知识库暂时不可用。您可以稍后再试，或拨打12345政务服务便民热线咨询。"
)
CLARIFY_TEXT = "您想了解的是下面哪一项？请点选，或者说得再具体一些："
# Question-style titles for related-question buttons, in the order citizens usually need them.
RELATED_TITLES = {
    "materials": "需要带什么材料？",
    "process": "怎么办理？",
    "fee": "要多少钱？",
    "location": "去哪里办？",
    "time_limit": "多久能办好？",
    "online": "能在网上办吗？",
    "conditions": "谁可以办？",
}
_FOLLOW_UP = re.compile(r"^(那|那么|这个|它|这|还有|另外|再问一下)")

# Elder mode (长辈版): the essentials only, at most three points, then an offer of the rest.
ELDER_POINTS = 3
ELDER_POINT_CHARS = 48
ELDER_MORE = "还想知道更多吗？"
ELDER_CLARIFY_TEXT = "您想问的是下面哪一个？点一下就行。拿不准的话，也可以拨打12345热线问人工。"
FULL_SUFFIX = "~full"  # kb_doc of the "想知道更多" button: the whole answer, also in elder mode
_NUMBERED = re.compile(r"^(\d+)[.、]\s*(.*)$")
_SKIP_FOR_ELDERS = ("收费依据", "依据：", "法律依据", "设定依据")


def _essential(point: str) -> str:
    """One point without its parenthetical details and side clauses, short enough to hear.
    A very short first sentence ("不需要单独挂失。") keeps the sentence that explains it."""
    cut = re.sub(r"（[^）]*）|〔[^〕]*〕", "", point).strip() or point
    parts = [p.strip() for p in re.split(r"[；;。]", cut) if p.strip()] or [cut]
    cut = parts[0]
    if len(cut) < 12 and len(parts) > 1:
        cut = f"{cut}。{parts[1]}"
    return cut if len(cut) <= ELDER_POINT_CHARS else cut[: ELDER_POINT_CHARS - 1] + "…"


def elder_answer(answer: str) -> tuple[str, bool]:
    """The answer cut to its essentials for elders; whether anything was left out."""
    out: list[str] = []
    points = numbered_shown = 0
    left_out = False
    for raw in answer.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith(_SKIP_FOR_ELDERS):
            left_out = True
            continue
        numbered = _NUMBERED.match(line)
        if line.endswith("：") and not numbered:
            out.append(line)  # a heading ("办理流程：") is not a point
            continue
        points += 1
        if points > ELDER_POINTS:
            left_out = True
            continue
        body = numbered.group(2) if numbered else line
        short = _essential(body)
        left_out = left_out or short != body.rstrip("。；;")
        if numbered:
            numbered_shown += 1
            out.append(f"{numbered_shown}. {short}")
        else:
            out.append(short)
    while out and out[-1].endswith("："):
        out.pop()
    return "\n".join(out), left_out


def _safe_get() -> Any:
    try:
        return _handle.get()
    except Exception:  # noqa: BLE001 - logged; the action answers honestly instead
        logger.exception("knowledge base could not be loaded")
        return None


def kb_button(doc_id: str, title: str) -> dict[str, str]:
    return {"title": title, "payload": f'/ask_service{{"kb_doc":"{doc_id}"}}'}


def source_line(doc: Document) -> str:
    s = doc.source
    version = f"版本{s.get('guide_version')}" if s.get("guide_version") else ""
    effective = f"（{s['effective_date']}起施行）" if s.get("effective_date") else ""
    title = s.get("title") or doc.title
    return f"来源：《{title}》 · {s.get('section', '')} · {version}{effective}"


def _related(doc: Document) -> list[dict[str, str]]:
    """Up to three buttons: start the service's online filing if it has one, then related questions."""
    if not doc.service_id:
        return []
    buttons = []
    if doc.service_id in FORM_FOR_SERVICE:
        intent, title = FORM_FOR_SERVICE[doc.service_id]
        buttons.append({"title": title, "payload": f"/{intent}"})
    wanted = [a for a in RELATED_TITLES if a != doc.aspect][: 3 - len(buttons)]
    return buttons + [kb_button(f"{doc.service_id}#{a}", RELATED_TITLES[a]) for a in wanted]


def answer_inline(text: str) -> str | None:
    """A confident answer with its source line, for questions asked in the middle of a form."""
    searcher = _safe_get()
    if searcher is None:
        return None
    result = searcher.search(text)
    if result.band != "answer" or result.best is None:
        return None
    return f"{result.best.document.answer}\n{source_line(result.best.document)}"


def _kb_trace(doc: Document | None, band: str, score: float) -> dict[str, Any]:
    """`trace.kb` of the chat API for this turn (see shared/spec/README.md); made once per
    answer the action gives, so it counts the answer for /metrics too."""
    count_kb_answer(band)
    return {
        "service_id": doc.service_id if doc else None,
        "aspect": doc.aspect if doc else None,
        "doc_id": doc.doc_id if doc else None,
        "score": round(score, 4),
        "band": band,
    }


def _kb_payload(doc: Document | None, band: str, score: float) -> dict[str, Any]:
    """The custom payload that carries `trace.kb` to the gateway."""
    return {"yishi": {"trace": {"kb": _kb_trace(doc, band, score)}}}


class ActionAnswerFromKb(Action):
    def name(self) -> str:
        return "action_answer_from_kb"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        searcher = await asyncio.get_running_loop().run_in_executor(None, _safe_get)
        if searcher is None:
            dispatcher.utter_message(
                text=UNAVAILABLE_TEXT,
                buttons=[{"title": "转人工客服", "payload": "转人工"}],
                json_message=_kb_payload(None, "none", 0.0),
            )
            return []

        elder = is_elder(tracker)
        loop = asyncio.get_running_loop()
        doc_id = next(tracker.get_latest_entity_values("kb_doc"), None)
        full = bool(doc_id and doc_id.endswith(FULL_SUFFIX))
        doc_id = doc_id.removesuffix(FULL_SUFFIX) if doc_id else None
        if doc_id and doc_id in searcher.by_id:  # a button under an earlier answer
            doc = searcher.by_id[doc_id]
            tips = await loop.run_in_executor(None, next_step_tips, doc, elder)
            return self._answer(dispatcher, doc, 1.0, elder and not full, tips)

        text = (tracker.latest_message.get("text") or "").strip()
        result: SearchResult = await loop.run_in_executor(None, searcher.search, text)
        context = tracker.get_slot("kb_service")
        if context and context in searcher_services(searcher) and self._is_follow_up(text, result):
            name = searcher.by_id[f"{context}#process"].source.get("title", "")
            contextual = await loop.run_in_executor(None, searcher.search, f"{name} {text}")
            if contextual.best and contextual.best.service_id == context and not contextual.outside:
                result = contextual
                result.band = (
                    "answer"
                    if contextual.confidence >= searcher.calibration.t_clarify
                    else result.band
                )

        best = result.best
        if result.band == "answer" and best is not None:
            tips = await loop.run_in_executor(None, next_step_tips, best.document, elder)
            return self._answer(dispatcher, best.document, result.confidence, elder, tips)
        best_doc = best.document if best else None
        if result.outside:  # a neighbouring subject no guide covers: say which, offer people
            dispatcher.utter_message(
                text=OUTSIDE_TEXT.format(subject=result.outside),
                buttons=[{"title": "转人工客服", "payload": "转人工"}],
                json_message=_kb_payload(best_doc, "none", result.confidence),
            )
            return []
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent == "out_of_scope":  # not clearly ours: decline politely, offer no guesses
            dispatcher.utter_message(
                response="utter_out_of_scope",
                json_message=_kb_payload(best_doc, "none", result.confidence),
            )
            return []
        if result.band == "clarify" and result.candidates:
            buttons = [
                kb_button(hit.doc_id, self._choice_title(hit.document)) for hit in result.candidates
            ]
            dispatcher.utter_message(
                text=ELDER_CLARIFY_TEXT if elder else CLARIFY_TEXT,
                buttons=buttons,
                json_message=_kb_payload(best_doc, "clarify", result.confidence),
            )
            return []
        dispatcher.utter_message(
            text=NONE_TEXT,
            buttons=[{"title": "转人工客服", "payload": "转人工"}],
            json_message=_kb_payload(best_doc, "none", result.confidence),
        )
        return []

    @staticmethod
    def _is_follow_up(text: str, result: SearchResult) -> bool:
        """A short question about an aspect that names no service: "那要多少钱", "在哪办"."""
        if not aspect_cues(text):
            return False
        return bool(_FOLLOW_UP.match(text)) or result.band != "answer" or len(text) <= 8

    @staticmethod
    def _choice_title(doc: Document) -> str:
        name = doc.source.get("title") or doc.title
        if doc.aspect and doc.aspect != "other":
            return f"{name}·{ASPECT_NAMES[doc.aspect]}"
        return doc.title[:30]

    @staticmethod
    def _answer(
        dispatcher: CollectingDispatcher,
        doc: Document,
        score: float,
        elder: bool = False,
        tips: tuple[str, list[dict[str, str]]] | None = None,
    ) -> list[dict[str, Any]]:
        text, buttons = f"{doc.answer}\n\n{source_line(doc)}", _related(doc)
        if elder:
            short, left_out = elder_answer(doc.answer)
            name = doc.source.get("title") or doc.title
            version = doc.source.get("guide_version")
            edition = f"，{version}版" if version else ""
            text = f"{short}\n（依据《{name}》办事指南{edition}）"
            buttons = buttons[:2]
            if left_out:
                text += f"\n{ELDER_MORE}"
                buttons = [kb_button(doc.doc_id + FULL_SUFFIX, "想知道更多"), *buttons[:1]]
        source = {
            "service_id": doc.service_id,
            "aspect": doc.aspect,
            "guide_version": doc.source.get("guide_version"),
            "title": doc.source.get("title"),
        }
        dispatcher.utter_message(
            text=text,
            buttons=buttons,
            json_message={
                "yishi": {"trace": {"kb": _kb_trace(doc, "answer", score)}, "source": source}
            },
        )
        if tips and tips[0]:
            dispatcher.utter_message(text=tips[0], buttons=tips[1])
        return [SlotSet("kb_service", doc.service_id)] if doc.service_id else []


# Next steps are offered after answers on how to get a service done, not after every detail.
NEXT_STEP_ASPECTS = {"process", "materials", "conditions", "online"}


def next_step_tips(doc: Document, elder: bool = False) -> tuple[str, list[dict[str, str]]]:
    """What the citizen will probably need next: the next step of each life event the service is
    in (knowledge/life_events.yaml) and, learned from conversations, what others asked next."""
    if not doc.service_id or doc.aspect not in NEXT_STEP_ASPECTS or elder:
        return "", []
    return next_steps_text(doc.service_id)


def next_steps_text(service_id: str, limit: int = 2) -> tuple[str, list[dict[str, str]]]:
    from actions.forms import gateway

    try:
        steps = next_steps(service_id)[:limit]
    except Exception:  # noqa: BLE001 - a broken life-events file must not break answers
        logger.exception("life events unavailable")
        steps = []
    lines = [f"· {step.title}：{step.why}" for step in steps]
    buttons = [kb_button(f"{step.service_id}#process", f"了解{step.title}"[:16]) for step in steps]
    offered = {service_id, *(step.service_id for step in steps)}
    for item in gateway.asked_next(service_id):
        if item["service_id"] not in offered and len(buttons) < 3:
            buttons.append(
                kb_button(f"{item['service_id']}#process", f"大家还问：{item['title']}"[:16])
            )
            offered.add(item["service_id"])
    if not lines and not buttons:
        return "", []
    head = "【接下来您可能还需要】" if lines else "【办这件事的人还常问】"
    return "\n".join([head, *lines]), buttons


def searcher_services(searcher: Any) -> set[str]:
    return {doc.service_id for doc in searcher.docs if doc.service_id}


# rasa-sdk serves from a Sanic worker process; the parent only supervises it. Loading the
# model in the parent too would double the memory, so only the worker preloads it.
if os.environ.get("SANIC_WORKER_NAME"):
    _preload.start()

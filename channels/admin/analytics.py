"""Dashboard numbers for admins, computed from the gateway's own tables.

Every function takes a ``sessionmaker`` and a `Period` (inclusive dates in the city's time
zone, Asia/Shanghai; stored times are UTC) and returns plain JSON-ready data. Counts are exact
and ordered deterministically (ties broken by id or text), so a seeded log gives fixed numbers.

Definitions (the page and the CSV export use the same words):

- **Citizen message**: a `chat_messages` row with direction ``in``. A **conversation** is a
  sender (``"<channel>:<id>"``) that wrote at least one message in the period.
- **Bot turn**: the bot reply rows (direction ``out``, author ``bot``, not pushed) that follow
  one citizen message of the same sender; they share one trace. Its **question** is the latest
  citizen message of that sender before the replies. A turn belongs to the day of its first
  reply. A **knowledge turn** is a bot turn whose trace has ``kb`` (the knowledge base was
  consulted); its band is ``answer``, ``clarify`` or ``none``.
- **answer_rate / clarify_rate / unanswered_rate** = knowledge turns with band answer /
  clarify / none ÷ knowledge turns (greetings, form answers and the like are not questions
  the knowledge base could answer, so they are left out of the denominator).
- **handoff_rate** = conversations with at least one handoff queued in the period ÷
  conversations. ``handoffs`` counts every handoff (a conversation may be handed over twice).
- **Top services**: knowledge turns with band ``answer``, by ``kb.service_id`` (answers from a
  city FAQ entry without a service are not counted).
- **Top questions**: questions of knowledge turns, grouped after light normalisation (NFKC,
  lower case, no spaces, no punctuation at either end).
- **Unanswered clusters**: questions of knowledge turns with band ``none`` or ``clarify``,
  grouped by meaning: distinct normalised texts, most frequent first, each joins the most
  similar earlier cluster leader when the cosine similarity reaches the threshold, else leads a
  new cluster. The guessed service is the most frequent ``kb.service_id`` of its turns.
- **Form funnels**: a form session starts at a bot turn whose ``trace.form`` is the form and
  whose previous turn (of the same sender) had another form or none, and lasts while turns keep
  that form. ``started`` counts sessions started in the period; ``completed`` those followed by
  an application of the form and sender before the next session of the same form (at any
  time); ``abandoned`` the rest, and their drop-off is the last ``requested_slot`` seen in the
  session. ``submitted`` counts applications of the form created in the period, however filed.
- **Ratings**: ratings created in the period, by score; ``open_followups`` are the follow-ups
  open now (待处理, 整改中), whatever their date.
- **Overdue tickets**: tickets open now (受理, 派单, 办理) past their due time, whatever their
  date; the period does not apply, since they are a to-do list.
- **Handoffs by reason**: handoffs queued in the period; ``accepted`` those an agent took,
  ``abandoned`` those the citizen stopped waiting for, ``avg_wait_s`` the mean time from
  queued to accepted.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from channels.applications.store import Application
from channels.core.conversations import REASONS, Handoff
from channels.core.store import ChatMessage, as_utc
from channels.feedback.store import LABELS, OPEN_FOLLOWUP, Followup, Rating
from channels.tickets.store import OPEN_STATUSES, Ticket, iso_local
from yishi.calendar import SHANGHAI

Embed = Callable[[Sequence[str]], np.ndarray]
# a number, or a function asked after embedding (the threshold can depend on the model used)
Threshold = float | Callable[[], float]
Sessions = sessionmaker[Session]

MAX_DAYS = 366
TOP_LIMIT = 20
# untuned multilingual-e5-small query embeddings (retrieval's cluster_model_dir): paraphrases of
# one question score 0.93-0.98, questions on different matters up to ~0.88 (measured on the
# dashboard's kind of short questions)
E5_THRESHOLD = 0.92
# character n-gram vectors (the fallback when the embedding model is unavailable): paraphrases
# 0.44-0.73, different matters up to ~0.27
CHARS_THRESHOLD = 0.4
MAX_CLUSTER_TEXTS = 2000
CLUSTER_LIMIT = 50
EXAMPLES = 5
LIST_LIMIT = 100

FORM_NAMES = {
    "id_card_lost_appointment": "预约补领居民身份证",
    "fund_withdraw_rent_application": "住房公积金租房提取申请",
    "medical_remote_filing_application": "异地就医备案申请",
    "complaint_12345_ticket": "12345 诉求登记",
    "service_progress_query": "办件进度查询",
}
SLOT_LABELS = {
    "name": "姓名",
    "id_number": "身份证号",
    "mobile": "手机号",
    "hall": "办理地点",
    "appt_date": "预约日期",
    "time_slot": "预约时段",
    "fund_account": "公积金账号",
    "rent_registered": "租赁合同已备案",
    "monthly_rent": "月租金",
    "bank_card": "收款银行卡号",
    "insured_place": "参保地",
    "destination": "就医地",
    "filing_type": "备案类型",
    "start_date": "开始日期",
    "category": "诉求类别",
    "district": "所在区",
    "address": "具体地址",
    "description": "诉求内容",
    "anonymous": "匿名",
    "contact_name": "联系人",
    "callback": "需要回访",
    "confirm": "确认提交",
    "receipt": "受理编号",
    "mobile_last4": "手机号后4位",
}
UNKNOWN_SLOT = "(未记录)"
BANDS = ("answer", "clarify", "none")


# --------------------------------------------------------------------------- the period


class PeriodError(ValueError):
    """A bad date range; the message is Chinese and shown to the admin as it is."""


@dataclass(frozen=True)
class Period:
    """Inclusive local dates (Asia/Shanghai)."""

    start: dt.date
    end: dt.date

    @property
    def utc_start(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time(), tzinfo=SHANGHAI).astimezone(dt.UTC)

    @property
    def utc_end(self) -> dt.datetime:
        """Exclusive: midnight after the last day."""
        after = self.end + dt.timedelta(days=1)
        return dt.datetime.combine(after, dt.time(), tzinfo=SHANGHAI).astimezone(dt.UTC)

    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def contains(self, moment: dt.datetime) -> bool:
        return self.utc_start <= as_utc(moment) < self.utc_end

    def json(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def local_today(now: dt.datetime | None = None) -> dt.date:
    return (now or dt.datetime.now(dt.UTC)).astimezone(SHANGHAI).date()


def local_date(moment: dt.datetime) -> dt.date:
    return as_utc(moment).astimezone(SHANGHAI).date()


def _parse_day(value: str, what: str) -> dt.date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        raise PeriodError(f"{what}“{value}”格式不正确，请使用 YYYY-MM-DD，例如 2025-03-01。")
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError as exc:
        raise PeriodError(f"{what}“{value}”不是有效的日期。") from exc


def parse_period(
    start: str | None, end: str | None, today: dt.date | None = None, default_days: int = 7
) -> Period:
    """The period from two ``YYYY-MM-DD`` strings; missing ones default to the last
    ``default_days`` days up to today (local). Raises PeriodError."""
    today = today or local_today()
    last = _parse_day(end, "结束日期") if end else today
    first = _parse_day(start, "开始日期") if start else last - dt.timedelta(days=default_days - 1)
    if first > last:
        raise PeriodError("开始日期不能晚于结束日期。")
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError(f"日期范围最长{MAX_DAYS}天，请缩小范围。")
    return Period(first, last)


# --------------------------------------------------------------------------- helpers

_EDGE_PUNCT = " \t\r\n.,;:!?~'\"`·…。，、；：！？～“”‘’（）()【】[]《》<>-—_"
_SPACE = re.compile(r"\s+")


def normalise_question(text: str) -> str:
    """NFKC, lower case, no whitespace, no punctuation at either end."""
    value = unicodedata.normalize("NFKC", text or "").lower()
    value = _SPACE.sub("", value)
    return value.strip(_EDGE_PUNCT)


@lru_cache(maxsize=1)
def service_names() -> dict[str, str]:
    from retrieval.knowledge import load_services

    return {sid: service.name for sid, service in load_services().items()}


def _service(service_id: str | None) -> dict[str, str | None]:
    name = service_names().get(service_id) if service_id else None
    return {"service_id": service_id, "service_name": name or service_id}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _most_common(counter: Counter[str]) -> str | None:
    """The most frequent key; ties go to the smallest key, so the answer never varies."""
    if not counter:
        return None
    return min(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def _is_bot_reply(row: ChatMessage) -> bool:
    return row.direction == "out" and not row.push and row.author in ("bot", None)


# --------------------------------------------------------------------------- the log


@dataclass
class Turn:
    """One bot turn: the citizen's question and the trace of the replies to it."""

    sender: str
    first_id: int
    at: dt.datetime  # first reply
    question: str
    question_at: dt.datetime | None
    trace: dict[str, Any]

    @property
    def day(self) -> dt.date:
        return local_date(self.at)

    @property
    def kb(self) -> dict[str, Any] | None:
        kb = self.trace.get("kb")
        return kb if isinstance(kb, dict) else None

    @property
    def band(self) -> str | None:
        kb = self.kb
        return str(kb.get("band") or "none") if kb is not None else None

    @property
    def service_id(self) -> str | None:
        kb = self.kb
        value = kb.get("service_id") if kb else None
        return str(value) if value else None

    @property
    def form(self) -> str | None:
        value = self.trace.get("form")
        return str(value) if value else None

    @property
    def requested_slot(self) -> str | None:
        value = self.trace.get("requested_slot")
        return str(value) if value else None

    @property
    def started_at(self) -> dt.datetime:
        return self.question_at or self.at


@dataclass
class Inbound:
    sender: str
    id: int
    text: str
    at: dt.datetime


@dataclass
class Log:
    """The period's citizen messages and bot turns, oldest first."""

    period: Period
    inbound: list[Inbound] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    # the form of each sender's last bot turn before the period (for form session starts)
    form_before: dict[str, str | None] = field(default_factory=dict)

    @property
    def kb_turns(self) -> list[Turn]:
        return [t for t in self.turns if t.kb is not None]

    def conversations(self) -> set[str]:
        return {m.sender for m in self.inbound}


def load_log(sessions: Sessions, period: Period) -> Log:
    log = Log(period)
    last_inbound: dict[str, Inbound] = {}
    open_turn: dict[str, tuple[int | None, Turn]] = {}
    first_row: dict[str, int] = {}
    missing_question: dict[str, Turn] = {}
    with sessions() as db:
        rows = db.scalars(
            select(ChatMessage)
            .where(
                ChatMessage.created_at >= period.utc_start,
                ChatMessage.created_at < period.utc_end,
            )
            .order_by(ChatMessage.id)
            .execution_options(yield_per=2000)
        )
        for row in rows:
            first_row.setdefault(row.sender, row.id)
            if row.direction == "in":
                message = Inbound(row.sender, row.id, row.text, as_utc(row.created_at))
                log.inbound.append(message)
                last_inbound[row.sender] = message
                continue
            if not _is_bot_reply(row):
                continue
            question = last_inbound.get(row.sender)
            key = question.id if question else None
            current = open_turn.get(row.sender)
            if current is not None and current[0] == key:
                continue  # another reply row of the same turn
            turn = Turn(
                sender=row.sender,
                first_id=row.id,
                at=as_utc(row.created_at),
                question=question.text if question else "",
                question_at=question.at if question else None,
                trace=dict(row.trace or {}),
            )
            open_turn[row.sender] = (key, turn)
            log.turns.append(turn)
            if question is None:
                missing_question[row.sender] = turn
        # replies at the start of the period to a question written just before it
        for sender, turn in missing_question.items():
            before = db.execute(
                select(ChatMessage.text, ChatMessage.created_at)
                .where(
                    ChatMessage.sender == sender,
                    ChatMessage.direction == "in",
                    ChatMessage.id < turn.first_id,
                )
                .order_by(ChatMessage.id.desc())
                .limit(1)
            ).first()
            if before is not None:
                turn.question, turn.question_at = before[0], as_utc(before[1])
        # whether a form running at the start of the period was started before it
        firsts: dict[str, Turn] = {}
        for turn in log.turns:
            firsts.setdefault(turn.sender, turn)
        for sender, turn in firsts.items():
            if turn.form is None:
                continue
            previous = db.scalars(
                select(ChatMessage)
                .where(
                    ChatMessage.sender == sender,
                    ChatMessage.direction == "out",
                    ChatMessage.id < first_row[sender],
                    or_(ChatMessage.push.is_(None), ChatMessage.push.is_(False)),
                    or_(ChatMessage.author.is_(None), ChatMessage.author == "bot"),
                )
                .order_by(ChatMessage.id.desc())
                .limit(1)
            ).first()
            if previous is not None:
                form = (previous.trace or {}).get("form")
                log.form_before[sender] = str(form) if form else None
    return log


def _log(sessions: Sessions, period: Period, log: Log | None) -> Log:
    return log if log is not None and log.period == period else load_log(sessions, period)


# --------------------------------------------------------------------------- questions


def questions_per_day(
    sessions: Sessions, period: Period, *, log: Log | None = None
) -> list[dict[str, Any]]:
    """One row per day of the period (zeros included)."""
    log = _log(sessions, period, log)
    messages: Counter[dt.date] = Counter()
    senders: dict[dt.date, set[str]] = defaultdict(set)
    for message in log.inbound:
        day = local_date(message.at)
        messages[day] += 1
        senders[day].add(message.sender)
    turns: Counter[dt.date] = Counter()
    bands: dict[dt.date, Counter[str]] = defaultdict(Counter)
    for turn in log.turns:
        turns[turn.day] += 1
        if turn.band is not None:
            bands[turn.day][turn.band] += 1
    return [
        {
            "date": day.isoformat(),
            "messages": messages[day],
            "conversations": len(senders[day]),
            "bot_turns": turns[day],
            "kb_questions": sum(bands[day].values()),
            "answered": bands[day]["answer"],
            "clarify": bands[day]["clarify"],
            "unanswered": bands[day]["none"],
        }
        for day in period.days()
    ]


def top_services(
    sessions: Sessions, period: Period, *, limit: int = TOP_LIMIT, log: Log | None = None
) -> list[dict[str, Any]]:
    log = _log(sessions, period, log)
    counts = Counter(
        t.service_id for t in log.kb_turns if t.band == "answer" and t.service_id is not None
    )
    total = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [{**_service(sid), "count": n, "share": _rate(n, total)} for sid, n in ranked if sid]


def top_questions(
    sessions: Sessions, period: Period, *, limit: int = TOP_LIMIT, log: Log | None = None
) -> list[dict[str, Any]]:
    log = _log(sessions, period, log)
    groups: dict[str, list[Turn]] = defaultdict(list)
    for turn in log.kb_turns:
        key = normalise_question(turn.question)
        if key:
            groups[key].append(turn)
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:limit]
    out = []
    for _, turns in ranked:
        texts = Counter(t.question.strip() for t in turns)
        services = Counter(t.service_id for t in turns if t.service_id)
        out.append(
            {
                "question": _most_common(texts),
                "count": len(turns),
                "answered": sum(1 for t in turns if t.band == "answer"),
                **_service(_most_common(services)),
            }
        )
    return out


def rates(sessions: Sessions, period: Period, *, log: Log | None = None) -> dict[str, Any]:
    """Turn and conversation totals with the answer, clarify and handoff rates."""
    log = _log(sessions, period, log)
    bands = Counter(t.band for t in log.kb_turns)
    kb_total = sum(bands.values())
    conversations = log.conversations()
    with sessions() as db:
        handed = db.scalars(
            select(Handoff.sender).where(
                Handoff.queued_at >= period.utc_start, Handoff.queued_at < period.utc_end
            )
        ).all()
    handed_conversations = set(handed) & conversations
    return {
        "messages": len(log.inbound),
        "conversations": len(conversations),
        "bot_turns": len(log.turns),
        "kb_turns": kb_total,
        "answered": bands["answer"],
        "clarify": bands["clarify"],
        "unanswered": bands["none"],
        "answer_rate": _rate(bands["answer"], kb_total),
        "clarify_rate": _rate(bands["clarify"], kb_total),
        "unanswered_rate": _rate(bands["none"], kb_total),
        "handoffs": len(handed),
        "handed_off_conversations": len(handed_conversations),
        "handoff_rate": _rate(len(handed_conversations), len(conversations)),
    }


# --------------------------------------------------------------------------- clusters


def char_ngram_embed(texts: Sequence[str]) -> np.ndarray:
    """Bag of characters and character pairs, L2-normalised: a model-free stand-in for
    sentence embeddings (the vocabulary is built from the texts themselves)."""
    grams = [
        Counter([*t, *(t[i : i + 2] for i in range(len(t) - 1))])
        for t in (normalise_question(x) for x in texts)
    ]
    vocabulary = {g: i for i, g in enumerate(sorted({g for c in grams for g in c}))}
    matrix = np.zeros((len(texts), max(1, len(vocabulary))), dtype=np.float32)
    for row, counts in enumerate(grams):
        for gram, n in counts.items():
            matrix[row, vocabulary[gram]] = n
    return matrix


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def unanswered_clusters(
    sessions: Sessions,
    period: Period,
    embed: Embed,
    *,
    threshold: Threshold = E5_THRESHOLD,
    limit: int = CLUSTER_LIMIT,
    log: Log | None = None,
) -> list[dict[str, Any]]:
    """Questions the knowledge base declined or could only clarify, grouped by similarity."""
    log = _log(sessions, period, log)
    groups: dict[str, list[Turn]] = defaultdict(list)
    for turn in log.kb_turns:
        if turn.band not in ("none", "clarify"):
            continue
        key = normalise_question(turn.question)
        if key:
            groups[key].append(turn)
    if not groups:
        return []
    # most frequent first, then the earliest asked: the leader of a cluster is its most
    # frequent question
    keys = sorted(groups, key=lambda k: (-len(groups[k]), groups[k][0].first_id))
    keys = keys[:MAX_CLUSTER_TEXTS]
    display = [_most_common(Counter(t.question.strip() for t in groups[k])) or k for k in keys]
    vectors = _unit_rows(embed(display))
    if vectors.shape[0] != len(keys):
        raise ValueError(f"embed returned {vectors.shape[0]} vectors for {len(keys)} texts")
    cutoff = threshold() if callable(threshold) else threshold
    leaders: list[int] = []
    members: dict[int, list[int]] = {}
    for i in range(len(keys)):
        if leaders:
            sims = vectors[leaders] @ vectors[i]
            best = int(np.argmax(sims))
            if float(sims[best]) >= cutoff:
                members[leaders[best]].append(i)
                continue
        leaders.append(i)
        members[i] = [i]
    clusters: list[dict[str, Any]] = []
    # biggest first; the sort is stable, so equal sizes keep the leaders' order
    for leader in sorted(leaders, key=lambda i: -sum(len(groups[keys[m]]) for m in members[i])):
        turns = [t for i in members[leader] for t in groups[keys[i]]]
        bands = Counter(t.band for t in turns)
        services = Counter(t.service_id for t in turns if t.service_id)
        clusters.append(
            {
                "representative": display[leader],
                "size": len(turns),
                "distinct": len(members[leader]),
                "none": bands["none"],
                "clarify": bands["clarify"],
                "conversations": len({t.sender for t in turns}),
                "examples": [display[i] for i in members[leader][:EXAMPLES]],
                **_service(_most_common(services)),
            }
        )
    return clusters[:limit]


# --------------------------------------------------------------------------- forms


@dataclass
class FormSession:
    form: str
    sender: str
    start: dt.datetime
    turns: list[Turn]
    submitted: bool = False

    @property
    def drop_off(self) -> str | None:
        for turn in reversed(self.turns):
            if turn.requested_slot:
                return turn.requested_slot
        return None


def form_sessions(log: Log) -> list[FormSession]:
    """Form sessions that started in the period (see the module docstring)."""
    sessions: list[FormSession] = []
    previous: dict[str, str | None] = dict(log.form_before)
    current: dict[str, FormSession | None] = {}
    for turn in log.turns:
        form, before = turn.form, previous.get(turn.sender)
        if form is None:
            current[turn.sender] = None
        elif form != before:
            session = FormSession(form, turn.sender, turn.started_at, [turn])
            sessions.append(session)
            current[turn.sender] = session
        else:
            running = current.get(turn.sender)
            if running is not None:
                running.turns.append(turn)
        previous[turn.sender] = form
    return sessions


def form_funnels(
    sessions: Sessions, period: Period, *, log: Log | None = None
) -> list[dict[str, Any]]:
    log = _log(sessions, period, log)
    started = form_sessions(log)
    forms = set(FORM_NAMES) | {s.form for s in started}
    with sessions() as db:
        submitted = Counter(
            db.scalars(
                select(Application.form_id).where(
                    Application.created_at >= period.utc_start,
                    Application.created_at < period.utc_end,
                )
            ).all()
        )
        forms |= set(submitted)
        if started:
            earliest = min(s.start for s in started)
            applications = db.execute(
                select(Application.sender, Application.form_id, Application.created_at)
                .where(
                    Application.sender.in_({s.sender for s in started}),
                    Application.created_at >= earliest,
                )
                .order_by(Application.id)
            ).all()
        else:
            applications = []
    by_key: dict[tuple[str, str], list[FormSession]] = defaultdict(list)
    for session in started:
        by_key[(session.sender, session.form)].append(session)
    for sender, form_id, created in applications:
        created = as_utc(created)
        # the latest session of this sender and form that began before the application
        candidates = [s for s in by_key.get((sender, form_id), []) if s.start <= created]
        if candidates:
            candidates[-1].submitted = True
    out = []
    ordered = [f for f in FORM_NAMES if f in forms] + sorted(forms - set(FORM_NAMES))
    for form in ordered:
        mine = [s for s in started if s.form == form]
        completed = sum(1 for s in mine if s.submitted)
        drops = Counter(s.drop_off or UNKNOWN_SLOT for s in mine if not s.submitted)
        out.append(
            {
                "form_id": form,
                "form_name": FORM_NAMES.get(form, form),
                "started": len(mine),
                "conversations": len({s.sender for s in mine}),
                "completed": completed,
                "abandoned": len(mine) - completed,
                "completion_rate": _rate(completed, len(mine)),
                "submitted": submitted[form],
                "drop_off": [
                    {"slot": slot, "label": SLOT_LABELS.get(slot, slot), "count": n}
                    for slot, n in sorted(drops.items(), key=lambda kv: (-kv[1], kv[0]))
                ],
            }
        )
    return out


# --------------------------------------------------------------------------- feedback


def ratings(sessions: Sessions, period: Period, *, limit: int = LIST_LIMIT) -> dict[str, Any]:
    """Ratings created in the period by score; follow-ups open now."""
    with sessions() as db:
        scores = db.scalars(
            select(Rating.score).where(
                Rating.created_at >= period.utc_start, Rating.created_at < period.utc_end
            )
        ).all()
        open_rows = db.scalars(
            select(Followup)
            .where(Followup.status.in_(OPEN_FOLLOWUP))
            .order_by(Followup.created_at, Followup.id)
        ).all()
        followups = [
            {
                "id": f.id,
                "status": f.status,
                "score": f.rating.score,
                "label": f.rating.label,
                "comment": f.rating.comment,
                "subject_kind": f.rating.subject_kind,
                "subject_id": f.rating.subject_id,
                "assignee": f.assignee,
                "created_at": iso_local(f.created_at),
            }
            for f in open_rows[:limit]
        ]
    counts = Counter(int(s) for s in scores)
    total = len(scores)
    return {
        "distribution": [{"score": s, "label": LABELS[s], "count": counts[s]} for s in range(1, 6)],
        "total": total,
        "average": round(sum(scores) / total, 2) if total else None,
        "bad": sum(n for s, n in counts.items() if s <= 2),
        "open_followups": len(open_rows),
        "followups": followups,
    }


def overdue_tickets(
    sessions: Sessions, now: dt.datetime | None = None, *, limit: int = LIST_LIMIT
) -> dict[str, Any]:
    """Open tickets past their due time at ``now``, most overdue first."""
    now = as_utc(now or dt.datetime.now(dt.UTC))
    with sessions() as db:
        rows = db.scalars(
            select(Ticket)
            .where(Ticket.status.in_(OPEN_STATUSES), Ticket.due_at < now)
            .order_by(Ticket.due_at, Ticket.id)
        ).all()
        items = [
            {
                "number": t.number,
                "category": t.category,
                "department": t.department,
                "status": t.status,
                "due_at": iso_local(t.due_at),
                "overdue_days": (now - t.due_at).days,
                **_service(t.service_id),
                "summary": t.summary,
            }
            for t in rows[:limit]
        ]
    return {"count": len(rows), "items": items}


def handoffs_by_reason(sessions: Sessions, period: Period) -> list[dict[str, Any]]:
    with sessions() as db:
        rows = db.execute(
            select(Handoff.reason, Handoff.queued_at, Handoff.accepted_at, Handoff.outcome)
            .where(Handoff.queued_at >= period.utc_start, Handoff.queued_at < period.utc_end)
            .order_by(Handoff.id)
        ).all()
    grouped: dict[str, list[Any]] = {reason: [] for reason in REASONS}
    for row in rows:
        grouped.setdefault(row.reason, []).append(row)
    out = []
    for reason, items in grouped.items():
        waits = [
            (as_utc(r.accepted_at) - as_utc(r.queued_at)).total_seconds()
            for r in items
            if r.accepted_at is not None
        ]
        out.append(
            {
                "reason": reason,
                "label": REASONS.get(reason, reason),
                "count": len(items),
                "accepted": len(waits),
                "abandoned": sum(1 for r in items if r.outcome == "abandoned"),
                "avg_wait_s": round(sum(waits) / len(waits)) if waits else None,
            }
        )
    return out


# --------------------------------------------------------------------------- everything


def dashboard(
    sessions: Sessions,
    period: Period,
    embed: Embed,
    *,
    threshold: Threshold = E5_THRESHOLD,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """All the sections at once, reading the conversation log once."""
    log = load_log(sessions, period)
    return {
        "period": period.json(),
        "totals": rates(sessions, period, log=log),
        "questions_per_day": questions_per_day(sessions, period, log=log),
        "top_services": top_services(sessions, period, log=log),
        "top_questions": top_questions(sessions, period, log=log),
        "unanswered": unanswered_clusters(sessions, period, embed, threshold=threshold, log=log),
        "funnels": form_funnels(sessions, period, log=log),
        "ratings": ratings(sessions, period),
        "overdue_tickets": overdue_tickets(sessions, now),
        "handoffs": handoffs_by_reason(sessions, period),
    }


# --------------------------------------------------------------------------- CSV

SECTIONS = (
    "questions_per_day",
    "top_services",
    "top_questions",
    "unanswered",
    "funnels",
    "ratings",
    "overdue_tickets",
    "handoffs",
)


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def section_data(
    section: str,
    sessions: Sessions,
    period: Period,
    embed: Embed,
    *,
    threshold: Threshold = E5_THRESHOLD,
    now: dt.datetime | None = None,
) -> Any:
    """One section of `dashboard()`, computing only what it needs."""
    if section == "questions_per_day":
        return questions_per_day(sessions, period)
    if section == "top_services":
        return top_services(sessions, period)
    if section == "top_questions":
        return top_questions(sessions, period)
    if section == "unanswered":
        return unanswered_clusters(sessions, period, embed, threshold=threshold)
    if section == "funnels":
        return form_funnels(sessions, period)
    if section == "ratings":
        return ratings(sessions, period)
    if section == "overdue_tickets":
        return overdue_tickets(sessions, now)
    if section == "handoffs":
        return handoffs_by_reason(sessions, period)
    raise KeyError(section)


def csv_rows(section: str, value: Any) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of one section (as `dashboard()` gives it), for the CSV export."""
    data = {section: value}
    if section == "questions_per_day":
        header = ["日期", "市民消息数", "会话数", "机器人回复轮次", "知识库问答数", "已回答",
                  "待澄清", "未回答"]  # fmt: skip
        keys = ["date", "messages", "conversations", "bot_turns", "kb_questions", "answered",
                "clarify", "unanswered"]  # fmt: skip
        return header, [[row[k] for k in keys] for row in data[section]]
    if section == "top_services":
        header = ["排名", "事项编号", "事项名称", "回答次数", "占比"]
        return header, [
            [i, r["service_id"], r["service_name"], r["count"], _pct(r["share"])]
            for i, r in enumerate(data[section], 1)
        ]
    if section == "top_questions":
        header = ["排名", "问题", "次数", "已回答次数", "主要事项编号", "主要事项"]
        return header, [
            [i, r["question"], r["count"], r["answered"], r["service_id"], r["service_name"]]
            for i, r in enumerate(data[section], 1)
        ]
    if section == "unanswered":
        header = ["序号", "代表问题", "问题数", "未命中", "待澄清", "会话数", "推测事项编号",
                  "推测事项", "相似问题示例"]  # fmt: skip
        return header, [
            [i, r["representative"], r["size"], r["none"], r["clarify"], r["conversations"],
             r["service_id"], r["service_name"], " | ".join(r["examples"])]
            for i, r in enumerate(data[section], 1)
        ]  # fmt: skip
    if section == "funnels":
        header = ["表单编号", "表单名称", "开始次数", "完成提交", "中途放弃", "完成率",
                  "期间提交申请数", "放弃环节"]  # fmt: skip
        return header, [
            [r["form_id"], r["form_name"], r["started"], r["completed"], r["abandoned"],
             _pct(r["completion_rate"]), r["submitted"],
             "；".join(f"{d['label']}:{d['count']}" for d in r["drop_off"])]
            for r in data[section]
        ]  # fmt: skip
    if section == "ratings":
        header = ["评分", "评价", "数量"]
        rows: list[list[Any]] = [
            [r["score"], r["label"], r["count"]] for r in data[section]["distribution"]
        ]
        rows.append(["合计", "", data[section]["total"]])
        rows.append(["待整改跟进", "", data[section]["open_followups"]])
        return header, rows
    if section == "overdue_tickets":
        header = ["工单编号", "诉求类别", "承办部门", "状态", "办理时限", "超期天数",
                  "事项编号", "诉求摘要"]  # fmt: skip
        return header, [
            [r["number"], r["category"], r["department"], r["status"], r["due_at"],
             r["overdue_days"], r["service_id"], r["summary"]]
            for r in data[section]["items"]
        ]  # fmt: skip
    if section == "handoffs":
        header = ["原因代码", "转人工原因", "次数", "已接入", "市民放弃等待", "平均等待秒数"]
        return header, [
            [r["reason"], r["label"], r["count"], r["accepted"], r["abandoned"], r["avg_wait_s"]]
            for r in data[section]
        ]
    raise KeyError(section)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A cell as text; text that a spreadsheet would run as a formula gets a leading quote."""
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def csv_lines(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[list[str]]:
    return [list(header), *([csv_cell(v) for v in row] for row in rows)]

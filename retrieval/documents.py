"""Turn guides and FAQ into retrieval documents.

One document per guide aspect (`<service_id>#<aspect>`), one per guide Q&A and one per FAQ entry
(keyed by the entry's id). Each document carries several question phrasings (what citizens ask),
a passage (what the guide says) and the answer text the bot states, rendered here so the answer
always comes from the same knowledge version as the index.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from retrieval.knowledge import KnowledgeBase
from retrieval.schema import ASPECT_NAMES, FaqEntry, Guide, Hall

MAIN_ASPECTS = ("conditions", "materials", "process", "time_limit", "fee", "location", "online")

# How citizens ask about each aspect; {s} is a name or colloquial keyword of the service.
ASPECT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "conditions": ("{s}需要什么条件", "谁可以办{s}", "{s}的申请条件"),
    "materials": ("{s}需要什么材料", "{s}要带什么", "办{s}要准备哪些证件"),
    "process": ("{s}怎么办理", "{s}的流程", "{s}怎么弄"),
    "time_limit": ("{s}多久能办好", "{s}要几天", "{s}办理时限"),
    "fee": ("{s}多少钱", "{s}收费吗", "{s}的费用"),
    "location": ("{s}去哪里办", "{s}在哪个窗口办", "{s}的办理地点和时间"),
    "online": ("{s}能在网上办吗", "{s}手机上怎么办", "{s}网上办理入口"),
}


@dataclass
class Document:
    doc_id: str
    service_id: str | None
    aspect: str | None
    title: str
    questions: list[str]
    passage: str
    answer: str
    source: dict[str, Any]
    related: list[dict[str, str]] = field(default_factory=list)
    # a guide Q&A (aspect "other") that elaborates one main aspect names it here (QA.aspect)
    topic: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Document:
        return cls(**data)

    @property
    def aspects(self) -> frozenset[str]:
        """The aspects this document answers: its own, and the main aspect a Q&A is about."""
        return frozenset(a for a in (self.aspect, self.topic) if a)

    @property
    def phrasings(self) -> list[str]:
        """The question phrasings without repeats, in order (each one is a dense row)."""
        return list(dict.fromkeys(self.questions))

    @property
    def lexical_text(self) -> str:
        return " ".join([self.title, *self.questions, self.passage])


def _numbered(items: list[str]) -> str:
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))


def _material_line(m: Any) -> str:
    parts = [f"{m.form}{m.count}份", m.issuer]
    line = f"{m.name}（{'，'.join(parts)}）"
    if not m.required:
        line += "〔视情况提供〕"
    if m.note:
        line += f"：{m.note}"
    return line


def _hall_line(hall: Hall) -> str:
    return f"{hall.name}：{hall.address}，电话 {hall.phone}"


def render_aspect(guide: Guide, aspect: str, halls: dict[str, Hall]) -> str:
    """The text the bot states for one aspect of a guide: concise, the asked thing only."""
    if aspect == "conditions":
        return f"{guide.name}的办理条件：\n{_numbered(guide.conditions)}"
    if aspect == "materials":
        return (
            f"办理{guide.name}需要准备：\n{_numbered([_material_line(m) for m in guide.materials])}"
        )
    if aspect == "process":
        return f"{guide.summary}\n办理流程：\n{_numbered(guide.process)}"
    if aspect == "time_limit":
        text = f"{guide.name}：承诺时限{guide.time_limit.promised}（法定时限：{guide.time_limit.legal}）。"
        return text + (f"\n{guide.time_limit.note}" if guide.time_limit.note else "")
    if aspect == "fee":
        return f"{guide.fee.text}\n收费依据：{guide.fee.basis}"
    if aspect == "location":
        listed = [halls[h] for h in guide.location.halls if h in halls]
        lines = [_hall_line(h) for h in listed[:3]]
        more = (
            f"\n另有{len(listed) - 3}个办理点，可回复“附近的办理点”查询。"
            if len(listed) > 3
            else ""
        )
        window = f"\n窗口：{guide.location.window}" if guide.location.window else ""
        note = f"\n{guide.location.note}" if guide.location.note else ""
        return f"{guide.name}办理地点：\n{_numbered(lines)}{more}{window}\n办公时间：{guide.location.hours}{note}"
    if aspect == "online":
        online = guide.online
        if not online.available:
            return f"{guide.name}暂不支持网上办理，需要到窗口办理。" + (
                f"\n{online.note}" if online.note else ""
            )
        channels = [f"{c.name}：{c.path}" for c in online.channels]
        note = f"\n{online.note}" if online.note else ""
        return f"{guide.name}支持{online.scope}：\n{_numbered(channels)}{note}"
    raise ValueError(f"unknown aspect {aspect!r}")


PASSAGE_CHARS = 320


def _passage(guide: Guide, aspect: str, halls: dict[str, Hall]) -> str:
    # The dense passage: the service named plainly, its keywords, then what the guide says
    # (cut short: the opening says what the section is about, and long inputs are slow to embed).
    keywords = "、".join(guide.keywords[:6])
    text = (
        f"{guide.name}（{keywords}）{ASPECT_NAMES[aspect]}：{render_aspect(guide, aspect, halls)}"
    )
    return text[:PASSAGE_CHARS]


def _source(guide: Guide, aspect: str) -> dict[str, Any]:
    return {
        "service_id": guide.service_id,
        "aspect": aspect,
        "guide_version": guide.version,
        "effective_date": guide.effective_date.isoformat(),
        "title": guide.name,
        "section": ASPECT_NAMES[aspect],
        "department": guide.department,
    }


def _qa_variants(names: list[str], question: str) -> list[str]:
    """The Q&A question prefixed with the service's name and first keyword: a section's
    phrasings all name the service, a Q&A ("可以请家人代办吗？") often does not."""
    if question.startswith(tuple(names)):
        return []
    return [f"{name}{question}" for name in names[:2]]


def guide_documents(guide: Guide, halls: dict[str, Hall]) -> list[Document]:
    names = [guide.name, *guide.keywords]
    docs: list[Document] = []
    for aspect in MAIN_ASPECTS:
        templated = [t.format(s=name) for name in names[:4] for t in ASPECT_TEMPLATES[aspect]]
        own = list(getattr(guide.questions, aspect))
        docs.append(
            Document(
                doc_id=f"{guide.service_id}#{aspect}",
                service_id=guide.service_id,
                aspect=aspect,
                title=f"{guide.name} · {ASPECT_NAMES[aspect]}",
                questions=own + templated,
                passage=_passage(guide, aspect, halls),
                answer=render_aspect(guide, aspect, halls),
                source=_source(guide, aspect),
            )
        )
    for index, qa in enumerate(guide.faq, 1):
        docs.append(
            Document(
                doc_id=f"{guide.service_id}-qa{index}",
                service_id=guide.service_id,
                aspect="other",
                title=f"{guide.name} · {qa.q}",
                questions=[qa.q, *qa.phrasings, *_qa_variants(names, qa.q)],
                passage=f"{guide.name}：{qa.q} {qa.a}"[:PASSAGE_CHARS],
                answer=qa.a,
                source={**_source(guide, "other"), "section": f"常见问题：{qa.q}"},
                topic=qa.aspect,
            )
        )
    # Related questions: the other main aspects of the same service, as buttons.
    for doc in docs:
        doc.related = [
            {"doc_id": f"{guide.service_id}#{aspect}", "title": f"{ASPECT_NAMES[aspect]}"}
            for aspect in MAIN_ASPECTS
            if aspect != doc.aspect
        ]
    return docs


def faq_document(entry: FaqEntry, kb: KnowledgeBase) -> Document:
    guide = kb.guides.get(entry.service_id) if entry.service_id else None
    source: dict[str, Any] = {
        "service_id": entry.service_id,
        "aspect": entry.aspect,
        "guide_version": entry.version,
        "effective_date": entry.effective_date.isoformat() if entry.effective_date else None,
        "title": guide.name if guide else (entry.department or entry.source),
        "section": f"常见问题：{entry.question}",
        "department": entry.department or (guide.department if guide else None),
        "faq_source": entry.source,
    }
    prefix = f"{guide.name}：" if guide else ""
    return Document(
        doc_id=entry.id,
        service_id=entry.service_id,
        aspect=entry.aspect,
        title=entry.question,
        questions=[entry.question, *entry.phrasings],
        passage=f"{prefix}{entry.question} {entry.answer}"[:PASSAGE_CHARS],
        answer=entry.answer,
        source=source,
    )


def build_documents(kb: KnowledgeBase) -> list[Document]:
    docs: list[Document] = []
    for service_id in sorted(kb.guides):
        docs.extend(guide_documents(kb.guides[service_id], kb.halls))
    docs.extend(faq_document(entry, kb) for entry in kb.faq)
    return docs

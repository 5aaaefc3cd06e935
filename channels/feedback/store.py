"""好差评: satisfaction ratings of conversations and tickets, and 整改 follow-ups of bad ones.

A rating is 1-5 (1 非常不满意, 2 不满意, 3 一般, 4 满意, 5 非常满意) with an optional comment,
stored masked. There is one rating per subject (a conversation id or a ticket number): rating
the same subject again changes its score (and its comment, when one is given) instead of adding
a second rating.

A score of 2 or less opens a follow-up (整改) for the rating unless one is already open:

    待处理 → 整改中 → 已整改 | 不予整改
    待处理 → 不予整改           (nothing to put right, e.g. a rating about something else)

已整改 and 不予整改 need a note saying what was done or why not. A follow-up, once open, stays
open when the citizen later raises the score: the complaint was made and is closed by staff
with a note, never silently. A new low score after the follow-up was closed opens a new one.
"""

from __future__ import annotations

import builtins
import re
import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, sessionmaker

from channels.core.store import Base
from channels.tickets.store import UTCDateTime, iso_local, utc_now
from yishi.privacy import mask_pii

LABELS = {1: "非常不满意", 2: "不满意", 3: "一般", 4: "满意", 5: "非常满意"}
SUBJECT_KINDS = ("conversation", "ticket")
FOLLOWUP_THRESHOLD = 2  # scores up to this open a follow-up

PENDING, RECTIFYING, RECTIFIED, DECLINED = "待处理", "整改中", "已整改", "不予整改"
FOLLOWUP_STATUSES = (PENDING, RECTIFYING, RECTIFIED, DECLINED)
FOLLOWUP_TRANSITIONS: dict[str, tuple[str, ...]] = {
    PENDING: (RECTIFYING, DECLINED),
    RECTIFYING: (RECTIFIED, DECLINED),
    RECTIFIED: (),
    DECLINED: (),
}
OPEN_FOLLOWUP = (PENDING, RECTIFYING)
NEEDS_NOTE = (RECTIFIED, DECLINED)


class Rating(Base):
    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("subject_kind", "subject_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender: Mapped[str] = mapped_column(String(160), index=True)
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(160))
    score: Mapped[int] = mapped_column(Integer, index=True)
    label: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)  # masked
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Followup(Base):
    __tablename__ = "followups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id"), index=True)
    status: Mapped[str] = mapped_column(String(8), index=True)
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rating: Mapped[Rating] = relationship()
    events: Mapped[list[FollowupEvent]] = relationship(
        back_populates="followup", order_by="FollowupEvent.id", cascade="all, delete-orphan"
    )


class FollowupEvent(Base):
    __tablename__ = "followup_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    followup_id: Mapped[int] = mapped_column(ForeignKey("followups.id"), index=True)
    status: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(64), default="system")
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    followup: Mapped[Followup] = relationship(back_populates="events")


class TransitionError(ValueError):
    """The follow-up status change is not allowed or lacks its note; the message is Chinese."""


class NotFoundError(LookupError):
    """No rating or follow-up with that id."""


# --------------------------------------------------------------------------- parsing

# Whole replies (after normalising) that are a rating. Matching is on the whole reply, never
# on a part of it, so "不满意" is not "满意" and "一般来说……" is not "一般".
_RATING_WORDS: dict[str, int] = {
    **dict.fromkeys(
        ["非常满意", "很满意", "特别满意", "十分满意", "超级满意", "超满意", "太满意",
         "好评", "五星好评", "非常好", "很好", "特别好", "太好了"],
        5,
    ),
    # not a bare "好": it is also "OK" ("好的")
    **dict.fromkeys(["满意", "比较满意", "挺满意", "还满意", "不错", "挺好", "比较好"], 4),
    **dict.fromkeys(
        ["一般", "基本满意", "还行", "还可以", "凑合", "马马虎虎", "中评", "一般般"], 3
    ),
    **dict.fromkeys(["不满意", "不太满意", "不是很满意", "不怎么满意", "不好", "较差"], 2),
    **dict.fromkeys(
        ["非常不满意", "很不满意", "特别不满意", "十分不满意", "极不满意", "太不满意",
         "差评", "很差", "非常差", "太差", "特别差"],
        1,
    ),
}  # fmt: skip
_SCORE_DIGITS = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "一": 1, "二": 2, "两": 2, "三": 3,
                 "四": 4, "五": 5}  # fmt: skip
# "5", "5分", "５分", "五星", "打5分", "给个5星", "评5分"
_SCORE = re.compile(r"(?:我)?(?:打|给|评)?(?:个)?([1-5一二两三四五])(?:分|星|颗星|个星)?")
# where a rating ends and a comment begins: "不满意，等了两个小时"
_SEPARATOR = re.compile(r"[\s,.;:!?~，。；：！？、…～]+")
_LEADS = ("我觉得", "感觉", "觉得", "我")
_ENDINGS = "了吧啊呀哦的呢"


def _rating_of(part: str) -> int | None:
    for lead in _LEADS:
        if part.startswith(lead) and part[len(lead) :]:
            part = part[len(lead) :]
            break
    candidates = [part, part.rstrip(_ENDINGS)]
    for candidate in candidates:
        if candidate in _RATING_WORDS:
            return _RATING_WORDS[candidate]
        match = _SCORE.fullmatch(candidate)
        if match is not None:
            return _SCORE_DIGITS[match.group(1)]
    return None


def parse_rating(text: str | None) -> int | None:
    """The score 1-5 in a citizen's reply to "请评价", or None when it is not a rating.

    Accepts a number ("5", "５", "5分", "五星", "打5分") or words ("非常满意" 5, "满意" 4,
    "一般" 3, "不满意" 2, "非常不满意" 1, with 很/特别…; "好评" 5, "中评" 3, "差评" 1), on
    their own or before a comment after punctuation ("不满意，等太久了").
    """
    value = unicodedata.normalize("NFKC", text or "").strip().lower()
    parts = [p for p in _SEPARATOR.split(value) if p]
    if not parts:
        return None
    return _rating_of(parts[0])


# --------------------------------------------------------------------------- store


def _rating_dict(rating: Rating) -> dict[str, Any]:
    return {
        "id": rating.id,
        "sender": rating.sender,
        "subject_kind": rating.subject_kind,
        "subject_id": rating.subject_id,
        "score": rating.score,
        "label": rating.label,
        "comment": rating.comment,
        "created_at": iso_local(rating.created_at),
        "updated_at": iso_local(rating.updated_at),
    }


def _followup_dict(followup: Followup) -> dict[str, Any]:
    return {
        "id": followup.id,
        "rating_id": followup.rating_id,
        "status": followup.status,
        "next_statuses": list(FOLLOWUP_TRANSITIONS[followup.status]),
        "assignee": followup.assignee,
        "created_at": iso_local(followup.created_at),
        "updated_at": iso_local(followup.updated_at),
        "rating": _rating_dict(followup.rating),
        "history": [
            {"status": e.status, "note": e.note, "actor": e.actor, "at": iso_local(e.at)}
            for e in followup.events
        ],
    }


def _check_score(score: int) -> int:
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise ValueError("评分只能是1到5分。")
    return score


def _clean_comment(comment: str | None) -> str | None:
    text = (comment or "").strip()
    return mask_pii(text) if text else None


class FeedbackStore:
    """Ratings and follow-ups in the gateway's database; ``now`` is the clock."""

    def __init__(
        self, sessions: sessionmaker[Session], now: Callable[[], datetime] = utc_now
    ) -> None:
        self._sessions = sessions
        self._now = now

    def rate(
        self,
        sender: str,
        subject_kind: str,
        subject_id: str,
        score: int,
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Record (or change) the rating of a subject.

        Returns ``{"rating": {...}, "created": bool, "followup": {...} | None,
        "followup_opened": bool}``: ``followup`` is the rating's open follow-up (just opened
        or opened before), ``followup_opened`` whether this call opened it.
        """
        if subject_kind not in SUBJECT_KINDS:
            raise ValueError(f"评价对象只能是{'、'.join(SUBJECT_KINDS)}。")
        if not subject_id:
            raise ValueError("缺少评价对象。")
        score = _check_score(score)
        masked = _clean_comment(comment)
        for attempt in range(3):
            try:
                with self._sessions.begin() as db:
                    now = self._now()
                    rating = db.scalar(
                        select(Rating).where(
                            Rating.subject_kind == subject_kind, Rating.subject_id == subject_id
                        )
                    )
                    created = rating is None
                    if rating is None:
                        rating = Rating(
                            sender=sender,
                            subject_kind=subject_kind,
                            subject_id=subject_id,
                            created_at=now,
                        )
                        db.add(rating)
                    rating.score, rating.label, rating.updated_at = score, LABELS[score], now
                    if masked is not None:
                        rating.comment = masked
                    db.flush()
                    followup = db.scalar(
                        select(Followup).where(
                            Followup.rating_id == rating.id, Followup.status.in_(OPEN_FOLLOWUP)
                        )
                    )
                    opened = followup is None and score <= FOLLOWUP_THRESHOLD
                    if opened:
                        followup = Followup(
                            rating=rating, status=PENDING, created_at=now, updated_at=now
                        )
                        followup.events.append(
                            FollowupEvent(
                                status=PENDING,
                                note=f"评价{score}分（{LABELS[score]}），自动生成整改跟进",
                                actor="system",
                                at=now,
                            )
                        )
                        db.add(followup)
                        db.flush()
                    return {
                        "rating": _rating_dict(rating),
                        "created": created,
                        "followup": None if followup is None else _followup_dict(followup),
                        "followup_opened": opened,
                    }
            except (IntegrityError, OperationalError):
                # the same subject was rated concurrently, or the database was busy: try
                # again, which updates the winner's rating
                if attempt == 2:
                    raise
        raise RuntimeError("unreachable")

    def get_rating(self, subject_kind: str, subject_id: str) -> dict[str, Any] | None:
        with self._sessions() as db:
            rating = db.scalar(
                select(Rating).where(
                    Rating.subject_kind == subject_kind, Rating.subject_id == subject_id
                )
            )
            return None if rating is None else _rating_dict(rating)

    def add_comment(self, rating_id: int, comment: str) -> dict[str, Any]:
        """Set the comment of a rating (a citizen often says why after giving the score)."""
        masked = _clean_comment(comment)
        if masked is None:
            raise ValueError("评价内容不能为空。")
        with self._sessions.begin() as db:
            rating = db.get(Rating, rating_id)
            if rating is None:
                raise NotFoundError(f"没有编号为{rating_id}的评价。")
            rating.comment = masked
            rating.updated_at = self._now()
            db.flush()
            return _rating_dict(rating)

    def list_followups(
        self, status: str | None = None, limit: int = 100
    ) -> builtins.list[dict[str, Any]]:
        """Newest first."""
        query = select(Followup).order_by(Followup.id.desc()).limit(limit)
        if status:
            query = query.where(Followup.status == status)
        with self._sessions() as db:
            return [_followup_dict(f) for f in db.scalars(query).all()]

    def get_followup(self, followup_id: int) -> dict[str, Any] | None:
        with self._sessions() as db:
            followup = db.get(Followup, followup_id)
            return None if followup is None else _followup_dict(followup)

    def transition_followup(
        self,
        followup_id: int,
        status: str,
        actor: str,
        note: str = "",
        assignee: str | None = None,
    ) -> dict[str, Any]:
        """Move a follow-up on. 整改中 assigns it to ``assignee`` (default: the actor);
        已整改 and 不予整改 need a ``note``."""
        note = (note or "").strip()
        with self._sessions.begin() as db:
            followup = db.get(Followup, followup_id)
            if followup is None:
                raise NotFoundError(f"没有编号为{followup_id}的整改跟进。")
            if status not in FOLLOWUP_STATUSES:
                raise TransitionError(
                    f"没有“{status}”这个整改状态，只能是{'、'.join(FOLLOWUP_STATUSES)}。"
                )
            allowed = FOLLOWUP_TRANSITIONS[followup.status]
            if status not in allowed:
                hint = f"下一步只能是{'或'.join(f'“{s}”' for s in allowed)}。" if allowed else ""
                raise TransitionError(
                    f"整改跟进当前是“{followup.status}”，不能改为“{status}”。{hint}"
                )
            if status in NEEDS_NOTE and not note:
                raise TransitionError(
                    f"改为“{status}”时必须填写说明（整改了什么，或为什么不整改）。"
                )
            if status == RECTIFYING:
                followup.assignee = (assignee or "").strip() or actor
            now = self._now()
            followup.status = status
            followup.updated_at = now
            followup.events.append(FollowupEvent(status=status, note=note, actor=actor, at=now))
            db.flush()
            return _followup_dict(followup)

    def distribution(self, subject_kind: str | None = None) -> dict[int, int]:
        """How many ratings have each score, 1 to 5 (zeros included)."""
        query = select(Rating.score, func.count()).group_by(Rating.score)
        if subject_kind:
            query = query.where(Rating.subject_kind == subject_kind)
        counts = dict.fromkeys(range(1, 6), 0)
        with self._sessions() as db:
            for score, count in db.execute(query).all():
                counts[int(score)] = int(count)
        return counts

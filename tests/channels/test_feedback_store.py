"""好差评 ratings and 整改 follow-ups: real SQLite, and the parser of citizens' replies."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker

from channels.core.store import make_engine
from channels.feedback.store import (
    LABELS,
    FeedbackStore,
    NotFoundError,
    TransitionError,
    parse_rating,
)
from yishi.calendar import SHANGHAI


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> FeedbackStore:
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    return FeedbackStore(sessionmaker(engine, expire_on_commit=False), now=clock)


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("5", 5),
        ("５", 5),
        ("5分", 5),
        ("５分", 5),
        (" 3 ", 3),
        ("1分", 1),
        ("五分", 5),
        ("五星", 5),
        ("给5分", 5),
        ("打两分", 2),
        ("4星", 4),
        ("非常满意", 5),
        ("非常满意！", 5),
        ("很满意", 5),
        ("满意", 4),
        ("满意的", 4),
        ("挺满意的", 4),
        ("比较满意", 4),
        ("一般", 3),
        ("一般般吧", 3),
        ("基本满意", 3),
        ("还行", 3),
        ("不满意", 2),
        ("不太满意", 2),
        ("我不满意", 2),
        ("不满意，等了两个小时", 2),
        ("非常不满意", 1),
        ("很不满意", 1),
        ("特别不满意！！", 1),
        ("差评", 1),
        ("好评", 5),
        ("中评", 3),
        ("我觉得一般", 3),
        ("非常满意，办得很快", 5),
        ("5分，很快", 5),
    ],
)
def test_parse_rating(text: str, score: int) -> None:
    assert parse_rating(text) == score


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        "0",
        "6",
        "10",
        "55",
        "好的",  # an acknowledgement, not a rating
        "好",
        "满意吗",
        "不知道",
        "一般来说身份证怎么补办",
        "身份证丢了怎么办",
        "我要投诉",
        "13912345678",
        "5月1日",
    ],
)
def test_parse_rating_ignores_other_replies(text: str | None) -> None:
    assert parse_rating(text) is None


def test_not_satisfied_is_never_satisfied() -> None:
    assert parse_rating("不满意") != parse_rating("满意")
    assert parse_rating("非常不满意") != parse_rating("不满意")
    assert parse_rating("非常不满意") != parse_rating("非常满意")


# ---------------------------------------------------------------- ratings


def test_rate_and_rate_again(store: FeedbackStore, clock: Clock) -> None:
    first = store.rate("web:a", "conversation", "web:a", 4, "挺好")
    assert first["created"] is True
    assert first["followup"] is None
    assert first["followup_opened"] is False
    rating = first["rating"]
    assert rating["score"] == 4
    assert rating["label"] == "满意"
    assert rating["comment"] == "挺好"
    assert rating["created_at"] == "2026-11-23T09:00:00+08:00"
    clock.at += timedelta(minutes=5)
    again = store.rate("web:a", "conversation", "web:a", 5)
    assert again["created"] is False
    assert again["rating"]["id"] == rating["id"]
    assert again["rating"]["score"] == 5
    assert again["rating"]["label"] == "非常满意"
    assert again["rating"]["comment"] == "挺好"  # no new comment: the old one stays
    assert again["rating"]["updated_at"] == "2026-11-23T09:05:00+08:00"
    assert store.distribution() == {1: 0, 2: 0, 3: 0, 4: 0, 5: 1}


def test_labels() -> None:
    assert LABELS == {1: "非常不满意", 2: "不满意", 3: "一般", 4: "满意", 5: "非常满意"}


def test_comments_are_masked(store: FeedbackStore) -> None:
    result = store.rate("web:a", "ticket", "12345-20261123-0001", 3, "有事打13912345678")
    assert result["rating"]["comment"] == "有事打139****5678"
    updated = store.add_comment(result["rating"]["id"], "身份证11010519491231002X办不了")
    assert updated["comment"] == "身份证1101**********002X办不了"
    assert store.get_rating("ticket", "12345-20261123-0001") == updated
    assert store.get_rating("ticket", "12345-20261123-0002") is None
    with pytest.raises(NotFoundError):
        store.add_comment(999, "x")
    with pytest.raises(ValueError):
        store.add_comment(result["rating"]["id"], "  ")


def test_bad_ratings_are_refused(store: FeedbackStore) -> None:
    for score in (0, 6, True):
        with pytest.raises(ValueError, match="1到5分"):
            store.rate("web:a", "conversation", "web:a", score)
    with pytest.raises(ValueError, match="评价对象"):
        store.rate("web:a", "hall", "x", 3)


def test_distribution(store: FeedbackStore) -> None:
    for i, score in enumerate([5, 5, 4, 1, 3, 5]):
        store.rate(f"web:{i}", "conversation", f"web:{i}", score)
    store.rate("web:t", "ticket", "12345-20261123-0001", 2)
    assert store.distribution() == {1: 1, 2: 1, 3: 1, 4: 1, 5: 3}
    assert store.distribution("ticket") == {1: 0, 2: 1, 3: 0, 4: 0, 5: 0}


# ---------------------------------------------------------------- follow-ups


def test_a_low_score_opens_a_followup(store: FeedbackStore) -> None:
    result = store.rate("web:a", "ticket", "12345-20261123-0001", 2, "没人处理")
    assert result["followup_opened"] is True
    followup = result["followup"]
    assert followup["status"] == "待处理"
    assert followup["assignee"] is None
    assert followup["next_statuses"] == ["整改中", "不予整改"]
    assert followup["rating"]["subject_id"] == "12345-20261123-0001"
    assert followup["rating"]["comment"] == "没人处理"
    assert followup["history"] == [
        {
            "status": "待处理",
            "note": "评价2分（不满意），自动生成整改跟进",
            "actor": "system",
            "at": "2026-11-23T09:00:00+08:00",
        }
    ]
    assert store.list_followups() == [followup]
    assert store.list_followups("待处理") == [followup]
    assert store.list_followups("整改中") == []
    assert store.rate("web:b", "conversation", "web:b", 3)["followup"] is None


def test_an_open_followup_stays_when_the_score_changes(store: FeedbackStore) -> None:
    opened = store.rate("web:a", "conversation", "web:a", 1)["followup"]
    raised = store.rate("web:a", "conversation", "web:a", 5)
    assert raised["followup_opened"] is False
    assert raised["followup"]["id"] == opened["id"]
    assert raised["followup"]["status"] == "待处理"
    lowered = store.rate("web:a", "conversation", "web:a", 2)
    assert lowered["followup_opened"] is False  # still the same open follow-up
    assert len(store.list_followups()) == 1


def test_followup_lifecycle(store: FeedbackStore, clock: Clock) -> None:
    followup_id = store.rate("web:a", "conversation", "web:a", 1)["followup"]["id"]
    with pytest.raises(TransitionError, match="不能改为"):
        store.transition_followup(followup_id, "已整改", "admin:w", note="x")
    clock.at += timedelta(hours=1)
    working = store.transition_followup(followup_id, "整改中", "admin:w")
    assert working["status"] == "整改中"
    assert working["assignee"] == "admin:w"
    reassigned_id = store.rate("web:b", "conversation", "web:b", 2)["followup"]["id"]
    assert (
        store.transition_followup(reassigned_id, "整改中", "admin:w", assignee="dept:窗口")[
            "assignee"
        ]
        == "dept:窗口"
    )
    with pytest.raises(TransitionError, match="说明"):
        store.transition_followup(followup_id, "已整改", "admin:w")
    done = store.transition_followup(followup_id, "已整改", "admin:w", note="已补充知识库答案")
    assert done["status"] == "已整改"
    assert done["next_statuses"] == []
    assert [(h["status"], h["note"]) for h in done["history"]] == [
        ("待处理", "评价1分（非常不满意），自动生成整改跟进"),
        ("整改中", ""),
        ("已整改", "已补充知识库答案"),
    ]
    assert done["history"][1]["at"] == "2026-11-23T10:00:00+08:00"
    with pytest.raises(TransitionError, match="当前是“已整改”"):
        store.transition_followup(followup_id, "整改中", "admin:w")
    with pytest.raises(TransitionError, match="整改状态"):
        store.transition_followup(reassigned_id, "完成", "admin:w")
    with pytest.raises(NotFoundError):
        store.transition_followup(999, "整改中", "admin:w")
    assert store.get_followup(999) is None
    # a new low score after the follow-up was closed opens a new one
    again = store.rate("web:a", "conversation", "web:a", 2)
    assert again["followup_opened"] is True
    assert again["followup"]["id"] != followup_id


def test_declining_needs_a_reason(store: FeedbackStore) -> None:
    followup_id = store.rate("web:a", "conversation", "web:a", 1)["followup"]["id"]
    with pytest.raises(TransitionError, match="说明"):
        store.transition_followup(followup_id, "不予整改", "admin:w", note="  ")
    declined = store.transition_followup(
        followup_id, "不予整改", "admin:w", note="评价针对的是天气，与服务无关"
    )
    assert declined["status"] == "不予整改"
    assert store.get_followup(followup_id) == declined

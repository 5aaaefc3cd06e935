"""The 12345 ticket store and its routing rules: real SQLite, a clock the tests move."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker

from actions.forms.extract import DISTRICTS
from channels.core.store import make_engine
from channels.privacy.crypto import DataCipher
from channels.tickets.routing import (
    ROUTING_FILE,
    TICKET_CATEGORIES,
    Routing,
    get_router,
    guide_department,
    load_router,
)
from channels.tickets.store import NotFoundError, TicketStore, TransitionError
from retrieval.knowledge import KnowledgeError
from yishi.calendar import SHANGHAI


class Clock:
    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI))  # the day before National Day


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> TicketStore:
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    sessions = sessionmaker(engine, expire_on_commit=False)
    return TicketStore(sessions, now=clock, cipher=DataCipher.ephemeral())


def _complaint(store: TicketStore, text: str = "小区门口路灯坏了一个多月，晚上很黑", **kw: object):
    args: dict[str, object] = {
        "source": "handoff",
        "sender": "web:abc",
        "category": "投诉",
        "summary": text,
        "district": "东湖区",
        "address": "东湖区人民路25号",
        "contact_name": "张先生",
        "contact_mobile": "13912345678",
        "actor": "agent:li",
    }
    args.update(kw)
    return store.create(**args)  # type: ignore[arg-type]


# ---------------------------------------------------------------- routing


@pytest.mark.parametrize(
    ("category", "text", "service_id", "district", "department"),
    [
        ("投诉", "小区门口路灯坏了", None, "东湖区", "东湖区城市管理局"),
        ("投诉", "小区门口路灯坏了", None, None, "示例市城市管理局"),
        ("求助", "马路上井盖丢了", None, "西山区", "西山区城市管理局"),
        ("举报", "有人占道经营", None, "东湖区", "示例市城市管理局"),  # 举报 is not local
        ("投诉", "楼下饭店油烟太大", None, "南港区", "示例市生态环境局南港区分局"),
        ("投诉", "物业不管楼道卫生", None, None, "示例市住房和城乡建设局"),
        ("咨询", "医保异地就医怎么报销", None, None, "示例市医疗保障局"),
        ("投诉", "公司拖欠工资三个月", None, None, "示例市人力资源和社会保障局"),
        ("举报", "超市卖过期食品", None, None, "示例市市场监督管理局"),
        ("咨询", "公积金可以提取吗", None, None, "示例市住房公积金管理中心"),
        ("咨询", "身份证丢了怎么办", None, None, "示例市公安局"),
        ("投诉", "政务服务中心窗口工作人员态度差", None, None, "示例市政务服务管理局"),
        ("投诉", "社保窗口态度差", None, None, "示例市人力资源和社会保障局"),
        ("投诉", "ＸＸ说不清楚的事情", None, "北城区", "北城区人民政府"),
        ("投诉", "说不清楚的事情", None, None, "示例市12345政务服务便民热线"),
        ("建议", "希望多开几条夜班线路", None, None, "示例市人民政府办公室"),
        # the guide's department wins over keywords, and is never made local
        ("投诉", "办事大厅路灯坏了", "fund_withdraw_rent", "东湖区", "示例市住房公积金管理中心"),
        ("投诉", "窗口态度差", "id_card_lost", "东湖区", "示例市公安局"),
        # the hotline's own guide names no handling department: keywords decide
        ("投诉", "路灯坏了", "complaint_12345", None, "示例市城市管理局"),
        # an unknown service id is ignored
        ("投诉", "路灯坏了", "no_such_service", None, "示例市城市管理局"),
    ],
)
def test_routing(
    category: str, text: str, service_id: str | None, district: str | None, department: str
) -> None:
    assert get_router().route(category, text, service_id, district).department == department


def test_routing_says_why_and_gives_the_time_limit() -> None:
    router = get_router()
    assert router.route("投诉", "路灯坏了", None, "东湖区") == Routing(
        "东湖区城市管理局", 5, "rule:城市管理"
    )
    assert router.route("咨询", "x", "fund_loan", None) == Routing(
        "示例市住房公积金管理中心", 1, "guide:fund_loan"
    )
    assert router.route("建议", "x").basis == "category"
    limits = {c: router.time_limit_days(c) for c in TICKET_CATEGORIES}
    assert limits == {"投诉": 5, "举报": 10, "求助": 3, "建议": 10, "咨询": 1}
    with pytest.raises(ValueError, match="诉求类别"):
        router.route("表扬", "x")


def test_routing_districts_are_the_forms_districts() -> None:
    assert tuple(get_router().config.districts) == DISTRICTS


def test_guide_department_takes_the_first_office() -> None:
    assert guide_department("示例市公安局（各派出所户籍窗口）") == "示例市公安局"
    assert (
        guide_department("示例市政务服务管理局（各级）、示例市12345热线") == "示例市政务服务管理局"
    )
    assert guide_department("示例市市场监督管理局（牵头），会同……") == "示例市市场监督管理局"
    assert guide_department("示例市不动产登记中心") == "示例市不动产登记中心"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("time_limit_days: 5", "time_limit_days: 0"), "categories.投诉.time_limit_days"),
        (('"{district}城市管理局"', '"城市管理局"'), "rules.6.district_department"),
        (("  建议:\n", "  表扬:\n"), "categories"),
        (("keywords: [公积金]", "keywords: []"), "rules.0.keywords"),
        (("    department: 示例市医疗保障局\n", ""), "rules.1.department"),
    ],
)
def test_bad_routing_files_name_the_field(
    tmp_path: Path, change: tuple[str, str], field: str
) -> None:
    text = ROUTING_FILE.read_text(encoding="utf-8")
    assert change[0] in text
    bad = tmp_path / "tickets.yaml"
    bad.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_router(bad)
    assert str(bad) in str(caught.value)
    assert f"field {field}" in str(caught.value)


# ---------------------------------------------------------------- creating


def test_create_dispatches_at_once(store: TicketStore) -> None:
    ticket = _complaint(store)
    assert ticket["created"] is True
    assert ticket["number"] == "12345-20260930-0001"
    assert ticket["status"] == "派单"
    assert ticket["department"] == "东湖区城市管理局"
    assert ticket["time_limit_days"] == 5
    assert ticket["due_at"] == "2026-10-13T23:59:59+08:00"
    assert ticket["overdue"] is False
    assert ticket["created_at"] == "2026-09-30T10:00:00+08:00"
    assert [(h["status"], h["actor"]) for h in ticket["history"]] == [
        ("受理", "agent:li"),
        ("派单", "system"),
    ]
    assert ticket["history"][0]["note"] == "人工坐席转办"
    assert "东湖区城市管理局" in ticket["history"][1]["note"]
    assert ticket["next_statuses"] == ["办理"]
    assert store.get(ticket["number"]) == {k: v for k, v in ticket.items() if k != "created"}


def test_numbers_count_per_beijing_day(store: TicketStore, clock: Clock) -> None:
    assert _complaint(store)["number"] == "12345-20260930-0001"
    assert _complaint(store)["number"] == "12345-20260930-0002"
    clock.at = datetime(2026, 9, 30, 16, 30, tzinfo=timezone.utc)  # 00:30 on 1 October in Beijing
    assert _complaint(store)["number"] == "12345-20261001-0001"


def test_summary_and_address_are_masked_but_the_contact_is_not(store: TicketStore) -> None:
    ticket = _complaint(
        store,
        "路灯坏了，我电话13912345678，身份证11010519491231002X",
        address="人民路25号，有事打13800138000",
    )
    assert "13912345678" not in ticket["summary"]
    assert "139****5678" in ticket["summary"]
    assert "1101**********002X" in ticket["summary"]
    assert ticket["address"] == "人民路25号，有事打138****8000"
    assert ticket["contact_mobile"] == "13912345678"
    assert ticket["contact_mobile_masked"] == "139****5678"
    assert store.get(ticket["number"])["summary"] == ticket["summary"]  # type: ignore[index]


def test_anonymous_tickets_keep_no_contact(store: TicketStore) -> None:
    ticket = _complaint(store, anonymous=True)
    assert ticket["anonymous"] is True
    assert ticket["contact_name"] is None
    assert ticket["contact_mobile"] is None
    assert ticket["contact_mobile_masked"] is None


def test_bad_input_is_refused(store: TicketStore) -> None:
    with pytest.raises(ValueError, match="来源"):
        _complaint(store, source="email")
    with pytest.raises(ValueError, match="诉求类别"):
        _complaint(store, category="表扬")
    with pytest.raises(ValueError, match="诉求内容"):
        _complaint(store, "   ")


FORM_FIELDS = {
    "category": "投诉",
    "district": "西山区",
    "address": "西山区建设路8号",
    "description": "楼下饭店每天夜里排油烟，噪音也很大，联系我13912345678",
    "anonymous": False,
    "contact_name": "王女士",
    "mobile": "13912345678",
    "callback": True,
}


def test_create_from_form_is_idempotent_on_the_receipt(store: TicketStore) -> None:
    first = store.create_from_form("YS-20260930-000007", "wechat:o1", FORM_FIELDS)
    assert first["created"] is True
    assert first["receipt"] == "YS-20260930-000007"
    assert first["source"] == "form"
    assert first["sender"] == "wechat:o1"
    assert first["department"] == "示例市生态环境局西山区分局"
    assert first["contact_name"] == "王女士"
    assert first["contact_mobile"] == "13912345678"
    assert "13912345678" not in first["summary"]
    assert first["history"][0]["actor"] == "citizen"
    again = store.create_from_form("YS-20260930-000007", "wechat:o1", FORM_FIELDS)
    assert again["created"] is False
    assert again["number"] == first["number"]
    assert len(store.list()) == 1
    assert store.get_by_receipt("YS-20260930-000007")["number"] == first["number"]  # type: ignore[index]
    assert store.get_by_receipt("YS-20260930-000008") is None
    other = store.create_from_form("YS-20260930-000008", "wechat:o1", FORM_FIELDS)
    assert other["number"] == "12345-20260930-0002"


def test_anonymous_form(store: TicketStore) -> None:
    fields = {k: v for k, v in FORM_FIELDS.items() if k not in {"contact_name", "mobile"}}
    ticket = store.create_from_form("YS-20260930-000009", "web:x", {**fields, "anonymous": True})
    assert ticket["anonymous"] is True
    assert ticket["contact_mobile"] is None


# ---------------------------------------------------------------- lifecycle


def test_full_lifecycle(store: TicketStore, clock: Clock) -> None:
    number = _complaint(store)["number"]
    store.transition(number, "办理", "dept:城管")
    with pytest.raises(TransitionError, match="答复内容"):
        store.transition(number, "答复", "dept:城管")
    clock.at += timedelta(days=1)
    answered = store.transition(number, "答复", "dept:城管", answer="已更换路灯，恢复照明。")
    assert answered["answer"] == "已更换路灯，恢复照明。"
    assert answered["next_statuses"] == ["办结"]
    store.transition(number, "办结", "agent:li", note="诉求人认可")
    with pytest.raises(TransitionError, match="满意度"):
        store.transition(number, "回访", "agent:li")
    with pytest.raises(TransitionError, match="满意度"):
        store.transition(number, "回访", "agent:li", rating=6)
    done = store.transition(number, "回访", "agent:li", rating=5, note="很满意")
    assert done["rating"] == 5
    assert done["next_statuses"] == []
    assert [h["status"] for h in done["history"]] == [
        "受理",
        "派单",
        "办理",
        "答复",
        "办结",
        "回访",
    ]
    assert done["history"][-1] == {
        "status": "回访",
        "note": "满意度5分：很满意",
        "actor": "agent:li",
        "at": "2026-10-01T10:00:00+08:00",
    }
    assert done["updated_at"] == "2026-10-01T10:00:00+08:00"
    with pytest.raises(TransitionError, match="当前是“回访”"):
        store.transition(number, "办理", "agent:li")


@pytest.mark.parametrize(
    ("steps", "target"),
    [
        ([], "答复"),  # 派单 -> 答复 skips 办理
        ([], "办结"),
        ([], "受理"),
        (["办理"], "办结"),  # closing without an answer
        (["办理", ("答复", "已处理")], "办理"),
        (["办理"], "已完成"),  # not a status
    ],
)
def test_invalid_transitions(
    store: TicketStore, steps: list[str | tuple[str, str]], target: str
) -> None:
    number = _complaint(store)["number"]
    for step in steps:
        if isinstance(step, tuple):
            store.transition(number, step[0], "x", answer=step[1])
        else:
            store.transition(number, step, "x")
    before = store.get(number)
    with pytest.raises(TransitionError) as caught:
        store.transition(number, target, "x", answer="a", department="示例市水务局", rating=3)
    assert re.search(r"[\u4e00-\u9fff]", str(caught.value))
    assert store.get(number) == before


def test_unknown_ticket(store: TicketStore) -> None:
    assert store.get("12345-20260930-0099") is None
    with pytest.raises(NotFoundError):
        store.transition("12345-20260930-0099", "办理", "x")


def test_redispatch(store: TicketStore) -> None:
    number = _complaint(store)["number"]
    due = store.get(number)["due_at"]  # type: ignore[index]
    with pytest.raises(TransitionError, match="不能改为"):  # 派单 -> 派单: take it on first
        store.transition(number, "派单", "x", department="示例市水务局")
    store.transition(number, "办理", "dept:城管")
    with pytest.raises(TransitionError, match="新的承办部门"):
        store.transition(number, "派单", "dept:城管")
    with pytest.raises(TransitionError, match="另一个部门"):
        store.transition(number, "派单", "dept:城管", department="东湖区城市管理局")
    moved = store.transition(
        number, "派单", "dept:城管", department="东湖区住房和城乡建设局", note="属物业管理范围"
    )
    assert moved["department"] == "东湖区住房和城乡建设局"
    assert moved["status"] == "派单"
    assert moved["history"][-1]["note"] == (
        "由东湖区城市管理局改派至东湖区住房和城乡建设局：属物业管理范围"
    )
    assert moved["due_at"] == due  # the citizen's clock does not restart
    assert store.transition(number, "办理", "dept:住建")["department"] == "东湖区住房和城乡建设局"


# ---------------------------------------------------------------- overdue


def test_overdue_across_national_day(store: TicketStore, clock: Clock) -> None:
    # received on 30 September: 咨询 (1 working day) is due at the end of 8 October, because
    # 1-7 October are the National Day holiday
    consult = _complaint(store, "公积金怎么提取", category="咨询")
    complaint = _complaint(store)  # 投诉: 5 working days, 8 9 10(Sat, make-up) 12 13
    assert consult["due_at"] == "2026-10-08T23:59:59+08:00"
    assert consult["time_limit_days"] == 1
    assert complaint["due_at"] == "2026-10-13T23:59:59+08:00"

    clock.at = datetime(2026, 10, 8, 23, 59, 0, tzinfo=SHANGHAI)
    assert store.get(consult["number"])["overdue"] is False  # type: ignore[index]
    assert store.list(overdue=True) == []

    clock.at = datetime(2026, 10, 9, 0, 0, 1, tzinfo=SHANGHAI)
    assert store.get(consult["number"])["overdue"] is True  # type: ignore[index]
    assert [t["number"] for t in store.list(overdue=True)] == [consult["number"]]
    assert [t["number"] for t in store.list(overdue=False)] == [complaint["number"]]

    # answering ends the overdue state, even when the answer is late
    store.transition(consult["number"], "办理", "x")
    assert store.get(consult["number"])["overdue"] is True  # type: ignore[index]
    store.transition(consult["number"], "答复", "x", answer="可以通过App提取。")
    assert store.get(consult["number"])["overdue"] is False  # type: ignore[index]
    assert store.list(overdue=True) == []

    clock.at = datetime(2026, 10, 14, 9, 0, tzinfo=SHANGHAI)
    assert [t["number"] for t in store.list(overdue=True)] == [complaint["number"]]


def test_list_filters(store: TicketStore) -> None:
    a = _complaint(store, sender="web:a")
    b = _complaint(store, sender="wechat:b")
    c = _complaint(store, sender="web:a")
    store.transition(b["number"], "办理", "x")
    assert [t["number"] for t in store.list()] == [c["number"], b["number"], a["number"]]
    assert [t["number"] for t in store.list(status="办理")] == [b["number"]]
    assert [t["number"] for t in store.for_sender("web:a")] == [c["number"], a["number"]]
    assert [t["number"] for t in store.list(sender="web:a", limit=1)] == [c["number"]]
    assert store.for_sender("web:nobody") == []

"""extract_slots: every slot a citizen gives in one message, and nothing it cannot vouch for."""

from __future__ import annotations

from datetime import date

import pytest

from actions.forms.extract import SLOT_NAMES, extract_slots
from actions.forms.validators import check_bank_card, check_id_number, id_check_char

TODAY = date(2026, 11, 23)


def _luhn_complete(prefix: str) -> str:
    for last in "0123456789":
        if check_bank_card(prefix + last).ok:
            return prefix + last
    raise AssertionError("unreachable")


def _id(body17: str) -> str:
    return body17 + id_check_char(body17)


CARD = _luhn_complete("621700000012345678")  # 19 digits, UnionPay-like
CARD_GROUPED = " ".join([CARD[:4], CARD[4:8], CARD[8:12], CARD[12:16], CARD[16:]])
ID_DIGIT_END = _id("44030519900101124")  # a valid ID whose check character is a digit
BAD_CARD = CARD[:-1] + str((int(CARD[-1]) + 1) % 10)

assert ID_DIGIT_END[-1].isdigit()
assert check_id_number(ID_DIGIT_END, TODAY).ok


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("我叫张三电话13912345678", {"name": "张三", "mobile": "13912345678"}),
        (
            "身份证11010519491231002X，手机139 1234 5678，下周一上午",
            {"id_number": "11010519491231002X", "mobile": "13912345678", "date": "下周一"},
        ),
        (
            "我的名字是李四，身份证号码 110105 19491231 002x",
            {"name": "李四", "id_number": "11010519491231002X"},
        ),
        (
            f"卡号 {CARD_GROUPED}，手机+86 186-0000-1234",
            {"bank_card": CARD, "mobile": "18600001234"},
        ),
        (
            f"身份证 {ID_DIGIT_END} 13912345678",  # an ID and a mobile in one run of digits
            {"id_number": ID_DIGIT_END, "mobile": "13912345678"},
        ),
        (
            "11010519491231002X13912345678",  # glued together after the X
            {"id_number": "11010519491231002X", "mobile": "13912345678"},
        ),
        (
            "回执号是ys 20261123 000123，帮我查一下进度",
            {"receipt": "YS-20261123-000123"},
        ),
        (
            "我住东湖那边，月租2500元，想11月25日去办",
            {"district": "东湖区", "amount": "2500.00", "date": "11月25日"},
        ),
        ("我是高新区的，房租两千五", {"district": "高新区", "amount": "2500.00"}),
        ("本人王小明，手机号码：139-1234-5678", {"name": "王小明", "mobile": "13912345678"}),
        ("我叫买买提·艾力，住西山区", {"name": "买买提·艾力", "district": "西山区"}),
        ("我叫王小红明天去办理", {"name": "王小红", "date": "明天"}),
        (
            "姓名：欧阳娜娜 手机８６１３９１２３４５６７８",
            {"name": "欧阳娜娜", "mobile": "13912345678"},
        ),
        ("住在幸福路25号，后天去", {"date": "后天"}),
        (
            "预约2026-12-01，一个月租金3,000.50元",
            {"date": "2026-12-01", "amount": "3000.50"},
        ),
        ("电话13912345678 2500元", {"mobile": "13912345678", "amount": "2500.00"}),
        ("我是南港区的张三，周三有空", {"district": "南港区", "date": "周三"}),
        ("我是张三，在北城区上班", {"name": "张三", "district": "北城区"}),
    ],
)
def test_extract_slots(message: str, expected: dict[str, str]) -> None:
    assert extract_slots(message, today=TODAY) == expected


@pytest.mark.parametrize(
    "message",
    [
        "卡号6222 1391 2345 678",  # a mistyped card: no mobile from inside it
        "6222139123456780",  # one block that fails Luhn
        BAD_CARD,
        "110105194912310021",  # an ID with a wrong check digit: neither ID nor card nor mobile
        "1101051949123100213912345678",  # ID and mobile glued without a separator
        "电话14012345678",  # unallocated segment
        "我是李老师",
        "我是从外地来的",
        "我是退休人员",
        "本人身份证丢了",
        "市中心区域的政务服务中心在哪",
        "东湖公园附近有什么",
        "我在东湖区办过，现在搬到西山区了",  # two districts: ambiguous
        "请问居住证怎么办理？",
        "我们一块去办",
        "",
    ],
)
def test_extract_nothing(message: str) -> None:
    assert extract_slots(message, today=TODAY) == {}


def test_card_is_not_taken_for_an_id_or_mobile() -> None:
    slots = extract_slots(f"银行卡号{CARD}", today=TODAY)
    assert slots == {"bank_card": CARD}


def test_future_birth_date_is_not_an_id() -> None:
    unborn = _id("11010520301231002")
    assert extract_slots(unborn, today=TODAY) == {}


def test_keys_follow_slot_order() -> None:
    slots = extract_slots(
        "我叫张三，身份证11010519491231002X，电话13912345678，住中心区，下周一，房租2500元",
        today=TODAY,
    )
    assert list(slots) == [s for s in SLOT_NAMES if s in slots]
    assert slots == {
        "id_number": "11010519491231002X",
        "mobile": "13912345678",
        "name": "张三",
        "date": "下周一",
        "amount": "2500.00",
        "district": "中心区",
    }


def test_first_value_of_a_kind_wins() -> None:
    slots = extract_slots("手机13912345678，备用18600001234", today=TODAY)
    assert slots == {"mobile": "13912345678"}

"""The form validators: each one with valid and invalid input, and the reasons citizens see."""

from __future__ import annotations

import dataclasses
import logging
from datetime import date
from decimal import Decimal

import pytest

from actions.forms.validators import (
    MOBILE_PREFIXES,
    RECEIPT_PATTERN,
    Check,
    age_on,
    birth_date_of,
    check_bank_card,
    check_choice,
    check_date_in,
    check_fund_account,
    check_id_number,
    check_mobile,
    check_money,
    check_name,
    check_receipt,
    check_text,
    check_yes_no,
    describe_day_off,
    find_date_phrase,
    holiday_data_covers,
    is_working_day,
    make_receipt,
    mask_card,
    mask_id,
    mask_mobile,
    next_working_days,
    parse_chinese_integer,
    parse_date,
)
from yishi import calendar as working_calendar

TODAY = date(2026, 11, 23)  # a Monday


def always(day: date) -> bool:
    return True


def tuesdays(day: date) -> bool:
    return day.weekday() == 1


# ---------------------------------------------------------------- helpers (independent of the code)

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def make_id(region: str, birth: str, sequence: str = "123") -> str:
    """An ID number with the correct GB 11643 check character."""
    body = region + birth + sequence
    assert len(body) == 17
    total = sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def id_ending_in(check: str, region: str = "440305", birth: str = "19900101") -> str:
    for n in range(1000):
        number = make_id(region, birth, f"{n:03d}")
        if number.endswith(check):
            return number
    raise AssertionError("no sequence gives that check character")


def with_wrong_check(number: str) -> str:
    wrong = "1" if number[-1] != "1" else "2"
    return number[:17] + wrong


def luhn_complete(prefix: str) -> str:
    """Append the Luhn check digit to ``prefix``."""
    for last in "0123456789":
        digits = prefix + last
        total = 0
        for i, ch in enumerate(reversed(digits)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


UNIONPAY_19 = luhn_complete("621700000012345678")


# ---------------------------------------------------------------- Check


def test_check_is_a_frozen_dataclass() -> None:
    result = Check(ok=True, value="x", reason="")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.ok = False  # type: ignore[misc]


# ---------------------------------------------------------------- ID numbers


def test_helper_reproduces_the_well_known_example() -> None:
    assert make_id("110105", "19491231", "002") == "11010519491231002X"


@pytest.mark.parametrize(
    "text",
    [
        "11010519491231002X",
        "11010519491231002x",
        " 110105 19491231 002X ",
        "110105-19491231-002x",
        "１１０１０５１９４９１２３１００２Ｘ",  # full width
    ],
)
def test_id_valid_and_normalised(text: str) -> None:
    result = check_id_number(text, today=TODAY)
    assert result == Check(True, "11010519491231002X", "")


def test_id_check_digit_x_in_both_cases() -> None:
    number = id_ending_in("X")
    assert check_id_number(number, TODAY).value == number
    assert check_id_number(number.lower(), TODAY).value == number


@pytest.mark.parametrize(
    "region", ["11", "15", "23", "37", "46", "54", "65", "71", "81", "82", "83"]
)
def test_id_accepts_every_kind_of_province(region: str) -> None:
    number = make_id(region + "0101", "19800615")
    assert check_id_number(number, TODAY).ok


@pytest.mark.parametrize("region", ["00", "10", "16", "20", "24", "38", "47", "55", "66", "72", "84", "91", "99"])  # fmt: skip
def test_id_rejects_bad_regions(region: str) -> None:
    result = check_id_number(make_id(region + "0101", "19800615"), TODAY)
    assert not result.ok
    assert f"前两位“{region}”" in result.reason


def test_id_29_february_only_in_leap_years() -> None:
    assert check_id_number(make_id("320102", "20000229"), TODAY).ok  # 2000 is a leap year
    assert check_id_number(make_id("320102", "20240229"), TODAY).ok
    for year in ("2023", "1900", "2100"):
        result = check_id_number(make_id("320102", f"{year}0229"), TODAY)
        assert not result.ok
        assert "不是闰年" in result.reason


@pytest.mark.parametrize("birth", ["19491331", "19490001", "19490431", "19490100"])
def test_id_impossible_dates(birth: str) -> None:
    result = check_id_number(make_id("110105", birth), TODAY)
    assert not result.ok
    assert "出生日期" in result.reason and birth in result.reason


def test_id_birth_date_in_the_future_or_before_1900() -> None:
    assert check_id_number(make_id("110105", "20261123"), TODAY).ok  # born today
    future = check_id_number(make_id("110105", "20261124"), TODAY)
    assert not future.ok and "还没到" in future.reason
    old = check_id_number(make_id("110105", "18991231"), TODAY)
    assert not old.ok and "1900" in old.reason


def test_id_future_uses_today_by_default() -> None:
    assert not check_id_number(make_id("110105", "29991231")).ok


def test_id_wrong_check_digit() -> None:
    result = check_id_number(with_wrong_check("11010519491231002X"), TODAY)
    assert result == Check(
        False,
        None,
        "身份证号最后一位校验码不对，请核对后重新输入（18位，最后一位可能是数字或X）。",
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "请输入"),
        ("11010519491231002", "您输入的是17位"),
        ("11010519491231002X1", "您输入的是19位"),
        ("110105491231002", "第一代"),
        ("11010519491231002Y", "只能由数字组成"),
        ("1101051949123100X2", "只能由数字组成"),
        ("11010519A91231002X", "只能由数字组成"),
    ],
)
def test_id_length_and_characters(text: str, fragment: str) -> None:
    result = check_id_number(text, TODAY)
    assert not result.ok
    assert fragment in result.reason


def test_birth_date_and_age() -> None:
    number = make_id("110105", "19900615")
    assert birth_date_of(number) == date(1990, 6, 15)
    assert age_on(number, date(2026, 6, 14)) == 35
    assert age_on(number, date(2026, 6, 15)) == 36
    leapling = make_id("110105", "20000229")
    assert age_on(leapling, date(2027, 2, 28)) == 26
    assert age_on(leapling, date(2027, 3, 1)) == 27
    assert age_on(leapling, date(2028, 2, 29)) == 28
    with pytest.raises(ValueError):
        birth_date_of("12345")
    with pytest.raises(ValueError):
        birth_date_of(make_id("110105", "19491331"))


# ---------------------------------------------------------------- mobile numbers


@pytest.mark.parametrize("prefix", sorted(MOBILE_PREFIXES))
def test_mobile_every_allocated_prefix(prefix: str) -> None:
    assert check_mobile(prefix + "12345678") == Check(True, prefix + "12345678", "")


@pytest.mark.parametrize(
    "prefix", ["140", "141", "144", "146", "148", "154", "160", "161", "164", "168", "169",
               "174", "179", "194", "100", "110", "120"]
)  # fmt: skip
def test_mobile_unallocated_prefixes(prefix: str) -> None:
    result = check_mobile(prefix + "12345678")
    assert not result.ok
    assert f"“{prefix}”开头" in result.reason


def test_allocated_prefixes_are_what_the_brief_lists() -> None:
    assert len(MOBILE_PREFIXES) == 53
    assert {"140", "141", "154", "174", "179", "194"}.isdisjoint(MOBILE_PREFIXES)


@pytest.mark.parametrize(
    "text",
    [
        "13912345678",
        "139 1234 5678",
        "139-1234-5678",
        "+86 139 1234 5678",
        "+8613912345678",
        "86 13912345678",
        "8613912345678",
        "0086 139 1234 5678",
        "(+86) 139-1234-5678",
        "１３９１２３４５６７８",
    ],
)
def test_mobile_formats(text: str) -> None:
    assert check_mobile(text).value == "13912345678"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "请输入"),
        ("1391234567", "您输入的是10位"),
        ("139123456789", "您输入的是12位"),
        ("02112345678", "应以1开头"),
        ("1391234567a", "只能包含数字"),
        ("+852 9123 4567", "中国大陆"),
    ],
)
def test_mobile_invalid(text: str, fragment: str) -> None:
    result = check_mobile(text)
    assert not result.ok
    assert fragment in result.reason


# ---------------------------------------------------------------- bank cards


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("4111111111111111", "4111111111111111"),
        ("4111 1111 1111 1111", "4111111111111111"),
        ("5555-5555-5555-4444", "5555555555554444"),
        (UNIONPAY_19, UNIONPAY_19),
        (" ".join([UNIONPAY_19[:4], UNIONPAY_19[4:8], UNIONPAY_19[8:16], UNIONPAY_19[16:]]), UNIONPAY_19),
    ],
)  # fmt: skip
def test_bank_card_valid(text: str, value: str) -> None:
    assert len(UNIONPAY_19) == 19 and UNIONPAY_19.startswith("62")
    assert check_bank_card(text) == Check(True, value, "")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("4111111111111112", "校验不通过"),
        (UNIONPAY_19[:-1] + str((int(UNIONPAY_19[-1]) + 1) % 10), "校验不通过"),
        ("411111111111111", "您输入的是15位"),
        ("41111111111111111111", "您输入的是20位"),
        ("4111a11111111111", "只能包含数字"),
        ("", "请输入"),
    ],
)
def test_bank_card_invalid(text: str, fragment: str) -> None:
    result = check_bank_card(text)
    assert not result.ok
    assert fragment in result.reason


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("张三", "张三"),
        (" 欧阳娜娜 ", "欧阳娜娜"),
        ("张 三", "张三"),
        ("张三。", "张三"),
        ("张三！", "张三"),
        ("买买提·艾力", "买买提·艾力"),
        ("买买提.艾力", "买买提·艾力"),
        ("买买提・艾力", "买买提·艾力"),
        ("买买提•艾力", "买买提·艾力"),
        ("张㐀", "张㐀"),  # CJK extension A
        ("John Smith", "John Smith"),
        ("  Li   Lei ", "Li Lei"),
        ("José Müller", "José Müller"),
    ],
)
def test_name_valid(text: str, value: str) -> None:
    assert check_name(text) == Check(True, value, "")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("张", "至少要2个字"),
        ("J", "至少要2个字"),
        ("张三1", "数字"),
        ("张三😀", "不支持的符号"),
        ("张-三", "不支持的符号"),
        ("·张三", "间隔号"),
        ("买买提··艾力", "间隔号"),
        ("张三Smith", "不要混用"),
        ("John_Smith", "不支持的符号"),
        ("John😀", "不支持的符号"),
        ("阿" * 21, "最多20个字符"),
        ("", "请输入"),
    ],
)
def test_name_invalid(text: str, fragment: str) -> None:
    result = check_name(text)
    assert not result.ok
    assert fragment in result.reason


# ---------------------------------------------------------------- provident fund account


def test_fund_account() -> None:
    assert check_fund_account("123456789012") == Check(True, "123456789012", "")
    assert check_fund_account("1234 5678 9012").value == "123456789012"
    assert "您输入的是11位" in check_fund_account("12345678901").reason
    assert "只能包含数字" in check_fund_account("12345678901A").reason
    assert not check_fund_account("").ok


# ---------------------------------------------------------------- money


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2500", "2500.00"),
        ("2500元", "2500.00"),
        ("2,500.50", "2500.50"),
        ("2，500.5", "2500.50"),
        ("￥2500", "2500.00"),
        ("人民币2500元整", "2500.00"),
        ("2500块", "2500.00"),
        ("两千五", "2500.00"),
        ("两千五百元", "2500.00"),
        ("贰仟伍佰元整", "2500.00"),
        ("一万二", "12000.00"),
        ("三百五", "350.00"),
        ("十五", "15.00"),
        ("一千零五", "1005.00"),
        ("一千零五十", "1050.00"),
        ("三万零八百", "30800.00"),
        ("两千五点五", "2500.50"),
        ("1.5万", "15000.00"),
        ("3万5千", "35000.00"),
        ("九千九百九十九万九千九百九十九", "99999999.00"),
        ("二五零零", "2500.00"),
    ],
)
def test_money_valid(text: str, expected: str) -> None:
    result = check_money(text, 1, 99999999)
    assert result.ok, result.reason
    assert result.value == Decimal(expected)
    assert isinstance(result.value, Decimal)
    assert result.value.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("abc", "没有看懂"),
        ("两千五左右", "没有看懂"),
        ("一亿", "没有看懂"),
        ("千百", "没有看懂"),
        ("0", "大于0"),
        ("零", "大于0"),
        ("-100", "大于0"),
        ("2500.555", "精确到分"),
    ],
)
def test_money_invalid(text: str, fragment: str) -> None:
    result = check_money(text, 1, 99999999)
    assert not result.ok
    assert fragment in result.reason


def test_money_range() -> None:
    assert check_money("500", 500, 5000).ok
    assert check_money("5000", 500, 5000).ok
    low = check_money("499.99", 500, 5000)
    assert not low.ok and low.reason.startswith("金额应在500元到5000元之间，您填写的是499.99元")
    high = check_money("五千零一", Decimal("500"), Decimal("5000"))
    assert not high.ok and "5001元" in high.reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [("十", 10), ("十万", 100000), ("两万", 20000), ("一百零一", 101), ("壹佰贰拾叁", 123),
     ("五百三百", None), ("万", None), ("一万万", None), ("二三千", None)],
)  # fmt: skip
def test_chinese_integer_parser(text: str, expected: int | None) -> None:
    assert parse_chinese_integer(text) == expected


# ---------------------------------------------------------------- working days


def test_2026_national_day_holiday() -> None:
    for day in range(1, 8):
        assert not is_working_day(date(2026, 10, day))
    assert is_working_day(date(2026, 9, 30))
    assert is_working_day(date(2026, 10, 8))
    assert is_working_day(date(2026, 10, 9))


def test_2026_make_up_working_days_on_weekends() -> None:
    # chinese_calendar 1.11.0 lists 2026-09-20 (Sunday) and 2026-10-10 (Saturday) as make-up
    # working days for National Day.
    for day in (date(2026, 9, 20), date(2026, 10, 10)):
        assert day.weekday() >= 5
        assert is_working_day(day)
        assert describe_day_off(day) is None
    assert not is_working_day(date(2026, 10, 11))  # the Sunday after is a normal weekend


def test_describe_day_off() -> None:
    assert describe_day_off(date(2026, 10, 3)) == "法定节假日（国庆节假期）"
    assert describe_day_off(date(2026, 10, 17)) == "周末"
    assert describe_day_off(date(2026, 10, 16)) is None
    assert describe_day_off(date(2027, 1, 1)) == "法定节假日（元旦）"
    assert describe_day_off(date(2027, 1, 2)) == "周末"


def test_next_working_days_around_national_day() -> None:
    assert next_working_days(date(2026, 9, 28), 5) == [
        date(2026, 9, 29),
        date(2026, 9, 30),
        date(2026, 10, 8),
        date(2026, 10, 9),
        date(2026, 10, 10),
    ]


def test_next_working_days_excludes_today_and_respects_the_horizon() -> None:
    days = next_working_days(TODAY, 100)
    assert days[0] == date(2026, 11, 24)
    assert len(days) == 10  # two ordinary weeks
    assert days[-1] == date(2026, 12, 7)
    assert next_working_days(TODAY, 3) == [
        date(2026, 11, 24),
        date(2026, 11, 25),
        date(2026, 11, 26),
    ]
    assert next_working_days(TODAY, 5, horizon_days=1) == [date(2026, 11, 24)]


def test_2027_fallback_warns_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the calendar moved to yishi.calendar; its warn-once state and logger live there
    monkeypatch.setattr(working_calendar, "_warned_years", set())
    assert holiday_data_covers(date(2026, 12, 31))
    assert not holiday_data_covers(date(2027, 1, 4))
    with caplog.at_level(logging.WARNING, logger=working_calendar.__name__):
        assert not is_working_day(date(2027, 1, 1))  # a Friday, but New Year's Day
        assert not is_working_day(date(2027, 1, 2))  # Saturday
        assert is_working_day(date(2027, 1, 4))  # Monday
        assert is_working_day(date(2027, 10, 1))  # no 2027 schedule: only the estimate
    warnings = [r for r in caplog.records if "2027" in r.getMessage()]
    assert len(warnings) == 1


def test_date_in_uncovered_year_says_the_schedule_is_not_published() -> None:
    result = check_date_in("1月2日", date(2026, 12, 28))
    assert not result.ok
    assert "2027年1月2日（周六）是周末" in result.reason
    assert "2027年1月4日（周一）" in result.reason
    assert "2027年的放假安排还没有公布" in result.reason
    assert check_date_in("1月5日", date(2026, 12, 28)).value == date(2027, 1, 5)


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("今天", date(2026, 11, 23)),
        ("明天", date(2026, 11, 24)),
        ("后天", date(2026, 11, 25)),
        ("大后天", date(2026, 11, 26)),
        ("下周一", date(2026, 11, 30)),
        ("下周一上午", date(2026, 11, 30)),
        ("下星期三", date(2026, 12, 2)),
        ("下个礼拜五", date(2026, 12, 4)),
        ("下周日", date(2026, 12, 6)),
        ("下周天", date(2026, 12, 6)),
        ("周三", date(2026, 11, 25)),
        ("星期三吧", date(2026, 11, 25)),
        ("周一", date(2026, 11, 30)),  # today is Monday: the next one
        ("本周五", date(2026, 11, 27)),
        ("这周日", date(2026, 11, 29)),
        ("2026-11-25", date(2026, 11, 25)),
        ("2026/11/25", date(2026, 11, 25)),
        ("2026年11月25日", date(2026, 11, 25)),
        ("２０２６－１１－２５", date(2026, 11, 25)),
        ("11月25日", date(2026, 11, 25)),
        ("11月25号", date(2026, 11, 25)),
        ("11-25", date(2026, 11, 25)),
        ("11/25", date(2026, 11, 25)),
        ("十一月二十五日", date(2026, 11, 25)),
        ("25号", date(2026, 11, 25)),
        ("二十五号", date(2026, 11, 25)),
        ("5号", date(2026, 12, 5)),  # already past this month: next month
        ("1月5日", date(2027, 1, 5)),  # already past this year: next year
    ],
)
def test_parse_date(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


def test_parse_date_nothing() -> None:
    assert parse_date("随便哪天都行", TODAY) is None
    assert parse_date("2月30日", TODAY) is None
    assert find_date_phrase("那就下周一上午吧") == "下周一"
    assert find_date_phrase("住在幸福路25号") is None
    assert find_date_phrase("没有日期") is None


def test_check_date_in_ok() -> None:
    assert check_date_in("后天", TODAY) == Check(True, date(2026, 11, 25), "")
    assert check_date_in("12月7日", TODAY).value == date(2026, 12, 7)  # the last day
    assert check_date_in("今天", TODAY, allow_today=True).value == TODAY


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2026-11-20", "11月20日（周五）已经过去了"),
        ("今天", "今天已经不能预约了"),
        ("2026-12-25", "14天以内的日期，最晚到12月7日（周一）"),
        ("随便哪天", "没有看懂这个日期"),
        ("2月30日", "2月30日这个日期不存在"),
        ("2026-02-30", "2026年2月30日这个日期不存在"),
        ("31号", "11月没有31号"),
        ("周日", "11月29日（周日）是周末，不办理业务。最近可以办理的日期是11月30日（周一）"),
    ],
)
def test_check_date_in_reasons(text: str, fragment: str) -> None:
    result = check_date_in(text, TODAY, is_working_day, 14)
    assert not result.ok
    assert fragment in result.reason


def test_check_date_in_national_day() -> None:
    today = date(2026, 9, 28)
    holiday = check_date_in("10月3日", today, is_working_day, 14)
    assert not holiday.ok
    assert "10月3日（周六）是法定节假日（国庆节假期）" in holiday.reason
    assert "最近可以办理的日期是10月8日（周四）" in holiday.reason
    assert check_date_in("10月10日", today).value == date(2026, 10, 10)  # make-up Saturday


def test_check_date_in_custom_rule() -> None:
    result = check_date_in("周三", TODAY, tuesdays, 14)
    assert not result.ok
    assert "11月25日（周三）不能办理这项业务" in result.reason
    assert "12月1日（周二）" in result.reason
    assert check_date_in("下周二", TODAY, tuesdays, 14).ok
    assert check_date_in("下周日", TODAY, always, 14).value == date(2026, 12, 6)


# ---------------------------------------------------------------- choices

CHOICES = {
    "异地长期居住": ["长期居住", "异地安置", "常驻异地", "退休异地"],
    "临时外出就医": ["临时外出", "出差", "旅游"],
    "转诊转院": ["转诊", "转院"],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("异地长期居住", "异地长期居住"),
        ("退休异地", "异地长期居住"),
        ("我退休了，是异地安置", "异地长期居住"),
        ("长期", "异地长期居住"),
        ("出差。", "临时外出就医"),
        ("转院", "转诊转院"),
        ("1", "异地长期居住"),
        ("１", "异地长期居住"),
        ("2.", "临时外出就医"),
        ("第一个", "异地长期居住"),
        ("第二项", "临时外出就医"),
        ("选3", "转诊转院"),
        ("①", "异地长期居住"),
        ("③", "转诊转院"),
    ],
)
def test_choice_valid(text: str, expected: str) -> None:
    assert check_choice(text, CHOICES) == Check(True, expected, "")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("第四个", "没有第4项"), ("看病", "没有对上选项"), ("", "请从下面选一项"),
     ("出差转院", "不止一项")],
)  # fmt: skip
def test_choice_invalid_lists_options(text: str, fragment: str) -> None:
    result = check_choice(text, CHOICES)
    assert not result.ok
    assert fragment in result.reason
    assert "1. 异地长期居住；2. 临时外出就医；3. 转诊转院" in result.reason


# ---------------------------------------------------------------- yes / no


@pytest.mark.parametrize(
    "text", ["是", "是的", "对", "对的", "要", "需要", "好", "好的", "可以", "嗯", "嗯嗯", "行",
             "没问题", "没错", "不错", "是的，需要", "好的！", "Yes", "OK", "嗯，好的"]
)  # fmt: skip
def test_yes(text: str) -> None:
    assert check_yes_no(text) == Check(True, True, "")


@pytest.mark.parametrize(
    "text", ["不", "不用", "不要", "否", "不需要", "没有", "不是", "不用了", "不需要了，谢谢",
             "没有的", "算了", "no", "嗯，不用了", "嗯不需要"]
)  # fmt: skip
def test_no(text: str) -> None:
    assert check_yes_no(text) == Check(True, False, "")


@pytest.mark.parametrize("text", ["是不是", "要不要", "可不可以", "随便", "", "我想想"])
def test_yes_no_unclear(text: str) -> None:
    result = check_yes_no(text)
    assert not result.ok
    assert "“是”或“否”" in result.reason


# ---------------------------------------------------------------- free text


def test_text_length() -> None:
    assert check_text("  房屋漏水，需要维修  ", 5, 50) == Check(True, "房屋漏水，需要维修", "")
    assert "至少5个字（现在是2个字）" in check_text(" 漏水 ", 5, 50).reason
    assert "最多10个字（现在是11个字）" in check_text("一二三四五六七八九十一", 1, 10).reason
    assert check_text("   ", 1, 10).reason == "请输入内容。"
    assert check_text("\u3000漏水！\n", 1, 10).value == "漏水！"  # punctuation kept as typed


# ---------------------------------------------------------------- masking


def test_masks() -> None:
    assert mask_id("110105199001011234") == "110***********1234"
    assert mask_id("11010519491231002x") == "110***********002X"
    assert mask_mobile("13912345678") == "139****5678"
    assert mask_card("4111 1111 1111 1111") == "************1111"
    assert mask_card(UNIONPAY_19) == "*" * 15 + UNIONPAY_19[-4:]
    assert mask_mobile("123") == "***"


# ---------------------------------------------------------------- receipts


def test_make_receipt() -> None:
    receipt = make_receipt(date(2026, 11, 23), 123)
    assert receipt == "YS-20261123-000123"
    assert RECEIPT_PATTERN.fullmatch(receipt)
    assert make_receipt(date(2026, 1, 2), 999999) == "YS-20260102-999999"
    for bad in (0, -1, 1_000_000):
        with pytest.raises(ValueError):
            make_receipt(date(2026, 11, 23), bad)


@pytest.mark.parametrize(
    "text",
    [
        "YS-20261123-000123",
        "ys-20261123-000123",
        "YS20261123000123",
        "ys20261123000123",
        " YS 20261123 000123 ",
        "YS-20261123000123",
        "ＹＳ－２０２６１１２３－０００１２３",
    ],
)
def test_receipt_normalised(text: str) -> None:
    assert check_receipt(text) == Check(True, "YS-20261123-000123", "")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("YS-2026112-000123", "格式"),
        ("AB-20261123-000123", "格式"),
        ("YS-20261123-0001234", "格式"),
        ("YS-20261323-000123", "日期部分"),
        ("YS-20261123-000000", "序号"),
        ("", "格式"),
    ],
)
def test_receipt_invalid(text: str, fragment: str) -> None:
    result = check_receipt(text)
    assert not result.ok
    assert fragment in result.reason

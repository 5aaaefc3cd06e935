"""Validators for guided filing: what a citizen typed -> a normalised value, or a reason.

Every ``check_*`` function takes the raw text as typed, normalises it (NFKC turns full-width
digits and letters into ASCII; spaces and dashes inside numbers are dropped; ``x`` becomes ``X``)
and returns a :class:`Check`. When ``ok`` is true, ``value`` holds the normalised value; when it
is false, ``reason`` is one specific sentence in Simplified Chinese that can be shown to the
citizen as it is.
"""

from __future__ import annotations

import calendar
import logging
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# The working-day calendar lives in yishi.calendar (the 12345 ticket store counts its time
# limits in it too); every name it had here stays importable from this module.
from yishi.calendar import HOLIDAY_DATA_FIRST_YEAR as HOLIDAY_DATA_FIRST_YEAR
from yishi.calendar import HOLIDAY_DATA_LAST_YEAR as HOLIDAY_DATA_LAST_YEAR
from yishi.calendar import WEEKDAY_NAMES as WEEKDAY_NAMES
from yishi.calendar import add_working_days as add_working_days
from yishi.calendar import describe_day_off as describe_day_off
from yishi.calendar import holiday_data_covers as holiday_data_covers
from yishi.calendar import is_working_day as is_working_day
from yishi.calendar import next_working_days as next_working_days

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    """The outcome of one validation: ``ok`` with a normalised ``value``, or a ``reason``."""

    ok: bool
    value: object | None = None
    reason: str = ""


def _good(value: object) -> Check:
    return Check(ok=True, value=value, reason="")


def _bad(reason: str) -> Check:
    return Check(ok=False, value=None, reason=reason)


# --------------------------------------------------------------------------- normalisation

# Dashes a citizen may type between groups of digits (NFKC already maps the full-width hyphen).
_SEPARATORS = re.compile(r"[\s\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212]+")
_ASCII_DIGITS = re.compile(r"[0-9]+")


def normalize(text: str | None) -> str:
    """NFKC (full-width digits/letters -> ASCII, ideographic space -> space) and strip."""
    return unicodedata.normalize("NFKC", text or "").strip()


def compact_number(text: str | None) -> str:
    """Normalise and drop spaces and dashes, as citizens type them inside long numbers."""
    return _SEPARATORS.sub("", normalize(text))


def _is_ascii_digits(text: str) -> bool:
    # str.isdigit() also accepts e.g. Arabic-Indic digits, which no form here allows.
    return bool(_ASCII_DIGITS.fullmatch(text))


# --------------------------------------------------------------------------- ID numbers

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_EARLIEST_BIRTH = date(1900, 1, 1)

# Province-level codes (first two digits of the address code). GB/T 2260 lists:
#   11-15 (北京 天津 河北 山西 内蒙古), 21-23 (辽宁 吉林 黑龙江),
#   31-37 (上海 江苏 浙江 安徽 福建 江西 山东), 41-46 (河南 湖北 湖南 广东 广西 海南),
#   50-54 (重庆 四川 贵州 云南 西藏), 61-65 (陕西 甘肃 青海 宁夏 新疆),
#   71 (台湾), 81 (香港), 82 (澳门).
# 83 is NOT in GB/T 2260: it is the code used by the residence permit for Taiwan residents
# (港澳台居民居住证, numbers starting 830000; Hong Kong and Macao residents get 810000/820000).
# That permit number follows GB 11643 exactly and government services accept it in place of a
# resident ID, so it is accepted here.
# 91 is NOT accepted: it is not in GB/T 2260. It only appears in unofficial lookup tables as
# "国外"; the 2023 foreigner's permanent residence ID card starts with 9 followed by a province
# code and a nationality code, which is a different document with its own layout.
# Only the province is checked: the remaining four digits keep the code that was valid when
# the number was issued, and codes of abolished or renamed counties stay valid for life.
PROVINCE_CODES: frozenset[str] = frozenset(
    {"11", "12", "13", "14", "15"}
    | {"21", "22", "23"}
    | {"31", "32", "33", "34", "35", "36", "37"}
    | {"41", "42", "43", "44", "45", "46"}
    | {"50", "51", "52", "53", "54"}
    | {"61", "62", "63", "64", "65"}
    | {"71", "81", "82", "83"}
)


def id_check_char(first17: str) -> str:
    """The GB 11643-1999 check character (0-9 or X) for the first 17 digits."""
    if len(first17) != 17 or not _is_ascii_digits(first17):
        raise ValueError("expected exactly 17 ASCII digits")
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def _id_birth_date(value: str) -> date | None:
    try:
        return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def check_id_number(text: str, today: date | None = None) -> Check:
    """An 18-character resident ID number (居民身份证号, GB 11643-1999)."""
    today = today or date.today()
    value = compact_number(text).upper()
    if not value:
        return _bad("请输入18位居民身份证号码。")
    if len(value) == 15 and _is_ascii_digits(value):
        return _bad("您输入的是15位的第一代身份证号码，请改用18位的第二代身份证号码。")
    if len(value) != 18:
        return _bad(f"身份证号码应为18位，您输入的是{len(value)}位，请核对后重新输入。")
    if not _ID_SHAPE.fullmatch(value):
        return _bad("身份证号码只能由数字组成，最后一位可以是X，请检查是否输入了其他字符。")
    if value[:2] not in PROVINCE_CODES:
        return _bad(f"身份证号码前两位“{value[:2]}”不是有效的省份代码，请核对后重新输入。")
    birth = _id_birth_date(value)
    if birth is None:
        year, month, day = int(value[6:10]), int(value[10:12]), int(value[12:14])
        if month == 2 and day == 29 and not calendar.isleap(year):
            return _bad(
                f"身份证号码中的出生日期有误：{year}年不是闰年，没有2月29日，请核对第7到14位。"
            )
        return _bad(f"身份证号码第7到14位的出生日期“{value[6:14]}”不存在，请核对后重新输入。")
    if birth < _EARLIEST_BIRTH:
        return _bad("身份证号码中的出生日期早于1900年，请核对第7到14位。")
    if birth > today:
        return _bad(
            f"身份证号码中的出生日期（{birth.year}年{birth.month}月{birth.day}日）还没到，"
            "请核对第7到14位。"
        )
    if value[17] != id_check_char(value[:17]):
        return _bad("身份证号最后一位校验码不对，请核对后重新输入（18位，最后一位可能是数字或X）。")
    return _good(value)


def birth_date_of(id_number: str) -> date:
    """The birth date encoded in an ID number; ValueError when there is none."""
    value = compact_number(id_number).upper()
    if not _ID_SHAPE.fullmatch(value):
        raise ValueError("not an 18-character ID number")
    birth = _id_birth_date(value)
    if birth is None:
        raise ValueError("the ID number does not encode a real date")
    return birth


def age_on(id_number: str, day: date) -> int:
    """Completed years (周岁) on ``day``; someone born on 29 February turns a year older on
    1 March in common years."""
    birth = birth_date_of(id_number)
    before_birthday = (day.month, day.day) < (birth.month, birth.day)
    return day.year - birth.year - int(before_birthday)


# --------------------------------------------------------------------------- mobile numbers

# Mainland mobile number segments (the first three digits) allocated by MIIT (工业和信息化部)
# to China Mobile, China Unicom, China Telecom, China Broadnet and the mobile virtual network
# operators, taken from MIIT's published number-resource allocations as of 2025. Segments used
# only for data/IoT (140, 141, 144, 146, 148) or satellite service (174x) and still unallocated
# ones (154, 179, 194 ...) are left out on purpose. MUST be updated when MIIT allocates new
# segments, or citizens with new numbers will be turned away.
MOBILE_PREFIXES: frozenset[str] = frozenset(
    {f"13{d}" for d in range(10)}
    | {"145", "147", "149"}
    | {"150", "151", "152", "153", "155", "156", "157", "158", "159"}
    | {"162", "165", "166", "167"}
    | {"170", "171", "172", "173", "175", "176", "177", "178"}
    | {f"18{d}" for d in range(10)}
    | {"190", "191", "192", "193", "195", "196", "197", "198", "199"}
)
_PHONE_JUNK = re.compile(r"[\s\-\u2010-\u2015()（）]+")


def check_mobile(text: str) -> Check:
    """A mainland mobile number: 11 digits, optionally written with +86/86 and separators."""
    value = _PHONE_JUNK.sub("", normalize(text))
    if not value:
        return _bad("请输入11位手机号码。")
    if value.startswith("+86"):
        value = value[3:]
    elif value.startswith("0086"):
        value = value[4:]
    elif value.startswith(("+", "00")):
        return _bad("目前只能填写中国大陆的11位手机号码。")
    elif len(value) == 13 and value.startswith("86"):
        value = value[2:]
    if not _is_ascii_digits(value):
        return _bad("手机号码只能包含数字，请检查后重新输入。")
    if len(value) != 11:
        return _bad(f"手机号码应为11位数字，您输入的是{len(value)}位，请核对后重新输入。")
    if value[0] != "1":
        return _bad("手机号码应以1开头；如果是固定电话，请改填手机号码。")
    if value[:3] not in MOBILE_PREFIXES:
        return _bad(f"“{value[:3]}”开头的不是在用的手机号段，请核对号码是否输错。")
    return _good(value)


# --------------------------------------------------------------------------- bank cards


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) checksum used by bank card numbers."""
    if not digits or not _is_ascii_digits(digits):
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def check_bank_card(text: str) -> Check:
    """A bank card number: 16 to 19 digits (spaces allowed) with a valid Luhn checksum."""
    value = compact_number(text)
    if not value:
        return _bad("请输入银行卡号。")
    if not _is_ascii_digits(value):
        return _bad("银行卡号只能包含数字，请检查后重新输入。")
    if not 16 <= len(value) <= 19:
        return _bad(f"银行卡号应为16到19位数字，您输入的是{len(value)}位，请对照卡面核对。")
    if not luhn_ok(value):
        return _bad("银行卡号校验不通过，可能有数字输错了，请对照卡面重新输入。")
    return _good(value)


# --------------------------------------------------------------------------- names

_MIDDLE_DOT = "\u00b7"
# Other dots people type between the parts of a minority or foreign name.
_DOT_VARIANTS = re.compile(r"[\u2022\u2027\u2219\u22c5\u30fb\u00b7.。]")
_CJK_RANGES = (
    (0x3400, 0x4DBF),  # extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    # Extensions B-H, for rare characters in names (生僻字); plain CJK Unified and extension A
    # cover almost everyone, these just avoid turning away the rest.
    (0x20000, 0x323AF),
)
# Latin letters, including the accented ones of Latin-1 and Latin Extended-A/B (not × or ÷).
_LATIN_LETTERS = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_LATIN_NAME = re.compile(rf"[{_LATIN_LETTERS}]+(?: [{_LATIN_LETTERS}]+)*")
_NAME_TRIM = " .。,，!！?？;；:：\"'“”‘’"
NAME_MIN_CHARS = 2
NAME_MAX_CHARS = 20


def is_cjk(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_RANGES)


def check_name(text: str) -> Check:
    """A person's name: Chinese characters (with · between the parts of minority and foreign
    names, e.g. 买买提·艾力), or Latin letters separated by spaces for foreigners."""
    raw = normalize(text).strip(_NAME_TRIM)
    if not raw:
        return _bad("请输入姓名。")
    if any(ch.isdigit() for ch in raw):
        return _bad("姓名里不能有数字，请输入证件上的姓名。")
    if any(is_cjk(ch) for ch in raw):
        value = re.sub(r"\s+", "", _DOT_VARIANTS.sub(_MIDDLE_DOT, raw))
        if not all(is_cjk(ch) or ch == _MIDDLE_DOT for ch in value):
            if any(ch.isascii() and ch.isalpha() for ch in value):
                return _bad("姓名请只用汉字，或只用英文字母，不要混用。")
            return _bad("姓名里有不支持的符号，只能用汉字和间隔号“·”，请按证件填写。")
        if value.startswith(_MIDDLE_DOT) or value.endswith(_MIDDLE_DOT) or "··" in value:
            return _bad("间隔号“·”只能写在姓名的两部分之间，例如“买买提·艾力”。")
    else:
        value = re.sub(r"\s+", " ", raw)
        if not _LATIN_NAME.fullmatch(value):
            return _bad("姓名里有不支持的符号，外文姓名请只用英文字母和空格，请按证件填写。")
    if len(value) < NAME_MIN_CHARS:
        return _bad("姓名至少要2个字，请输入完整的姓名。")
    if len(value) > NAME_MAX_CHARS:
        return _bad(f"姓名最多{NAME_MAX_CHARS}个字符，请按证件上的姓名填写。")
    return _good(value)


# --------------------------------------------------------------------------- fund account

FUND_ACCOUNT_LENGTH = 12


def check_fund_account(text: str) -> Check:
    """A personal housing provident fund account (住房公积金个人账号).

    The format is the sample city's (示例市): exactly 12 digits, no checksum. Other cities use
    other formats; change this function, not the callers, when the city changes.
    """
    value = compact_number(text)
    if not value:
        return _bad("请输入12位住房公积金个人账号。")
    if not _is_ascii_digits(value):
        return _bad("住房公积金个人账号只能包含数字，请检查后重新输入。")
    if len(value) != FUND_ACCOUNT_LENGTH:
        return _bad(
            f"示例市住房公积金个人账号为12位数字，您输入的是{len(value)}位，"
            "可在公积金缴存明细或App里查看。"
        )
    return _good(value)


# --------------------------------------------------------------------------- money

CENT = Decimal("0.01")
MONEY_MAX = Decimal("99999999")
_CN_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "两": 2, "贰": 2, "三": 3, "叁": 3,
    "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7,
    "八": 8, "捌": 8, "九": 9, "玖": 9,
}  # fmt: skip
_CN_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_MYRIAD = frozenset({"万", "萬"})
CN_NUMERAL_CHARS = "".join(_CN_DIGITS) + "".join(_CN_UNITS) + "".join(_CN_MYRIAD)
_ARABIC_AMOUNT = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+")
_MONEY_PREFIX = re.compile(r"^(?:人民币|RMB|CNY|¥)+", re.IGNORECASE)
_MONEY_SUFFIX = re.compile(r"(?:元整|圆整|元|圆|块钱|块|整|RMB|CNY)+$", re.IGNORECASE)


def parse_chinese_integer(text: str) -> int | None:
    """A whole number written in Chinese numerals, 0 to 99999999.

    Handles ordinary (两千五百), financial (贰仟伍佰), colloquial shorthand (两千五 = 2500,
    一万二 = 12000, 三百五 = 350) and digit-by-digit readings (二五零零). None when the text is
    not such a number.
    """
    if not text or any(ch not in CN_NUMERAL_CHARS for ch in text):
        return None
    if all(ch in _CN_DIGITS for ch in text):
        if len(text) > 8:
            return None
        return int("".join(str(_CN_DIGITS[ch]) for ch in text))
    total = 0  # the 万 part, once seen
    section = 0  # the part below 万 being built
    pending: int | None = None  # a digit still waiting for its unit
    smallest_unit = 100_000  # units inside a section must descend (千 > 百 > 十)
    last_unit = 0
    after_zero = False  # 零 since the last unit: "一千零五" is 1005, not 1500
    seen_myriad = False
    for char in text:
        if _CN_DIGITS.get(char) == 0:
            if pending is not None:
                return None
            after_zero = True
        elif char in _CN_DIGITS:
            if pending is not None:
                return None
            pending = _CN_DIGITS[char]
        elif char in _CN_UNITS:
            unit = _CN_UNITS[char]
            if unit >= smallest_unit:
                return None
            if pending is None:
                if unit != 10 or section != 0 or after_zero:
                    return None
                pending = 1  # 十五 = 15, 十万 = 100000
            section += pending * unit
            pending = None
            smallest_unit = last_unit = unit
            after_zero = False
        else:  # 万
            if seen_myriad:
                return None
            if pending is not None:
                section += pending
                pending = None
            if section == 0:
                return None
            total, section = section * 10_000, 0
            smallest_unit, last_unit = 100_000, 10_000
            after_zero, seen_myriad = False, True
    if pending is not None:
        if not after_zero and last_unit >= 10:
            section += pending * (last_unit // 10)  # shorthand: 两千五 = 2500
        else:
            section += pending
    value = total + section
    return value if value <= MONEY_MAX else None


def parse_money(text: str) -> Decimal | None:
    """An amount of money in yuan from "2500", "2500元", "2,500.50", "¥2500", "1.5万",
    "两千五", "贰仟伍佰元整" or "两千五点五"; None when it is not an amount."""
    value = re.sub(r"\s+", "", normalize(text))
    value = _MONEY_SUFFIX.sub("", _MONEY_PREFIX.sub("", value))
    if not value:
        return None
    multiplier = Decimal(1)
    if value[-1] in _CN_MYRIAD and _ARABIC_AMOUNT.fullmatch(value[:-1]):
        value, multiplier = value[:-1], Decimal(10_000)
    if _ARABIC_AMOUNT.fullmatch(value):
        try:
            return Decimal(value.replace(",", "")) * multiplier
        except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
            return None
    if any(ch in "0123456789" for ch in value) and any(
        ch in _CN_UNITS or ch in _CN_MYRIAD for ch in value
    ):
        # "3万5千": Arabic digits mixed with Chinese units
        value = "".join(
            "零一二三四五六七八九"[int(ch)] if ch in "0123456789" else ch for ch in value
        )
    whole, _, fraction = value.partition("点")
    number = parse_chinese_integer(whole)
    if number is None:
        return None
    if not fraction:
        return Decimal(number)
    if not all(ch in _CN_DIGITS for ch in fraction):
        return None
    return Decimal(f"{number}.{''.join(str(_CN_DIGITS[ch]) for ch in fraction)}")


def _yuan(amount: Decimal) -> str:
    if amount.adjusted() > 20:  # absurdly large: do not round, just show it
        return str(amount)
    amount = amount.quantize(CENT)
    return str(amount.to_integral_value()) if amount == amount.to_integral_value() else str(amount)


def check_money(
    text: str,
    minimum: Decimal | int | str = CENT,
    maximum: Decimal | int | str = MONEY_MAX,
) -> Check:
    """An amount in yuan between ``minimum`` and ``maximum`` (inclusive), as a Decimal with two
    decimal places."""
    low, high = Decimal(minimum), Decimal(maximum)
    amount = parse_money(text)
    if amount is None:
        return _bad("没有看懂这个金额，请直接输入数字，例如“2500”或“2500.50”（单位：元）。")
    if amount <= 0:
        return _bad("金额必须大于0元，请重新输入。")
    if not low <= amount <= high:
        return _bad(
            f"金额应在{_yuan(low)}元到{_yuan(high)}元之间，您填写的是{_yuan(amount)}元，"
            "请核对后重新输入。"
        )
    if amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
        return _bad("金额最多精确到分（小数点后两位），请重新输入。")
    return _good(amount.quantize(CENT))


# --------------------------------------------------------------------------- dates

_WEEKDAY_INDEX = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_RELATIVE_DAYS = {"今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2, "大后天": 3}
_SMALL_CN = "一二三四五六七八九十"
_DATE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "ymd",
        re.compile(
            r"(?<!\d)(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})(?:\s*[日号])?(?!\d)"
        ),
    ),
    (
        "md",
        re.compile(
            rf"(?<![\d年{_SMALL_CN}])(\d{{1,2}}|[{_SMALL_CN}]{{1,3}})\s*月\s*"
            rf"(\d{{1,2}}|[{_SMALL_CN}]{{1,3}})\s*[日号]?(?!\d)"
        ),
    ),
    ("md", re.compile(r"(?<![\d\-/.:])(\d{1,2})[-/](\d{1,2})(?![\d\-/.:])")),
    (
        "day",
        re.compile(
            rf"(?<![\d{_SMALL_CN}路街巷道弄村楼栋室座号第期])(\d{{1,2}}|[{_SMALL_CN}]{{1,3}})\s*[号日]"
            r"(?![楼院室房门栋单座内])"
        ),
    ),
    ("relative", re.compile(r"大后天|后天|明天|明日|今天|今日")),
    ("next_week", re.compile(r"下个?(?:周|星期|礼拜)([一二三四五六日天])")),
    ("this_week", re.compile(r"(?:本|这个?)(?:周|星期|礼拜)([一二三四五六日天])")),
    ("weekday", re.compile(r"(?:周|星期|礼拜)([一二三四五六日天])")),
)
DATE_EXAMPLES = "“11月25日”“2026-11-25”“明天”“下周一”"


def _small_number(text: str) -> int:
    if _is_ascii_digits(text):
        return int(text)
    value = parse_chinese_integer(text)
    return -1 if value is None else value


def _find_date(text: str) -> tuple[str, re.Match[str]] | None:
    """The earliest (then longest) date phrase in already-normalised text."""
    best: tuple[str, re.Match[str]] | None = None
    for kind, pattern in _DATE_PATTERNS:
        match = pattern.search(text)
        if match is None:
            continue
        if best is None or (match.start(), -len(match.group())) < (
            best[1].start(),
            -len(best[1].group()),
        ):
            best = (kind, match)
    return best


def locate_date(normalized_text: str) -> re.Match[str] | None:
    """Where the first date phrase is in text already passed through :func:`normalize` (so
    that the match's offsets fit it); None when there is none."""
    found = _find_date(normalized_text)
    return found[1] if found else None


def find_date_phrase(text: str) -> str | None:
    """The first date phrase in a message ("下周一", "11月25日", "2026-11-25" ...), as written
    (after NFKC normalisation); None when there is none."""
    found = _find_date(normalize(text))
    return found[1].group().strip() if found else None


def format_day(day: date, today: date | None = None) -> str:
    """ "11月25日（周三）", with the year when it is not ``today``'s year."""
    prefix = f"{day.year}年" if today is None or day.year != today.year else ""
    return f"{prefix}{day.month}月{day.day}日（{WEEKDAY_NAMES[day.weekday()]}）"


def _resolve_date(text: str, today: date) -> tuple[date | None, str]:
    """(date, "") or (None, reason)."""
    found = _find_date(normalize(text))
    if found is None:
        return None, f"没有看懂这个日期，可以这样说：{DATE_EXAMPLES}。"
    kind, match = found
    if kind == "ymd":
        year, month, day_no = (int(g) for g in match.groups())
        try:
            return date(year, month, day_no), ""
        except ValueError:
            return None, f"{year}年{month}月{day_no}日这个日期不存在，请核对后重新输入。"
    if kind == "md":
        month, day_no = _small_number(match.group(1)), _small_number(match.group(2))
        for year in (today.year, today.year + 1):
            try:
                candidate = date(year, month, day_no)
            except ValueError:
                continue
            if candidate >= today or year > today.year:
                return candidate, ""
        return None, f"{month}月{day_no}日这个日期不存在，请核对后重新输入。"
    if kind == "day":
        day_no = _small_number(match.group(1))
        year, month = today.year, today.month
        if day_no < today.day:
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        try:
            return date(year, month, day_no), ""
        except ValueError:
            return None, f"{month}月没有{day_no}号，请换一个日期。"
    if kind == "relative":
        return today + timedelta(days=_RELATIVE_DAYS[match.group()]), ""
    index = _WEEKDAY_INDEX[match.group(1)]
    this_monday = today - timedelta(days=today.weekday())
    if kind == "next_week":
        return this_monday + timedelta(days=7 + index), ""
    if kind == "this_week":
        return this_monday + timedelta(days=index), ""
    # a bare 周三/星期三 is the next such day after today
    ahead = (index - today.weekday()) % 7 or 7
    return today + timedelta(days=ahead), ""


def parse_date(text: str, today: date) -> date | None:
    """The date a citizen means ("2026-11-25", "11月25日", "25号", "明天", "下周一", "周三"
    ...), relative to ``today``; None when there is no (real) date in the text."""
    return _resolve_date(text, today)[0]


def check_date_in(
    text: str,
    today: date,
    allowed: Callable[[date], bool] = is_working_day,
    horizon_days: int = 14,
    *,
    allow_today: bool = False,
) -> Check:
    """A date from tomorrow (or today with ``allow_today``) to ``horizon_days`` days ahead on
    which ``allowed`` is true; the value is a ``date``."""
    day, reason = _resolve_date(text, today)
    if day is None:
        return _bad(reason)
    last = today + timedelta(days=horizon_days)
    if day < today:
        return _bad(f"{format_day(day, today)}已经过去了，请选择今天以后的日期。")
    if day == today and not allow_today:
        return _bad("今天已经不能预约了，请选择明天及以后的日期。")
    if day > last:
        return _bad(
            f"目前只能选择{horizon_days}天以内的日期，最晚到{format_day(last, today)}，请重新选择。"
        )
    if allowed(day):
        return _good(day)
    off = describe_day_off(day)
    if off:
        what = f"{format_day(day, today)}是{off}，不办理业务。"
    else:
        what = f"{format_day(day, today)}不能办理这项业务。"
    first = today if allow_today else today + timedelta(days=1)
    candidates = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    later = [d for d in candidates if d > day and allowed(d)]
    earlier = [d for d in candidates if d < day and allowed(d)]
    if later:
        what += f"最近可以办理的日期是{format_day(later[0], today)}。"
    elif earlier:
        what += f"可以选择{format_day(earlier[-1], today)}。"
    if not holiday_data_covers(day):
        what += f"（{day.year}年的放假安排还没有公布，以届时公布的为准。）"
    return _bad(what)


# --------------------------------------------------------------------------- choices

_PUNCTUATION = re.compile(r"[\s,.;:!?'\"“”‘’、，。；：！？（）()\[\]【】《》<>~～…-]+")
_OPTION_NUMBER = re.compile(
    r"(?:我)?(?:选|选择|要)?(?:第)?([0-9]{1,2}|[一二两三四五六七八九十]{1,2})"
    r"(?:个|项|种|条|号|类|个选项)?(?:吧|的)?"
)


def _choice_key(text: str) -> str:
    return _PUNCTUATION.sub("", normalize(text)).lower()


def _option_position(text: str) -> int | None:
    # NFKC has already turned ① ② ... into 1 2 ...
    match = _OPTION_NUMBER.fullmatch(text)
    if match is None:
        return None
    number = _small_number(match.group(1).replace("两", "二"))
    return number if number > 0 else None


def options_text(choices: Mapping[str, Sequence[str]]) -> str:
    return "；".join(f"{i}. {name}" for i, name in enumerate(choices, start=1))


def check_choice(text: str, choices: Mapping[str, Sequence[str]]) -> Check:
    """Map free text to one canonical option (a key of ``choices``) by its name, a synonym, or
    its position ("1", "第一个", "①")."""
    names = list(choices)
    listing = f"请从下面选一项（回复序号也可以）：{options_text(choices)}。"
    key = _choice_key(text)
    if not key:
        return _bad(listing)
    spellings = {
        name: [key for key in (_choice_key(s) for s in [name, *choices[name]]) if key]
        for name in names
    }
    exact = [name for name in names if key in spellings[name]]
    if len(exact) == 1:
        return _good(exact[0])
    position = _option_position(key)
    if position is not None:
        if position <= len(names):
            return _good(names[position - 1])
        return _bad(f"没有第{position}项。{listing}")
    # the longest synonym found inside the text decides
    best_length, best = 0, set[str]()
    for name in names:
        for spelling in spellings[name]:
            if spelling in key:
                if len(spelling) > best_length:
                    best_length, best = len(spelling), {name}
                elif len(spelling) == best_length:
                    best.add(name)
    if len(best) == 1:
        return _good(best.pop())
    if not best and len(key) >= 2:
        # a fragment of one option's wording ("长期" for "异地长期居住")
        partial = {name for name in names if any(key in s for s in spellings[name])}
        if len(partial) == 1:
            return _good(partial.pop())
    if best:
        return _bad(f"您的回答可能对应不止一项。{listing}")
    return _bad(f"没有对上选项。{listing}")


# --------------------------------------------------------------------------- yes / no

_YES_WORDS = frozenset(
    {"是", "是的", "对", "对的", "要", "需要", "好", "好的", "可以", "嗯", "嗯嗯", "行",
     "没问题", "没错", "不错", "确认", "确定", "同意", "yes", "y", "ok", "okay"}
)  # fmt: skip
_NO_WORDS = frozenset(
    {"不", "不用", "不要", "否", "不需要", "没有", "不是", "不对", "不行", "不可以", "没",
     "无", "算了", "不同意", "no", "n"}
)  # fmt: skip
_YES_LEADS = ("没问题", "没错", "是", "对", "要", "需要", "好", "可以", "嗯", "行", "确认", "确定")
_NO_LEADS = ("不", "没", "否", "别", "无需", "无")
_A_NOT_A = re.compile(r"(.)[不没]\1")
_FILLERS = "嗯呃额哦噢"


def check_yes_no(text: str) -> Check:
    """是/否 from free text; the value is True for yes and False for no."""
    key = _choice_key(text)
    for particle in ("啊", "吧", "呀", "哦", "的"):
        key = key.removesuffix(particle)
    core = key.lstrip(_FILLERS)  # "嗯，不用了" is a no
    if not core:
        return _good(True) if "嗯" in key else _bad("请回答“是”或“否”。")
    key = core
    if _A_NOT_A.search(key):  # 是不是 / 要不要 / 可不可以: a question back, not an answer
        return _bad("请直接回答“是”或“否”。")
    if key in _YES_WORDS:
        return _good(True)
    if key in _NO_WORDS:
        return _good(False)
    # longer replies: "没问题" and "没错" are yes, other 不/没 openings are no
    if key.startswith(("没问题", "没错", "不错")):
        return _good(True)
    if key.startswith(_NO_LEADS):
        return _good(False)
    if key.startswith(_YES_LEADS):
        return _good(True)
    return _bad("请回答“是”或“否”。")


# --------------------------------------------------------------------------- free text


def check_text(text: str, min_chars: int = 1, max_chars: int = 500) -> Check:
    """A free-text description of ``min_chars`` to ``max_chars`` characters (after stripping).

    The text is kept as typed (no NFKC), so Chinese punctuation stays full-width."""
    value = (text or "").strip()
    length = len(value)
    if length == 0:
        return _bad("请输入内容。")
    if length < min_chars:
        return _bad(f"请再多写几句，至少{min_chars}个字（现在是{length}个字）。")
    if length > max_chars:
        return _bad(f"内容太长了，最多{max_chars}个字（现在是{length}个字），请精简一下。")
    return _good(value)


# --------------------------------------------------------------------------- masking


def _mask_middle(value: str, keep_start: int, keep_end: int) -> str:
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[-keep_end:]


def mask_id(value: str) -> str:
    """ "110***********1234": the first 3 and last 4 characters of an ID number."""
    return _mask_middle(compact_number(value).upper(), 3, 4)


def mask_mobile(value: str) -> str:
    """ "139****5678"."""
    return _mask_middle(compact_number(value), 3, 4)


def mask_card(value: str) -> str:
    """Only the last 4 digits of a bank card: "************1111"."""
    return _mask_middle(compact_number(value), 0, 4)


# --------------------------------------------------------------------------- receipts

RECEIPT_PATTERN = re.compile(r"^YS-(\d{8})-(\d{6})$")
_LOOSE_RECEIPT = re.compile(r"YS[\s\-_]*(\d{8})[\s\-_]*(\d{6})", re.IGNORECASE)


def make_receipt(day: date, sequence: int) -> str:
    """ "YS-20261123-000123" for the 123rd filing on 23 November 2026."""
    if not 1 <= sequence <= 999_999:
        raise ValueError("sequence must be between 1 and 999999")
    return f"YS-{day:%Y%m%d}-{sequence:06d}"


def check_receipt(text: str) -> Check:
    """A receipt number "YS-20261123-000123"; lower case, missing hyphens and spaces are
    accepted and normalised."""
    match = _LOOSE_RECEIPT.fullmatch(normalize(text))
    if match is None:
        return _bad(
            "回执编号的格式是“YS-年月日-6位序号”，例如 YS-20261123-000123，请核对后重新输入。"
        )
    stamp, sequence = match.groups()
    try:
        date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:]))
    except ValueError:
        return _bad("回执编号中的日期部分不对，请对照回执重新输入。")
    if int(sequence) == 0:
        return _bad("回执编号最后6位序号不对，请对照回执重新输入。")
    return _good(f"YS-{stamp}-{sequence}")

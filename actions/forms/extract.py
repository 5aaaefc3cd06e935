"""Take every form slot a citizen gives in one message.

Citizens often answer several questions at once ("我叫张三电话13912345678"). ``extract_slots``
finds the values it can vouch for and leaves the rest to the form's questions:

* numbers are read as whole runs of digits (spaces and dashes between groups allowed), never as
  a piece of a longer number, so a mobile number is not taken from inside an ID or a card;
* each value must pass its validator (check digit, Luhn, allocated mobile segment ...);
* what has been recognised is masked before the next kind of slot is looked for.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date

from actions.forms.validators import (
    CN_NUMERAL_CHARS,
    PROVINCE_CODES,
    check_bank_card,
    check_id_number,
    check_mobile,
    check_money,
    check_name,
    check_receipt,
    locate_date,
    normalize,
)

logger = logging.getLogger(__name__)

SLOT_NAMES = ("id_number", "mobile", "bank_card", "name", "receipt", "date", "amount", "district")

# The districts of 示例市 and the short forms a citizen may use for them. "中心" alone is not
# accepted: it is part of too many words (服务中心, 市中心 ...).
DISTRICTS = ("中心区", "东湖区", "西山区", "南港区", "北城区", "高新区")
_SHORT_DISTRICTS = {name[:-1]: name for name in DISTRICTS if name != "中心区"}
_MASK = "#"

# ---------------------------------------------------------------- runs of digits

# A run: digits with at most one space or dash between groups, maybe ending in X (ID numbers).
# The possessive *+ keeps a run from giving digits back, so a run never ends inside a number;
# after an X the next run may start at once ("...002X13912345678").
_RUN = re.compile(r"(?<![0-9])\+?[0-9](?:[ \-]?[0-9])*+(?:[ \-]?[Xx](?![A-Za-z]))?")
_CHUNK = re.compile(r"[0-9]+[Xx]?|[Xx]")
# How people group a mobile number: 13912345678, 139 1234 5678, 139 12345678, 1391234 5678.
_MOBILE_GROUPINGS = frozenset({(11,), (3, 4, 4), (3, 8), (7, 4), (13,)})


@dataclass(frozen=True)
class _Chunk:
    text: str
    start: int
    end: int


def _looks_like_id(value: str) -> bool:
    """18 characters with a real region and birth date: an ID number, even if mistyped."""
    if len(value) != 18 or value[:2] not in PROVINCE_CODES:
        return False
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return birth.year >= 1900


def _card_grouping(lengths: list[int]) -> bool:
    # one block, blocks of four (the last may be shorter), or 6 + the rest
    return (
        len(lengths) == 1
        or (all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 4)
        or (len(lengths) == 2 and lengths[0] == 6)
    )


def _mobile_grouping(lengths: list[int]) -> bool:
    if len(lengths) > 1 and lengths[0] == 2:  # "86 139 1234 5678"
        lengths = lengths[1:]
    return tuple(lengths) in _MOBILE_GROUPINGS


def _classify(chunks: list[_Chunk], plus: bool, today: date) -> tuple[str, str] | None:
    joined = "".join(c.text for c in chunks).upper()
    lengths = [len(c.text) for c in chunks]
    if len(joined) == 18:
        checked = check_id_number(joined, today=today)
        if checked.ok:
            return "id_number", str(checked.value)
        if _looks_like_id(joined) or joined.endswith("X"):
            return None  # a mistyped ID is not a card, and holds no mobile
    if 16 <= len(joined) <= 19 and joined.isdigit() and _card_grouping(lengths):
        checked = check_bank_card(joined)
        if checked.ok:
            return "bank_card", str(checked.value)
        return None
    if joined.isdigit() and _mobile_grouping(lengths):
        checked = check_mobile(("+" if plus else "") + joined)
        if checked.ok:
            return "mobile", str(checked.value)
    return None


def _numbers(text: str, today: date) -> tuple[dict[str, str], list[tuple[int, int]]]:
    found: dict[str, str] = {}
    spans: list[tuple[int, int]] = []
    for run in _RUN.finditer(text):
        chunks = [
            _Chunk(m.group(), run.start() + m.start(), run.start() + m.end())
            for m in _CHUNK.finditer(run.group())
        ]
        plus = run.group().startswith("+")
        i = 0
        while i < len(chunks):
            for j in range(len(chunks), i, -1):
                result = _classify(chunks[i:j], plus and i == 0, today)
                if result is not None:
                    slot, value = result
                    if slot in found and found[slot] != value:
                        logger.debug("second %s in one message ignored", slot)
                    found.setdefault(slot, value)
                    spans.append((run.start() if i == 0 else chunks[i].start, chunks[j - 1].end))
                    i = j
                    break
            else:
                i += 1
    return found, spans


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = _MASK * (end - start)
    return "".join(chars)


# ---------------------------------------------------------------- receipts

_RECEIPT = re.compile(r"(?<![A-Za-z0-9])YS[\s\-_]*\d{8}[\s\-_]*\d{6}(?!\d)", re.IGNORECASE)


def _receipt(text: str) -> tuple[str | None, list[tuple[int, int]]]:
    for match in _RECEIPT.finditer(text):
        checked = check_receipt(match.group())
        if checked.ok:
            return str(checked.value), [match.span()]
    return None, []


# ---------------------------------------------------------------- amounts

_CN_AMOUNT = rf"[{CN_NUMERAL_CHARS}]+(?:点[零〇一二三四五六七八九]+)?"
_ARABIC_AMOUNT = r"(?<![\d.,])¥?\s*(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?(?:\s*万)?"
_AMOUNT = rf"(?P<amount>{_ARABIC_AMOUNT}|{_CN_AMOUNT})"
_AMOUNT_AFTER_WORD = re.compile(
    rf"(?:租金|房租|月租)(?:是|为|每月|每个月|一个月|大概|大约|约|差不多|:|\s)*{_AMOUNT}"
    r"(?!\d)"
)
# not "一块儿" / "一块去" (together)
_AMOUNT_BEFORE_UNIT = re.compile(rf"{_AMOUNT}\s*(?:元|块钱|块|圆)(?![儿去来走办过])")


def _amount(text: str) -> tuple[str | None, list[tuple[int, int]]]:
    for pattern in (_AMOUNT_AFTER_WORD, _AMOUNT_BEFORE_UNIT):
        for match in pattern.finditer(text):
            checked = check_money(match.group("amount"))
            if checked.ok:
                return str(checked.value), [match.span()]
    return None, []


# ---------------------------------------------------------------- names

_NAME_TRIGGER = re.compile(
    r"(?P<trigger>我的名字叫|我的名字是|我的名字|名字叫|名字是|我叫|姓名是|姓名|本人是|本人|我是)"
    r"[:\s]*(?P<run>[\u3400-\u9fff·]+)"
)
# After these the words that follow are less surely a name, so they must start with a common
# surname (the most common 100 or so single-character surnames, plus compound ones).
_WEAK_TRIGGERS = frozenset({"我是", "本人", "本人是"})
COMMON_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚"
    "邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘"
    "祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾"
    "尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师"
    "和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
COMPOUND_SURNAMES = frozenset(
    {"欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文",
     "司徒", "夏侯", "令狐", "端木", "独孤", "南宫", "西门", "轩辕", "呼延", "申屠", "澹台"}
)  # fmt: skip
# Words that end a name when they follow it directly ("我叫张三电话..."), or show that what
# follows 我是 is not a name at all ("我是高新区的", "我是李老师").
_STOP_WORDS = (
    "电话", "手机", "号码", "身份证", "证件", "联系", "卡号", "银行", "账号", "公积金", "回执",
    "今年", "住在", "住址", "家住", "来自", "现在", "已经", "需要", "想要", "申请", "预约",
    "办理", "咨询", "明天", "后天", "今天", "下周", "星期", "礼拜", "先生", "女士", "老师",
    "师傅", "同志", "学生", "人员", "职工", "员工", "居民", "市民", "本地", "外地", "退休",
    "租金", "房租", "月租", *DISTRICTS, *_SHORT_DISTRICTS, "中心",
)  # fmt: skip
# Single characters that rarely occur in names but often right after one ("我叫张三想办...").
_STOP_CHARS = frozenset("想要的在是去来住办和跟找从也就还已今现需请男女岁等给把帮打")
NAME_MAX_CJK = 4


def _cut_name(run: str) -> str:
    cut = len(run)
    for word in _STOP_WORDS:
        position = run.find(word)
        if position != -1:
            cut = min(cut, position)
    for position in range(2, cut):
        if run[position] in _STOP_CHARS:
            cut = position
            break
    return run[:cut]


def _starts_with_surname(candidate: str) -> bool:
    return candidate[:1] in COMMON_SURNAMES or candidate[:2] in COMPOUND_SURNAMES


def _name(text: str) -> str | None:
    for match in _NAME_TRIGGER.finditer(text):
        candidate = _cut_name(match.group("run")).strip("·")
        plain_length = len(candidate.replace("·", ""))
        if "·" not in candidate and not 2 <= plain_length <= NAME_MAX_CJK:
            continue
        if match.group("trigger") in _WEAK_TRIGGERS and not _starts_with_surname(candidate):
            continue
        checked = check_name(candidate)
        if checked.ok:
            return str(checked.value)
    return None


# ---------------------------------------------------------------- districts

_DISTRICT = re.compile(
    "|".join(
        [*(re.escape(name) for name in DISTRICTS)]
        + [rf"{re.escape(short)}(?=$|[^\u3400-\u9fff]|的|那|这|附近|一带|片区|街道|政务)"
           for short in _SHORT_DISTRICTS]
    )
)  # fmt: skip


def _district(text: str) -> str | None:
    found: list[str] = []
    for match in _DISTRICT.finditer(text):
        word = match.group()
        if word == "中心区" and text[match.end() : match.end() + 1] == "域":
            continue  # 市中心区域
        name = word if word in DISTRICTS else _SHORT_DISTRICTS[word]
        if name not in found:
            found.append(name)
    if len(found) > 1:
        logger.debug("several districts in one message, none taken: %s", found)
        return None
    return found[0] if found else None


# ---------------------------------------------------------------- all together


def extract_slots(text: str, today: date | None = None) -> dict[str, str]:
    """Every slot found in one message, keyed by slot name (see ``SLOT_NAMES``).

    Values are normalised (ID with upper-case X, mobile without +86, card as digits only,
    receipt hyphenated, amount as "2500.00", district by its full name), except ``date``, which
    is the date phrase as written ("下周一") because its meaning depends on the day of the
    conversation: resolve it with ``check_date_in``. ``today`` is only used to reject ID numbers
    whose birth date is in the future.
    """
    today = today or date.today()
    slots: dict[str, str] = {}
    working = normalize(text)

    receipt, spans = _receipt(working)
    if receipt:
        slots["receipt"] = receipt
    working = _mask(working, spans)

    numbers, spans = _numbers(working, today)
    slots.update(numbers)
    working = _mask(working, spans)

    found_date = locate_date(working)
    if found_date is not None:
        slots["date"] = found_date.group().strip()
        working = _mask(working, [found_date.span()])

    amount, spans = _amount(working)
    if amount is not None:
        slots["amount"] = amount
    working = _mask(working, spans)

    name = _name(working)
    if name is not None:
        slots["name"] = name

    district = _district(working)
    if district is not None:
        slots["district"] = district
    return {slot: slots[slot] for slot in SLOT_NAMES if slot in slots}

"""The five guided-filing forms: their slots, questions (with examples), purposes and checks.

A slot's check takes the citizen's text and the filing context and returns a validators.Check;
the engine (actions/forms/engine.py) asks, validates, explains, edits, confirms and submits.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from actions.forms import validators as v
from actions.forms.extract import DISTRICTS
from retrieval.knowledge import KNOWLEDGE_DIR, read_yaml
from retrieval.schema import HallsFile
from yishi.appointments import TIME_SLOTS

# 示例市's rule for rent withdrawals without a registered contract (knowledge/guides/fund_withdraw_rent.yaml)
RENT_CAP_UNREGISTERED = Decimal("1500")
_SLOT_WORDS = {
    "09:00-10:00": ["九点", "9点", "9:00", "早上", "上午九点", "上午第一个"],
    "10:00-11:00": ["十点", "10点", "10:00"],
    "11:00-12:00": ["十一点", "11点", "11:00"],
    "13:30-14:30": ["一点半", "1点半", "13:30", "下午一点半", "下午第一个"],
    "14:30-15:30": ["两点半", "2点半", "14:30", "下午两点半"],
    "15:30-16:30": ["三点半", "3点半", "15:30", "下午三点半"],
}
FILING_TYPES = {
    "异地长期居住": [
        "长期居住",
        "异地安置",
        "常驻异地",
        "退休异地",
        "长期在外地",
        "异地工作",
        "跟子女",
    ],
    "临时外出就医": ["临时外出", "临时", "出差", "旅游", "探亲", "短期"],
    "转诊转院": ["转诊", "转院", "医院转", "开了转诊"],
}
CATEGORIES = {
    "投诉": ["投诉", "不满意", "反映问题"],
    "举报": ["举报", "检举", "揭发"],
    "求助": ["求助", "帮忙", "救助", "帮帮"],
    "建议": ["建议", "意见", "提议"],
    "咨询": ["咨询", "问问", "了解一下"],
}
PROVINCES = (
    "北京", "天津", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "上海", "江苏", "浙江", "安徽",
    "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "广西", "海南", "重庆", "四川", "贵州",
    "云南", "西藏", "陕西", "甘肃", "青海", "宁夏", "新疆", "香港", "澳门", "台湾",
)  # fmt: skip


@dataclass
class Context:
    """What a check may need besides the text: today, the values so far, slot availability."""

    today: dt.date
    values: dict[str, Any]
    free_places: Callable[[str, str], dict[str, int]] | None = None


@dataclass(frozen=True)
class SlotSpec:
    name: str
    label: str
    prompt: str
    purpose: str
    check: Callable[[str, Context], v.Check]
    display: Callable[[Any], str] = str
    options: Callable[[Context], list[tuple[str, str]]] | None = None  # (title, payload)


@dataclass(frozen=True)
class FormSpec:
    form_id: str
    title: str
    intent: str
    slots: tuple[SlotSpec, ...]
    confirm: bool = True
    # maps extract_slots() keys to this form's slot names
    extract_map: dict[str, str] = field(default_factory=dict)
    skip: Callable[[dict[str, Any]], set[str]] = lambda values: set()

    @property
    def rasa_form(self) -> str:
        return f"{self.form_id}_form"

    def slot(self, name: str) -> SlotSpec:
        return next(s for s in self.slots if s.name == name)

    def required(self, values: dict[str, Any]) -> list[str]:
        skipped = self.skip(values)
        names = [s.name for s in self.slots if s.name not in skipped]
        return [*names, "confirm"] if self.confirm else names


# -- halls ----------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def halls() -> dict[str, Any]:
    return {
        h.id: h for h in HallsFile.model_validate(read_yaml(KNOWLEDGE_DIR / "halls.yaml")).halls
    }


def halls_for(service_id: str, district: str | None = None) -> list[Any]:
    """Halls that handle the service; those in (then nearest to) the named district first."""
    found = [h for h in halls().values() if service_id in h.services]
    if district:
        in_district = [h for h in found if h.district == district]
        if in_district:
            lat = sum(h.lat for h in in_district) / len(in_district)
            lon = sum(h.lon for h in in_district) / len(in_district)
            found.sort(key=lambda h: (h.district != district, math.hypot(h.lat - lat, h.lon - lon)))
    return found


# -- checks ----------------------------------------------------------------------------------------
def _hall_check(text: str, ctx: Context) -> v.Check:
    district = next((d for d in DISTRICTS if d in text or d.removesuffix("区") in text), None)
    offered = halls_for("id_card_lost", district or ctx.values.get("district"))
    position = v.check_choice(text, {h.id: [h.name] for h in offered})
    if position.ok:
        return position
    for hall in offered:
        if hall.name in text or hall.name.removeprefix("示例市") in text:
            return v.Check(True, hall.id, "")
    if district:
        return v.Check(True, offered[0].id, "")
    names = "、".join(f"{i}. {h.name}" for i, h in enumerate(offered, 1))
    return v.Check(False, None, f"没有找到这个办理点。可以选择：{names}，回复序号或区名即可。")


def _hall_options(ctx: Context) -> list[tuple[str, str]]:
    return [
        (f"{h.name}（{h.district}）", h.name)
        for h in halls_for("id_card_lost", ctx.values.get("district"))[:5]
    ]


def _date_check(text: str, ctx: Context) -> v.Check:
    result = v.check_date_in(text, ctx.today)
    if result.ok and isinstance(result.value, dt.date):
        return v.Check(True, result.value.isoformat(), "")
    return result


def _date_options(ctx: Context) -> list[tuple[str, str]]:
    return [
        (v.format_day(day, ctx.today), day.isoformat()) for day in v.next_working_days(ctx.today, 5)
    ]


def _slot_check(text: str, ctx: Context) -> v.Check:
    chosen = v.check_choice(text, {slot: [slot, *_SLOT_WORDS[slot]] for slot in TIME_SLOTS})
    if not chosen.ok:
        return chosen
    hall, day = ctx.values.get("hall"), ctx.values.get("appt_date")
    if ctx.free_places and hall and day:
        places = ctx.free_places(hall, day)
        if places and places.get(str(chosen.value), 0) <= 0:
            free = [slot for slot in TIME_SLOTS if places.get(slot, 0) > 0]
            if not free:
                return v.Check(
                    False, None, "这一天的时段都约满了，请换一天（可以说“改一下日期”）。"
                )
            return v.Check(
                False,
                None,
                f"{chosen.value} 这个时段已约满，还有空位的时段：{'、'.join(free[:3])}。",
            )
    return chosen


def _slot_options(ctx: Context) -> list[tuple[str, str]]:
    hall, day = ctx.values.get("hall"), ctx.values.get("appt_date")
    places = ctx.free_places(hall, day) if (ctx.free_places and hall and day) else {}
    if not places:  # availability unknown: offer every slot, the submission checks capacity
        return [(slot, slot) for slot in TIME_SLOTS]
    return [
        (f"{slot}（余{places[slot]}个）", slot) for slot in TIME_SLOTS if places.get(slot, 0) > 0
    ]


def _yes_no(
    yes_words: tuple[str, ...], no_words: tuple[str, ...]
) -> Callable[[str, Context], v.Check]:
    def check(text: str, ctx: Context) -> v.Check:
        if any(w in text for w in no_words):
            return v.Check(True, False, "")
        if any(w in text for w in yes_words):
            return v.Check(True, True, "")
        return v.check_yes_no(text)

    return check


_RENT_WORDS = re.compile(r"^(?:每个?月|一个月|月租金?|房租|租金|月付)*(?:是|为|大概|大约|[:：])?")


def _rent_check(text: str, ctx: Context) -> v.Check:
    return v.check_money(_RENT_WORDS.sub("", text.strip()), 1, 100000)


def _place_check(text: str, ctx: Context) -> v.Check:
    place = text.strip().strip("。.，,")
    if 2 <= len(place) <= 30 and (
        any(p in place for p in PROVINCES) or place.endswith(("市", "州", "县", "区", "盟"))
    ):
        return v.Check(True, place, "")
    return v.Check(False, None, "请说出省份和城市，例如“浙江省杭州市”或“广东广州”。")


def _start_date_check(text: str, ctx: Context) -> v.Check:
    result = v.check_date_in(
        text, ctx.today, allowed=lambda day: True, horizon_days=365, allow_today=True
    )
    if result.ok and isinstance(result.value, dt.date):
        return v.Check(True, result.value.isoformat(), "")
    return result


def _last4_check(text: str, ctx: Context) -> v.Check:
    digits = v.compact_number(text)
    digits = "".join(ch for ch in digits if ch.isdigit())
    if len(digits) == 4:
        return v.Check(True, digits, "")
    if len(digits) == 11:
        return v.Check(True, digits[-4:], "")
    return v.Check(False, None, "请输入登记时所留手机号的后4位数字，例如“5678”。")


def _as_check(fn: Callable[[str], v.Check]) -> Callable[[str, Context], v.Check]:
    return lambda text, ctx: fn(text)


def _yes_text(value: Any) -> str:
    return "是" if value else "否"


def _choice_slot(
    name: str, label: str, prompt: str, purpose: str, choices: dict[str, list[str]]
) -> SlotSpec:
    """A slot answered by one of a few options (by name, synonym or number), offered as buttons."""
    return SlotSpec(
        name, label, prompt, purpose,
        lambda text, ctx: v.check_choice(text, choices),
        str,
        lambda ctx: [(option, option) for option in choices],
    )  # fmt: skip


# -- slots -----------------------------------------------------------------------------------------
NAME = SlotSpec(
    "name",
    "姓名",
    "请问您的姓名是？（例如：张三）",
    "用于核对身份和办理登记，须与身份证上的姓名一致。",
    _as_check(v.check_name),
)
ID_NUMBER = SlotSpec(
    "id_number", "身份证号", "请输入您的18位居民身份证号（例如：110105199001011234，最后一位可能是X）。",
    "身份证号用于核验身份和查询您的档案，只用于本次办理，展示时会隐藏中间位数。",
    lambda text, ctx: v.check_id_number(text, ctx.today), v.mask_id,
)  # fmt: skip
MOBILE = SlotSpec(
    "mobile", "手机号", "请输入您的11位手机号（例如：13912345678），用于接收办理通知。",
    "手机号用于发送受理编号和办理结果短信，查询进度时也要用到手机号后4位。",
    _as_check(v.check_mobile), v.mask_mobile,
)  # fmt: skip
CONFIRM_LABEL = "确认"

FORMS: dict[str, FormSpec] = {}


def _register(spec: FormSpec) -> None:
    FORMS[spec.form_id] = spec


_register(
    FormSpec(
        form_id="id_card_lost_appointment",
        title="预约补领居民身份证",
        intent="apply_id_card_appointment",
        slots=(
            NAME,
            ID_NUMBER,
            MOBILE,
            SlotSpec(
                "hall",
                "办理地点",
                "请选择办理地点，回复序号、名称或您所在的区（例如：东湖区）：",
                "补领要本人到窗口采集照片和指纹，需要先确定去哪个大厅。",
                _hall_check,
                lambda hid: halls()[hid].name if hid in halls() else str(hid),
                _hall_options,
            ),
            SlotSpec(
                "appt_date",
                "预约日期",
                "请选择预约日期（未来14天内的工作日，例如：明天、下周一、12月3日）：",
                "大厅按日期安排窗口和人手，预约后可减少排队。",
                _date_check,
                str,
                _date_options,
            ),
            SlotSpec(
                "time_slot",
                "预约时段",
                "请选择时段（回复序号或时间，例如：上午9点）：",
                "每个时段接待人数有限，选好时段按时到达即可。",
                _slot_check,
                str,
                _slot_options,
            ),
        ),  # fmt: skip
        extract_map={
            "name": "name",
            "id_number": "id_number",
            "mobile": "mobile",
            "date": "appt_date",
            "district": "district",
        },
    )
)
_register(
    FormSpec(
        form_id="fund_withdraw_rent_application",
        title="住房公积金租房提取申请",
        intent="apply_fund_rent",
        slots=(
            NAME,
            ID_NUMBER,
            SlotSpec(
                "fund_account",
                "公积金账号",
                "请输入您的12位住房公积金个人账号（例如：320100123456，可在示例办App“公积金”里查看）：",
                "提取要从您本人的公积金账户中支取，需要账号核对。",
                _as_check(v.check_fund_account),
                v.mask_card,  # shown like a bank card: the last 4 digits only
            ),
            SlotSpec(
                "rent_registered",
                "租赁合同已备案",
                "您的房屋租赁合同办理了登记备案吗？请回复“已备案”或“未备案”。",
                "已备案的按合同租金提取，未备案的按每人每月1500元限额提取，所需材料也不同。",
                _yes_no(
                    ("已备案", "备案了", "有备案", "登记了"),
                    ("未备案", "没备案", "没有备案", "没登记"),
                ),
                _yes_text,
            ),
            SlotSpec(
                "monthly_rent",
                "月租金（元）",
                "请输入每月房租金额（例如：2500元）：",
                "提取金额按月租金和限额计算。",
                _rent_check,
                lambda x: f"{x}元",
            ),
            SlotSpec(
                "bank_card",
                "收款银行卡号",
                "请输入本人名下的银行卡号（16-19位，例如：6222020200112233445），提取款将转入这张卡：",
                "提取的钱只能转入申请人本人的银行卡。",
                _as_check(v.check_bank_card),
                v.mask_card,
            ),
            MOBILE,
        ),  # fmt: skip
        extract_map={
            "name": "name",
            "id_number": "id_number",
            "mobile": "mobile",
            "bank_card": "bank_card",
            "amount": "monthly_rent",
        },
    )
)
_register(
    FormSpec(
        form_id="medical_remote_filing_application",
        title="异地就医备案申请",
        intent="apply_medical_filing",
        slots=(
            NAME,
            ID_NUMBER,
            SlotSpec(
                "insured_place",
                "参保地",
                "请问您在哪里参加医保？（例如：示例市，或“浙江省杭州市”）",
                "备案由参保地医保部门办理，需要确认您的参保地。",
                _place_check,
            ),
            SlotSpec(
                "destination",
                "就医地",
                "您要去哪个省市就医或居住？（例如：广东省广州市）",
                "备案后可在就医地的定点医院直接结算。",
                _place_check,
            ),
            _choice_slot(
                "filing_type",
                "备案类型",
                "请选择备案类型（回复序号或名称）：",
                "不同类型的材料、有效期和报销比例不同。",
                FILING_TYPES,
            ),
            SlotSpec(
                "start_date",
                "开始日期",
                "备案从哪天开始？（例如：今天、12月1日）",
                "备案生效后发生的费用才能直接结算。",
                _start_date_check,
            ),
            MOBILE,
        ),  # fmt: skip
        extract_map={
            "name": "name",
            "id_number": "id_number",
            "mobile": "mobile",
            "date": "start_date",
        },
    )
)
_register(
    FormSpec(
        form_id="complaint_12345_ticket",
        title="12345诉求登记",
        intent="apply_complaint",
        slots=(
            _choice_slot(
                "category",
                "诉求类别",
                "请选择诉求类别（回复序号或名称）：",
                "不同类别的办理时限和承办部门不同。",
                CATEGORIES,
            ),
            _choice_slot(
                "district",
                "所在区",
                "事情发生在哪个区？（回复序号或区名）",
                "12345按属地把诉求派给所在区的部门办理。",
                {d: [d, d.removesuffix("区")] for d in DISTRICTS},
            ),
            SlotSpec(
                "address",
                "具体地址",
                "具体地址是？（例如：中心区人民路25号小区东门）",
                "承办部门要到现场核实处理。",
                lambda text, ctx: v.check_text(text, 4, 100),
            ),
            SlotSpec(
                "description",
                "诉求内容",
                "请描述具体情况（至少10个字，例如：小区门口路灯坏了一个多月，晚上很黑）：",
                "描述越具体，承办部门越能准确处理。",
                lambda text, ctx: v.check_text(text, 10, 500),
            ),
            SlotSpec(
                "anonymous",
                "匿名",
                "需要匿名吗？匿名后不能回访告知处理结果。请回复“匿名”或“不匿名”。",
                "匿名的诉求照样办理，但无法电话回访您。",
                _yes_no(("匿名", "要匿名", "需要匿名"), ("不匿名", "不用匿名", "实名", "不需要")),
                _yes_text,
            ),
            SlotSpec(
                "contact_name",
                "联系人",
                "请问怎么称呼您？（例如：张先生，或您的姓名）",
                "回访时称呼您，并核对诉求人。",
                _as_check(v.check_name),
            ),
            MOBILE,
            SlotSpec(
                "callback",
                "需要回访",
                "办结后需要电话回访告知您结果吗？请回复“需要”或“不需要”。",
                "回访用于告知处理结果和听取您的评价。",
                _yes_no(("需要", "要回访", "回电"), ("不需要", "不用", "不要")),
                _yes_text,
            ),
        ),  # fmt: skip
        extract_map={"mobile": "mobile", "district": "district"},
        skip=lambda values: (
            {"contact_name", "mobile", "callback"} if values.get("anonymous") is True else set()
        ),
    )
)
_register(
    FormSpec(
        form_id="service_progress_query",
        title="办件进度查询",
        intent="query_progress",
        slots=(
            SlotSpec(
                "receipt",
                "受理编号",
                "请输入受理编号（例如：YS-20261123-000123）：",
                "受理编号是办件的唯一编号，提交时已发给您。",
                _as_check(v.check_receipt),
            ),
            SlotSpec(
                "mobile_last4",
                "手机号后4位",
                "请输入办理时所留手机号的后4位（例如：5678）：",
                "核对手机号后4位，防止他人查看您的办件信息。",
                _last4_check,
            ),
        ),  # fmt: skip
        confirm=False,
        extract_map={"receipt": "receipt"},
    )
)

FORM_BY_INTENT = {spec.intent: spec for spec in FORMS.values()}
FORM_BY_RASA_NAME = {spec.rasa_form: spec for spec in FORMS.values()}
ALL_SLOTS = sorted({s.name for spec in FORMS.values() for s in spec.slots} | {"confirm"})
# the service whose knowledge answers get a button to start the form
FORM_FOR_SERVICE = {
    "id_card_lost": ("apply_id_card_appointment", "在线预约补领"),
    "fund_withdraw_rent": ("apply_fund_rent", "在线申请提取"),
    "medical_remote_filing": ("apply_medical_filing", "在线备案"),
    "complaint_12345": ("apply_complaint", "在线登记诉求"),
    "service_progress": ("query_progress", "查询办件进度"),
}

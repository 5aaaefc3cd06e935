"""The shape of everything under knowledge/: service guides, halls, curated FAQ, eval sets.

`python -m retrieval.validate` (make validate-kb) checks every file against these models and
names the file and the field that is wrong.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Aspect = Literal[
    "conditions", "materials", "process", "time_limit", "fee", "location", "online", "other"
]
ASPECTS: tuple[str, ...] = (
    "conditions", "materials", "process", "time_limit", "fee", "location", "online", "other"
)  # fmt: skip
ASPECT_NAMES: dict[str, str] = {
    "conditions": "办理条件",
    "materials": "所需材料",
    "process": "办理流程",
    "time_limit": "办理时限",
    "fee": "收费标准",
    "location": "办理地点",
    "online": "网上办理",
    "other": "常见问题",
}
SERVICE_ID_PATTERN = r"^[a-z][a-z0-9_]{1,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Material(_Strict):
    name: str = Field(min_length=2)
    form: Literal["原件", "复印件", "原件及复印件", "电子证照", "电子或纸质"] = "原件"
    count: int = Field(1, ge=1, le=20)
    issuer: str = Field(min_length=2, description="who issues it (申请人自备, 公安机关…)")
    required: bool = True
    note: str | None = None


class TimeLimit(_Strict):
    legal: str = Field(min_length=2, description="法定时限, e.g. 60日")
    promised: str = Field(min_length=2, description="承诺时限, e.g. 15个工作日")
    note: str | None = None


class Fee(_Strict):
    free: bool
    amount: str | None = Field(None, description="e.g. 40元; null when free")
    text: str = Field(min_length=2, description="the sentence a citizen reads")
    basis: str = Field(min_length=4, description="the document that sets the fee (or exempts)")

    @field_validator("amount")
    @classmethod
    def _amount_has_unit(cls, value: str | None) -> str | None:
        if value is not None and "元" not in value:
            raise ValueError("amount must state the unit 元")
        return value


class Location(_Strict):
    halls: list[str] = Field(min_length=1, description="hall ids from knowledge/halls.yaml")
    window: str | None = Field(None, description="窗口 / 区域")
    hours: str = Field(min_length=4)
    note: str | None = None


class OnlineChannel(_Strict):
    name: Literal["示例市政务服务网", "示例办App", "微信", "国家政务服务平台", "其他"]
    path: str = Field(min_length=2, description="how to get there, e.g. 首页 > 公安 > 身份证补领")


class Online(_Strict):
    available: bool
    scope: Literal["全程网办", "网上预约", "网上申请后现场核验", "不支持"]
    channels: list[OnlineChannel] = Field(default_factory=list)
    note: str | None = None


MainAspect = Literal[
    "conditions", "materials", "process", "time_limit", "fee", "location", "online"
]


class QA(_Strict):
    q: str = Field(min_length=4)
    a: str = Field(min_length=4)
    phrasings: list[str] = Field(default_factory=list, description="other ways to ask q")
    aspect: MainAspect | None = Field(
        None,
        description="the main aspect this Q&A elaborates (代办 → conditions, 登报 → materials…), "
        "if any: a question about that aspect is also answered by it",
    )


class Questions(_Strict):
    """Extra ways citizens ask about each aspect; the index adds them to that aspect's document."""

    conditions: list[str] = Field(default_factory=list)
    materials: list[str] = Field(default_factory=list)
    process: list[str] = Field(default_factory=list)
    time_limit: list[str] = Field(default_factory=list)
    fee: list[str] = Field(default_factory=list)
    location: list[str] = Field(default_factory=list)
    online: list[str] = Field(default_factory=list)


class Guide(_Strict):
    service_id: str = Field(pattern=SERVICE_ID_PATTERN)
    name: str = Field(min_length=2)
    category: str = Field(min_length=2)
    version: str = Field(pattern=r"^\d{4}\.\d+$", description="e.g. 2026.1")
    effective_date: dt.date
    department: str = Field(min_length=2)
    summary: str = Field(min_length=10)
    keywords: list[str] = Field(min_length=3, description="colloquial names and synonyms")
    conditions: list[str] = Field(min_length=1)
    materials: list[Material] = Field(min_length=1)
    process: list[str] = Field(min_length=2)
    time_limit: TimeLimit
    fee: Fee
    location: Location
    online: Online
    hotline: str = Field(min_length=5)
    basis: list[str] = Field(min_length=1, description="legal basis: laws, regulations, notices")
    questions: Questions = Field(default_factory=Questions)
    faq: list[QA] = Field(min_length=3, max_length=8)


class Hall(_Strict):
    id: str = Field(pattern=SERVICE_ID_PATTERN)
    name: str = Field(min_length=4)
    district: str = Field(min_length=2)
    address: str = Field(min_length=6)
    hours: str = Field(min_length=4)
    phone: str = Field(min_length=7)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    services: list[str] = Field(min_length=1)
    note: str | None = None


class HallsFile(_Strict):
    halls: list[Hall] = Field(min_length=6)


class FaqEntry(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{1,80}$")
    question: str = Field(min_length=4)
    answer: str = Field(min_length=4)
    phrasings: list[str] = Field(default_factory=list)
    service_id: str | None = None
    aspect: Aspect | None = None
    department: str | None = None
    source: str = Field("curated", description="curated, or the file an import came from")
    version: str = "1"
    effective_date: dt.date | None = None


class FaqFile(_Strict):
    entries: list[FaqEntry]


class EvalQuestion(_Strict):
    q: str = Field(min_length=2)
    service_id: str | None = Field(None, description="null for out-of-scope questions")
    aspect: Aspect | None = None
    split: Literal["dev", "test"]


class EvalFile(_Strict):
    questions: list[EvalQuestion]

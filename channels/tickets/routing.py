"""Which department handles a 12345 ticket, and in how many working days (派单规则).

The rules are data (knowledge/tickets.yaml, documented there) so that the hotline office can
change a keyword or a time limit without touching code. In short, first that applies:

1. the ticket's service (``service_id``): the first department named in its guide;
2. the first keyword rule, in file order, with a keyword in the ticket text;
3. the category's default department.

For categories marked ``district_level`` (投诉, 求助: matters handled on the spot) a known
district turns a rule's or the category's department into the district's own office
("东湖区城市管理局"); the guide's department is never changed.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from retrieval.knowledge import KNOWLEDGE_DIR, parse_file

logger = logging.getLogger(__name__)

TICKET_CATEGORIES = ("投诉", "举报", "求助", "建议", "咨询")
ROUTING_FILE = KNOWLEDGE_DIR / "tickets.yaml"
# a guide's `department` often lists several offices: the first one, before these, is used
_DEPARTMENT_END = re.compile(r"[（(，,；;、]")


def _check_template(value: str) -> str:
    if "{district}" not in value:
        raise ValueError("must contain {district}")
    try:
        value.format(district="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError("only {district} may be written in braces") from exc
    return value


# "{district}城市管理局": {district} becomes the ticket's district
DistrictTemplate = Annotated[str, AfterValidator(_check_template)]


class CategoryRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    time_limit_days: int = Field(ge=1, le=60)
    department: str = Field(min_length=2)
    district_department: DistrictTemplate | None = None
    district_level: bool = False


class KeywordRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    keywords: list[str] = Field(min_length=1)
    department: str = Field(min_length=2)
    district_department: DistrictTemplate | None = None

    @field_validator("keywords")
    @classmethod
    def _keywords_not_blank(cls, value: list[str]) -> list[str]:
        cleaned = [unicodedata.normalize("NFKC", k).strip().lower() for k in value]
        if any(not k for k in cleaned):
            raise ValueError("a keyword is empty")
        return cleaned


class TicketRouting(BaseModel):
    """knowledge/tickets.yaml."""

    model_config = ConfigDict(extra="forbid")

    version: str
    districts: list[str] = Field(min_length=1)
    services_without_department: list[str] = Field(default_factory=list)
    categories: dict[str, CategoryRule]
    rules: list[KeywordRule]

    @field_validator("categories")
    @classmethod
    def _all_categories(cls, value: dict[str, CategoryRule]) -> dict[str, CategoryRule]:
        missing = [c for c in TICKET_CATEGORIES if c not in value]
        unknown = [c for c in value if c not in TICKET_CATEGORIES]
        if missing or unknown:
            raise ValueError(
                f"must be exactly {', '.join(TICKET_CATEGORIES)}"
                f" (missing: {', '.join(missing) or '-'}; unknown: {', '.join(unknown) or '-'})"
            )
        return value


@dataclass(frozen=True)
class Routing:
    department: str
    time_limit_days: int
    # how the department was found: "guide:<service_id>", "rule:<rule name>" or "category"
    basis: str = "category"


def guide_department(department: str) -> str:
    """The first office named in a guide's ``department`` field: "示例市公安局（各派出所…）"
    -> "示例市公安局"."""
    return _DEPARTMENT_END.split(department, maxsplit=1)[0].strip()


@functools.lru_cache(maxsize=256)
def _department_of_guide(guides_dir: Path, service_id: str) -> str | None:
    path = guides_dir / f"{service_id}.yaml"
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, yaml.YAMLError):
        logger.warning("guide %s cannot be read for routing", path)
        return None
    department = data.get("department") if isinstance(data, dict) else None
    if not isinstance(department, str) or not department.strip():
        return None
    return guide_department(department) or None


class Router:
    def __init__(self, config: TicketRouting, guides_dir: Path = KNOWLEDGE_DIR / "guides") -> None:
        self.config = config
        self.guides_dir = guides_dir

    def time_limit_days(self, category: str) -> int:
        return self._category(category).time_limit_days

    def _category(self, category: str) -> CategoryRule:
        try:
            return self.config.categories[category]
        except KeyError:
            raise ValueError(
                f"诉求类别“{category}”不存在，只能是{'、'.join(TICKET_CATEGORIES)}之一。"
            ) from None

    def route(
        self,
        category: str,
        text: str,
        service_id: str | None = None,
        district: str | None = None,
    ) -> Routing:
        rule = self._category(category)
        limit = rule.time_limit_days
        if service_id and service_id not in self.config.services_without_department:
            department = _department_of_guide(self.guides_dir, service_id)
            if department:
                return Routing(department, limit, f"guide:{service_id}")
        local = rule.district_level and district in self.config.districts
        key = unicodedata.normalize("NFKC", text or "").lower()
        for keyword_rule in self.config.rules:
            if any(k in key for k in keyword_rule.keywords):
                if local and keyword_rule.district_department:
                    department = keyword_rule.district_department.format(district=district)
                else:
                    department = keyword_rule.department
                return Routing(department, limit, f"rule:{keyword_rule.name}")
        if local and rule.district_department:
            return Routing(rule.district_department.format(district=district), limit)
        return Routing(rule.department, limit)


def load_router(path: Path = ROUTING_FILE, guides_dir: Path | None = None) -> Router:
    """Read and validate the routing rules; KnowledgeError names the file and field."""
    return Router(parse_file(path, TicketRouting), guides_dir or path.parent / "guides")


@functools.lru_cache(maxsize=1)
def get_router() -> Router:
    """The rules of knowledge/tickets.yaml, read once per process."""
    return load_router()


def route(
    category: str, text: str, service_id: str | None = None, district: str | None = None
) -> Routing:
    """Route with the rules of knowledge/tickets.yaml; see :meth:`Router.route`."""
    return get_router().route(category, text, service_id, district)

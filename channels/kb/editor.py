"""Editing knowledge/ from the admin page: one guide field (or section) or one FAQ entry at a
time, always with a new version and an effective date, and publishing reviewed FAQ drafts.

Every change is applied to the YAML file's round-trip form (comments, key order and quoting
are kept, so a review of the file's diff shows only what changed), the whole new document is
validated with the schema of retrieval/schema.py and the cross-checks of
retrieval/knowledge.py, and only then written: to a temporary file beside the knowledge
directory, fsynced and renamed over the old one (os.replace), so a reader sees the old file or
the new one, never half of one. A bad value leaves the file untouched and the error names the
field. Edits are serialised per process; `base_sha` (the file's SHA-256 as the editor saw it)
refuses an edit made on a stale copy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import threading
import types
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from retrieval.knowledge import load_services
from retrieval.schema import ASPECT_NAMES, SERVICE_ID_PATTERN, FaqEntry, FaqFile, Guide, HallsFile

Kind = Literal["guide", "faq"]
# where published drafts go (one file, so a reviewer sees them together)
PUBLISHED_FAQ_FILE = "from-agents.yaml"
PUBLISHED_FAQ_HEADER = (
    "# FAQ entries written by hotline agents and published after review on /admin/kb.\n"
)
GUIDE_VERSION = re.compile(r"^(\d{4})\.(\d+)$")
# fields an edit may not touch: the identity, and what the version/effective_date inputs set
GUIDE_FIXED = ("service_id", "version", "effective_date")
FAQ_FIXED = ("id", "source", "version", "effective_date")

# Chinese names of the fields, for the page and for error messages
GUIDE_LABELS: dict[str, str] = {
    "service_id": "事项编码",
    "name": "事项名称",
    "category": "类别",
    "version": "版本号",
    "effective_date": "生效日期",
    "department": "实施部门",
    "summary": "事项简介",
    "keywords": "俗称与关键词",
    "conditions": "办理条件",
    "materials": "所需材料",
    "process": "办理流程",
    "time_limit": "办理时限",
    "time_limit.legal": "法定时限",
    "time_limit.promised": "承诺时限",
    "time_limit.note": "时限说明",
    "fee": "收费标准",
    "fee.free": "是否免费",
    "fee.amount": "收费金额",
    "fee.text": "收费说明（市民看到的文字）",
    "fee.basis": "收费依据",
    "location": "办理地点",
    "location.halls": "办理大厅编号",
    "location.window": "窗口",
    "location.hours": "办公时间",
    "location.note": "地点说明",
    "online": "网上办理",
    "online.available": "是否可网上办理",
    "online.scope": "网办深度",
    "online.channels": "网办渠道",
    "online.note": "网办说明",
    "hotline": "咨询电话",
    "basis": "设定依据",
    "questions": "市民常用问法",
    "faq": "常见问题",
    **{f"questions.{a}": f"{name}的问法" for a, name in ASPECT_NAMES.items() if a != "other"},
}
FAQ_LABELS: dict[str, str] = {
    "id": "编号",
    "question": "问题",
    "answer": "答案",
    "phrasings": "其他问法",
    "service_id": "所属事项",
    "aspect": "所属方面",
    "department": "答复部门",
    "source": "来源",
    "version": "版本号",
    "effective_date": "生效日期",
}


class EditError(Exception):
    """An edit refused; `field` names the field at fault (dotted path) when there is one."""

    def __init__(
        self,
        error: str,
        detail: str,
        status_code: int = 422,
        field: str | None = None,
        problems: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(f"{error}: {detail}")
        self.error = error
        self.detail = detail
        self.status_code = status_code
        self.field = field
        self.problems = problems or ([{"field": field, "message": detail}] if field else [])

    def body(self) -> dict[str, Any]:
        return {
            "error": self.error,
            "detail": self.detail,
            "field": self.field,
            "problems": self.problems,
        }


@dataclass
class Change:
    """One field set to a value (`value_yaml`: the value as YAML text, from the page)."""

    path: str
    value: Any = None
    value_yaml: str | None = None

    def resolved(self) -> Any:
        if self.value_yaml is None:
            return self.value
        try:
            return yaml.safe_load(self.value_yaml)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"第{mark.line + 1}行" if mark is not None else ""
            raise EditError(
                "invalid_yaml", f"字段 {self.path} 的内容{where}不是有效的 YAML。", field=self.path
            ) from exc


@dataclass
class Edited:
    """What an applied edit changed, for the response and the edit history."""

    kind: Kind
    target: str
    file: str
    version_before: str
    version: str
    effective_date: str
    sha_before: str
    sha: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------- YAML helpers


def _yaml(sequence_indent: int = 4, offset: int = 2) -> YAML:
    rt = YAML(typ="rt")
    rt.width = 4096  # never re-wrap long Chinese lines
    rt.preserve_quotes = True
    rt.indent(mapping=2, sequence=sequence_indent, offset=offset)
    rt.representer.add_representer(
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return rt


def _style_of(text: str) -> YAML:
    """The writer matching the file's list style (guides indent list items, PyYAML-written
    FAQ files do not), so untouched lines stay byte for byte the same."""
    flush = re.search(r"^[ ]*\S[^\n]*:\n- ", text, re.MULTILINE) is not None
    return _yaml(2, 0) if flush else _yaml(4, 2)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _plain(value: Any) -> Any:
    """A JSON-able copy of YAML data (dates as ISO strings)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _split(path: str) -> list[str | int]:
    if not path or not re.fullmatch(r"[a-z_]+(\.([a-z_]+|\d+))*", path):
        raise EditError("bad_path", f"字段路径“{path}”格式不正确，例如 fee.amount。", field=path)
    return [int(p) if p.isdigit() else p for p in path.split(".")]


def _get(data: Any, parts: list[str | int]) -> Any:
    node = data
    for part in parts:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return None
    return node


def _set(doc: Any, parts: list[str | int], value: Any, path: str) -> None:
    node = doc
    for depth, part in enumerate(parts[:-1]):
        child = node[part] if _has(node, part) else None
        if not isinstance(child, dict | list):
            where = ".".join(str(p) for p in parts[: depth + 1])
            raise EditError("bad_path", f"字段 {where} 不存在，无法修改 {path}。", field=path)
        node = child
    last = parts[-1]
    if isinstance(node, list):
        if not isinstance(last, int) or last >= len(node):
            raise EditError("bad_path", f"字段 {path} 不存在（超出列表范围）。", field=path)
    elif isinstance(last, int):
        raise EditError("bad_path", f"字段 {path} 不存在。", field=path)
    node[last] = _commented(value)


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, list):
        return isinstance(part, int) and part < len(node)
    return isinstance(node, dict) and isinstance(part, str) and part in node


def _commented(value: Any) -> Any:
    """Plain data as ruamel's round-trip types, so nested lists get the file's indentation."""
    if isinstance(value, dict):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = _commented(v)
        return out
    if isinstance(value, list):
        return CommentedSeq([_commented(v) for v in value])
    return value


# ---------------------------------------------------------------------- validation messages

_PYDANTIC_ZH: dict[str, str] = {
    "missing": "不能缺少",
    "extra_forbidden": "不是这里允许的字段",
    "string_type": "必须是文字",
    "bool_type": "必须是“是”或“否”",
    "bool_parsing": "必须是“是”或“否”",
    "int_type": "必须是整数",
    "int_parsing": "必须是整数",
    "int_from_float": "必须是整数",
    "float_type": "必须是数字",
    "float_parsing": "必须是数字",
    "list_type": "必须是列表（每行一项）",
    "dict_type": "必须是一组字段",
    "model_type": "必须是一组字段",
    "model_attributes_type": "必须是一组字段",
    "date_type": "必须是日期（YYYY-MM-DD）",
    "date_parsing": "必须是日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "必须是日期（YYYY-MM-DD）",
    "none_required": "必须为空",
}


def _zh(err: Any) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "string_too_short":
        return "不能为空" if ctx.get("min_length", 1) <= 1 else f"至少需要{ctx['min_length']}个字"
    if kind == "string_too_long":
        return f"最多{ctx.get('max_length')}个字"
    if kind == "too_short":
        return f"至少需要{ctx.get('min_length')}项"
    if kind == "too_long":
        return f"最多{ctx.get('max_length')}项"
    if kind == "string_pattern_mismatch":
        return "格式不正确"
    if kind in ("greater_than_equal", "greater_than"):
        return f"不能小于{ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"不能大于{ctx.get('le', ctx.get('lt'))}"
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"只能是以下之一：{expected.replace(', ', '、')}"
    if kind == "value_error":
        message = str(err.get("msg", ""))
        if "unit 元" in message:
            return "金额必须写明单位“元”，例如 40元"
        return message.removeprefix("Value error, ")
    return _PYDANTIC_ZH.get(kind, str(err.get("msg", "不合法")))


def _problems(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "(root)", "message": _zh(err)}
        for err in exc.errors()
    ]


def _label(kind: Kind, path: str) -> str:
    labels = GUIDE_LABELS if kind == "guide" else FAQ_LABELS
    trimmed = re.sub(r"\.\d+(\..*)?$", "", path)
    label = labels.get(path) or labels.get(trimmed)
    return f"{path}（{label}）" if label else f"{path} "


def _refuse(kind: Kind, problems: list[dict[str, str]], error: str = "invalid_value") -> EditError:
    first = problems[0]
    more = f"（另有{len(problems) - 1}处问题）" if len(problems) > 1 else ""
    detail = f"字段 {_label(kind, first['field'])}不合法：{first['message']}。{more}"
    return EditError(error, detail.replace("。。", "。"), field=first["field"], problems=problems)


def parse_effective_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except (AttributeError, ValueError) as exc:
        raise EditError(
            "bad_effective_date",
            "生效日期格式不正确，应为 YYYY-MM-DD，例如 2026-12-01。",
            field="effective_date",
        ) from exc


def _version_key(version: str) -> tuple[int, ...] | None:
    parts = re.split(r"[.\-]", version.strip())
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else None


def check_guide_version(old: str, new: str) -> None:
    new = new.strip()
    match, current = GUIDE_VERSION.fullmatch(new), GUIDE_VERSION.fullmatch(old)
    if not match:
        raise EditError("bad_version", "版本号格式应为“年份.序号”，例如 2026.2。", field="version")
    if current and (int(match[1]), int(match[2])) <= (int(current[1]), int(current[2])):
        raise EditError(
            "version_not_bumped",
            f"版本号必须高于当前版本 {old}（例如 {current[1]}.{int(current[2]) + 1}）。",
            field="version",
        )


def check_faq_version(old: str, new: str) -> None:
    new = new.strip()
    if not new or len(new) > 32:
        raise EditError("bad_version", "请填写新的版本号（最多32个字符）。", field="version")
    old_key, new_key = _version_key(old), _version_key(new)
    if new == old or (old_key and new_key and new_key <= old_key):
        raise EditError("version_not_bumped", f"版本号必须高于当前版本 {old}。", field="version")


# ---------------------------------------------------------------------- the page's field list


def _annotation_kind(annotation: Any) -> tuple[str, bool, list[str]]:
    """(kind, nullable, options) of a schema field: text, bool, int, select, lines, yaml."""
    nullable = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else annotation
        origin = typing.get_origin(annotation)
    if origin is Literal:
        return "select", nullable, [str(a) for a in typing.get_args(annotation)]
    if annotation is bool:
        return "bool", nullable, []
    if annotation is int:
        return "int", nullable, []
    if origin is list:
        (item,) = typing.get_args(annotation) or (str,)
        return ("lines" if item is str else "yaml"), nullable, []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section", nullable, []
    return "text", nullable, []


def _field(kind: Kind, path: str, annotation: Any, value: Any) -> dict[str, Any]:
    widget, nullable, options = _annotation_kind(annotation)
    item: dict[str, Any] = {
        "path": path,
        "label": (GUIDE_LABELS if kind == "guide" else FAQ_LABELS).get(path, path),
        "kind": widget,
        "nullable": nullable,
        "value": _plain(value),
    }
    if options:
        item["options"] = options
    if widget == "yaml":
        item["value_yaml"] = yaml.safe_dump(
            _plain(value) or [], allow_unicode=True, sort_keys=False, width=1000
        )
    return item


def guide_sections(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The guide's sections in schema order, each with the fields the page edits."""
    sections = []
    for name, info in Guide.model_fields.items():
        if name in GUIDE_FIXED:
            continue
        widget, _, _ = _annotation_kind(info.annotation)
        value = data.get(name)
        if widget == "section":
            model = typing.cast(type[BaseModel], info.annotation)
            fields = [
                _field("guide", f"{name}.{sub}", sub_info.annotation, (value or {}).get(sub))
                for sub, sub_info in model.model_fields.items()
            ]
        else:
            fields = [_field("guide", name, info.annotation, value)]
        sections.append({"key": name, "label": GUIDE_LABELS.get(name, name), "fields": fields})
    return sections


def faq_fields(entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        _field("faq", name, info.annotation, entry.get(name))
        for name, info in FaqEntry.model_fields.items()
        if name not in FAQ_FIXED
    ]


# ---------------------------------------------------------------------- the editor


class KnowledgeEditor:
    """Reads and edits the YAML files of one knowledge directory."""

    def __init__(self, knowledge_dir: Path) -> None:
        self.root = knowledge_dir
        self._lock = threading.Lock()

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._lock:
            yield

    # -- reading ---------------------------------------------------------------------------

    def services(self) -> dict[str, str]:
        return {s.id: s.name for s in load_services(self.root).values()}

    def _guide_path(self, service_id: str) -> Path:
        path = self.root / "guides" / f"{service_id}.yaml"
        if not re.fullmatch(SERVICE_ID_PATTERN, service_id) or not path.is_file():
            raise EditError("guide_not_found", "没有这个事项的办事指南。", 404)
        return path

    def guides(self) -> list[dict[str, Any]]:
        items = []
        for path in sorted((self.root / "guides").glob("*.yaml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            items.append(
                {
                    "service_id": path.stem,
                    "name": data.get("name", path.stem),
                    "category": data.get("category"),
                    "version": str(data.get("version", "")),
                    "effective_date": _plain(data.get("effective_date")),
                }
            )
        return items

    def guide(self, service_id: str) -> dict[str, Any]:
        path = self._guide_path(service_id)
        raw = path.read_bytes()
        data = yaml.safe_load(raw.decode("utf-8")) or {}
        return {
            "service_id": service_id,
            "name": data.get("name"),
            "version": str(data.get("version", "")),
            "effective_date": _plain(data.get("effective_date")),
            "sha": _sha(raw),
            "file": path.relative_to(self.root).as_posix(),
            "data": _plain(data),
            "sections": guide_sections(data),
        }

    def _faq_files(self) -> list[Path]:
        return sorted((self.root / "faq").glob("*.yaml"))

    def faq_entries(self) -> list[dict[str, Any]]:
        items = []
        for path in self._faq_files():
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for entry in data.get("entries") or []:
                items.append(
                    {
                        "id": entry.get("id"),
                        "question": entry.get("question"),
                        "service_id": entry.get("service_id"),
                        "version": str(entry.get("version", "1")),
                        "effective_date": _plain(entry.get("effective_date")),
                        "file": path.relative_to(self.root).as_posix(),
                    }
                )
        return items

    def _find_faq(self, entry_id: str) -> tuple[Path, int]:
        for path in self._faq_files():
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for index, entry in enumerate(data.get("entries") or []):
                if isinstance(entry, dict) and entry.get("id") == entry_id:
                    return path, index
        raise EditError("faq_not_found", "没有这条常见问题。", 404)

    def faq(self, entry_id: str) -> dict[str, Any]:
        path, index = self._find_faq(entry_id)
        raw = path.read_bytes()
        entry = (yaml.safe_load(raw.decode("utf-8")) or {})["entries"][index]
        return {
            "id": entry_id,
            "version": str(entry.get("version", "1")),
            "effective_date": _plain(entry.get("effective_date")),
            "sha": _sha(raw),
            "file": path.relative_to(self.root).as_posix(),
            "data": _plain(entry),
            "fields": faq_fields(entry),
        }

    # -- checks ----------------------------------------------------------------------------

    def _check_guide(self, data: Any, service_id: str) -> None:
        try:
            guide = Guide.model_validate(data)
        except ValidationError as exc:
            raise _refuse("guide", _problems(exc)) from exc
        problems: list[dict[str, str]] = []
        services = self.services()
        if guide.service_id != service_id:
            problems.append({"field": "service_id", "message": "不能修改事项编码"})
        elif guide.name != services.get(service_id):
            problems.append(
                {
                    "field": "name",
                    "message": f"必须与事项目录 services.csv 中的名称“{services.get(service_id)}”一致",
                }
            )
        halls = {h.id: h for h in HallsFile.model_validate(_load(self.root / "halls.yaml")).halls}
        for index, hall_id in enumerate(guide.location.halls):
            where = f"location.halls.{index}"
            if hall_id not in halls:
                problems.append({"field": where, "message": f"没有编号为“{hall_id}”的办理大厅"})
            elif service_id not in halls[hall_id].services:
                problems.append(
                    {
                        "field": where,
                        "message": f"大厅“{halls[hall_id].name}”的事项清单里没有本事项",
                    }
                )
        if problems:
            raise _refuse("guide", problems)

    def _check_faq_file(self, data: Any, path: Path) -> None:
        try:
            parsed = FaqFile.model_validate(data)
        except ValidationError as exc:
            found = _problems(exc)
            for p in found:  # entries.3.answer → answer: the page edits one entry
                p["field"] = re.sub(r"^entries\.\d+\.", "", p["field"])
            raise _refuse("faq", found) from exc
        services = self.services()
        seen: dict[str, str] = {}
        for other in self._faq_files():
            if other != path:
                for entry in (_load(other) or {}).get("entries") or []:
                    seen[str(entry.get("id"))] = other.name
        problems: list[dict[str, str]] = []
        for entry in parsed.entries:
            if entry.service_id is not None and entry.service_id not in services:
                problems.append(
                    {"field": "service_id", "message": f"没有编码为“{entry.service_id}”的事项"}
                )
            if entry.id in seen:
                problems.append({"field": "id", "message": f"编号与 {seen[entry.id]} 中的条目重复"})
            seen[entry.id] = path.name
        if problems:
            raise _refuse("faq", problems)

    # -- writing ---------------------------------------------------------------------------

    def _write(self, path: Path, text: str) -> str:
        """Atomically replace `path` with `text`; return the new SHA-256."""
        data = text.encode("utf-8")
        path.parent.mkdir(parents=True, exist_ok=True)
        # beside knowledge/'s parts, not inside them: a leftover never changes the corpus hash
        tmp = self.root / f".{path.parent.name}-{path.name}.{os.getpid()}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        return _sha(data)

    @staticmethod
    def _check_base(raw: bytes, base_sha: str | None) -> None:
        if base_sha and base_sha != _sha(raw):
            raise EditError(
                "stale_copy",
                "该文件在您打开后已被他人修改，请重新加载后再编辑。",
                409,
            )

    def _apply(
        self,
        kind: Kind,
        path: Path,
        parts_of: list[str | int],
        changes: list[Change],
        fixed: tuple[str, ...],
        version: str,
        effective_date: dt.date,
    ) -> tuple[str, Any, Any, dict[str, Any], dict[str, Any]]:
        """The new file text, the data before and after, and each changed path's before/after."""
        raw = path.read_bytes()
        text = raw.decode("utf-8")
        before = yaml.safe_load(text)
        rt = _style_of(text)
        doc = rt.load(text)
        target = doc
        for part in parts_of:
            target = target[part]
        old_before: dict[str, Any] = {}
        new_after: dict[str, Any] = {}
        if not changes:
            raise EditError("no_change", "请至少修改一个字段。")
        for change in changes:
            parts = _split(change.path)
            if parts[0] in fixed:
                raise EditError(
                    "fixed_field",
                    f"字段 {_label(kind, change.path)}不能在这里修改"
                    + ("（版本号和生效日期请填在下方）。" if parts[0] != fixed[0] else "。"),
                    field=change.path,
                )
            value = change.resolved()
            if isinstance(value, str):
                value = value.strip()
            old = _get(_get(before, list(parts_of)), parts)
            if _plain(old) == _plain(value):
                continue
            _set(target, parts, value, change.path)
            old_before[change.path] = _plain(old)
            new_after[change.path] = _plain(value)
        if not new_after:
            raise EditError("no_change", "内容没有变化：请修改至少一个字段后再保存。")
        target["version"] = version
        target["effective_date"] = effective_date
        out = io.StringIO()
        rt.dump(doc, out)
        new_text = out.getvalue()
        if text.startswith("#") and not new_text.startswith("#"):
            new_text = text.split("\n", 1)[0] + "\n" + new_text
        return new_text, before, yaml.safe_load(new_text), old_before, new_after

    def edit_guide(
        self,
        service_id: str,
        changes: list[Change],
        version: str,
        effective_date: str,
        base_sha: str | None = None,
    ) -> Edited:
        day = parse_effective_date(effective_date)
        with self._lock:
            path = self._guide_path(service_id)
            raw = path.read_bytes()
            self._check_base(raw, base_sha)
            current = yaml.safe_load(raw.decode("utf-8")) or {}
            old_version = str(current.get("version", ""))
            check_guide_version(old_version, version)
            new_text, _, after, old, new = self._apply(
                "guide", path, [], changes, GUIDE_FIXED, version.strip(), day
            )
            self._check_guide(after, service_id)
            sha = self._write(path, new_text)
        return Edited("guide", service_id, path.relative_to(self.root).as_posix(), old_version,
                      version.strip(), day.isoformat(), _sha(raw), sha, old, new)  # fmt: skip

    def edit_faq(
        self,
        entry_id: str,
        changes: list[Change],
        version: str,
        effective_date: str,
        base_sha: str | None = None,
    ) -> Edited:
        day = parse_effective_date(effective_date)
        with self._lock:
            path, index = self._find_faq(entry_id)
            raw = path.read_bytes()
            self._check_base(raw, base_sha)
            entry = (yaml.safe_load(raw.decode("utf-8")) or {})["entries"][index]
            old_version = str(entry.get("version", "1"))
            check_faq_version(old_version, version)
            new_text, _, after, old, new = self._apply(
                "faq", path, ["entries", index], changes, FAQ_FIXED, version.strip(), day
            )
            self._check_faq_file(after, path)
            sha = self._write(path, new_text)
        return Edited("faq", entry_id, path.relative_to(self.root).as_posix(), old_version,
                      version.strip(), day.isoformat(), _sha(raw), sha, old, new)  # fmt: skip

    def free_faq_id(self, base: str) -> str:
        taken = {str(e["id"]) for e in self.faq_entries()}
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def publish_faq(self, entry: dict[str, Any]) -> Edited:
        """Append a reviewed entry to knowledge/faq/from-agents.yaml (validated first)."""
        with self._lock:
            path = self.root / "faq" / PUBLISHED_FAQ_FILE
            raw = path.read_bytes() if path.exists() else b""
            text = raw.decode("utf-8") or PUBLISHED_FAQ_HEADER + "entries: []\n"
            rt = _style_of(text) if raw else _yaml(2, 0)
            doc = rt.load(text) or CommentedMap()
            entries = doc.get("entries")
            if not isinstance(entries, list) or not entries:
                entries = CommentedSeq()  # a fresh block list, not the flow-style []
                doc["entries"] = entries
            clean = {k: v for k, v in entry.items() if v not in (None, "", [])}
            entries.append(_commented(clean))
            out = io.StringIO()
            rt.dump(doc, out)
            new_text = out.getvalue()
            if not new_text.startswith("#"):
                new_text = PUBLISHED_FAQ_HEADER + new_text
            self._check_faq_file(yaml.safe_load(new_text), path)
            sha = self._write(path, new_text)
        return Edited("faq", str(entry["id"]), path.relative_to(self.root).as_posix(), "",
                      str(entry.get("version", "1")), _plain(entry.get("effective_date")) or "",
                      _sha(raw), sha, {}, _plain(clean))  # fmt: skip


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))

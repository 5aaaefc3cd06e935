"""`python -m retrieval.import_faq FILE`: load a city's own FAQ list (CSV, XLSX or JSONL).

Columns are named by flags or recognised by common headers (问题/答案/部门, question/answer…).
Entries are written to knowledge/faq/imported-<name>.yaml, so they are validated like every
other knowledge file and survive rebuilds; answers are kept verbatim. The index is rebuilt
afterwards unless --no-build is given.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import json
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import yaml

from retrieval.config import get_retrieval_settings
from retrieval.knowledge import KnowledgeError, load_services
from retrieval.schema import FaqEntry, FaqFile

HEADERS = {
    "question": ("问题", "问", "标题", "咨询问题", "常见问题", "question", "q", "title"),
    "answer": ("答案", "回答", "答复", "解答", "答复内容", "answer", "a", "reply"),
    "department": (
        "部门",
        "责任部门",
        "单位",
        "来源部门",
        "承办单位",
        "department",
        "dept",
        "agency",
    ),
    "service_id": ("事项编码", "service_id", "service"),
}
_SPACE = re.compile(r"[ \t\u3000]+")


class ImportError_(ValueError):
    """The file cannot be imported; the message says why."""


def _clean(value: object) -> str:
    text = "" if value is None else str(value)
    return _SPACE.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n")).strip()


def read_rows(path: Path, sheet: str | None = None) -> list[dict[str, str]]:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        raw = path.read_bytes()
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ImportError_(f"{path}: neither UTF-8 nor GB18030 text")
        dialect = csv.excel_tab if suffix == ".tsv" else csv.excel
        return [
            {_clean(k): _clean(v) for k, v in row.items() if k is not None}
            for row in csv.DictReader(io.StringIO(text), dialect=dialect)
        ]
    if suffix == ".jsonl":
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ImportError_(f"{path}:{number}: not JSON: {exc.msg}") from exc
            if not isinstance(item, dict):
                raise ImportError_(f"{path}:{number}: each line must be a JSON object")
            rows.append({_clean(k): _clean(v) for k, v in item.items()})
        return rows
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True, data_only=True)
        try:
            worksheet = workbook[sheet] if sheet else workbook.worksheets[0]
            values = list(worksheet.iter_rows(values_only=True))
        finally:
            workbook.close()
        if not values:
            return []
        header = [_clean(h) for h in values[0]]
        return [
            {header[i]: _clean(v) for i, v in enumerate(row) if i < len(header) and header[i]}
            for row in values[1:]
        ]
    raise ImportError_(f"{path}: unsupported file type {suffix!r} (CSV, TSV, XLSX or JSONL)")


def pick_column(columns: Iterable[str], role: str, explicit: str | None) -> str | None:
    columns = list(columns)
    if explicit:
        if explicit not in columns:
            raise ImportError_(f"column {explicit!r} not found; the file has: {', '.join(columns)}")
        return explicit
    lowered = {c.lower(): c for c in columns}
    for name in HEADERS[role]:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def slug(text: str) -> str:
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return value[:30] or hashlib.sha1(text.encode()).hexdigest()[:8]


def convert(
    rows: list[dict[str, str]],
    name: str,
    source: str,
    question_col: str | None = None,
    answer_col: str | None = None,
    department_col: str | None = None,
) -> tuple[list[FaqEntry], list[str]]:
    """Rows → FAQ entries, and a list of the rows skipped and why."""
    if not rows:
        raise ImportError_("the file has no rows")
    columns = list(rows[0].keys())
    q_col = pick_column(columns, "question", question_col)
    a_col = pick_column(columns, "answer", answer_col)
    if not q_col or not a_col:
        raise ImportError_(
            f"cannot tell the question and answer columns apart among {', '.join(columns)}; "
            "name them with --question-col and --answer-col"
        )
    d_col = pick_column(columns, "department", department_col)
    s_col = pick_column(columns, "service_id", None)
    services = set(load_services(get_retrieval_settings().knowledge_dir))
    today = dt.date.today()
    entries: list[FaqEntry] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, 2):
        question, answer = row.get(q_col, ""), row.get(a_col, "")
        if len(question) < 4 or len(answer) < 4:
            skipped.append(f"row {number}: question or answer empty or too short")
            continue
        if question in seen:
            skipped.append(f"row {number}: duplicate question {question[:20]!r}")
            continue
        seen.add(question)
        service_id = row.get(s_col or "", "") or None
        entries.append(
            FaqEntry(
                id=f"imp-{name}-{hashlib.sha1(question.encode()).hexdigest()[:10]}",
                question=question,
                answer=answer,
                department=(row.get(d_col, "") if d_col else "") or None,
                service_id=service_id if service_id in services else None,
                source=source,
                version=today.isoformat(),
                effective_date=today,
            )
        )
    return entries, skipped


def write_entries(entries: list[FaqEntry], name: str, knowledge_dir: Path | None = None) -> Path:
    knowledge_dir = knowledge_dir or get_retrieval_settings().knowledge_dir
    out = knowledge_dir / "faq" / f"imported-{name}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    data = FaqFile(entries=entries).model_dump(mode="json", exclude_defaults=False)
    tmp = out.with_suffix(".yaml.tmp")
    tmp.write_text(
        "# Imported by `python -m retrieval.import_faq`; answers verbatim from the source file.\n"
        + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000),
        encoding="utf-8",
    )
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--name", help="short name for this FAQ list (default: the file name)")
    parser.add_argument("--question-col")
    parser.add_argument("--answer-col")
    parser.add_argument("--department-col")
    parser.add_argument("--sheet", help="XLSX sheet (default: the first)")
    parser.add_argument("--no-build", action="store_true", help="do not rebuild the index")
    args = parser.parse_args(argv)
    started = time.monotonic()
    name = slug(args.name or args.file.stem)
    try:
        rows = read_rows(args.file, args.sheet)
        entries, skipped = convert(
            rows, name, args.file.name, args.question_col, args.answer_col, args.department_col
        )
    except (ImportError_, OSError, KnowledgeError) as exc:
        sys.stderr.write(f"import failed: {exc}\n")
        return 1
    out = write_entries(entries, name)
    for line in skipped[:20]:
        sys.stderr.write(f"skipped {line}\n")
    sys.stdout.write(f"imported {len(entries)} entries into {out} ({len(skipped)} skipped)\n")
    if not args.no_build:
        from retrieval.build import build

        directory = build()
        sys.stdout.write(f"index rebuilt: {directory.name}\n")
    sys.stdout.write(f"done in {time.monotonic() - started:.1f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

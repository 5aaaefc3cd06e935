import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from retrieval.import_faq import ImportError_, convert, read_rows
from retrieval.schema import FaqEntry

ROWS = [
    ("问题", "答案", "部门"),
    ("社区食堂几点开门？", "社区长者食堂每天10:30-13:00、16:30-18:30供餐。", "示例市民政局"),
    (
        "垃圾分类投放时间是什么时候？",
        "每天7:00-9:00、18:00-20:00定时定点投放。",
        "示例市城市管理局",
    ),
    ("空", "", "示例市城市管理局"),
    ("社区食堂几点开门？", "重复的问题不应再次导入。", "示例市民政局"),
]


def _check(entries: list[FaqEntry], skipped: list[str]) -> None:
    assert [e.question for e in entries] == [ROWS[1][0], ROWS[2][0]]
    assert entries[0].answer == ROWS[1][1]  # verbatim
    assert entries[0].department == "示例市民政局"
    assert entries[0].id.startswith("imp-city-") and entries[0].source == "city.x"
    assert len(skipped) == 2


def test_csv_in_gb18030_with_chinese_headers(tmp_path: Path) -> None:
    path = tmp_path / "city.csv"
    path.write_bytes("\n".join(",".join(row) for row in ROWS).encode("gb18030"))
    _check(*convert(read_rows(path), "city", "city.x"))


def test_xlsx_first_sheet(tmp_path: Path) -> None:
    path = tmp_path / "city.xlsx"
    book = Workbook()
    for row in ROWS:
        book.active.append(list(row))
    book.save(path)
    _check(*convert(read_rows(path), "city", "city.x"))


def test_jsonl_with_english_keys_and_named_columns(tmp_path: Path) -> None:
    path = tmp_path / "city.jsonl"
    lines = [
        json.dumps({"ask": q, "reply": a, "dept": d}, ensure_ascii=False) for q, a, d in ROWS[1:]
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ImportError_, match="--question-col"):
        convert(read_rows(path), "city", "city.x")
    _check(*convert(read_rows(path), "city", "city.x", "ask", "reply", "dept"))


def test_bad_files_are_refused_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"q": "a"}\nnot json\n', encoding="utf-8")
    with pytest.raises(ImportError_, match=r"x.jsonl:2: not JSON"):
        read_rows(bad)
    with pytest.raises(ImportError_, match="unsupported file type"):
        read_rows(tmp_path / "x.pdf")

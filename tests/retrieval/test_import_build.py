"""A city's own FAQ list: imported, indexed, searchable, answered verbatim, kept on rebuild."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from retrieval.config import RetrievalSettings
from retrieval.searcher import SearcherHandle

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

ENTRIES = [
    (
        "社区长者食堂几点开饭？",
        "社区长者食堂每天10:30-13:00、16:30-18:30供餐，60周岁以上老人凭身份证享受优惠。",
        "示例市民政局",
    ),
    (
        "生活垃圾什么时候可以投放？",
        "居民小区实行定时定点投放：每天7:00-9:00、18:00-20:00，其余时间请投放到误时投放点。",
        "示例市城市管理局",
    ),
    (
        "市图书馆周一开门吗？",
        "示例市图书馆每周一闭馆（法定节假日除外），周二至周日9:00-21:00开放。",
        "示例市文化广电旅游局",
    ),
]


def test_import_then_search_answers_verbatim_with_its_source(tmp_path: Path) -> None:
    base = RetrievalSettings()
    knowledge = tmp_path / "knowledge"
    shutil.copytree(base.knowledge_dir, knowledge)
    source = tmp_path / "城市常见问题.csv"
    with source.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["问题", "答案", "部门"])
        writer.writerows(ENTRIES)
    env = {
        **os.environ,
        "YISHI_RETRIEVAL_KNOWLEDGE_DIR": str(knowledge),
        "YISHI_RETRIEVAL_INDEX_ROOT": str(tmp_path / "indexes"),
        "YISHI_RETRIEVAL_CACHE_DIR": str(base.cache_dir),
    }
    result = subprocess.run(
        [sys.executable, "-m", "retrieval.import_faq", str(source), "--name", "city"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "imported 3 entries" in result.stdout and "index rebuilt" in result.stdout
    imported = knowledge / "faq" / "imported-city.yaml"
    assert imported.exists()

    settings = RetrievalSettings(
        knowledge_dir=knowledge, index_root=tmp_path / "indexes", cache_dir=base.cache_dir
    )
    searcher = SearcherHandle(settings).get()
    assert searcher.manifest["faq_count"] == 3
    hit = searcher.search("图书馆星期一开不开").best
    assert hit is not None and hit.doc_id.startswith("imp-city-")
    assert hit.document.answer == ENTRIES[2][1]
    assert hit.document.source["title"] == "示例市文化广电旅游局"
    assert hit.document.source["faq_source"] == "城市常见问题.csv"

    # a rebuild keeps the imported entries: they are knowledge files, not index state
    rebuilt = subprocess.run(
        [sys.executable, "-m", "retrieval.build", "--quiet"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    again = SearcherHandle(settings).get()
    assert sum(doc.doc_id.startswith("imp-city-") for doc in again.docs) == 3

"""Imported FAQ entries on subjects no guide covers compete fairly with the guides' sections."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from retrieval.config import RetrievalSettings
from retrieval.faq_check import IMPORT_NAME, load_check, run_check
from retrieval.searcher import SearcherHandle

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _settings(knowledge: Path, tmp_path: Path) -> RetrievalSettings:
    return RetrievalSettings(
        knowledge_dir=knowledge,
        index_root=tmp_path / "indexes",
        cache_dir=RetrievalSettings().cache_dir,
    )


def test_check_file_is_valid_and_stays_off_the_eval_splits() -> None:
    entries = load_check(RetrievalSettings().knowledge_dir)
    assert len(entries) == 24 and len({e.id for e in entries}) == 24
    assert all(len(e.asks) == 3 for e in entries)
    # the eval loader reads knowledge/eval/*.yaml only: the check is never calibrated on
    assert not list((ROOT / "knowledge" / "eval").glob("faq_check*.yaml"))


def test_run_check_imports_builds_and_reports(knowledge_copy: Path, tmp_path: Path) -> None:
    keep = tmp_path / "work"
    keep.mkdir()
    report = run_check(_settings(knowledge_copy, tmp_path), with_dev=True, keep=keep)
    metrics = report.metrics()
    assert metrics["asks"] == 72
    assert 0 < metrics["top1"] <= metrics["in_hits"] <= 1
    assert metrics["answered"] <= metrics["top1"]
    assert {"dev_service_top1", "dev_service_aspect_top1"} <= set(metrics)

    settings = _settings(keep / "knowledge", keep)
    searcher = SearcherHandle(settings).get()
    entries = load_check(knowledge_copy)
    imported = {d.title: d.doc_id for d in searcher.docs if d.doc_id.startswith("imp-")}
    assert len(imported) == len(entries)
    assert all(doc_id.startswith(f"imp-{IMPORT_NAME}-") for doc_id in imported.values())

    # asked in the list's own words, every entry comes first: a one-entry service is scored by
    # its best row, not diluted to a fifth of it by the four rows it does not have
    firsts = [searcher.search(e.question).best for e in entries]
    assert [h.doc_id if h else None for h in firsts] == [imported[e.question] for e in entries]

    # the dev split's out-of-scope questions that the imported list now answers (养狗登记 →
    # 养犬登记) are left out of the calibration rather than counted as false answers
    calibration = searcher.manifest["calibration"]
    assert calibration["dev_metrics"]["oos_answered_by_faq"] >= 1
    # and the guides' own questions keep their answer rate (without imports: ~0.84)
    assert calibration["dev_metrics"]["answer_rate"] > 0.7


def test_guide_questions_keep_their_answers_next_to_imported_entries(
    knowledge_copy: Path, tmp_path: Path
) -> None:
    """A guide question that half matches an imported entry (a fee, an address) still gets the
    guide's section, answered outright."""
    keep = tmp_path / "work"
    keep.mkdir()
    run_check(_settings(knowledge_copy, tmp_path), keep=keep)
    searcher = SearcherHandle(_settings(keep / "knowledge", keep)).get()
    for question, doc_id in [
        ("身份证丢了补办要多少钱", "id_card_lost#fee"),
        ("公积金租房提取要带什么材料", "fund_withdraw_rent#materials"),
        ("护照在哪里办", "passport#location"),
    ]:
        result = searcher.search(question)
        assert result.best is not None and result.best.doc_id == doc_id, question
        assert result.band == "answer", (question, result.confidence)


def test_cli_prints_metrics_as_json(knowledge_copy: Path, tmp_path: Path) -> None:
    check = knowledge_copy / "eval" / "faq_check" / "city_faq.yaml"
    data = yaml.safe_load(check.read_text(encoding="utf-8"))
    data["entries"] = data["entries"][:2]
    check.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    env = {
        "YISHI_RETRIEVAL_KNOWLEDGE_DIR": str(knowledge_copy),
        "YISHI_RETRIEVAL_INDEX_ROOT": str(tmp_path / "indexes"),
        "YISHI_RETRIEVAL_CACHE_DIR": str(RetrievalSettings().cache_dir),
    }
    result = subprocess.run(
        [sys.executable, "-m", "retrieval.faq_check", "--json", "--misses"],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(result.stdout.splitlines()[0])
    assert metrics["asks"] == 6

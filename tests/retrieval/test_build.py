"""Building, refusing stale indexes and swapping a rebuilt index in without a restart."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from retrieval.build import build, current_is_fresh
from retrieval.config import RetrievalSettings
from retrieval.manifest import CURRENT_FILE, MANIFEST_FILE, IndexMismatchError
from retrieval.searcher import Searcher, SearcherHandle

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> RetrievalSettings:
    base = RetrievalSettings()
    root = tmp_path_factory.mktemp("kb")
    shutil.copytree(base.knowledge_dir, root / "knowledge")
    # the shared embedding cache makes this build take seconds, not minutes
    return RetrievalSettings(knowledge_dir=root / "knowledge", index_root=root / "indexes",
                             cache_dir=base.cache_dir, reload_check_s=0)  # fmt: skip


def test_build_edit_refuse_rebuild_and_hot_swap(settings: RetrievalSettings) -> None:
    first = build(settings, quiet=True)
    assert (settings.index_root / CURRENT_FILE).read_text().strip() == first.name
    assert current_is_fresh(settings) == first
    handle = SearcherHandle(settings)
    before = handle.get()
    assert before.kb_version == first.name
    assert "120元" in before.by_id["passport#fee"].answer

    guide = settings.knowledge_dir / "guides" / "passport.yaml"
    data = yaml.safe_load(guide.read_text(encoding="utf-8"))
    data["fee"].update(amount="100元", text="普通护照每本收费100元（测试修改）。")
    data["version"] = "2026.9"
    guide.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    assert current_is_fresh(settings) is None
    with pytest.raises(IndexMismatchError, match="knowledge/ changed"):
        Searcher.open(before.encoder, settings)

    second = build(settings, encoder=before.encoder, quiet=True)
    assert second != first
    after = handle.get()  # same handle, no restart: the new index is swapped in
    assert after.kb_version == second.name
    assert "100元" in after.by_id["passport#fee"].answer
    assert after.by_id["passport#fee"].source["guide_version"] == "2026.9"


def test_an_index_for_another_model_is_refused(settings: RetrievalSettings) -> None:
    directory = settings.index_root / (settings.index_root / CURRENT_FILE).read_text().strip()
    handle = SearcherHandle(settings)
    encoder = handle.get().encoder
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    manifest["model_id"] = "some/other-model"
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="some/other-model"):
        Searcher(directory, encoder, settings)


def test_a_missing_index_is_reported(tmp_path: Path) -> None:
    settings = RetrievalSettings(index_root=tmp_path / "none")
    with pytest.raises(IndexMismatchError, match="make index"):
        Searcher.open(encoder=None, settings=settings)  # type: ignore[arg-type]

"""The build's progress file, the embedding cache that makes a rebuild after a small edit
quick (no model load when nothing new needs a vector), and the running searcher that keeps
answering from its index after knowledge/ is edited, until the rebuild. A hashing encoder
stands in for e5, so this runs in seconds."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import yaml

from retrieval.build import STAGES, LazyEncoder, ProgressFile, build, main
from retrieval.config import RetrievalSettings
from retrieval.manifest import CURRENT_FILE, CorpusChangedError
from retrieval.searcher import Searcher, SearcherHandle

ROOT = Path(__file__).resolve().parents[2]
DIM = 32


class HashEncoder:
    """Deterministic unit vectors from the characters of a text (no model)."""

    model_id = "test/hash-encoder"
    dim = DIM

    def __init__(self) -> None:
        self.encoded = 0

    def _vectors(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        self.encoded += len(texts)
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            codes = np.frombuffer(f"{prompt}{text}".encode("utf-32-le"), dtype=np.uint32)
            out[row] = np.bincount((codes * 2654435761) % DIM, minlength=DIM)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectors(texts, "q")

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectors(texts, "p")


class Refusing(HashEncoder):
    def _vectors(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        raise AssertionError(f"asked to embed {len(texts)} texts; all were cached")


@pytest.fixture
def settings(tmp_path: Path) -> RetrievalSettings:
    shutil.copytree(ROOT / "knowledge", tmp_path / "knowledge")
    return RetrievalSettings(
        knowledge_dir=tmp_path / "knowledge",
        index_root=tmp_path / "indexes",
        cache_dir=tmp_path / "cache",
        reload_check_s=0,
    )


def edit_fee(settings: RetrievalSettings, amount: str, version: str) -> None:
    path = settings.knowledge_dir / "guides" / "passport.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["fee"].update(amount=amount, text=f"普通护照每本{amount}。")
    data["version"] = version
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_progress_stages_cache_and_hot_swap(settings: RetrievalSettings, tmp_path: Path) -> None:
    encoder = HashEncoder()
    calls: list[tuple[str, int, int]] = []
    first = build(settings, encoder=encoder, quiet=True,  # type: ignore[arg-type]
                  progress=lambda *call: calls.append(call))  # fmt: skip
    stages = list(dict.fromkeys(stage for stage, _, _ in calls))
    assert stages == list(STAGES)
    embed = [c for c in calls if c[0] == "embed"]
    assert embed[0][1] == 0 and embed[-1][1] == embed[-1][2] > 1000  # every row, counted up
    calibrate = [c for c in calls if c[0] == "calibrate"]
    assert calibrate[-1][1] == calibrate[-1][2]  # embedding the dev questions, then searching
    assert [d / t for _, d, t in calibrate] == sorted(d / t for _, d, t in calibrate)

    handle = SearcherHandle(settings, encoder=encoder)  # type: ignore[arg-type]
    assert handle.get().kb_version == first.name

    # edited, not rebuilt: the running searcher keeps answering from its index, and so does
    # a process that starts now (the check that refuses a stale index is Searcher.open's)
    edit_fee(settings, "100元", "2026.5")
    with pytest.raises(CorpusChangedError):
        Searcher.open(encoder, settings)  # type: ignore[arg-type]
    assert "120元" in SearcherHandle(settings, encoder=encoder).get().by_id["passport#fee"].answer  # type: ignore[arg-type]

    # rebuilt: only the changed passage is embedded, and the handle swaps the index in
    before = encoder.encoded
    progress_path = tmp_path / "progress" / "build.json"
    second = build(settings, encoder=encoder, quiet=True,  # type: ignore[arg-type]
                   progress=ProgressFile(progress_path))  # fmt: skip
    assert 0 < encoder.encoded - before <= 5
    swapped = handle.get()
    assert swapped.kb_version == second.name != first.name
    assert "100元" in swapped.by_id["passport#fee"].answer
    assert swapped.by_id["passport#fee"].source["guide_version"] == "2026.5"
    last = json.loads(progress_path.read_text(encoding="utf-8"))
    assert last["stage"] == "publish" and last["step"] == last["steps"] == len(STAGES)
    assert not list(progress_path.parent.glob(".*.tmp"))

    # nothing changed but the version: every vector is cached and none is computed
    edit_fee(settings, "100元", "2026.6")
    third = build(settings, encoder=Refusing(), quiet=True)  # type: ignore[arg-type]
    assert (settings.index_root / CURRENT_FILE).read_text().strip() == third.name


def test_the_command_line_writes_done_or_error(
    settings: RetrievalSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(settings, encoder=HashEncoder(), quiet=True)  # type: ignore[arg-type]
    for name, value in (
        ("KNOWLEDGE_DIR", settings.knowledge_dir),
        ("INDEX_ROOT", settings.index_root),
        ("CACHE_DIR", settings.cache_dir),
    ):
        monkeypatch.setenv(f"YISHI_RETRIEVAL_{name}", str(value))  # fmt: skip
    # the real model is never loaded: the lazy encoder takes id and size from a marker file
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "yishi_model.json").write_text(json.dumps({"model_id": HashEncoder.model_id,
                                                             "dim": DIM}))  # fmt: skip
    monkeypatch.setenv("YISHI_RETRIEVAL_MODEL_DIR", str(model_dir))
    monkeypatch.setattr(LazyEncoder, "_loaded", lambda self: Refusing())
    from retrieval import config

    config.get_retrieval_settings.cache_clear()
    progress = tmp_path / "progress.json"
    try:
        edit_fee(settings, "110元", "2026.7")  # the fee passage changes: one text to embed
        monkeypatch.setattr(LazyEncoder, "_loaded", lambda self: HashEncoder())
        assert main(["--quiet", "--progress-file", str(progress)]) == 0
        done = json.loads(progress.read_text(encoding="utf-8"))
        assert done["stage"] == "done" and done["embedded"] >= 1
        assert done["kb_version"] == (settings.index_root / CURRENT_FILE).read_text().strip()

        assert main(["--if-stale", "--progress-file", str(progress)]) == 0
        assert json.loads(progress.read_text(encoding="utf-8"))["skipped"] is True

        path = settings.knowledge_dir / "guides" / "passport.yaml"
        path.write_text(path.read_text(encoding="utf-8").replace("amount: 110元", "amount: 110"))
        assert main(["--quiet", "--progress-file", str(progress)]) == 1
        failed = json.loads(progress.read_text(encoding="utf-8"))
        assert failed["stage"] == "error" and failed["error"] == "knowledge_invalid"
        assert "fee.amount" in failed["detail"]
    finally:
        config.get_retrieval_settings.cache_clear()

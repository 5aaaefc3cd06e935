"""Index directory layout and the fingerprints a manifest is checked against."""

from __future__ import annotations

import hashlib
from pathlib import Path

MANIFEST_FILE = "manifest.json"
DOCS_FILE = "docs.jsonl"
CURRENT_FILE = "CURRENT"
# what the index is built from; knowledge/eval only calibrates, so it is not part of the corpus
CORPUS_PARTS = ("services.csv", "halls.yaml", "guides", "faq")


class IndexMismatchError(RuntimeError):
    """The index on disk does not belong to this model, corpus or lexicon (or is missing)."""


class CorpusChangedError(IndexMismatchError):
    """The index was built from an earlier state of knowledge/ (edited since the build)."""


def corpus_sha256(knowledge_dir: Path) -> str:
    digest = hashlib.sha256()
    for part in CORPUS_PARTS:
        path = knowledge_dir / part
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.exists():
                digest.update(file.relative_to(knowledge_dir).as_posix().encode())
                digest.update(b"\0")
                digest.update(file.read_bytes())
    return digest.hexdigest()

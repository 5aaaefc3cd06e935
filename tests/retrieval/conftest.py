"""Fixtures shared by the retrieval tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from retrieval.knowledge import KNOWLEDGE_DIR


@pytest.fixture
def knowledge_copy(tmp_path: Path) -> Path:
    """A copy of knowledge/ that a test may edit or break."""
    root = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, root)
    return root

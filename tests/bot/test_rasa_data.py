"""The bot's data and test stories, through Rasa's own tools in the Rasa venv."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ops.paths import RASA_BIN, ROOT, rasa_env

pytestmark = pytest.mark.slow


def _rasa(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RASA_BIN), *args],
        cwd=ROOT,
        env={**os.environ, **rasa_env()},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_rasa_data_validate() -> None:
    result = _rasa(
        "data",
        "validate",
        "--domain",
        "domain.yml",
        "--data",
        "bot/data",
        "--config",
        "config.yml",
        "--fail-on-warnings",
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def test_rasa_test_stories_pass(trained_model: Path, tmp_path: Path) -> None:
    result = _rasa(
        "test",
        "core",
        "--stories",
        "tests/conversations",
        "--model",
        str(trained_model),
        "--endpoints",
        str(tmp_path / "none.yml"),
        "--out",
        str(tmp_path),
        "--fail-on-prediction-errors",
        "--no-plot",
    )
    failed = tmp_path / "failed_test_stories.yml"
    detail = failed.read_text() if failed.exists() else ""
    assert result.returncode == 0, detail + result.stdout[-3000:] + result.stderr[-3000:]

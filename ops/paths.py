"""Where things live in the checkout; every path is resolved from this file, not the cwd."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RASA_VENV = ROOT / ".venv-rasa"
APP_VENV = ROOT / ".venv"
RASA_BIN = RASA_VENV / "bin" / "rasa"
APP_PYTHON = APP_VENV / "bin" / "python"
MODELS_DIR = ROOT / "models"
MODEL_NAME = "yishi"
MODEL_FILE = MODELS_DIR / f"{MODEL_NAME}.tar.gz"
FINGERPRINT_FILE = MODELS_DIR / f"{MODEL_NAME}.fingerprint"
BOT_DIR = ROOT / "bot"
VAR_DIR = ROOT / "var"
LOG_DIR = ROOT / "logs"


def rasa_env() -> dict[str, str]:
    """Environment additions every Rasa process gets."""
    return {"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}

"""Train the Rasa model once per change of its inputs.

`python -m ops.train` hashes everything the model is built from (config, domain, training
data, the jieba lexicon, the Rasa pins) and runs `rasa train --fixed-model-name` only when the
hash differs from the one saved beside the model.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

from ops.paths import (
    BOT_DIR,
    FINGERPRINT_FILE,
    MODEL_FILE,
    MODEL_NAME,
    MODELS_DIR,
    RASA_BIN,
    ROOT,
    rasa_env,
)

TRAINING_INPUTS = (
    "config.yml",
    "domain.yml",
    "bot/data",
    "knowledge/lexicon/jieba",
    "requirements/rasa.lock",
)


def _files(root: Path, inputs: tuple[str, ...]) -> list[Path]:
    found: list[Path] = []
    for rel in inputs:
        path = root / rel
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*")) if p.is_file())
        elif path.is_file():
            found.append(path)
    return found


def fingerprint(root: Path = ROOT, inputs: tuple[str, ...] = TRAINING_INPUTS) -> str:
    """sha256 over the relative path and bytes of every training input."""
    digest = hashlib.sha256()
    for path in _files(root, inputs):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def is_up_to_date() -> bool:
    return (
        MODEL_FILE.is_file()
        and FINGERPRINT_FILE.is_file()
        and FINGERPRINT_FILE.read_text().strip() == fingerprint()
    )


def train(force: bool = False) -> Path:
    """Train if needed; return the model file."""
    if not force and is_up_to_date():
        print(f"Model {MODEL_FILE.relative_to(ROOT)} is up to date; nothing to train.")
        return MODEL_FILE
    if not RASA_BIN.exists():
        sys.exit(f"{RASA_BIN} not found: run `make setup` first")
    MODELS_DIR.mkdir(exist_ok=True)
    digest = fingerprint()
    cmd = [
        str(RASA_BIN),
        "train",
        "--config", "config.yml",
        "--domain", "domain.yml",
        "--data", str(BOT_DIR.relative_to(ROOT) / "data"),
        "--out", str(MODELS_DIR.relative_to(ROOT)),
        "--fixed-model-name", MODEL_NAME,
    ]  # fmt: skip
    print("Training:", " ".join(cmd), flush=True)
    started = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, env={**os.environ, **rasa_env()}, check=True)
    FINGERPRINT_FILE.write_text(digest + "\n")
    print(f"Trained {MODEL_FILE.relative_to(ROOT)} in {time.monotonic() - started:.0f} s")
    return MODEL_FILE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--force", action="store_true", help="train even if nothing changed")
    args = parser.parse_args()
    train(force=args.force)


if __name__ == "__main__":
    main()

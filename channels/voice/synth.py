"""Spoken test questions: espeak-ng speaks Chinese text, converted to what clients upload.

espeak-ng's plain `cmn` voice reads Han characters wrongly, so questions are turned into
numbered pinyin with pypinyin (身份证丢了 → "shen1 fen4 zheng4 diu1 le5"; 5 = neutral tone, ü
as v) and spoken with the `cmn-latn-pinyin` voice, which reads Latin text as pinyin.
Used by `python -m channels.voice.evaluate` and tests/e2e/test_voice.py; needs the Debian
packages espeak-ng and ffmpeg (make system-deps).
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

VOICE = "cmn-latn-pinyin"
# words per minute: slower than espeak's 175 default, as one speaks to a kiosk
SPEED = 120
FORMATS = ("wav", "webm", "amr", "ogg")
CONTENT_TYPES = {
    "wav": "audio/wav",
    "webm": "audio/webm;codecs=opus",  # what Chrome's and Firefox's MediaRecorder send
    "amr": "audio/amr",  # WeChat voice messages
    "ogg": "audio/ogg;codecs=speex",
}


class SynthUnavailable(RuntimeError):
    """espeak-ng or ffmpeg is not installed."""


def numbered_pinyin(text: str) -> str:
    """Han text as space-separated pinyin with tone numbers, the input the voice expects."""
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, errors="ignore")
    return " ".join(s for s in syllables if s.strip())


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SynthUnavailable(f"{name} is not installed (make system-deps)")
    return path


def speak(text: str, speed: int = SPEED) -> bytes:
    """WAV bytes of espeak-ng reading `text` (Chinese) in Mandarin."""
    result = subprocess.run(
        [_tool("espeak-ng"), "-v", VOICE, "-s", str(speed), "--stdout", numbered_pinyin(text)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return result.stdout


def _ffmpeg(wav: bytes, *args: str) -> bytes:
    command = [_tool("ffmpeg"), "-hide_banner", "-loglevel", "error", "-f", "wav", "-i", "pipe:0"]
    result = subprocess.run(
        [*command, *args, "pipe:1"],
        input=wav,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return result.stdout


def _amr(wav: bytes) -> bytes:
    """AMR-NB at 8 kHz, as WeChat stores voice messages (Debian's ffmpeg has no AMR encoder;
    PyAV's bundled FFmpeg has opencore-amrnb)."""
    import av

    out = io.BytesIO()
    with (
        av.open(io.BytesIO(wav), mode="r") as source,
        av.open(out, mode="w", format="amr") as target,
    ):
        stream = target.add_stream("libopencore_amrnb", rate=8000)
        stream.bit_rate = 12200
        stream.layout = "mono"
        resampler = av.AudioResampler(format="s16", layout="mono", rate=8000)
        for frame in source.decode(audio=0):
            for resampled in resampler.resample(frame):
                for packet in stream.encode(resampled):
                    target.mux(packet)
        for resampled in resampler.resample(None):
            for packet in stream.encode(resampled):
                target.mux(packet)
        for packet in stream.encode(None):
            target.mux(packet)
    return out.getvalue()


def convert(wav: bytes, fmt: str) -> bytes:
    """The WAV recording in another upload format: wav, webm (opus), amr or ogg (speex)."""
    if fmt == "wav":
        return wav
    if fmt == "webm":
        return _ffmpeg(wav, "-c:a", "libopus", "-b:a", "32k", "-f", "webm")
    if fmt == "ogg":
        return _ffmpeg(wav, "-ar", "16000", "-ac", "1", "-c:a", "libspeex", "-f", "ogg")
    if fmt == "amr":
        return _amr(wav)
    raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")


def spoken_question(text: str, fmt: str = "wav", speed: int = SPEED) -> tuple[bytes, str]:
    """The recording of `text` in `fmt` and the content type a client would send with it."""
    return convert(speak(text, speed), fmt), CONTENT_TYPES[fmt]


def load_questions(path: Path | None = None) -> list[tuple[str, str]]:
    """(question, service_id) pairs of knowledge/eval/voice/questions.yaml."""
    import yaml

    from retrieval.knowledge import KNOWLEDGE_DIR

    path = path or KNOWLEDGE_DIR / "eval" / "voice" / "questions.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [(str(item["q"]), str(item["service_id"])) for item in data["questions"]]

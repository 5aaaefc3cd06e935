"""Speech recognition behind one small interface, and audio decoding for every engine.

`AsrBackend.transcribe(audio, content_type)` takes the recording as uploaded (webm/opus from a
browser's MediaRecorder, amr from WeChat, ogg, wav, mp3, m4a) and returns a `Transcript`.
The built-in backend is faster-whisper (CTranslate2, CPU, int8) with the whisper-base model
that `make asr-model` joins into models/whisper-base. Another engine (FunASR/Paraformer, a cloud
ASR) plugs in by setting `YISHI_VOICE_ASR_BACKEND=package.module:Class`: the class is built as
`Class(settings)` and needs only `transcribe`; `decode_audio` below is there for it to use.
"""

from __future__ import annotations

import importlib
import io
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from channels.errors import YishiError
from channels.voice.config import VoiceSettings

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000

# what browsers, WeChat and recorders send; parameters (";codecs=opus") are ignored. An empty
# type or application/octet-stream is accepted and the container is recognised from the bytes.
AUDIO_TYPES = frozenset(
    {
        "audio/webm", "video/webm", "audio/ogg", "audio/opus", "application/ogg",
        "audio/wav", "audio/wave", "audio/x-wav", "audio/vnd.wave",
        "audio/mpeg", "audio/mp3", "audio/mp4", "audio/x-m4a", "audio/m4a", "audio/aac",
        "audio/amr", "audio/amr-wb", "audio/3gpp", "audio/speex", "audio/x-speex",
        "audio/ogg+speex", "audio/flac", "audio/x-flac",
        "application/octet-stream", "",
    }
)  # fmt: skip
# the demuxers and decoders FFmpeg may use on an upload: nothing else is parsed
CONTAINERS = frozenset({"matroska,webm", "ogg", "wav", "mp3", "mov,mp4,m4a,3gp,3g2,mj2", "amr", "aac", "flac"})  # fmt: skip
CODECS = frozenset(
    {"opus", "vorbis", "speex", "mp3", "mp3float", "aac", "amrnb", "amrwb", "flac", "alac"}
)


def _allowed_codec(name: str) -> bool:
    return name in CODECS or name.startswith("pcm_")


class AudioError(YishiError):
    """The recording cannot be used; `detail` tells the citizen what to do (Chinese)."""


class AsrUnavailableError(YishiError):
    def __init__(self, reason: str) -> None:
        super().__init__(
            "voice_unavailable", "语音识别暂时不可用，请直接输入文字提问。", status_code=503
        )
        self.reason = reason


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    duration_s: float
    # 0-1 where the engine reports it (faster-whisper: exp of the mean token log-probability)
    confidence: float | None = None


@runtime_checkable
class AsrBackend(Protocol):
    def transcribe(self, audio: bytes, content_type: str) -> Transcript: ...


@runtime_checkable
class SamplesBackend(Protocol):
    """A backend that also takes decoded 16 kHz mono samples (so they are decoded once)."""

    def transcribe_samples(self, samples: np.ndarray) -> Transcript: ...


def base_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_content_type(content_type: str | None) -> None:
    if base_type(content_type) not in AUDIO_TYPES and not base_type(content_type).startswith(
        "audio/"
    ):
        raise AudioError(
            "audio_unsupported_type",
            f"不支持的文件类型（{base_type(content_type)}），请上传录音（webm、ogg、amr、wav、mp3 等格式）。",
            415,
        )


def decode_audio(
    audio: bytes,
    content_type: str | None = None,
    max_seconds: float = 60.0,
    min_seconds: float = 0.0,
) -> np.ndarray:
    """Decode any supported recording to 16 kHz mono float32 samples, within the limits."""
    import av

    check_content_type(content_type)
    if not audio:
        raise AudioError("audio_empty", "没有收到录音内容，请按住按钮说话后再松开。", 422)
    undecodable = AudioError(
        "audio_undecodable", "无法识别这段录音的格式，请重新录制后再试，或直接输入文字。", 422
    )
    too_long = AudioError("audio_too_long", f"录音太长了，请控制在{max_seconds:g}秒以内。", 422)
    limit = int(max_seconds * SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        with av.open(io.BytesIO(audio), mode="r", metadata_errors="ignore") as container:
            if container.format.name not in CONTAINERS:
                raise undecodable
            streams = container.streams.audio
            if not streams or not _allowed_codec(streams[0].codec_context.name):
                raise undecodable
            stream = streams[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            try:
                for frame in container.decode(stream):
                    for out in resampler.resample(frame):
                        data = out.to_ndarray().reshape(-1)
                        chunks.append(data)
                        total += data.size
                    if total > limit:
                        raise too_long
            except av.error.FFmpegError as exc:
                # a recording cut short (the page closed mid-upload) keeps what decoded
                if not total:
                    raise undecodable from exc
                logger.info(
                    "audio decoding stopped early after %.1f s: %s", total / SAMPLE_RATE, exc
                )
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
                total += chunks[-1].size
    except AudioError:
        raise
    except (av.error.FFmpegError, ValueError, IndexError, OSError) as exc:
        raise undecodable from exc
    if total > limit:
        raise too_long
    if not total:
        raise undecodable
    samples = np.concatenate(chunks).astype(np.float32, copy=False)
    if samples.size < min_seconds * SAMPLE_RATE:
        raise AudioError("audio_too_short", "录音时间太短，请按住按钮把话说完再松开。", 422)
    return samples


def to_simplified(text: str) -> str:
    import zhconv

    return str(zhconv.convert(text, "zh-hans"))


class FasterWhisperBackend:
    """whisper-base on CTranslate2: CPU, int8, loaded once on first use (thread-safe)."""

    def __init__(self, settings: VoiceSettings) -> None:
        self.settings = settings
        self._model: WhisperModel | None = None
        self._suppress: list[int] = [-1]  # -1: whisper's own default set
        self._lock = threading.Lock()
        self.load_seconds: float | None = None

    def model(self) -> WhisperModel:
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None:
                directory = self.settings.model_dir
                if not (directory / "model.bin").is_file():
                    raise AsrUnavailableError(
                        f"{directory}/model.bin missing; run `make asr-model`"
                    )
                from faster_whisper import WhisperModel

                started = time.monotonic()
                try:
                    self._model = WhisperModel(
                        str(directory),
                        device="cpu",
                        compute_type=self.settings.compute_type,
                        cpu_threads=self.settings.cpu_threads,
                        local_files_only=True,
                    )
                except (RuntimeError, ValueError, OSError) as exc:
                    raise AsrUnavailableError(f"{directory}: {exc}") from exc
                if self.settings.suppress_latin:
                    self._suppress = [-1, *latin_tokens(self._model)]
                self.load_seconds = time.monotonic() - started
                logger.info("speech model %s loaded in %.1f s", directory, self.load_seconds)
        return self._model

    def transcribe(self, audio: bytes, content_type: str) -> Transcript:
        s = self.settings
        return self.transcribe_samples(decode_audio(audio, content_type, s.max_seconds))

    def transcribe_samples(self, samples: np.ndarray) -> Transcript:
        s = self.settings
        seconds = samples.size / SAMPLE_RATE
        segments, info = self.model().transcribe(
            samples,
            language=s.language,
            task="transcribe",
            beam_size=s.beam_size,
            # one pass, no sampling fallback: a short question either decodes or it doesn't,
            # and the fallback triples the time on exactly the clips it cannot save
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            # whisper-base loops on unclear Mandarin ("梦中，梦中，…"); cut the loop short
            no_repeat_ngram_size=3,
            # ... or runs through every bird radical it knows (鸿鹏鸡鸬…): a question is a few
            # characters a second; a 30-second window never needs more than the model's 448
            max_new_tokens=min(int(10 * min(seconds, 30.0)) + 20, 320),
            vad_filter=False,
            suppress_tokens=self._suppress,
        )
        texts: list[str] = []
        logprobs: list[float] = []
        for segment in segments:
            texts.append(segment.text)
            logprobs.append(segment.avg_logprob)
        # a loop cut short by max_new_tokens can end in half a character
        text = to_simplified("".join(texts)).replace("\ufffd", "").strip()
        confidence = math.exp(sum(logprobs) / len(logprobs)) if logprobs else None
        return Transcript(
            text=text,
            language=info.language or s.language,
            duration_s=round(seconds, 2),
            confidence=None if confidence is None else round(confidence, 3),
        )


_LATIN = re.compile(r"[\sA-Za-z'\-]+")


def latin_tokens(model: WhisperModel) -> list[int]:
    """Ids of the tokens that are Latin letters only. whisper-base sometimes answers unclear
    Mandarin in English ("Why do you think…") or in letters ("DQE-PAN"); with these tokens
    suppressed it writes the characters it heard instead (top-3 +1 to +3 of 48 spoken questions
    in each of four synthetic sets, and faster)."""
    tokenizer = model.hf_tokenizer
    ids = []
    for token_id in range(tokenizer.get_vocab_size()):
        text = tokenizer.decode([token_id])
        if text.strip() and _LATIN.fullmatch(text):
            ids.append(token_id)
    return ids


def make_backend(settings: VoiceSettings) -> AsrBackend:
    """The engine the settings name: `faster_whisper` or `package.module:Class`."""
    name = settings.asr_backend.strip()
    if name == "faster_whisper":
        return FasterWhisperBackend(settings)
    module_name, _, class_name = name.partition(":")
    if not module_name or not class_name:
        raise ValueError(
            f"YISHI_VOICE_ASR_BACKEND={name!r}: use 'faster_whisper' or 'package.module:Class'"
        )
    factory: Any = getattr(importlib.import_module(module_name), class_name)
    backend = factory(settings)
    if not isinstance(backend, AsrBackend):
        raise TypeError(f"{name} has no transcribe(audio, content_type) method")
    return backend

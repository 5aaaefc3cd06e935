"""POST /api/voice without Rasa: real gateway app, real decoding and matching, a stand-in ASR
plugged in by its dotted path (YISHI_VOICE_ASR_BACKEND), as a deployment plugs in another."""

from __future__ import annotations

import io
import math
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from fastapi.testclient import TestClient

from channels.config import Settings
from channels.main import create_app
from channels.voice.asr import SAMPLE_RATE, AudioError, Transcript, decode_audio
from channels.voice.config import VoiceSettings, get_voice_settings
from ops.stack import free_port


class FakeAsr:
    """Hears whatever the test says it hears; counts the recordings it got."""

    text: ClassVar[str] = ""
    calls: ClassVar[list[tuple[int, str]]] = []

    def __init__(self, settings: VoiceSettings) -> None:
        self.settings = settings

    def transcribe(self, audio: bytes, content_type: str) -> Transcript:
        FakeAsr.calls.append((len(audio), content_type))
        if FakeAsr.text == "<crash>":
            raise RuntimeError("engine fell over")
        return Transcript(text=FakeAsr.text, language="zh", duration_s=1.0)


def tone_wav(seconds: float, rate: int = 22_050, channels: int = 1) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * math.pi * 440 * t) * 32767).astype("<i2")
    if channels == 2:
        samples = np.repeat(samples, 2)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return out.getvalue()


def _encode(wav: bytes, fmt: str, codec: str, rate: int) -> bytes:
    import av

    out = io.BytesIO()
    with av.open(io.BytesIO(wav), mode="r") as source, av.open(out, mode="w", format=fmt) as target:
        stream = target.add_stream(codec, rate=rate)
        assert isinstance(stream, av.audio.stream.AudioStream)
        stream.layout = "mono"
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=rate)
        for frame in [*source.decode(audio=0), None]:
            for resampled in resampler.resample(frame):
                for packet in stream.encode(resampled):
                    target.mux(packet)
        for packet in stream.encode(None):
            target.mux(packet)
    return out.getvalue()


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("YISHI_VOICE_ASR_BACKEND", f"{__name__}:FakeAsr")
    monkeypatch.setenv("YISHI_VOICE_MAX_SECONDS", "5")
    monkeypatch.setenv("YISHI_VOICE_MAX_AUDIO_BYTES", str(400_000))
    get_voice_settings.cache_clear()
    FakeAsr.text = ""
    FakeAsr.calls = []
    closed = free_port()  # Rasa and the action server are "down"
    settings = Settings(
        rasa_url=f"http://127.0.0.1:{closed}",
        action_url=f"http://127.0.0.1:{closed}",
        database_url=f"sqlite:///{tmp_path / 'gateway.db'}",
        max_body_bytes=4096,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client
    get_voice_settings.cache_clear()


def _post(
    client: TestClient,
    audio: bytes | None,
    content_type: str = "audio/wav",
    sender: str | None = "web:voice1",
    **fields: str,
) -> Any:
    data = dict(fields)
    if sender is not None:
        data["sender"] = sender
    files = {"audio": ("rec", audio, content_type)} if audio is not None else None
    return client.post("/api/voice", data=data, files=files)


def _error(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"} and body["detail"], body
    assert body["error"] == error, body
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["detail"]), "detail is Chinese"
    return body


def test_unsure_transcript_answers_three_candidates_and_no_chat(client: TestClient) -> None:
    FakeAsr.text = "身份证"
    response = _post(client, tone_wav(1.0), "audio/wav")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["transcript"] == "身份证"
    assert body["chat"] is None and body["confident"] is False
    assert len(body["candidates"]) == 3
    for candidate in body["candidates"]:
        assert set(candidate) == {"service_id", "title", "payload", "score"}
        assert candidate["service_id"].startswith("id_card_")
        assert candidate["title"] and candidate["payload"]
    assert FakeAsr.calls and FakeAsr.calls[0][1] == "audio/wav"


def test_a_sure_transcript_goes_to_the_bot_and_a_bot_outage_is_503_not_500(
    client: TestClient,
) -> None:
    FakeAsr.text = "我的身份证丢了怎么补办"
    body = _error(_post(client, tone_wav(1.0)), 503, "bot_unavailable")
    assert "12345" in body["detail"]


@pytest.mark.parametrize(
    ("audio", "content_type", "status", "error"),
    [
        (None, "audio/wav", 422, "audio_missing"),
        (b"", "audio/webm", 422, "audio_empty"),
        (b"\x1aE\xdf\xa3 not really webm" * 20, "audio/webm;codecs=opus", 422, "audio_undecodable"),
        (b"RIFF....WAVEfmt garbage", "audio/wav", 422, "audio_undecodable"),
        (b"hello", "text/plain", 415, "audio_unsupported_type"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png", 415, "audio_unsupported_type"),
    ],
)
def test_bad_recordings_get_4xx_json_in_chinese(
    client: TestClient, audio: bytes | None, content_type: str, status: int, error: str
) -> None:
    _error(_post(client, audio, content_type), status, error)
    assert FakeAsr.calls == []


def test_a_picture_labelled_as_audio_is_undecodable(client: TestClient) -> None:
    _error(_post(client, b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "audio/ogg"), 422, "audio_undecodable")


def test_too_long_too_short_and_too_large(client: TestClient) -> None:
    _error(_post(client, tone_wav(6.0, rate=8000)), 422, "audio_too_long")
    _error(_post(client, tone_wav(0.1)), 422, "audio_too_short")
    # over YISHI_VOICE_MAX_AUDIO_BYTES: the route's own message
    _error(_post(client, b"\0" * 420_000, "audio/wav"), 413, "audio_too_large")
    # far over it: the body limit stops the upload before it is read
    _error(_post(client, b"\0" * 600_000, "audio/wav"), 413, "body_too_large")


def test_other_routes_keep_the_small_body_limit(client: TestClient) -> None:
    response = client.post("/api/chat", json={"sender": "web:a", "text": "长" * 3000})
    _error(response, 413, "body_too_large")


@pytest.mark.parametrize(
    ("sender", "fields", "error"),
    [
        (None, {}, "bad_sender"),
        ("no-channel", {}, "bad_sender"),
        ("web:ok", {"mode": "loud"}, "bad_mode"),
    ],
)
def test_bad_sender_or_mode(
    client: TestClient, sender: str | None, fields: dict[str, str], error: str
) -> None:
    _error(_post(client, tone_wav(1.0), sender=sender, **fields), 422, error)


def test_a_wrong_citizen_token_is_403(client: TestClient) -> None:
    response = client.post(
        "/api/voice",
        data={"sender": "web:voice1"},
        files={"audio": ("rec.wav", tone_wav(1.0), "audio/wav")},
        headers={"X-Yishi-Citizen-Token": "nope"},
    )
    _error(response, 403, "forbidden")


def test_nothing_recognised_asks_to_say_it_again(client: TestClient) -> None:
    FakeAsr.text = "  "
    _error(_post(client, tone_wav(1.0)), 422, "speech_unclear")


def test_an_engine_failure_is_503_json(client: TestClient) -> None:
    FakeAsr.text = "<crash>"
    _error(_post(client, tone_wav(1.0)), 503, "asr_failed")


def test_a_json_body_is_not_a_recording(client: TestClient) -> None:
    response = client.post("/api/voice", json={"sender": "web:a", "audio": "x"})
    assert response.status_code == 422
    assert response.json()["error"] in {"bad_sender", "audio_missing"}


def test_without_the_model_the_builtin_engine_answers_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YISHI_VOICE_ASR_BACKEND", "faster_whisper")
    monkeypatch.setenv("YISHI_VOICE_MODEL_DIR", str(tmp_path / "no-model"))
    get_voice_settings.cache_clear()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'g.db'}")
    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            _error(_post(client, tone_wav(1.0)), 503, "voice_unavailable")
    finally:
        get_voice_settings.cache_clear()


# -- decoding ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fmt", "codec", "rate", "content_type"),
    [
        ("webm", "libopus", 48_000, "audio/webm;codecs=opus"),
        ("ogg", "libopus", 48_000, "audio/ogg"),
        ("amr", "libopencore_amrnb", 8_000, "audio/amr"),
        ("mp3", "libmp3lame", 22_050, "audio/mpeg"),
    ],
)
def test_browser_and_wechat_formats_decode_to_16k_mono(
    fmt: str, codec: str, rate: int, content_type: str
) -> None:
    encoded = _encode(tone_wav(2.0), fmt, codec, rate)
    samples = decode_audio(encoded, content_type)
    assert samples.dtype == np.float32
    assert abs(samples.size / SAMPLE_RATE - 2.0) < 0.15
    assert 0.1 < float(np.abs(samples).max()) <= 1.0


def test_stereo_wav_becomes_mono_and_limits_apply() -> None:
    samples = decode_audio(tone_wav(1.0, rate=44_100, channels=2), "audio/x-wav")
    assert abs(samples.size - SAMPLE_RATE) < 200
    with pytest.raises(AudioError) as too_long:
        decode_audio(tone_wav(3.0), "audio/wav", max_seconds=2)
    assert too_long.value.error == "audio_too_long" and "2秒" in too_long.value.detail
    with pytest.raises(AudioError) as unsupported:
        decode_audio(b"abc", "application/json")
    assert unsupported.value.status_code == 415

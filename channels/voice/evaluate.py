"""`python -m channels.voice.evaluate`: voice input quality on the spoken question set.

Speaks every question of knowledge/eval/voice/questions.yaml with espeak-ng (channels/voice/
synth.py), runs it through the same decoding, recognition and matching as POST /api/voice (in
this process, no gateway), and prints per clip the transcript and top-3, then top-1/top-3
accuracy, how often the matcher was sure (and right), recognition seconds per clip (p50/p95),
the model's load time and the memory it added.

    python -m channels.voice.evaluate [--formats wav,webm,amr] [--speed 120] [--save out.json]
    python -m channels.voice.evaluate --rescore out.json   # matching only, on saved transcripts
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from channels.voice.config import VoiceSettings
from channels.voice.matching import ServiceMatcher


@dataclass
class Clip:
    question: str
    service_id: str
    fmt: str
    transcript: str
    asr_s: float
    top: list[str]
    sure: bool = False
    audio_s: float = 0.0  # the recording's length: real-time factor = asr_s / audio_s


def _rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rescore(clips: list[Clip], matcher: ServiceMatcher) -> None:
    for clip in clips:
        result = matcher.match(clip.transcript)
        clip.top = [c.service_id for c in result.candidates]
        clip.sure = result.sure


def summary(clips: list[Clip]) -> dict[str, float]:
    n = len(clips)
    top1 = sum(c.top[:1] == [c.service_id] for c in clips)
    top3 = sum(c.service_id in c.top[:3] for c in clips)
    sure = [c for c in clips if c.sure]
    times = np.array([c.asr_s for c in clips]) if clips else np.zeros(1)
    return {
        "clips": n,
        "top1": top1 / n if n else 0.0,
        "top3": top3 / n if n else 0.0,
        "sure": len(sure) / n if n else 0.0,
        "sure_right": (sum(c.top[:1] == [c.service_id] for c in sure) / len(sure)) if sure else 0.0,
        "asr_p50_s": float(np.percentile(times, 50)),
        "asr_p95_s": float(np.percentile(times, 95)),
        # seconds of recognition per second of speech, over the whole set
        "rtf": (
            float(sum(c.asr_s for c in clips) / sum(c.audio_s for c in clips))
            if clips and sum(c.audio_s for c in clips) > 0
            else float("nan")
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m channels.voice.evaluate", description=__doc__)
    parser.add_argument("--questions", type=Path, default=None, help="question YAML file")
    parser.add_argument("--formats", default="wav", help="upload formats, used in turn (wav,webm,amr,ogg)")  # fmt: skip
    parser.add_argument("--speed", type=int, default=None, help="espeak-ng words per minute")
    parser.add_argument("--save", type=Path, help="write the clips (with transcripts) as JSON")
    parser.add_argument("--rescore", type=Path, help="match saved transcripts again; no speech")
    parser.add_argument("--quiet", action="store_true", help="summary only")
    args = parser.parse_args(argv)

    from channels.voice import synth
    from channels.voice.asr import FasterWhisperBackend, make_backend
    from channels.voice.service import VoiceService, build_matcher

    settings = VoiceSettings()
    out = sys.stdout
    started = time.monotonic()
    matcher = build_matcher(settings)
    out.write(f"matcher: {len(matcher.phrases)} phrases in {time.monotonic() - started:.1f} s\n")

    if args.rescore:
        clips = [Clip(**item) for item in json.loads(args.rescore.read_text(encoding="utf-8"))]
        rescore(clips, matcher)
        load_s = rss_added = float("nan")
    else:
        backend = make_backend(settings)
        rss_before = _rss_mb()
        load_s = float("nan")
        if isinstance(backend, FasterWhisperBackend):
            t0 = time.monotonic()
            backend.model()
            load_s = time.monotonic() - t0
        service = VoiceService(settings, backend, matcher)
        formats = [f.strip() for f in args.formats.split(",") if f.strip()]
        speed = args.speed or synth.SPEED
        clips = []
        for i, (question, service_id) in enumerate(synth.load_questions(args.questions)):
            fmt = formats[i % len(formats)]
            audio, content_type = synth.spoken_question(question, fmt, speed)
            t0 = time.monotonic()
            transcript = service.transcribe_now(audio, content_type)
            asr_s = time.monotonic() - t0
            clips.append(
                Clip(
                    question,
                    service_id,
                    fmt,
                    transcript.text,
                    round(asr_s, 3),
                    [],
                    audio_s=round(transcript.duration_s, 3),
                )
            )
        rss_added = _rss_mb() - rss_before
        rescore(clips, matcher)
    for clip in clips if not args.quiet else []:
        mark = (
            "✓"
            if clip.top[:1] == [clip.service_id]
            else ("3" if clip.service_id in clip.top else "✗")
        )
        out.write(
            f"{mark} {'sure ' if clip.sure else '     '}{clip.fmt:4} {clip.asr_s:5.2f}s "
            f"{clip.question} → {clip.transcript} → {', '.join(clip.top)}\n"
        )
    s = summary(clips)
    out.write(
        f"clips {s['clips']}: top-1 {s['top1']:.1%}, top-3 {s['top3']:.1%}; sure {s['sure']:.1%} "
        f"(right {s['sure_right']:.1%}); ASR per clip p50 {s['asr_p50_s']:.2f} s, "
        f"p95 {s['asr_p95_s']:.2f} s, real-time factor {s['rtf']:.2f}; model load {load_s:.1f} s, RSS added {rss_added:.0f} MB\n"
    )
    if args.save:
        args.save.write_text(
            json.dumps([asdict(c) for c in clips], ensure_ascii=False, indent=1), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

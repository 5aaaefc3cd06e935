"""Which services a (possibly misheard) transcript means: characters and toneless pinyin.

whisper-base hears Mandarin poorly: "身份证丢了怎么办" may come back as "准分准丢的准备盘" — wrong
characters, but close in sound. So every phrase a service is known by (its title, the guide's
keywords and synonyms, the question phrasings and FAQ questions in knowledge/) is kept as a
sequence of (character, toneless pinyin syllable) units, and a transcript is aligned against
each phrase twice (Smith-Waterman local alignment, vectorised over all phrases):

* on syllables, where near sounds earn partial credit (zh/z/j, en/eng, b/p … see
  `syllable_similarity`), and
* on characters, exact only, which rewards a transcript that got the words right.

Units are weighted by how specific they are (a syllable or character found in few services'
phrases weighs more than 怎么/办理), and a phrase's score is the weight it got aligned divided
by its own weight (plus a constant, so a two-syllable keyword cannot win on one lucky match).
A service scores its best phrase. `match()` returns the top candidates, and `sure` says whether
the best one leads clearly enough to answer at once instead of asking the citizen to pick.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

import numpy as np

from retrieval.knowledge import KNOWLEDGE_DIR, load_knowledge
from retrieval.text import normalise

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[0-9]+|[a-z]+")
_DIGITS = dict(zip("0123456789", "ling yi er san si wu liu qi ba jiu".split(), strict=True))

# alignment: a pair scores (similarity − NEUTRAL)/(1 − NEUTRAL)·weight; skipping costs
# Tuned on whisper-base transcripts of 90 spoken questions from knowledge/eval/questions.yaml
# (dev split), not on the voice question set the tests and `channels.voice.evaluate` report.
SIM_NEUTRAL = 0.2
GAP_TRANSCRIPT = 0.1  # a syllable the transcript has and the phrase lacks (filler, noise)
GAP_PHRASE = 0.5  # × weight: a phrase syllable the transcript lacks
LENGTH_PRIOR = 0.25  # added to a phrase's weight when normalising (shrinks short phrases)
CHAR_SHARE = 0.3  # the character score's share of a phrase's score; pinyin has the rest
MIN_WEIGHT = 0.15
INITIAL_SHARE = 0.4  # of a syllable's similarity; the final has the rest
SECOND_PHRASE = 0.3  # share of a service's second-best phrase added to its best


# -- syllables -------------------------------------------------------------------------------
_INITIAL_NEAR: dict[frozenset[str], float] = {}
for _pairs, _score in (
    # aspiration, and the three sibilant series (dental / retroflex / palatal) heard as one another
    (
        "b-p d-t g-k z-c zh-ch j-q z-zh c-ch s-sh z-j c-q s-x zh-j ch-q sh-x n-l l-r f-h",
        0.7,
    ),
    ("zh-sh ch-sh z-s c-s j-x q-x r-zh r-sh m-n m-b n-d h-k h-g zh-x sh-j ch-x r-y", 0.4),
):
    for _pair in _pairs.split():
        _a, _b = _pair.split("-")
        _INITIAL_NEAR[frozenset((_a, _b))] = _score

_FINAL_NEAR: dict[frozenset[str], float] = {}
for _pairs, _score in (
    ("en-eng in-ing an-ang uen-ueng ian-iang uan-uang vn-iong en-uen eng-ong in-vn", 0.8),
    ("i-v ie-ve ian-van e-o o-uo e-uo ai-ei ao-ou iao-iou an-en ang-eng ei-uei ou-iou", 0.6),
    ("u-ou uo-ou a-ia a-ua e-ie i-ie an-ian an-uan en-in eng-ing ong-iong er-e", 0.5),
):
    for _pair in _pairs.split():
        _a, _b = _pair.split("-")
        _FINAL_NEAR[frozenset((_a, _b))] = _score


@lru_cache(maxsize=2048)
def split_syllable(syllable: str) -> tuple[str, str]:
    """Initial and final of a toneless syllable, y/w folded into the final (yan → '', ian)."""
    from pypinyin.contrib.tone_convert import to_finals, to_initials

    return to_initials(syllable, strict=True), to_finals(syllable, strict=True) or syllable


@lru_cache(maxsize=65536)
def syllable_similarity(a: str, b: str) -> float:
    """0-1: how alike two toneless syllables sound (1 for the same syllable)."""
    if a == b:
        return 1.0
    ia, fa = split_syllable(a)
    ib, fb = split_syllable(b)
    initial = 1.0 if ia == ib else _INITIAL_NEAR.get(frozenset((ia, ib)), 0.0)
    if fa == fb:
        final = 1.0
    else:
        final = max(
            _FINAL_NEAR.get(frozenset((fa, fb)), 0.0),
            0.8 * SequenceMatcher(None, fa, fb).ratio() - 0.1,
        )
    return round(INITIAL_SHARE * initial + (1 - INITIAL_SHARE) * max(final, 0.0), 4)


@lru_cache(maxsize=1)
def pinyin_syllables() -> frozenset[str]:
    """Every toneless syllable pypinyin knows (to read Latin letters whisper writes as pinyin)."""
    from pypinyin.contrib.tone_convert import to_normal
    from pypinyin.pinyin_dict import pinyin_dict

    return frozenset(
        to_normal(reading) for readings in pinyin_dict.values() for reading in readings.split(",")
    )


def units(text: str) -> list[tuple[str, str]]:
    """(character, toneless syllable) for each spoken unit: Han characters, digits read out,
    and Latin words that are pinyin syllables (whisper sometimes writes "PAN" for 办)."""
    from pypinyin import Style, lazy_pinyin

    text = normalise(unicodedata.normalize("NFKC", text))
    result: list[tuple[str, str]] = []
    for token in _TOKEN.findall(text):
        if _HAN.fullmatch(token):
            syllables = lazy_pinyin(token, style=Style.NORMAL, errors="ignore")
            if len(syllables) == len(token):
                result.extend(zip(token, syllables, strict=True))
        elif token.isdigit():
            result.extend((digit, _DIGITS[digit]) for digit in token)
        elif token in pinyin_syllables():
            result.append((token, token))
    return result


# -- the phrase table ------------------------------------------------------------------------
@dataclass(frozen=True)
class Phrase:
    service_id: str
    text: str
    kind: str  # title, keyword, question, faq


@dataclass(frozen=True)
class Candidate:
    service_id: str
    title: str
    score: float
    payload: str
    phrase: str  # the phrase that matched best


@dataclass(frozen=True)
class MatchResult:
    transcript: str
    candidates: list[Candidate]
    sure: bool
    confidence: float

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


def service_phrases(
    root: Path = KNOWLEDGE_DIR,
) -> tuple[list[Phrase], dict[str, str], dict[str, str]]:
    """Every phrase a service is known by; its title; the question its button asks."""
    kb = load_knowledge(root)
    phrases: list[Phrase] = []
    titles: dict[str, str] = {}
    payloads: dict[str, str] = {}
    for service_id, guide in kb.guides.items():
        titles[service_id] = guide.name
        process = guide.questions.process
        payloads[service_id] = process[0] if process else f"{guide.name}怎么办理"
        name = guide.name
        plain = re.sub(r"[（(].*?[)）]", "", name)
        inner = re.findall(r"[（(](.*?)[)）]", name)
        for text in {name, plain, *inner}:
            phrases.append(Phrase(service_id, text, "title"))
        for text in guide.keywords:
            phrases.append(Phrase(service_id, text, "keyword"))
        questions = guide.questions
        for aspect in ("conditions", "materials", "process", "time_limit", "fee", "location", "online"):  # fmt: skip
            for text in getattr(questions, aspect):
                phrases.append(Phrase(service_id, text, "question"))
        for qa in guide.faq:
            for text in (qa.q, *qa.phrasings):
                phrases.append(Phrase(service_id, text, "faq"))
    for entry in kb.faq:
        if entry.service_id in titles:
            for text in (entry.question, *entry.phrasings):
                phrases.append(Phrase(entry.service_id, text, "faq"))
    return phrases, titles, payloads


def _idf(docs: Iterable[set[str]], n_docs: int) -> dict[str, float]:
    counts: dict[str, int] = {}
    for doc in docs:
        for item in doc:
            counts[item] = counts.get(item, 0) + 1
    top = math.log(n_docs + 1)
    return {
        item: max(MIN_WEIGHT, math.log((n_docs + 1) / (count + 0.5)) / top)
        for item, count in counts.items()
    }


@dataclass
class _Scored:
    score: float
    chars: float  # the best phrase's character score alone
    phrase: str


@dataclass
class _Table:
    """Phrases as padded id matrices: syllable ids, character ids, unit weights."""

    syllables: list[str]
    syl_ids: np.ndarray  # (phrases, L) int, -1 = padding
    char_ids: np.ndarray
    syl_w: np.ndarray  # (phrases, L) float, 0 = padding
    char_w: np.ndarray
    syl_norm: np.ndarray  # (phrases,)
    char_norm: np.ndarray
    char_index: dict[str, int] = field(default_factory=dict)


class ServiceMatcher:
    """Built once from knowledge/ (about 1,700 phrases); `match()` is thread-safe."""

    def __init__(
        self,
        phrases: list[Phrase],
        titles: dict[str, str],
        payloads: dict[str, str],
        *,
        top_k: int = 3,
        sure_score: float = 0.6,
        sure_margin: float = 0.15,
        sure_chars: float = 0.35,
    ) -> None:
        self.titles = titles
        self.payloads = payloads
        self.top_k = top_k
        self.sure_score = sure_score
        self.sure_margin = sure_margin
        self.sure_chars = sure_chars
        self.phrases = [p for p in phrases if units(p.text)]
        self.service_ids = sorted(titles)
        index = {sid: i for i, sid in enumerate(self.service_ids)}
        self._phrase_service = np.array([index[p.service_id] for p in self.phrases], dtype=np.int64)
        self._table = self._build()
        self._row_cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_knowledge(
        cls,
        root: Path = KNOWLEDGE_DIR,
        *,
        top_k: int = 3,
        sure_score: float = 0.6,
        sure_margin: float = 0.15,
        sure_chars: float = 0.35,
    ) -> ServiceMatcher:
        phrases, titles, payloads = service_phrases(root)
        return cls(
            phrases,
            titles,
            payloads,
            top_k=top_k,
            sure_score=sure_score,
            sure_margin=sure_margin,
            sure_chars=sure_chars,
        )

    def _build(self) -> _Table:
        phrase_units = [units(p.text) for p in self.phrases]
        by_service_syl: dict[str, set[str]] = {}
        by_service_char: dict[str, set[str]] = {}
        for phrase, us in zip(self.phrases, phrase_units, strict=True):
            by_service_syl.setdefault(phrase.service_id, set()).update(s for _, s in us)
            by_service_char.setdefault(phrase.service_id, set()).update(c for c, _ in us)
        n = len(self.titles)
        syl_idf = _idf(by_service_syl.values(), n)
        char_idf = _idf(by_service_char.values(), n)
        syllables = sorted({s for us in phrase_units for _, s in us})
        syl_index = {s: i for i, s in enumerate(syllables)}
        chars = sorted({c for us in phrase_units for c, _ in us})
        char_index = {c: i for i, c in enumerate(chars)}
        length = max(len(us) for us in phrase_units)
        shape = (len(phrase_units), length)
        syl_ids = np.full(shape, -1, dtype=np.int64)
        char_ids = np.full(shape, -1, dtype=np.int64)
        syl_w = np.zeros(shape)
        char_w = np.zeros(shape)
        for row, us in enumerate(phrase_units):
            for col, (char, syl) in enumerate(us):
                syl_ids[row, col] = syl_index[syl]
                char_ids[row, col] = char_index[char]
                syl_w[row, col] = syl_idf[syl]
                char_w[row, col] = char_idf[char]
        return _Table(
            syllables=syllables,
            syl_ids=syl_ids,
            char_ids=char_ids,
            syl_w=syl_w,
            char_w=char_w,
            syl_norm=syl_w.sum(axis=1) + LENGTH_PRIOR,
            char_norm=char_w.sum(axis=1) + LENGTH_PRIOR,
            char_index=char_index,
        )

    def _syllable_row(self, syllable: str) -> np.ndarray:
        """Substitution scores (2·similarity − 1) of one transcript syllable against the
        phrase vocabulary, with a last entry for padding."""
        row = self._row_cache.get(syllable)
        if row is None:
            sims = [syllable_similarity(syllable, other) for other in self._table.syllables]
            row = np.array([*((s - SIM_NEUTRAL) / (1 - SIM_NEUTRAL) for s in sims), 0.0])
            with self._lock:
                self._row_cache[syllable] = row
        return row

    @staticmethod
    def _align(subst: list[np.ndarray], weights: np.ndarray, gap_phrase: float) -> np.ndarray:
        """Best local-alignment score per phrase. subst[i] is (phrases, L): the weighted score of
        transcript unit i against each phrase position."""
        n, length = weights.shape
        best = np.zeros(n)
        prev = np.zeros((n, length + 1))
        skip = gap_phrase * weights
        for scores in subst:
            cur = np.zeros((n, length + 1))
            vertical = prev[:, 1:] - GAP_TRANSCRIPT
            diagonal = prev[:, :-1] + scores
            base = np.maximum(np.maximum(diagonal, vertical), 0.0)
            for j in range(length):
                cur[:, j + 1] = np.maximum(base[:, j], cur[:, j] - skip[:, j])
            np.maximum(best, cur.max(axis=1), out=best)
            prev = cur
        return best

    def phrase_scores(self, transcript: str) -> tuple[np.ndarray, np.ndarray]:
        """0-1 per phrase: the share of its weight the transcript covers (syllables and
        characters combined), and the characters' share alone."""
        t = self._table
        spoken = units(transcript)
        if not spoken:
            return np.zeros(len(self.phrases)), np.zeros(len(self.phrases))
        syl_ids = np.where(t.syl_ids < 0, len(t.syllables), t.syl_ids)
        syl_subst = [self._syllable_row(syl)[syl_ids] * t.syl_w for _, syl in spoken]
        char_subst = []
        for char, _ in spoken:
            cid = t.char_index.get(char, -2)
            char_subst.append(np.where(t.char_ids == cid, 1.0, -1.0) * t.char_w)
        syl = self._align(syl_subst, t.syl_w, GAP_PHRASE) / t.syl_norm
        chars = self._align(char_subst, t.char_w, GAP_PHRASE) / t.char_norm
        combined: np.ndarray = (1 - CHAR_SHARE) * syl + CHAR_SHARE * chars
        return combined, chars

    def service_scores(self, transcript: str) -> dict[str, _Scored]:
        """Each service's score: its best phrase, plus a share of its second best."""
        scores, chars = self.phrase_scores(transcript)
        best: dict[str, _Scored] = {}
        second: dict[str, float] = {}
        for i in np.argsort(-scores, kind="stable"):
            sid = self.phrases[i].service_id
            if sid not in best:
                best[sid] = _Scored(float(scores[i]), float(chars[i]), self.phrases[i].text)
            elif sid not in second:
                second[sid] = float(scores[i])
        for sid, scored in best.items():
            scored.score += SECOND_PHRASE * second.get(sid, 0.0)
        return best

    def match(self, transcript: str) -> MatchResult:
        """The top candidates for a transcript, and whether the best is clear enough to answer."""
        scored = self.service_scores(transcript)
        ranked = sorted(scored, key=lambda sid: (-scored[sid].score, sid))
        candidates = [
            Candidate(
                service_id=sid,
                title=self.titles[sid],
                score=round(scored[sid].score, 4),
                payload=self.payloads[sid],
                phrase=scored[sid].phrase,
            )
            for sid in ranked[: self.top_k]
            if scored[sid].score > 0
        ]
        if not candidates:
            return MatchResult(transcript, [], False, 0.0)
        top = candidates[0].score
        second = candidates[1].score if len(candidates) > 1 else 0.0
        # answering at once sends the transcript itself to the bot: only when it leads clearly
        # AND its words (not just their sounds) are right, or the bot would get a misheard text
        sure = (
            top >= self.sure_score
            and top - second >= self.sure_margin
            and scored[candidates[0].service_id].chars >= self.sure_chars
        )
        return MatchResult(transcript, candidates, sure, round(top, 4))

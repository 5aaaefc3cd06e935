"""Answering queries from a built index: hybrid search, service/aspect aggregation, bands.

`Searcher.open()` loads the index that `indexes/CURRENT` names and refuses one whose manifest
does not match the encoder model, the knowledge corpus or the lexicon. `SearcherHandle` keeps a
searcher per process and swaps in a rebuilt index when CURRENT changes, without a restart.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.aspects import aspect_weights
from retrieval.config import RetrievalSettings, get_retrieval_settings
from retrieval.documents import Document
from retrieval.fusion import Calibration
from retrieval.index import DenseIndex
from retrieval.lexical import BM25_SERVICES_DIR, LexicalIndex
from retrieval.manifest import (
    CURRENT_FILE,
    DOCS_FILE,
    MANIFEST_FILE,
    CorpusChangedError,
    IndexMismatchError,
    corpus_sha256,
)
from retrieval.text import (
    lexicon_sha256,
    normalise,
    out_of_scope_subjects,
    out_of_scope_terms,
)

if TYPE_CHECKING:
    from retrieval.encoder import Encoder

logger = logging.getLogger(__name__)


@dataclass
class Hit:
    doc_id: str
    service_id: str | None
    aspect: str | None
    title: str
    score: float
    dense: float
    lexical: float
    document: Document

    def summary(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "service_id": self.service_id,
            "aspect": self.aspect,
            "title": self.title,
            "score": round(self.score, 5),
            "dense": round(self.dense, 4),
            "lexical": round(self.lexical, 4),
        }


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    confidence: float
    band: str
    features: dict[str, float]
    services: list[tuple[str, float]] = field(default_factory=list)
    candidates: list[Hit] = field(default_factory=list)
    # a subject no guide covers that the question names (knowledge/lexicon/out_of_scope.yaml)
    outside: str | None = None

    @property
    def best(self) -> Hit | None:
        return self.hits[0] if self.hits else None


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first (a partial sort: the KB may be large)."""
    k = min(k, scores.size)
    if k == scores.size:
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def service_key(doc: Document) -> str:
    """What answers are grouped by: the guide's service, or an FAQ entry of its own."""
    return doc.service_id or f"faq:{doc.doc_id}"


class Searcher:
    def __init__(
        self,
        directory: Path,
        encoder: Encoder,
        settings: RetrievalSettings | None = None,
        check_corpus: bool = True,
    ) -> None:
        self.settings = settings or get_retrieval_settings()
        self.directory = directory
        self.encoder = encoder
        manifest_path = directory / MANIFEST_FILE
        if not manifest_path.exists():
            raise IndexMismatchError(f"{directory}: no {MANIFEST_FILE}; run `make index`")
        self.manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
        self._check_manifest(check_corpus)
        with (directory / DOCS_FILE).open(encoding="utf-8") as handle:
            self.docs = [Document.from_json(json.loads(line)) for line in handle]
        self.dense = DenseIndex.load(directory, len(self.docs))
        self.lexical = LexicalIndex.load(directory)
        self.service_lexical = LexicalIndex.load(directory, BM25_SERVICES_DIR)
        self.calibration = Calibration.from_json(self.manifest.get("calibration"))
        self.kb_version: str = self.manifest["kb_version"]
        keys = [service_key(doc) for doc in self.docs]
        self._service_keys = sorted(set(keys))
        index_of = {key: i for i, key in enumerate(self._service_keys)}
        self._doc_service = np.array([index_of[key] for key in keys], dtype=np.int64)
        # documents an aspect cue lifts: that aspect's documents and the Q&A about it
        covers = [doc.aspects or _cued(doc.title) for doc in self.docs]
        self._aspect_masks = {
            aspect: np.array([aspect in c for c in covers], dtype=np.float64)
            for aspect in {a for c in covers for a in c}
        }
        self._service_docs = [
            np.flatnonzero(self._doc_service == i) for i in range(len(self._service_keys))
        ]
        # services with fewer rows than a service score averages: an imported FAQ entry is a
        # service of one document, its question and its passage
        service_rows = np.bincount(
            self._doc_service[self.dense.row_docs], minlength=len(self._service_keys)
        )
        self._small = service_rows <= self.settings.service_top_k
        self.by_id = {doc.doc_id: doc for doc in self.docs}

    def _check_manifest(self, check_corpus: bool) -> None:
        m = self.manifest
        if m.get("model_id") != self.encoder.model_id or int(m.get("dim", 0)) != self.encoder.dim:
            raise IndexMismatchError(
                f"{self.directory}: built with model {m.get('model_id')!r} (dim {m.get('dim')}), "
                f"but the encoder is {self.encoder.model_id!r} (dim {self.encoder.dim}); run `make index`"
            )
        if m.get("lexicon_sha256") != lexicon_sha256():
            raise IndexMismatchError(
                f"{self.directory}: the lexicon changed since the build; run `make index`"
            )
        if check_corpus and m.get("corpus_sha256") != corpus_sha256(self.settings.knowledge_dir):
            raise CorpusChangedError(
                f"{self.directory}: knowledge/ changed since the build; run `make index`"
            )

    @classmethod
    def open(cls, encoder: Encoder, settings: RetrievalSettings | None = None) -> Searcher:
        settings = settings or get_retrieval_settings()
        pointer = settings.index_root / CURRENT_FILE
        if not pointer.exists():
            raise IndexMismatchError(f"no index under {settings.index_root}; run `make index`")
        return cls(settings.index_root / pointer.read_text().strip(), encoder, settings)

    # -- scoring ------------------------------------------------------------------------------
    def search(
        self, query: str, top_k: int | None = None, vector: np.ndarray | None = None
    ) -> SearchResult:
        """Rank services by their best rows (dense top-k mean + service-level BM25), then pick
        the document of the top service whose rows, words and aspect cue fit the question.

        `vector`: the query's embedding when the caller has it already (the build's
        calibration takes the dev questions' vectors from its cache); it must be the
        embedding of `normalise(query)`."""
        s = self.settings
        top_k = top_k or s.top_k
        query = normalise(query)
        if vector is None:
            vector = self.encoder.encode_queries([query])[0]
        row_scores, row_docs = self.dense.search_rows(vector, s.dense_candidates)
        n_services = len(self._service_keys)
        floor = float(row_scores[-1]) if row_scores.size else 0.0
        sums = np.zeros(n_services)
        counts = np.zeros(n_services, dtype=np.int64)
        for score, service in zip(row_scores, self._doc_service[row_docs], strict=True):
            if counts[service] < s.service_top_k:
                sums[service] += score
                counts[service] += 1
        service_dense = (sums + (s.service_top_k - counts) * floor) / s.service_top_k
        if self._small.any():
            # padding a small service's mean with the floor would bury it whatever it says;
            # it gets its best row, less the gap between best row and mean that the leading
            # guide services show for this question, so both stand on the same footing
            best_row = np.full(n_services, floor)
            np.maximum.at(best_row, self._doc_service[row_docs], row_scores)
            full = np.flatnonzero(~self._small)
            lead = full[np.argsort(-service_dense[full])[:3]]
            gap = float(np.mean(best_row[lead] - service_dense[lead])) if lead.size else 0.0
            service_dense[self._small] = best_row[self._small] - gap
        service_lex_raw = self.service_lexical.scores(query)
        service_lex = (
            service_lex_raw / service_lex_raw.max()
            if service_lex_raw.max() > 0
            else service_lex_raw
        )
        service_score = service_dense + s.service_lexical_weight * service_lex

        doc_dense = np.full(len(self.docs), floor, dtype=np.float64)
        np.maximum.at(doc_dense, row_docs, row_scores)
        doc_lex = self.lexical.scores(query)
        cues = aspect_weights(query)
        within = doc_dense.copy()
        ranked_services = _top(service_score, max(3, top_k))
        for service in ranked_services[: max(3, top_k)]:
            members = self._service_docs[service]
            lex = doc_lex[members]
            if lex.max() > 0:
                within[members] += s.doc_lexical_weight * lex / lex.max()
        # a document that answers several of the asked aspects (a tagged Q&A) counts the best one
        boost = np.zeros(len(self.docs))
        for cue, weight in cues.items():
            if cue in self._aspect_masks:
                boost = np.maximum(boost, weight * self._aspect_masks[cue])
        within += s.aspect_boost * boost
        # a Q&A has a few phrasings against a section's dozen: a small lift evens the odds
        if "other" in self._aspect_masks:
            within += s.qa_boost * self._aspect_masks["other"]
        total = s.service_weight * service_score[self._doc_service] + within

        top = ranked_services[0]
        second = ranked_services[1] if n_services > 1 else top
        lex_log = np.log1p(service_lex_raw)
        others = np.arange(n_services) != top
        features = {
            "service_top": float(service_score[top]),
            "service_margin": float(service_score[top] - service_score[second]) * 10,
            "dense_top": float(doc_dense[self._service_docs[top]].max()),
            "lexical_top": float(lex_log[top]),
            "lexical_margin": float(
                lex_log[top] - (lex_log[others].max() if others.any() else 0.0)
            ),
        }
        if not row_scores.size:
            return SearchResult(query, [], 0.0, "none", features)
        confidence = self.calibration.confidence(features)
        # only the best documents matter: hits, and clarify choices from distinct services
        order = [int(i) for i in _top(total, max(top_k, 3) * 8)]
        # a question naming a subject the lexicon lists ("签证", "二手车") is answered only
        # from a document that speaks of that subject: the best such document of the top
        # service moves to the front; without one the subject is outside the guides
        outside = None
        named = self._named_subjects(query)
        if named and order and not self._speaks_of(order[0], named):
            speaking = [i for i in self._service_docs[top] if self._speaks_of(int(i), named)]
            if speaking:
                best = int(max(speaking, key=lambda i: total[i]))
                order = [best, *(i for i in order if i != best)]
            else:
                outside = named[0]
        hits = [self._hit(i, doc_dense, doc_lex, total) for i in order[:top_k]]
        candidates = self._candidates(order, doc_dense, doc_lex, total)
        services = [
            (self._service_keys[i], float(service_score[i])) for i in ranked_services[:top_k]
        ]
        band = self.calibration.band(confidence, features)
        if outside:
            band = "none"
        return SearchResult(query, hits, confidence, band, features, services, candidates, outside)

    @staticmethod
    def _named_subjects(query: str) -> list[str]:
        """The uncovered subjects (knowledge/lexicon/out_of_scope.yaml) the query names."""
        return list(dict.fromkeys(s for term, s in out_of_scope_terms().items() if term in query))

    def _speaks_of(self, i: int, subjects: list[str]) -> bool:
        """Whether document i mentions each subject in any of its words (a passport Q&A
        about 签证 covers "旧护照里的美签")."""
        doc = self.docs[i]
        text = normalise(f"{doc.lexical_text} {doc.answer}")
        terms = out_of_scope_subjects()
        return all(any(term in text for term in terms[subject]) for subject in subjects)

    def _hit(self, i: int, dense: np.ndarray, lexical: np.ndarray, fused: np.ndarray) -> Hit:
        doc = self.docs[i]
        return Hit(doc.doc_id, doc.service_id, doc.aspect, doc.title, float(fused[i]),
                   float(dense[i]), float(lexical[i]), doc)  # fmt: skip

    def _candidates(
        self, ranked: list[int], dense: np.ndarray, lexical: np.ndarray, fused: np.ndarray
    ) -> list[Hit]:
        """Up to 3 choices for a clarifying question: distinct service × aspect, best first."""
        seen: set[tuple[str, str | None]] = set()
        chosen: list[Hit] = []
        for i in ranked:
            doc = self.docs[i]
            key = (service_key(doc), doc.aspect)
            if key in seen:
                continue
            seen.add(key)
            chosen.append(self._hit(i, dense, lexical, fused))
            if len(chosen) == 3:
                break
        return chosen


def _cued(question: str) -> frozenset[str]:
    """What an FAQ entry filed under no aspect answers, read from its question's cues: an
    imported "图书馆几点开门" answers about time as a guide's time section does."""
    return frozenset(a for a, w in aspect_weights(normalise(question)).items() if w >= 1)


class SearcherHandle:
    """One searcher per process; a rebuilt index (CURRENT changed) is swapped in atomically."""

    def __init__(
        self, settings: RetrievalSettings | None = None, encoder: Encoder | None = None
    ) -> None:
        self.settings = settings or get_retrieval_settings()
        self._encoder = encoder
        self._cluster_encoder: Encoder | None = None
        self._searcher: Searcher | None = None
        self._pointer_seen: str | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            from retrieval.encoder import Encoder

            self._encoder = Encoder(self.settings.model_dir, batch_size=self.settings.batch_size)
        return self._encoder

    @property
    def cluster_encoder(self) -> Encoder:
        """The encoder that groups similar questions (settings.cluster_model_dir), loaded on
        first use; the search encoder itself when both name the same directory."""
        if self._cluster_encoder is None:
            from retrieval.encoder import Encoder

            same = self.settings.cluster_model_dir.resolve() == self.settings.model_dir.resolve()
            self._cluster_encoder = (
                self.encoder
                if same
                else Encoder(self.settings.cluster_model_dir, batch_size=self.settings.batch_size)
            )
        return self._cluster_encoder

    def get(self) -> Searcher:
        now = time.monotonic()
        with self._lock:
            if self._searcher is not None and now - self._checked_at < self.settings.reload_check_s:
                return self._searcher
            self._checked_at = now
            pointer = self.settings.index_root / CURRENT_FILE
            current = pointer.read_text().strip() if pointer.exists() else None
            if self._searcher is None or current != self._pointer_seen:
                searcher = self._open()
                if self._searcher is not None:
                    logger.info(
                        "knowledge index swapped: %s → %s",
                        self._searcher.kb_version,
                        searcher.kb_version,
                    )
                self._searcher, self._pointer_seen = searcher, current
            return self._searcher

    def _open(self) -> Searcher:
        """The CURRENT index. One built before the latest knowledge edit is still served (its
        answers come from its own docs.jsonl, so they stay consistent) until the rebuild that
        an edit calls for; a model or lexicon mismatch is refused as always."""
        try:
            return Searcher.open(self.encoder, self.settings)
        except CorpusChangedError as exc:
            logger.warning("%s; serving it until the index is rebuilt", exc)
            pointer = self.settings.index_root / CURRENT_FILE
            directory = self.settings.index_root / pointer.read_text().strip()
            return Searcher(directory, self.encoder, self.settings, check_corpus=False)

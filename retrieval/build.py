"""`python -m retrieval.build` (make index): knowledge/ → indexes/<kb_version>/.

Writes docs.jsonl, index.faiss + rows.npy (dense), bm25/ (lexical) and manifest.json (model id,
dim, normalised, doc count, corpus and lexicon sha256, calibration fitted on the eval dev split)
into a temporary directory, then renames it and points indexes/CURRENT at it atomically, so a
running process never sees half an index.

Vectors already computed (passages, question phrasings and the dev questions calibration
searches with) come from an embedding cache, so after a small edit only what changed is
embedded and the model is not even loaded when nothing did. `--progress-file PATH` keeps a
JSON object `{"stage", "step", "steps", "done", "total"}` up to date in PATH (written
atomically), ending with `{"stage": "done", "kb_version", "seconds", …}` or
`{"stage": "error", "error"}`: the admin page's progress bar reads it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from retrieval.config import RetrievalSettings, get_retrieval_settings
from retrieval.documents import Document, build_documents
from retrieval.fusion import FEATURES, Calibration
from retrieval.index import DenseIndex, make_index
from retrieval.knowledge import KnowledgeError, load_knowledge, parse_file
from retrieval.lexical import BM25_SERVICES_DIR, LexicalIndex
from retrieval.manifest import CURRENT_FILE, DOCS_FILE, MANIFEST_FILE, corpus_sha256
from retrieval.schema import EvalFile, EvalQuestion
from retrieval.searcher import service_key
from retrieval.text import lexicon_sha256, normalise

if TYPE_CHECKING:
    from retrieval.encoder import Encoder

logger = logging.getLogger(__name__)
KEEP_VERSIONS = 3
# the build's stages, in order, as the progress file names them
STAGES = ("knowledge", "embed", "index", "calibrate", "publish")
Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


class ProgressFile:
    """`{"stage", "step", "steps", "done", "total", "updated_at"}` in a JSON file, replaced
    atomically so a reader never sees half of it; written at most every 0.2 s within a stage."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.started = time.monotonic()
        self._last: tuple[str, float] = ("", 0.0)
        self.totals: dict[str, int] = {}
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, data: dict[str, Any]) -> None:
        data = {**data, "updated_at": time.time()}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.path)

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        self.totals[stage] = total
        if stage == self._last[0] and done < total and now - self._last[1] < 0.2:
            return
        self._last = (stage, now)
        step = STAGES.index(stage) + 1 if stage in STAGES else 0
        self.write({"stage": stage, "step": step, "steps": len(STAGES), "done": done,
                    "total": total, "elapsed": round(now - self.started, 1)})  # fmt: skip


class LazyEncoder:
    """The encoder, loaded only when something has to be embedded: a rebuild whose vectors
    are all cached never loads the model. Its id and size come from yishi_model.json."""

    def __init__(self, settings: RetrievalSettings, model_id: str, dim: int) -> None:
        self._settings = settings
        self.model_id = model_id
        self.dim = dim
        self._encoder: Encoder | None = None

    @classmethod
    def for_settings(cls, settings: RetrievalSettings) -> Encoder | LazyEncoder:
        meta = settings.model_dir / "yishi_model.json"
        try:
            marker = json.loads(meta.read_text(encoding="utf-8"))
            return cls(settings, str(marker["model_id"]), int(marker["dim"]))
        except (OSError, ValueError, KeyError, TypeError):
            from retrieval.encoder import Encoder

            return Encoder(settings.model_dir, batch_size=settings.batch_size)

    def _loaded(self) -> Encoder:
        if self._encoder is None:
            from retrieval.encoder import Encoder

            self._encoder = Encoder(self._settings.model_dir, batch_size=self._settings.batch_size)
            if (self._encoder.model_id, self._encoder.dim) != (self.model_id, self.dim):
                raise RuntimeError(
                    f"{self._settings.model_dir}: yishi_model.json disagrees with the model"
                )
        return self._encoder

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._loaded().encode_queries(texts)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._loaded().encode_passages(texts)


class EmbeddingCache:
    """Vectors already computed for (model, prompt, text), so a rebuild re-embeds only changes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute("create table if not exists vec (key text primary key, v blob)")

    @staticmethod
    def key(kind: str, text: str) -> str:
        return hashlib.sha1(f"{kind}\0{text}".encode()).hexdigest()

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, blob in self._db.execute(
                f"select key, v from vec where key in ({marks})", chunk
            ):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        self._db.executemany(
            "insert or replace into vec values (?, ?)",
            [(k, v.astype(np.float32).tobytes()) for k, v in items.items()],
        )
        self._db.commit()

    def close(self) -> None:
        self._db.close()


def embed_rows(
    encoder: Encoder | LazyEncoder,
    rows: list[tuple[str, str]],
    cache: EmbeddingCache | None,
    batch_size: int,
    quiet: bool,
    progress: Progress = _no_progress,
    stage: str = "embed",
) -> np.ndarray:
    """rows: (kind, text) with kind "query" or "passage"; returns [n, dim] float32."""
    keys = [EmbeddingCache.key(kind, text) for kind, text in rows]
    known = cache.get_many(keys) if cache else {}
    todo = [i for i, key in enumerate(keys) if key not in known]
    fresh: dict[str, np.ndarray] = {}
    progress(stage, 0, len(todo))
    with tqdm(total=len(todo), desc="embedding", unit="text", disable=quiet or not todo) as bar:
        for kind in ("query", "passage"):
            idx = [i for i in todo if rows[i][0] == kind]
            for start in range(0, len(idx), batch_size):
                batch = idx[start : start + batch_size]
                texts = [rows[i][1] for i in batch]
                vectors = (
                    encoder.encode_queries(texts)
                    if kind == "query"
                    else encoder.encode_passages(texts)
                )
                for i, vector in zip(batch, vectors, strict=True):
                    fresh[keys[i]] = vector
                bar.update(len(batch))
                progress(stage, len(fresh), len(todo))
    if cache and fresh:
        cache.put_many(fresh)
    known.update(fresh)
    return np.stack([known[key] for key in keys]).astype(np.float32)


def document_rows(docs: list[Document]) -> tuple[list[tuple[str, str]], np.ndarray]:
    rows: list[tuple[str, str]] = []
    owners: list[int] = []
    for i, doc in enumerate(docs):
        for question in doc.phrasings:
            rows.append(("query", question))
            owners.append(i)
        rows.append(("passage", doc.passage))
        owners.append(i)
    return rows, np.array(owners, dtype=np.int64)


def load_eval_file(path: Path, split: str) -> list[EvalQuestion]:
    """The questions of one eval file (knowledge/eval/ format) in that split."""
    return [q for q in parse_file(path, EvalFile).questions if q.split == split]


def load_eval(knowledge_dir: Path, split: str) -> list[EvalQuestion]:
    questions: list[EvalQuestion] = []
    for path in sorted((knowledge_dir / "eval").glob("*.yaml")):
        questions.extend(load_eval_file(path, split))
    return questions


def wilson_upper(successes: int, trials: int, z: float) -> float:
    """The upper end of the Wilson score interval for a binomial proportion."""
    p = successes / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return (centre + spread) / (1 + z * z / trials)


def fit_calibration(
    searcher_dir: Path,
    encoder: Encoder | LazyEncoder,
    settings: RetrievalSettings,
    cache: EmbeddingCache | None = None,
    progress: Progress = _no_progress,
) -> Calibration:
    """Fit confidence weights and band thresholds on the dev split (never the test split)."""
    from sklearn.linear_model import LogisticRegression

    from retrieval.searcher import Searcher

    dev = load_eval(settings.knowledge_dir, "dev")
    if not dev:
        logger.warning("no dev questions under knowledge/eval: default calibration")
        return Calibration()
    searcher = Searcher(searcher_dir, encoder, settings, check_corpus=False)  # type: ignore[arg-type]
    searcher.calibration = Calibration()
    # the dev questions as the searcher embeds them (normalised), from the cache when known
    # one progress count: the questions to embed (none when cached), then every search
    embedding = [0]

    def embed_progress(stage: str, done: int, total: int) -> None:
        embedding[0] = total
        progress("calibrate", done, total + len(dev))

    vectors = embed_rows(
        encoder, [("query", normalise(q.q)) for q in dev], cache, settings.batch_size,
        quiet=True, progress=embed_progress, stage="calibrate",
    )  # fmt: skip
    x, y, in_scope, exact, service_top, outside, covered = [], [], [], [], [], [], []
    for number, (q, vector) in enumerate(zip(dev, vectors, strict=True), 1):
        if number % 10 == 0 or number == len(dev):
            progress("calibrate", embedding[0] + number, embedding[0] + len(dev))
        result = searcher.search(q.q, vector=vector)
        top = result.best.service_id if result.best else None
        x.append([result.features[name] for name in FEATURES])
        exact.append(result.features["dense_top"] >= searcher.calibration.exact_match)
        outside.append(result.outside is not None)
        service_top.append(result.features["service_top"])
        y.append(int(q.service_id is not None and top == q.service_id))
        in_scope.append(q.service_id is not None)
        # an "out-of-scope" question the city's own FAQ answers (养狗登记 after a list with
        # 养犬登记 is imported) is out of the guides' scope only: it is left out of the fit
        covered.append(q.service_id is None and result.best is not None
                       and result.best.service_id is None)  # fmt: skip
    keep = ~np.array(covered, dtype=bool)
    features, labels, scope = np.array(x)[keep], np.array(y)[keep], np.array(in_scope)[keep]
    if labels.min() == labels.max():
        return Calibration(fitted_on="defaults (one class in dev)", dev_size=len(dev))
    model = LogisticRegression(C=1.0, max_iter=1000).fit(features, labels)
    probs = model.predict_proba(features)[:, 1]
    oos = ~scope
    # questions the out-of-scope lexicon declines whatever their scores count as declined
    declined = np.array(outside, dtype=bool)[keep]
    probs = np.where(declined, 0.0, probs)
    exact_hit = np.array(exact, dtype=bool)[keep] & ~declined
    grid = np.round(np.arange(0.05, 0.995, 0.005), 3)

    def oos_rate(t: float) -> float:
        return float(((probs >= t) | exact_hit)[oos].mean()) if oos.any() else 0.0

    # the answer threshold must hold for subjects the lexicon does not list yet
    unlisted = oos & ~declined

    def oos_rate_bound(t: float) -> float:
        """An upper confidence bound (Wilson, one-sided) of the false-answer rate over the dev
        out-of-scope questions the lexicon does not decline. A threshold chosen on the dev
        rate itself sits right at the boundary and lets unseen questions through more often;
        with ~100 dev questions a 3 % target then allows no false answer on dev."""
        if not unlisted.any():
            return 0.0
        return wilson_upper(
            int(((probs >= t) | exact_hit)[unlisted].sum()),
            int(unlisted.sum()),
            settings.oos_bound_z,
        )

    def wrong_rate(t: float) -> float:
        answered = scope & ((probs >= t) | exact_hit)
        return float((labels[answered] == 0).mean()) if answered.any() else 0.0

    t_answer = next(
        (
            float(t)
            for t in grid
            if oos_rate_bound(t) <= settings.max_oos_answer
            and wrong_rate(t) <= settings.max_wrong_answer
        ),
        0.99,
    )
    t_clarify = next((float(t) for t in grid if oos_rate(t) <= settings.max_oos_clarify), t_answer)
    t_clarify = min(t_clarify, t_answer)
    tops = np.where(declined, 0.0, np.array(service_top)[keep])

    def oos_engaged(t_domain: float) -> float:
        engaged = (probs >= t_clarify) | exact_hit | (tops >= t_domain)
        return float(engaged[oos].mean()) if oos.any() else 0.0

    domain_grid = np.round(np.arange(0.80, 1.05, 0.005), 3)
    t_domain = next(
        (float(t) for t in domain_grid if oos_engaged(t) <= settings.max_oos_clarify), 1.05
    )
    answered = (probs >= t_answer) | exact_hit
    metrics = {
        "service_top1": float(labels[scope].mean()),
        "answer_rate": float(answered[scope].mean()),
        "answered_correct": float(labels[scope & answered].mean())
        if (scope & answered).any()
        else 0.0,
        "oos_false_answer": oos_rate(t_answer),
        "oos_clarify_or_answer": oos_engaged(t_domain),
        "none_rate_in_scope": float(
            (~((probs >= t_clarify) | exact_hit | (tops >= t_domain)))[scope].mean()
        ),
        "oos_answered_by_faq": float(len(keep) - keep.sum()),
    }
    return Calibration(
        coef=[float(c) for c in model.coef_[0]],
        intercept=float(model.intercept_[0]),
        t_answer=t_answer,
        t_clarify=t_clarify,
        t_domain=t_domain,
        fitted_on="knowledge/eval dev split",
        dev_size=len(dev),
        dev_metrics={k: round(v, 4) for k, v in metrics.items()},
    )


def write_current(index_root: Path, version: str) -> None:
    tmp = index_root / f".{CURRENT_FILE}.tmp"
    tmp.write_text(version + "\n")
    os.replace(tmp, index_root / CURRENT_FILE)


def prune(index_root: Path, keep: str) -> None:
    versions = sorted(
        p for p in index_root.iterdir() if p.is_dir() and (p / MANIFEST_FILE).exists()
    )
    for old in versions[:-KEEP_VERSIONS]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)
    for stale in index_root.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)


def eval_sha256(knowledge_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((knowledge_dir / "eval").glob("*.yaml")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def model_id_on_disk(model_dir: Path) -> str | None:
    meta = model_dir / "yishi_model.json"
    if meta.exists():
        return str(json.loads(meta.read_text(encoding="utf-8")).get("model_id"))
    return model_dir.name if (model_dir / "modules.json").exists() else None


def current_is_fresh(settings: RetrievalSettings) -> Path | None:
    """The CURRENT index, if it was built from exactly this corpus, lexicon, eval set and model."""
    pointer = settings.index_root / CURRENT_FILE
    if not pointer.exists():
        return None
    directory = settings.index_root / pointer.read_text().strip()
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    fresh = (
        manifest.get("corpus_sha256") == corpus_sha256(settings.knowledge_dir)
        and manifest.get("lexicon_sha256") == lexicon_sha256()
        and manifest.get("eval_sha256") == eval_sha256(settings.knowledge_dir)
        and manifest.get("model_id") == model_id_on_disk(settings.model_dir)
        and manifest.get("index_type") == settings.index_type
    )
    return directory if fresh else None


def build(
    settings: RetrievalSettings | None = None,
    encoder: Encoder | LazyEncoder | None = None,
    quiet: bool = False,
    progress: Progress = _no_progress,
) -> Path:
    settings = settings or get_retrieval_settings()
    started = time.monotonic()
    progress("knowledge", 0, 1)
    corpus = corpus_sha256(settings.knowledge_dir)
    kb = load_knowledge(settings.knowledge_dir)
    docs = build_documents(kb)
    if encoder is None:
        encoder = LazyEncoder.for_settings(settings)
    progress("knowledge", 1, 1)
    version = f"{time.strftime('%Y%m%d-%H%M%S')}-{corpus[:8]}"
    settings.index_root.mkdir(parents=True, exist_ok=True)
    tmp = settings.index_root / f".tmp-{version}-{os.getpid()}"
    tmp.mkdir()

    rows, owners = document_rows(docs)
    cache_key = hashlib.sha1(encoder.model_id.encode()).hexdigest()[:12]
    cache = EmbeddingCache(settings.cache_dir / f"embeddings-{cache_key}.sqlite")
    try:
        vectors = embed_rows(encoder, rows, cache, settings.batch_size, quiet, progress)
        progress("index", 0, 1)
        _write_index(tmp, docs, vectors, owners, settings)
        manifest = {
            "kb_version": version,
            "model_id": encoder.model_id,
            "dim": encoder.dim,
            "normalised": True,
            "index_type": settings.index_type,
            "doc_count": len(docs),
            "row_count": len(rows),
            "service_count": len(kb.guides),
            "faq_count": len(kb.faq),
            "corpus_sha256": corpus,
            "lexicon_sha256": lexicon_sha256(),
            "eval_sha256": eval_sha256(settings.knowledge_dir),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=2))
        progress("index", 1, 1)
        calibration = fit_calibration(tmp, encoder, settings, cache, progress)
    finally:
        cache.close()
    progress("publish", 0, 1)
    manifest["calibration"] = calibration.to_json()
    manifest["build_seconds"] = round(time.monotonic() - started, 1)
    (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=2))
    final = settings.index_root / version
    os.replace(tmp, final)
    write_current(settings.index_root, version)
    prune(settings.index_root, version)
    progress("publish", 1, 1)
    return final


def _write_index(
    tmp: Path,
    docs: list[Document],
    vectors: np.ndarray,
    owners: np.ndarray,
    settings: RetrievalSettings,
) -> None:
    DenseIndex(make_index(vectors, settings.index_type), owners, len(docs)).save(tmp)
    LexicalIndex.build([doc.lexical_text for doc in docs]).save(tmp)
    by_service: dict[str, list[str]] = {}
    for doc in docs:
        by_service.setdefault(service_key(doc), []).append(doc.lexical_text)
    LexicalIndex.build([" ".join(by_service[key]) for key in sorted(by_service)]).save(
        tmp, BM25_SERVICES_DIR
    )
    with (tmp / DOCS_FILE).open("w", encoding="utf-8") as handle:
        for doc in docs:
            handle.write(json.dumps(doc.to_json(), ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument(
        "--if-stale", action="store_true", help="skip when CURRENT is built from the same inputs"
    )
    parser.add_argument(
        "--progress-file",
        type=Path,
        help='keep {"stage", "step", "steps", "done", "total"} (JSON) up to date in this file',
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    progress = ProgressFile(args.progress_file) if args.progress_file else None
    if args.if_stale and (fresh := current_is_fresh(get_retrieval_settings())) is not None:
        sys.stdout.write(f"index {fresh.name} is up to date; nothing to build\n")
        if progress:
            progress.write({"stage": "done", "kb_version": fresh.name, "skipped": True,
                            "seconds": round(time.monotonic() - started, 1)})  # fmt: skip
        return 0
    try:
        directory = build(quiet=args.quiet, progress=progress or _no_progress)
    except KnowledgeError as exc:
        sys.stderr.write(f"knowledge base invalid:\n{exc}\n")
        if progress:
            progress.write({"stage": "error", "error": "knowledge_invalid", "detail": str(exc)})
        return 1
    except Exception as exc:
        if progress:
            progress.write({"stage": "error", "error": type(exc).__name__, "detail": str(exc)})
        raise
    manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    cal = manifest["calibration"]
    if progress:
        progress.write(
            {
                "stage": "done",
                "kb_version": manifest["kb_version"],
                "seconds": round(time.monotonic() - started, 1),
                "doc_count": manifest["doc_count"],
                "embedded": progress.totals.get("embed", 0),
            }
        )
    sys.stdout.write(
        f"index {manifest['kb_version']}: {manifest['doc_count']} documents, {manifest['row_count']} rows, "
        f"model {manifest['model_id']}, built in {time.monotonic() - started:.1f} s\n"
        f"calibration ({cal['fitted_on']}, {cal['dev_size']} questions): t_answer={cal['t_answer']} "
        f"t_clarify={cal['t_clarify']} dev={cal['dev_metrics']}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

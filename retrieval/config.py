"""Retrieval settings (environment prefix `YISHI_RETRIEVAL_`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class RetrievalSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="YISHI_RETRIEVAL_", env_file=ROOT / ".env", extra="ignore"
    )

    # Any sentence-transformers directory works (e.g. a bge-zh model a city already has). The
    # default is multilingual-e5-small tuned on these guides (`make model`, retrieval/finetune.py);
    # the untuned conversion is models/e5-small.
    model_dir: Path = ROOT / "models" / "e5-small-tuned"
    # the model the admin dashboard groups citizens' questions with: the untuned conversion,
    # whose similarity scale its threshold (0.92) was measured on; the tuned model has another
    # scale (rewordings of one question 0.6-0.96, different matters up to ~0.75)
    cluster_model_dir: Path = ROOT / "models" / "e5-small"
    knowledge_dir: Path = ROOT / "knowledge"
    index_root: Path = ROOT / "indexes"
    # vectors already computed, keyed by model, prompt and text: rebuilds embed only what changed
    cache_dir: Path = ROOT / "indexes" / ".cache"
    # flat: exact inner product; hnsw / ivf: approximate, for very large knowledge bases
    index_type: Literal["flat", "hnsw", "ivf"] = "flat"
    top_k: int = Field(5, ge=1, le=50)
    # dense rows fetched per query; each service is scored by the mean of its best rows
    dense_candidates: int = Field(1024, ge=10)
    service_top_k: int = Field(5, ge=1)
    # weights of the BM25 evidence (normalised to the best match) next to cosine similarity
    service_lexical_weight: float = Field(0.03, ge=0)
    doc_lexical_weight: float = Field(0.05, ge=0)
    # how much an aspect cue in the question ("多少钱" → fee) lifts documents of that aspect
    # (0.08 chosen for the tuned model on dev and a held-out dev batch; 0.045 for untuned e5-small)
    aspect_boost: float = Field(0.08, ge=0)
    # a document's score is service_weight × its service's score + its own fit (dense, words,
    # aspect cue): the service's many rows are surer evidence than one document's best row
    service_weight: float = Field(2.0, ge=0)
    # added to every guide Q&A and FAQ entry (aspect "other"), whatever the question
    qa_boost: float = Field(0.01, ge=0)
    # band thresholds are the lowest confidences that keep these rates on the eval dev split:
    # out-of-scope questions answered, in-scope questions answered with the wrong service,
    # out-of-scope questions that get a clarifying question (or an answer). For the answer
    # threshold, max_oos_answer bounds the one-sided upper confidence limit (z below; 1.2816 =
    # 90 %) of the rate over the dev out-of-scope questions the lexicon does not decline.
    max_oos_answer: float = Field(0.03, ge=0, le=1)
    max_wrong_answer: float = Field(0.08, ge=0, le=1)
    max_oos_clarify: float = Field(0.25, ge=0, le=1)
    oos_bound_z: float = Field(1.2816, ge=0)
    batch_size: int = Field(32, ge=1)
    # recheck the CURRENT pointer at most this often, so a rebuild is picked up without restart
    reload_check_s: float = Field(2.0, ge=0)


@lru_cache
def get_retrieval_settings() -> RetrievalSettings:
    return RetrievalSettings()

"""BM25 (bm25s) over jieba tokens of each document's title, questions and passage."""

from __future__ import annotations

import logging
from pathlib import Path

import bm25s
import numpy as np

from retrieval.text import tokens

BM25_DIR = "bm25"
# one BM25 "document" per service (all its aspects and Q&A together): which service is meant
BM25_SERVICES_DIR = "bm25_services"
logger = logging.getLogger(__name__)


class LexicalIndex:
    def __init__(self, model: bm25s.BM25) -> None:
        self.model = model

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        return cls.build_from_tokens([tokens(text) for text in texts])

    @classmethod
    def build_from_tokens(cls, token_lists: list[list[str]]) -> LexicalIndex:
        model = bm25s.BM25(k1=1.2, b=0.75)
        model.index([toks or ["<empty>"] for toks in token_lists], show_progress=False)
        return cls(model)

    def save(self, directory: Path, name: str = BM25_DIR) -> None:
        self.model.save(str(directory / name), show_progress=False)

    @classmethod
    def load(cls, directory: Path, name: str = BM25_DIR) -> LexicalIndex:
        return cls(bm25s.BM25.load(str(directory / name), show_progress=False, verbosity=0))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for the query (zeros when no token is known)."""
        query_tokens = [t for t in tokens(query) if t in self.model.vocab_dict]
        if not query_tokens:
            return np.zeros(self.model.scores["num_docs"], dtype=np.float32)
        return np.asarray(self.model.get_scores(query_tokens), dtype=np.float32)

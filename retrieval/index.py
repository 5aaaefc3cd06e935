"""Dense vectors in faiss: one row per question phrasing or passage, each row owned by a document."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

INDEX_FILE = "index.faiss"
ROWS_FILE = "rows.npy"


def make_index(vectors: np.ndarray, index_type: str = "flat") -> faiss.Index:
    """Inner product over L2-normalised vectors (= cosine)."""
    dim = int(vectors.shape[1])
    index: faiss.Index
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "hnsw":
        hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 80
        hnsw.hnsw.efSearch = 128
        index = hnsw
    elif index_type == "ivf":
        nlist = max(1, min(4096, int(np.sqrt(len(vectors)))))
        quantizer = faiss.IndexFlatIP(dim)
        ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.train(vectors)
        ivf.nprobe = min(nlist, 16)
        index = ivf
    else:
        raise ValueError(f"unknown index type {index_type!r}")
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


class DenseIndex:
    def __init__(self, index: faiss.Index, row_docs: np.ndarray, doc_count: int) -> None:
        self.index = index
        self.row_docs = row_docs.astype(np.int64)
        self.doc_count = doc_count

    def save(self, directory: Path) -> None:
        faiss.write_index(self.index, str(directory / INDEX_FILE))
        np.save(directory / ROWS_FILE, self.row_docs.astype(np.int32))

    @classmethod
    def load(cls, directory: Path, doc_count: int) -> DenseIndex:
        index = faiss.read_index(str(directory / INDEX_FILE))
        return cls(index, np.load(directory / ROWS_FILE), doc_count)

    def search_rows(self, query: np.ndarray, candidates: int) -> tuple[np.ndarray, np.ndarray]:
        """The best `candidates` rows: (cosines, owning document of each), best first."""
        k = min(candidates, self.index.ntotal)
        scores, rows = self.index.search(
            np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k
        )
        valid = rows[0] >= 0
        return scores[0][valid], self.row_docs[rows[0][valid]]

    def search_docs(self, query: np.ndarray, candidates: int) -> np.ndarray:
        """Best cosine per document over its rows (-1 for documents not among the candidates)."""
        k = min(candidates, self.index.ntotal)
        scores, rows = self.index.search(
            np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k
        )
        best = np.full(self.doc_count, -1.0, dtype=np.float32)
        valid = rows[0] >= 0
        docs = self.row_docs[rows[0][valid]]
        # rows come best-first, so the first hit of each document is its maximum
        np.maximum.at(best, docs, scores[0][valid])
        return best

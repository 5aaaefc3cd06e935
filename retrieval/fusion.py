"""Fusing dense and lexical scores, aggregating to services, and the calibrated confidence.

Documents are ranked by reciprocal rank fusion of the two rankings, lifted a little when the
question names the document's aspect. Services are ranked by their best document. Confidence is
a logistic function of a few score features whose weights and band thresholds are fitted on the
dev split of knowledge/eval at build time and stored in the index manifest.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

FEATURES = ("dense_top", "dense_margin", "lexical_top", "lexical_margin", "rrf_margin")


def rrf(scores: np.ndarray, present: np.ndarray, k: int) -> np.ndarray:
    """1 / (k + rank) for present documents (rank 1 = best), 0 for the others."""
    fused = np.zeros_like(scores, dtype=np.float64)
    idx = np.flatnonzero(present)
    if idx.size == 0:
        return fused
    order = idx[np.argsort(-scores[idx], kind="stable")]
    fused[order] = 1.0 / (k + np.arange(1, order.size + 1))
    return fused


@dataclass
class Calibration:
    coef: list[float] = field(default_factory=lambda: [8.0, 10.0, 0.0, 0.0, 0.0])
    intercept: float = -6.5
    t_answer: float = 0.6
    t_clarify: float = 0.3
    fitted_on: str = "defaults"
    dev_size: int = 0
    dev_metrics: dict[str, float] = field(default_factory=dict)

    def confidence(self, features: dict[str, float]) -> float:
        z = self.intercept + sum(
            c * features[name] for c, name in zip(self.coef, FEATURES, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def band(self, confidence: float) -> str:
        if confidence >= self.t_answer:
            return "answer"
        if confidence >= self.t_clarify:
            return "clarify"
        return "none"

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, object] | None) -> Calibration:
        return cls(**data) if data else cls()  # type: ignore[arg-type]

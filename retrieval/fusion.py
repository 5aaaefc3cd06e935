"""The calibrated confidence of a search.

Services are ranked by a fusion of dense and lexical evidence (retrieval/searcher.py). The
confidence that the top service is right is a logistic function of a few score features whose
weights and band thresholds are fitted on the dev split of knowledge/eval at build time and
stored in the index manifest.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

FEATURES = ("service_top", "service_margin", "lexical_top")


@dataclass
class Calibration:
    coef: list[float] = field(default_factory=lambda: [10.0, 3.0, 0.5])
    intercept: float = -9.5
    t_answer: float = 0.6
    t_clarify: float = 0.3
    # a question (nearly) identical to a curated phrasing of the top document is answered
    # whatever the other features say; checked on the dev split like the thresholds
    exact_match: float = 0.98
    # a question whose best service scores this high is about our services even when it is
    # unclear which one: it gets choices (clarify) rather than a refusal
    t_domain: float = 0.95
    fitted_on: str = "defaults"
    dev_size: int = 0
    dev_metrics: dict[str, float] = field(default_factory=dict)

    def confidence(self, features: dict[str, float]) -> float:
        z = self.intercept + sum(
            c * features[name] for c, name in zip(self.coef, FEATURES, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def band(self, confidence: float, features: dict[str, float]) -> str:
        if confidence >= self.t_answer or features.get("dense_top", 0.0) >= self.exact_match:
            return "answer"
        if confidence >= self.t_clarify or features.get("service_top", 0.0) >= self.t_domain:
            return "clarify"
        return "none"

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, object] | None) -> Calibration:
        return cls(**data) if data else cls()  # type: ignore[arg-type]

"""The answer threshold's out-of-scope bound: a Wilson upper confidence limit, so a handful of
dev questions cannot certify a rate they are too few to show."""

from __future__ import annotations

import pytest

from retrieval.build import wilson_upper

Z90 = 1.2816


def test_no_false_answer_in_90_bounds_the_rate_below_3_percent() -> None:
    assert wilson_upper(0, 90, Z90) == pytest.approx(0.01792, abs=1e-4)


def test_one_false_answer_in_90_does_not() -> None:
    assert 0.03 < wilson_upper(1, 90, Z90) < 0.04


def test_the_bound_tightens_with_more_questions_and_exceeds_the_observed_rate() -> None:
    bounds = [wilson_upper(n // 50, n, Z90) for n in (100, 1000, 10000)]
    assert bounds[0] > bounds[1] > bounds[2] > 0.02
    assert wilson_upper(5, 10, 0.0) == pytest.approx(0.5)

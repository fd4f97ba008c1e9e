"""The unbiased pass@k estimator against its combinatorial definition."""
from __future__ import annotations

from itertools import combinations
from math import comb

import pytest

from iacdemo.errors import ConfigError
from iacdemo.evaluation.passk import mean_pass_at_k, pass_at_k


@pytest.mark.parametrize("n, c, k", [(1, 0, 1), (1, 1, 1), (10, 3, 1), (10, 3, 5), (20, 1, 10), (5, 5, 2), (7, 0, 3)])
def test_matches_the_definition(n, c, k):
    expected = 1 - comb(n - c, k) / comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_matches_enumerating_draws():
    samples = [True, False, False, True, False, False]
    draws = list(combinations(samples, 3))
    assert pass_at_k(6, 2, 3) == pytest.approx(sum(any(d) for d in draws) / len(draws))


def test_mean_and_bad_input():
    assert mean_pass_at_k([(1, 1), (1, 0), (1, 0), (1, 1)], 1) == 0.5
    assert mean_pass_at_k([], 1) == 0.0
    with pytest.raises(ConfigError):
        pass_at_k(3, 1, 5)
    with pytest.raises(ConfigError):
        pass_at_k(3, 4, 1)

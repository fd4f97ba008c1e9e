"""pass@k, the unbiased estimator of Chen et al. (2021) that IaC-Eval reports.

For a task with n samples of which c pass, pass@k = 1 - C(n-c, k) / C(n, k): the chance that at least
one of k samples drawn without replacement passes. Computed as a product so large n does not overflow.
"""
from __future__ import annotations

from typing import Iterable

from iacdemo.errors import ConfigError


def pass_at_k(n: int, c: int, k: int) -> float:
    """pass@k for one task with `n` samples, `c` of them passing."""
    if n < 1 or k < 1 or c < 0 or c > n:
        raise ConfigError(f"pass@k needs 1 <= k, 0 <= c <= n and n >= 1 (got n={n}, c={c}, k={k}).")
    if k > n:
        raise ConfigError(f"pass@{k} needs at least {k} samples per task, got {n}.")
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def mean_pass_at_k(counts: Iterable[tuple[int, int]], k: int) -> float:
    """Average pass@k over tasks given (n, c) per task; 0.0 for no tasks."""
    values = [pass_at_k(n, c, k) for n, c in counts]
    return sum(values) / len(values) if values else 0.0

"""The intervals the study reports, each named for the question it answers.

- `confidence_interval`: where the *mean* over seeds lies. It shrinks as seeds are added.
- `prediction_interval`: where *one new run* would fall. The paper reports one run, so its
  numbers are held against this one.
- `contrast_interval`: a weighted sum of several groups' means (a difference, a drop, a trend),
  with its Welch-Satterthwaite confidence interval. The claims scorecard tests every claim with it.

All are Student-t intervals at 95% unless asked otherwise, and all are NaN (never invented)
with fewer than two values.
"""

from __future__ import annotations

import math
from typing import Iterable, NamedTuple, Sequence

import numpy as np
from scipy import stats

LEVEL = 0.95


def _clean(values: Iterable[float]) -> np.ndarray:
    array = np.asarray(list(values), dtype=float)
    return array[~np.isnan(array)]


def _t_quantile(degrees_of_freedom: float, level: float) -> float:
    return float(stats.t.ppf(0.5 + level / 2, degrees_of_freedom))


def confidence_interval(values: Iterable[float], level: float = LEVEL) -> tuple[float, float]:
    """Student-t interval of the mean: mean +- t(n-1) * s / sqrt(n)."""
    values = _clean(values)
    n = len(values)
    if n < 2:
        return math.nan, math.nan
    half_width = _t_quantile(n - 1, level) * values.std(ddof=1) / math.sqrt(n)
    return values.mean() - half_width, values.mean() + half_width


def prediction_interval(values: Iterable[float], level: float = LEVEL) -> tuple[float, float]:
    """Student-t interval for one new draw: mean +- t(n-1) * s * sqrt(1 + 1/n)."""
    values = _clean(values)
    n = len(values)
    if n < 2:
        return math.nan, math.nan
    half_width = _t_quantile(n - 1, level) * values.std(ddof=1) * math.sqrt(1 + 1 / n)
    return values.mean() - half_width, values.mean() + half_width


class Contrast(NamedTuple):
    estimate: float
    low: float  # NaN when some group has a single value: no spread to test against
    high: float
    seeds: int  # the smallest group's size


def contrast_interval(terms: Sequence[tuple[float, Sequence[float]]], level: float = LEVEL) -> Contrast:
    """Sum of weight * mean(group) over independent groups, with its Welch-Satterthwaite interval.

    The variance of the estimate is sum(w^2 s^2 / n); its degrees of freedom are
    Satterthwaite's (sum of the terms)^2 / sum(term^2 / (n - 1)). Groups whose values are all
    equal contribute no variance; if no group varies, the interval is the estimate itself.
    """
    groups = [(weight, _clean(values)) for weight, values in terms]
    estimate = sum(weight * values.mean() for weight, values in groups)
    seeds = min(len(values) for _, values in groups)
    if seeds < 2:
        return Contrast(estimate, math.nan, math.nan, seeds)
    variances = [weight**2 * values.var(ddof=1) / len(values) for weight, values in groups]
    total = sum(variances)
    if total == 0:
        return Contrast(estimate, estimate, estimate, seeds)
    degrees = total**2 / sum(v**2 / (len(values) - 1) for v, (_, values) in zip(variances, groups) if v > 0)
    half_width = _t_quantile(degrees, level) * math.sqrt(total)
    return Contrast(estimate, estimate - half_width, estimate + half_width, seeds)

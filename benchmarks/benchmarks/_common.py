"""Shared inputs and helpers for the sigprop benchmarks (no benchmarks here)."""

import time

import numpy as np

# Inputs shared by the suites; fixed so that figures are comparable across commits.
Q_GRID = np.logspace(-3.0, 2.0, 10_000)  # 1-d expectations: q in [1e-3, 1e2]
SIGMA_B_EOC = np.linspace(0.01, 2.0, 1000)  # EOC root finding

# A few hundred (q, c) points for the bivariate expectation: 16 q x 16 c, q1 = q2 = q
# (the case the correlation map evaluates).
_q, _c = np.meshgrid(np.logspace(-2.0, 1.0, 16), np.linspace(-0.95, 0.95, 16))
BIV_Q = _q.ravel()
BIV_C = _c.ravel()

# 50 x 50 (sigma_b, sigma_w) grid for the fixed-point solver (ordered and chaotic phase).
_sb, _sw = np.meshgrid(np.linspace(0.01, 2.0, 50), np.linspace(0.5, 3.0, 50))
FP_SIGMA_B = _sb
FP_SIGMA_W = _sw


def best_rate(fn, n_items, min_time=0.5, min_calls=2, max_calls=10_000):
    """Items per second of ``fn()`` from the fastest of repeated calls.

    Calls ``fn`` at least ``min_calls`` times and until ``min_time`` seconds have
    been spent, and returns ``n_items`` divided by the fastest call.
    """
    best = float("inf")
    spent = 0.0
    calls = 0
    while calls < min_calls or (spent < min_time and calls < max_calls):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best = min(best, dt)
        spent += dt
        calls += 1
    return n_items / best


def require_fast_and_finite(probe, what, budget_s=0.1):
    """Skip (NotImplementedError, which asv reports as skipped) when ``probe()``
    is slower than ``budget_s`` or returns non-finite values.

    Guards benchmarks over core code paths that are currently known to exhaust the
    adaptive-quadrature piece budget (seconds per point, NaN results); they are run
    automatically once the probe is fast and finite again.
    """
    t0 = time.perf_counter()
    out = probe()
    dt = time.perf_counter() - t0
    finite = bool(np.all(np.isfinite(np.asarray(out, dtype=float))))
    if dt > budget_s or not finite:
        raise NotImplementedError(
            f"{what}: probe took {dt:.2f} s (budget {budget_s} s), finite={finite}; "
            "core quadrature runs out of its piece budget here, benchmark skipped"
        )

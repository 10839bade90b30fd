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

# 4096 random (q1, q2, c) over the whole domain the engine serves: q1, q2
# log-uniform in [1e-6, 1e4] (independently), c uniform in [-1, 1].
_rng = np.random.default_rng(2026)
BIV_FULL_Q1 = 10.0 ** _rng.uniform(-6.0, 4.0, 4096)
BIV_FULL_Q2 = 10.0 ** _rng.uniform(-6.0, 4.0, 4096)
BIV_FULL_C = _rng.uniform(-1.0, 1.0, 4096)

# 1024 random pairs next to the diagonal, the slow path that the whole-domain sample
# seldom reaches: q1 log-uniform in [1e-6, 1e4], q2 = q1 (1 + delta), delta log-uniform
# in [1e-12, 0.1], c = +-(1 - e), e log-uniform in [1e-12, 1].
_rng_near = np.random.default_rng(2027)
BIV_NEAR_Q1 = 10.0 ** _rng_near.uniform(-6.0, 4.0, 1024)
BIV_NEAR_Q2 = BIV_NEAR_Q1 * (1.0 + 10.0 ** _rng_near.uniform(-12.0, -1.0, 1024))
_sign = _rng_near.choice([-1.0, 1.0], 1024)
BIV_NEAR_C = _sign * (1.0 - 10.0 ** _rng_near.uniform(-12.0, 0.0, 1024))

# Every built-in activation, for the per-activation suites.
ALL_ACTIVATIONS = [
    "linear", "relu", "leaky_relu", "elu", "selu", "gelu", "silu", "softplus",
    "shifted_softplus", "tanh", "erf", "sigmoid", "softsign", "sin", "hard_tanh",
    "shifted_relu", "soft_threshold", "linear_region_tanh", "linear_floor",
]  # fmt: skip

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

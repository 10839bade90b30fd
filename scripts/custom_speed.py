"""Scan throughput of a custom tanh (np.tanh as a callable) against the built-in tanh.

Prints build times and cells/s of 32 x 32 fixed-point cells on one thread, with and
without correlation (the asv suite benchmarks/benchmarks/bench_custom.py tracks the same).

Run: python scripts/custom_speed.py
"""

import time

import numpy as np

import sigprop as sp
from sigprop import _core

sb = np.linspace(0.0, 2.0, 32)
sw = np.linspace(0.1, 4.0, 32)
SB, SW = np.meshgrid(sb, sw, indexing="ij")
SB, SW = SB.ravel().copy(), SW.ravel().copy()
t = time.perf_counter()
mine = sp.activation(np.tanh, name="tanh_np")
tb = time.perf_counter() - t
t = time.perf_counter()
ex = sp.activation("tanh(x)")
te = time.perf_counter() - t
t = time.perf_counter()
mish = sp.activation("x*tanh(softplus(x))")
tm = time.perf_counter() - t
print(f"build: callable tanh {tb:.3f}s, expression tanh {te:.3f}s (incl. sympy), mish {tm:.3f}s")


def rate(act, corr, reps=2):
    k, (p0, p1) = act.kind, act.core_params
    _core.fixed_points(k, p0, p1, SW, SB, None, corr, 1)  # warm: tables
    best = 1e9
    for _ in range(reps):
        t = time.perf_counter()
        _core.fixed_points(k, p0, p1, SW, SB, None, corr, 1)
        best = min(best, time.perf_counter() - t)
    return SB.size / best


for corr in (False, True):
    sp.clear_cache()
    a = sp.activation("tanh")
    t = time.perf_counter()
    _core.fixed_points(a.kind, 0.0, 0.0, SW, SB, None, corr, 1)
    cold_b = time.perf_counter() - t
    t = time.perf_counter()
    _core.fixed_points(mine.kind, *mine.core_params, SW, SB, None, corr, 1)
    cold_c = time.perf_counter() - t
    rb, rc = rate(a, corr), rate(mine, corr)
    print(
        f"correlation={corr}: built-in tanh {rb:.0f} cells/s, custom tanh {rc:.0f} cells/s, "
        f"ratio {rb / rc:.2f}; first scan (tables built) {cold_b:.3f}s vs {cold_c:.3f}s"
    )

"""Accuracy and cost of the forms next to |c| = 1 at large variance.

Run from the repository root:

    python scripts/saturating_accuracy.py [--points 300] [--seed 1]

tanh, sigmoid, softplus, shifted_softplus, silu, linear_region_tanh and softsign at
random (q1, q2, c): q1, q2 log-uniform in [1e-3, 1e4] and 1 - c log-uniform in
[1e-5, 0.5], where the engine (``bivariate_expectation``) takes the skeleton split of
csrc/sigprop/saturating_pair.hpp (softsign: the conditional form in logarithmic
coordinates of csrc/sigprop/softsign_pair.hpp) or, where that cannot certify its result,
the nested quadrature in the covariance's principal axes. Each point is checked against
the conditional nested quadrature (``_core.bivariate_nested_quadrature``, an independent
route held to ~1e-13 of the Cauchy-Schwarz scale sqrt(E f(u)^2 E f(v)^2)); printed per
activation and derivative: the largest difference relative to that scale and the
engine's time per point against the quadrature's.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import sigprop as sp
from sigprop import _core

KINDS = [
    "tanh",
    "sigmoid",
    "softplus",
    "shifted_softplus",
    "silu",
    "linear_region_tanh",
    "softsign",
]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    q1 = 10.0 ** rng.uniform(-3, 4, args.points)
    q2 = 10.0 ** rng.uniform(-3, 4, args.points)
    c = 1.0 - 10.0 ** rng.uniform(-5, math.log10(0.5), args.points)
    print(f"{'activation':<18}{'d':>2}{'worst / scale':>15}{'engine us':>11}{'quadrature us':>15}")
    for name in KINDS:
        act = sp.activation(name)
        p0, p1 = act.core_params
        for d in (0, 1):
            sp.bivariate_expectation(act, q1, q2, c, derivative=d, n_threads=1)  # tables
            worst, t_eng, t_quad = 0.0, 0.0, 0.0
            for a, b, cc in zip(q1, q2, c, strict=True):
                t0 = time.perf_counter()
                got = float(sp.bivariate_expectation(act, a, b, cc, derivative=d, n_threads=1))
                t1 = time.perf_counter()
                ref, ok = _core.bivariate_nested_quadrature(act.kind, p0, p1, d, a, b, cc)
                t2 = time.perf_counter()
                t_eng += t1 - t0
                t_quad += t2 - t1
                m1, m2 = sp.gaussian_moments(act, a), sp.gaussian_moments(act, b)
                f1, f2 = (m1.phi_sq, m2.phi_sq) if d == 0 else (m1.dphi_sq, m2.dphi_sq)
                scale = math.sqrt(f1) * math.sqrt(f2)
                if ok and scale > 0:
                    worst = max(worst, abs(got - ref) / scale)
            n = args.points
            us_eng, us_quad = t_eng / n * 1e6, t_quad / n * 1e6
            print(f"{name:<18}{d:>2}{worst:>15.2e}{us_eng:>11.0f}{us_quad:>15.0f}")


if __name__ == "__main__":
    main()

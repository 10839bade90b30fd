"""Time one call with Python numbers, as a user's loop or a SciPy root finder makes it.

For each public function that takes scalars, in one run: the call with Python floats
(the scalar path: the core's one-point functions), the same call with one-element
arrays (the array path: broadcasting, the grid kernels, one-element outputs) and the
core's one-point function alone (the work and the binding), in microseconds, best of
five repeats.

    python benchmarks/scalar_calls.py [--activation tanh,relu] [--number 5000]
"""

from __future__ import annotations

import argparse
import timeit

import numpy as np

import sigprop
from sigprop import _core


def best_us(fn, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def calls(name: str):
    """(label, scalar call, one-element-array call, core one-point call)."""
    act = sigprop.activation(name)
    k, (p0, p1) = act.kind, act.core_params
    one = np.array([1.0])
    sb = np.array([0.2])
    return [
        (
            "bivariate_expectation(q1=1, q2=1, c=0.7)",
            lambda: sigprop.bivariate_expectation(name, 1.0, 1.0, 0.7),
            lambda: sigprop.bivariate_expectation(name, one, one, 0.7 * one),
            lambda: _core.bivariate_point(k, p0, p1, 0, 1.0, 1.0, 0.7),
        ),
        (
            "gaussian_moments(q=1)",
            lambda: sigprop.gaussian_moments(name, 1.0),
            lambda: sigprop.gaussian_moments(name, one),
            lambda: _core.moments_point(k, p0, p1, 1.0),
        ),
        (
            "qmap(q=1, 1.5, 0.1)",
            lambda: sigprop.qmap(name, 1.0, 1.5, 0.1),
            lambda: sigprop.qmap(name, one, 1.5 * one, 0.1 * one),
            lambda: _core.qmap_point(k, p0, p1, 1.0, 1.5, 0.1),
        ),
        (
            "cmap(q=1, c=0.7, 1.5, 0.1)",
            lambda: sigprop.cmap(name, 1.0, 0.7, 1.5, 0.1),
            lambda: sigprop.cmap(name, one, 0.7 * one, 1.5 * one, 0.1 * one),
            lambda: _core.covmap_point(k, p0, p1, 1.0, 1.0, 0.7, 1.5, 0.1),
        ),
        (
            "covmap(q1=1, q2=1.2, c=0.7, 1.5, 0.1)",
            lambda: sigprop.covmap(name, 1.0, 1.2, 0.7, 1.5, 0.1),
            lambda: sigprop.covmap(name, one, 1.2 * one, 0.7 * one, 1.5 * one, 0.1 * one),
            lambda: _core.covmap_point(k, p0, p1, 1.0, 1.2, 0.7, 1.5, 0.1),
        ),
        (
            "fixed_point(1.5, 0.1) (with c*)",
            lambda: sigprop.fixed_point(name, 1.5, 0.1).c_star,
            lambda: sigprop.fixed_point(name, 1.5 * one, 0.1 * one).c_star,
            lambda: _core.fixed_point_point(k, p0, p1, 1.5, 0.1, None, True)[5],
        ),
        (
            "propagate(1.5, 0.1, depth=10, q0=1, c0=0.5)",
            lambda: sigprop.propagate(name, 1.5, 0.1, 10, 1.0, 0.5).c[-1],
            lambda: sigprop.propagate(name, 1.5, 0.1, 10, one, 0.5 * one).c[-1],
            lambda: _core.propagate(k, p0, p1, 1.5, 1.5, 0.1, 10, one, one, 0.5 * one, 1)[2][-1],
        ),
        (
            "eoc(sigma_b=0.2) (the table of g(q) cached)",
            lambda: sigprop.eoc(name, 0.2).sigma_w,
            lambda: sigprop.eoc(name, sb).sigma_w,
            lambda: _core.eoc(k, p0, p1, sb, 1)[0][0, 0],
        ),
    ]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--activation", default="tanh,relu")
    ap.add_argument("--number", type=int, default=5000)
    args = ap.parse_args(argv)
    print(f"{'call':<46}{'activation':>11}{'scalars':>10}{'arrays':>10}{'core':>8}   (us)")
    for name in args.activation.split(","):
        for label, scalar, array, core in calls(name):
            # equal results, then warm (tables built) before timing
            assert np.array_equal(np.ravel(array()), np.ravel(scalar()), equal_nan=True)
            t = [best_us(f, args.number) for f in (scalar, array, core)]
            print(f"{label:<46}{name:>11}{t[0]:>10.1f}{t[1]:>10.1f}{t[2]:>8.2f}")


if __name__ == "__main__":
    main()

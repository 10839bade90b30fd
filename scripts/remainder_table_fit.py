"""Would a remainder table serve this activation next to c = 1? One segment's fit.

Run from the repository root:

    python scripts/remainder_table_fit.py softsign 0 --log10-q 2.0 --log10-e -9
    python scripts/remainder_table_fit.py elu 1 --log10-q 3.5 --log10-e -9 --skeleton relu

The design of csrc/sigprop/remainder_table.hpp, for any built-in: with q = sqrt(q1 q2),
mu = log(q2 / q1) / 2 and e = 1 - c, E[f(u) f(v)] (f = phi^(d)) less a skeleton's kernel
in closed form (none, or relu's / the step's: --skeleton relu) as a tensor Chebyshev
interpolant in (log10 q, log10 e, mu^2) on one segment (half a decade of q from
--log10-q, a decade of e from --log10-e, mu in [0, 0.05]), its values at the Lobatto
nodes from the engine (``bivariate_expectation``). Printed: the last coefficient in each
direction and the interpolant's largest error at random points of the segment against
the engine, both relative to the smallest Cauchy-Schwarz scale sqrt(E f(u)^2 E f(v)^2)
of the segment's corners. In log10 e the kinks' half-integer powers of 1 - c are entire
functions: the table needs no expansion about c = 1. (A study tool: the tables
themselves are built in the core from the Fourier forms, and certified there.)
"""

from __future__ import annotations

import argparse

import numpy as np
from numpy.polynomial import chebyshev as cheb

import sigprop as sp


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("activation")
    p.add_argument("derivative", type=int, choices=(0, 1))
    p.add_argument("--log10-q", type=float, default=2.0, help="the segment's least log10 q")
    p.add_argument("--log10-e", type=float, default=-3.0, help="its least log10(1 - c)")
    p.add_argument("--degrees", default="12,16,4", help="in log10 q, log10 e, mu^2")
    p.add_argument("--skeleton", choices=("none", "relu"), default="none")
    p.add_argument("--points", type=int, default=40)
    args = p.parse_args(argv)
    act, d = sp.activation(args.activation), args.derivative
    degs = tuple(int(x) for x in args.degrees.split(","))
    mu2_max = 0.05**2

    def pair(t):
        tq, te, tm = t
        q = 10.0 ** (args.log10_q + 0.25 * (1.0 + tq))
        mu = np.sqrt(0.5 * mu2_max * (1.0 + tm))
        return q * np.exp(-mu), q * np.exp(mu), 1.0 - 10.0 ** (args.log10_e + 0.5 * (1.0 + te))

    def skeleton(q1, q2, c):
        if args.skeleton == "none":
            return 0.0
        sc = np.sqrt((1.0 - c) * (1.0 + c))
        pmt = np.pi - np.arctan2(sc, c)
        return np.sqrt(q1 * q2) * (sc + pmt * c) / (2 * np.pi) if d == 0 else pmt / (2 * np.pi)

    def g(t):
        q1, q2, c = pair(t)
        return float(sp.bivariate_expectation(act, q1, q2, c, derivative=d)) - skeleton(q1, q2, c)

    def scale(t):
        q1, q2, _ = pair(t)
        m1, m2 = sp.gaussian_moments(act, q1), sp.gaussian_moments(act, q2)
        f = "phi_sq" if d == 0 else "dphi_sq"
        return float(np.sqrt(getattr(m1, f) * getattr(m2, f)))

    nodes = [np.cos(np.pi * np.arange(n + 1) / n) for n in degs]
    values = np.array([[[g((a, b, c)) for c in nodes[2]] for b in nodes[1]] for a in nodes[0]])
    coef = values
    for axis, (x, n) in enumerate(zip(nodes, degs, strict=True)):
        inv = np.linalg.inv(cheb.chebvander(x, n))
        coef = np.moveaxis(np.tensordot(inv, np.moveaxis(coef, axis, 0), axes=1), 0, axis)
    corners = [(a, b, c) for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)]
    smin = min(scale(t) for t in corners)
    rng = np.random.default_rng(0)
    worst = max(
        abs(cheb.chebval3d(*t, coef) - g(t)) / scale(t)
        for t in rng.uniform(-1.0, 1.0, (args.points, 3))
    )
    tails = [np.abs(coef[-1]).max(), np.abs(coef[:, -1]).max(), np.abs(coef[:, :, -1]).max()]
    print(
        f"{act.name} d={d}, log10 q [{args.log10_q}, {args.log10_q + 0.5}], log10(1 - c) "
        f"[{args.log10_e}, {args.log10_e + 1}], degrees {degs}: last coefficients "
        + " / ".join(f"{t / smin:.1e}" for t in tails)
        + f" of the scale; largest error at {args.points} random points {worst:.1e}"
    )


if __name__ == "__main__":
    main()

"""Would a remainder table serve this activation next to c = 1? One segment's fit.

Run from the repository root:

    python scripts/remainder_table_fit.py softsign 0 --log10-q 2.0 --log10-e -9
    python scripts/remainder_table_fit.py elu 1 --log10-q 3.5 --log10-e -9 --skeleton relu

The design of csrc/sigprop/remainder_table.hpp, for any built-in: with q = sqrt(q1 q2),
mu = log(q2 / q1) / 2 and e = 1 - c (1 + c with --negative), E[f(u) f(v)] (f = phi^(d))
less a skeleton's kernel in closed form (none, sign's, or relu's / the step's, times
--factor) as a tensor Chebyshev interpolant in (log10 q, log10 e, mu^2) on one segment
(--span-q decades of q from --log10-q, --span-e decades of e from --log10-e, mu in [0,
0.05]), its values at the Lobatto nodes from the engine with the remainder tables off
(``_core.untabled_pair``, as the core's tables of elu, selu, softsign and
linear_region_tanh take their nodes), each at the e its c rounded to. Printed: the last
coefficient in each direction and the interpolant's largest error at random points of the
segment against the engine, both relative to the smallest Cauchy-Schwarz scale sqrt(E
f(u)^2 E f(v)^2) of the segment's corners. In log10 e the kinks' half-integer powers of 1
- c are entire functions: the table needs no expansion about c = 1. (A study tool: the
tables themselves are built in the core, and certified there.)
"""

from __future__ import annotations

import argparse

import numpy as np
from numpy.polynomial import chebyshev as cheb

import sigprop as sp
from sigprop import _core


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("activation")
    p.add_argument("derivative", type=int, choices=(0, 1))
    p.add_argument("--log10-q", type=float, default=2.0, help="the segment's least log10 q")
    p.add_argument("--log10-e", type=float, default=-3.0, help="its least log10(1 - c)")
    p.add_argument("--degrees", default="12,16,4", help="in log10 q, log10 e, mu^2")
    p.add_argument("--skeleton", choices=("none", "relu", "sign"), default="none")
    p.add_argument("--factor", type=float, default=1.0, help="the skeleton's multiplier")
    p.add_argument("--span-q", type=float, default=0.5, help="decades of q a segment")
    p.add_argument("--span-e", type=float, default=1.0, help="decades of e a segment")
    p.add_argument("--negative", action="store_true", help="next to c = -1: e = 1 + c, c = e - 1")
    p.add_argument("--points", type=int, default=40)
    args = p.parse_args(argv)
    act, d = sp.activation(args.activation), args.derivative
    degs = tuple(int(x) for x in args.degrees.split(","))
    mu2_max = 0.05**2

    def pair(t):
        tq, te, tm = t
        q = 10.0 ** (args.log10_q + 0.5 * args.span_q * (1.0 + tq))
        mu = np.sqrt(0.5 * mu2_max * (1.0 + tm))
        e = 10.0 ** (args.log10_e + 0.5 * args.span_e * (1.0 + te))
        return q * np.exp(-mu), q * np.exp(mu), e - 1.0 if args.negative else 1.0 - e

    def skeleton(q1, q2, c):
        if args.skeleton == "none":
            return 0.0
        sc = np.sqrt((1.0 - c) * (1.0 + c))
        if args.skeleton == "sign":
            return args.factor * (2.0 / np.pi) * np.arctan2(c, sc) if d == 0 else 0.0
        pmt = np.pi - np.arctan2(sc, c)
        k = np.sqrt(q1 * q2) * (sc + pmt * c) / (2 * np.pi) if d == 0 else pmt / (2 * np.pi)
        return args.factor * k

    def local_e(te):
        _, _, c = pair((0.0, te, 0.0))
        e = c + 1.0 if args.negative else 1.0 - c
        return 2.0 * (np.log10(e) - args.log10_e) / args.span_e - 1.0

    def g(t):
        q1, q2, c = pair(t)
        v = _core.untabled_pair(act.kind, *act.core_params, d, float(q1), float(q2), float(c))
        return v - skeleton(q1, q2, c)

    def scale(t):
        q1, q2, _ = pair(t)
        m1, m2 = sp.gaussian_moments(act, q1), sp.gaussian_moments(act, q2)
        f = "phi_sq" if d == 0 else "dphi_sq"
        return float(np.sqrt(getattr(m1, f) * getattr(m2, f)))

    nodes = [np.cos(np.pi * np.arange(n + 1) / n) for n in degs]
    values = np.array([[[g((a, b, c)) for c in nodes[2]] for b in nodes[1]] for a in nodes[0]])
    coef = values
    # (in e, the coordinates of the c each node rounded to: 1 - c differs from 10^x by up
    # to half an ulp of 1, 1e-4 of e at e = 1e-12)
    exact = [nodes[0], local_e(nodes[1]), nodes[2]]
    for axis, (x, n) in enumerate(zip(exact, degs, strict=True)):
        inv = np.linalg.inv(cheb.chebvander(x, n))
        coef = np.moveaxis(np.tensordot(inv, np.moveaxis(coef, axis, 0), axes=1), 0, axis)
    corners = [(a, b, c) for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)]
    smin = min(scale(t) for t in corners)
    rng = np.random.default_rng(0)
    worst = max(
        abs(cheb.chebval3d(t[0], local_e(t[1]), t[2], coef) - g(t)) / scale(t)
        for t in rng.uniform(-1.0, 1.0, (args.points, 3))
    )
    tails = [np.abs(coef[-1]).max(), np.abs(coef[:, -1]).max(), np.abs(coef[:, :, -1]).max()]
    print(
        f"{act.name} d={d}, log10 q [{args.log10_q}, {args.log10_q + args.span_q}], "
        f"log10(1 {'+' if args.negative else '-'} c) "
        f"[{args.log10_e}, {args.log10_e + args.span_e}], degrees {degs}: last coefficients "
        + " / ".join(f"{t / smin:.1e}" for t in tails)
        + f" of the scale; largest error at {args.points} random points {worst:.1e}"
    )


if __name__ == "__main__":
    main()

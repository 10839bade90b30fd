#!/usr/bin/env python
"""Coefficients of the normal tail's continued fraction on t in [3, 8)
(csrc/sigprop/special.hpp, mills_fraction).

Usage:  python scripts/make_mills_coefficients.py [--check]

The Laplace continued fraction of the Mills ratio R(t) = Q(t) / npdf(t) is
R = 1 / (t + K1), K_n = n / (t + K_(n+1)). Below t = 8 its backward evaluation
takes 28-60 divisions in a chain. On each unit interval [a, a + 1), a = 3..7, the
smooth function t K2(t) (between 1.6 and 2) is instead a polynomial of degree 13
in u = 2 (t - a) - 1 in [-1, 1): its Chebyshev interpolant at 25 nodes, computed
with mpmath at 50 digits from K2 = 1 / (1 / R - t) - t, truncated after T_13 (the
dropped terms sum below 1e-19), and converted to monomials in u. Prints the C++
table. With --check, compares it against mpmath on 50,001 points of [3, 8): the
relative errors of R, K1 R and K1 K2 R (the tail moments over the density, as
upper_tail forms them) are printed beside those of the 60-term fraction.
"""

import sys

import mpmath as mp

mp.mp.dps = 50
DEGREE = 13
NODES = 25


def k2_exact(t):
    """K2(t) from the Mills ratio at 50 digits."""
    t = mp.mpf(t)
    r = mp.erfc(t / mp.sqrt(2)) / 2 / (mp.exp(-t * t / 2) / mp.sqrt(2 * mp.pi))
    return 1 / (1 / r - t) - t


def chebyshev(f, a, b, n_nodes):
    """Chebyshev coefficients of f on [a, b] (interpolation at the first-kind nodes)."""
    xs = [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / n_nodes) for k in range(n_nodes)]
    fs = [f((mp.mpf(b) - a) / 2 * x + (mp.mpf(a) + b) / 2) for x in xs]
    return [
        (2 if j else 1)
        * sum(fs[k] * mp.cos(mp.pi * j * (k + mp.mpf(1) / 2) / n_nodes) for k in range(n_nodes))
        / n_nodes
        for j in range(n_nodes)
    ]


def to_monomials(cs):
    """sum_j cs[j] T_j(u) as coefficients of u^k."""
    out = [mp.mpf(0)] * len(cs)
    t_prev, t_cur = [mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]
    for j, c in enumerate(cs):
        if j == 0:
            tj = t_prev
        elif j == 1:
            tj = t_cur
        else:
            t_next = [mp.mpf(0)] + [2 * x for x in t_cur]
            for i, x in enumerate(t_prev):
                t_next[i] -= x
            t_prev, t_cur = t_cur, t_next
            tj = t_cur
        for i, x in enumerate(tj):
            out[i] += c * x
    return out


def table():
    rows = []
    for a in range(3, 8):
        cs = chebyshev(lambda t: t * k2_exact(t), a, a + 1, NODES)
        dropped = sum(abs(c) for c in cs[DEGREE + 1 :])
        assert dropped < 1e-19, (a, dropped)
        rows.append([float(x) for x in to_monomials(cs[: DEGREE + 1])])
    return rows


def evaluate(rows, t):
    """The polynomial as special.hpp evaluates it (binary64, even and odd halves)."""
    a = int(t)
    c = rows[a - 3]
    u = 2.0 * (t - a) - 1.0
    v = u * u
    e, o = c[12], c[13]
    for k in range(10, -1, -2):
        e = e * v + c[k]
        o = o * v + c[k + 1]
    k2 = (e + u * o) / t
    k1 = 1.0 / (t + k2)
    return 1.0 / (t + k1), k1, k2


def check(rows):
    mp.mp.dps = 40
    worst = [0.0, 0.0, 0.0]
    for i in range(50001):
        t = 3.0 + 5.0 * i / 50001
        r, k1, k2 = evaluate(rows, t)
        T = mp.mpf(t)
        R = mp.erfc(T / mp.sqrt(2)) / 2 / (mp.exp(-T * T / 2) / mp.sqrt(2 * mp.pi))
        K1 = 1 / R - T
        K2 = 1 / K1 - T
        got = (r, k1 * r, k1 * k2 * r)
        ref = (R, K1 * R, K1 * K2 * R)
        for k in range(3):
            worst[k] = max(worst[k], float(abs((mp.mpf(got[k]) - ref[k]) / ref[k])))
    print("largest relative errors of R, K1 R, K1 K2 R on [3, 8):", worst)


def main():
    rows = table()
    print(f"  static constexpr double c[5][{DEGREE + 1}] = {{")
    for row in rows:
        print("      {" + ", ".join(repr(x) for x in row) + "},")
    print("  };")
    if "--check" in sys.argv[1:]:
        check(rows)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Coefficients of erfcx on [0, 6.75] for special::erfc_arith (csrc/sigprop/special.hpp).

Usage:  python scripts/make_erfcx_coefficients.py [--check]

erfc(z) = exp(-z^2) erfcx(z), and erfcx is smooth and between 0.08 and 1 on [0, 6.75]
(the arguments z = t / sqrt(2), t < 9.5, of the Fourier forms' cross terms,
linear_tail_pair.hpp and sign_tail_pair.hpp). Mapped by s = (z - 3) / (z + 3) (Weideman's
map, which takes z in [0, inf) to s in [-1, 1)) and u = 2 (s + 1) / (s_hi + 1) - 1 in
[-1, 1], it is a Chebyshev series that converges fast: interpolated at 40 first-kind
nodes with mpmath at 50 digits, truncated after T_22 (the dropped coefficients sum to
7e-21) and converted to monomials in u (the sum of their magnitudes is 1.0004: no
cancellation on [-1, 1]), which the C++ code evaluates by Estrin's scheme (a chain of 6
operations where Clenshaw's recurrence was 66 long: a vector loop over it was bound by
that latency). Prints the C++ table. With --check, evaluates it as the C++ code does, in
double arithmetic, on 200,001 points of [0, 6.75] and prints the largest error of erfcx
relative to it, in ulps, against mpmath.
"""

import sys

import mpmath as mp
from make_mills_coefficients import chebyshev, to_monomials  # (scripts/: the script's path)

mp.mp.dps = 50
Z_HI = mp.mpf("6.75")
L = mp.mpf(3)
S_HI = (Z_HI - L) / (Z_HI + L)
DEGREE = 22
NODES = 40


def erfcx(z):
    z = mp.mpf(z)
    return mp.exp(z * z) * mp.erfc(z)


def z_of_u(u):
    s = (u + 1) * (S_HI + 1) / 2 - 1
    return L * (1 + s) / (1 - s)


def coefficients():
    """erfcx's Chebyshev coefficients in u, at NODES first-kind nodes."""
    return chebyshev(lambda u: erfcx(z_of_u(u)), -1, 1, NODES)


def estrin_double(a, z):
    """The C++ evaluation (special::erfc_arith's erfcx), in double arithmetic."""
    s = (z - 3.0) / (z + 3.0)
    u = (s + 1.0) * (2.0 / (float(S_HI) + 1.0)) - 1.0
    u2 = u * u
    u4 = u2 * u2
    u8 = u4 * u4
    u16 = u8 * u8
    b = [a[2 * k] + a[2 * k + 1] * u for k in range(11)] + [a[22]]
    c = [b[2 * k] + b[2 * k + 1] * u2 for k in range(6)]
    d = [c[0] + c[1] * u4, c[2] + c[3] * u4, c[4] + c[5] * u4]
    return (d[0] + d[1] * u8) + d[2] * u16


def main():
    cs = coefficients()
    tail = sum(abs(c) for c in cs[DEGREE + 1 :])
    kept = [float(c) for c in to_monomials(cs[: DEGREE + 1])]
    print(
        "// (scripts/make_erfcx_coefficients.py: the Chebyshev terms dropped sum to "
        f"{float(tail):.0e})"
    )
    print(f"inline constexpr double erfcx_s_hi = {float(S_HI)!r};")
    print(f"inline constexpr double erfcx_poly[{DEGREE + 1}] = {{")
    for c in kept:
        print(f"    {c!r},")
    print("};")
    if "--check" in sys.argv:
        worst, at = 0.0, 0.0
        n = 200_000
        for i in range(n + 1):
            z = 6.75 * i / n
            got = estrin_double(kept, z)
            ref = erfcx(z)
            ulp = float(mp.mpf(2) ** (mp.floor(mp.log(abs(ref), 2)) - 52))
            err = float(abs(got - ref)) / ulp
            if err > worst:
                worst, at = err, z
        print(f"// largest error of erfcx: {worst:.2f} ulps (at z = {at})")


if __name__ == "__main__":
    main()

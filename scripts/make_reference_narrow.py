#!/usr/bin/env python
"""30-digit references for softsign next to the diagonal at a narrow conditional spread.

Writes tests/data/reference_2d_narrow_spread.json: E[phi(u) phi(v)] and E[phi'(u)
phi'(v)] of softsign, phi(x) = x / (1 + |x|), at q1 = 0.01 to 300, q2 within 1 % of
q1 (or equal), 1 - c = 1e-6 to 1e-9: the conditional spread w = sqrt(q2 (1 - c^2)) of
v given u is 4e-6 to 0.014, where sigprop's conditional form smooths softsign's power
series about its kink piece by piece (softsign_series_smoothing in
csrc/sigprop/softsign_pair.hpp).

Independent of sigprop: mpmath alone (mp.dps = 30), by the conditional form with both
integrals adaptive (tanh-sinh):
    E[f(u) f(v)] = 2 int_0^inf f(u) npdf(u / s1) / s1 S(a u) du,   S(m) = E[f(m + w T)],
a = c s2 / s1, T ~ N(0, 1) (f odd or even: the integrand is even in u). S is split at
the kink (T = -m / w) and cut at |T| = 14 (the mass beyond, e^-98, is below the
precision asked); the outer integral has breakpoints on the kink's smoothed window (u =
k w / a, k = 1.5, 6, 12, 24), on u's scale (s1, 3 s1, 6 s1) and is cut at 14 s1.
Self-check: every case again at mp.dps = 40 with the breakpoints shifted (k = 1, 5,
10, 20; 2 s1, 5 s1): the two must agree to 1e-24 relative, or the script stops.

    python scripts/make_reference_narrow.py [--procs 2]

Cases already in the file are kept (delete it to recompute them all).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from decimal import Decimal
from pathlib import Path

import mpmath as mp

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "reference_2d_narrow_spread.json"

# (q1, q2, 1 - c)
CASES = [
    ("0.01", "0.0101", "1e-9"),
    ("0.3", "0.3", "1e-7"),
    ("4.18", "4.2", "1e-7"),
    ("16.75", "16.75", "1e-7"),
    ("300", "301", "1e-9"),
    ("100", "100.5", "1e-6"),
]


def f(x, d):
    ax = 1 + abs(x)
    return x / ax if d == 0 else 1 / ax**2


def value(q1, q2, c, d, dps, ks, ss):
    with mp.workdps(dps):
        s1, s2, c = mp.sqrt(mp.mpf(q1)), mp.sqrt(mp.mpf(q2)), mp.mpf(str(c))
        a = c * s2 / s1
        w = s2 * mp.sqrt((1 - c) * (1 + c))

        def S(m):
            k = -m / w
            pts = {mp.mpf(-14), mp.mpf(14), mp.mpf(0)}
            if -14 < k < 14:
                pts |= {k, max(k - 1, mp.mpf(-14)), min(k + 1, mp.mpf(14))}
            return mp.quad(lambda t: f(m + w * t, d) * mp.npdf(t), sorted(pts))

        br = {mp.mpf(0), 14 * s1} | {k * w / a for k in ks} | {s * s1 for s in ss}
        br = sorted(b for b in br if b <= 14 * s1)
        return 2 * mp.quad(lambda u: f(u, d) * mp.npdf(u / s1) / s1 * S(a * u), br)


def task(args):
    q1, q2, e, d = args
    c = float(1 - Decimal(e))  # the binary64 number nearest to the nominal c
    t = time.time()
    v = value(q1, q2, Decimal(c), d, 30, (1.5, 6, 12, 24), (1, 3, 6))
    check = value(q1, q2, Decimal(c), d, 40, (1, 5, 10, 20), (2, 5))
    rel = abs(v - check) / abs(check)
    if not rel <= mp.mpf("1e-24"):
        raise SystemExit(f"self-check failed at {args}: {mp.nstr(rel, 3)}")
    return args, c, mp.nstr(v, 28), float(rel), time.time() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=2)
    args = ap.parse_args()
    # (cases already in the file are kept, not recomputed: delete it to start afresh)
    cases = json.loads(OUT.read_text())["cases"] if OUT.exists() else []
    have = {(k["q1"], k["q2"], k["c_nominal"], k["quantity"]) for k in cases}
    todo = [
        (q1, q2, e, d)
        for q1, q2, e in CASES
        for d in (0, 1)
        if (q1, q2, str(1 - Decimal(e)), "phiphi" if d == 0 else "dphidphi") not in have
    ]
    with multiprocessing.get_context("fork").Pool(args.procs) as pool:
        done = pool.map(task, todo, chunksize=1)
    for (q1, q2, e, d), c, v, rel, dt in done:
        print(f"{q1:>6} {q2:>7} 1-c={e:<5} d={d}: {v}  (self-check {rel:.1e}, {dt:.0f} s)")
        cases.append(
            {
                "activation": "softsign",
                "params": {},
                "quantity": "phiphi" if d == 0 else "dphidphi",
                "q1": q1,
                "q2": q2,
                "c": str(Decimal(c)),
                "c_nominal": str(1 - Decimal(e)),
                "value": v,
            }
        )
    meta = {
        "generator": "scripts/make_reference_narrow.py",
        "method": "conditional form, nested mpmath.quad (tanh-sinh), mp.dps = 30; "
        "self-check at mp.dps = 40 with other breakpoints, agreement 1e-24",
    }
    OUT.write_text(json.dumps({"meta": meta, "cases": cases}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

"""Maximum errors of sigprop's Gaussian expectations against the stored mpmath references.

    python scripts/accuracy_report.py

One-dimensional moments: relative error (E[phi] relative to sqrt(E[phi^2]), since
it vanishes for odd phi). Bivariate expectations: error relative to the Cauchy-Schwarz
scale sqrt(E[F(u)^2] E[F(v)^2]), the accuracy the package documents.
"""

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

import sigprop as sp

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
FIELD = {
    "mean": "mean",
    "phi_sq": "phi_sq",
    "dphi_sq": "dphi_sq",
    "d2phi_sq": "d2phi_sq",
    "dV": "dV",
}


def _act(case):
    return sp.activation(case["activation"], **case["params"])


def main() -> None:
    c1 = json.loads((DATA / "reference_1d.json").read_text())["cases"]
    c2 = json.loads((DATA / "reference_2d.json").read_text())["cases"]
    worst1: dict[str, float] = defaultdict(float)
    for c in c1:
        if c["quantity"] not in FIELD:
            continue
        ref = float(c["value"])
        if not np.isfinite(ref):
            continue
        m = sp.gaussian_moments(_act(c), float(c["q"]))
        got = float(getattr(m, FIELD[c["quantity"]]))
        # E[phi] relative to sqrt(E[phi^2]) (it is ~0 for odd phi, and selu at q = 1)
        scale = float(np.sqrt(m.phi_sq)) if c["quantity"] == "mean" else abs(ref)
        err = 0.0 if got == ref else abs(got - ref) / scale
        key = f"{c['activation']}{c['params'] or ''}"
        worst1[key] = max(worst1[key], err)
    worst2: dict[str, float] = defaultdict(float)
    for c in c2:
        act = _act(c)
        d = 0 if c["quantity"] == "phiphi" else 1
        q1, q2, cc = float(c["q1"]), float(c["q2"]), float(c["c"])
        got = float(sp.bivariate_expectation(act, q1, q2, cc, derivative=d))
        m1, m2 = sp.gaussian_moments(act, q1), sp.gaussian_moments(act, q2)
        f1, f2 = (m1.phi_sq, m2.phi_sq) if d == 0 else (m1.dphi_sq, m2.dphi_sq)
        scale = float(np.sqrt(f1) * np.sqrt(f2))
        ref = float(c["value"])
        err = 0.0 if got == ref else abs(got - ref) / scale
        key = f"{c['activation']}{c['params'] or ''} d={d}"
        worst2[key] = max(worst2[key], err)
    print("1-d moments, max relative error over q in [1e-6, 1e4]:")
    for k, v in sorted(worst1.items()):
        print(f"  {k:40s} {v:.1e}")
    print("bivariate, max error / Cauchy-Schwarz scale over c in [-1, 1], q in [1e-3, 1e2]:")
    for k, v in sorted(worst2.items()):
        print(f"  {k:40s} {v:.1e}")


if __name__ == "__main__":
    main()

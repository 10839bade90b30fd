"""Accuracy of user-defined activations against the built-ins with the same mathematics.

For tanh, gelu, elu, softplus and hard_tanh, each given as a NumPy callable
(derivatives computed: complex step or differentiated interpolant) and as a
SymPy expression (exact derivatives), prints the build time, how phi' was
obtained, and the largest relative difference of each one-point Gaussian moment
from the built-in's over q in [1e-6, 1e4] (mean relative to sqrt(E[phi^2])).

Run: python scripts/custom_accuracy.py  (needs scipy and sympy)
"""

import time
import warnings

import numpy as np
from scipy.special import erfc

import sigprop as sp

q = np.logspace(-6, 4, 61)


def cmp(a, b, label):
    m1 = sp.gaussian_moments(a, q)
    m2 = sp.gaussian_moments(b, q)
    out = []
    for f in m1._fields:
        x, y = getattr(m1, f), getattr(m2, f)
        scale = np.sqrt(m2.phi_sq) if f == "mean" else np.abs(y)
        with np.errstate(all="ignore"):
            e = np.where(x == y, 0, np.abs(x - y) / scale)
        out.append(f"{f}={np.nanmax(e):.1e}@{q[np.nanargmax(e)]:.0e}")
    print(f"{label:28s}", " ".join(out))


def build(*args, **kw):
    t = time.time()
    a = sp.activation(*args, **kw)
    return a, time.time() - t


cases = [
    ("tanh", (np.tanh,), {}),
    ("tanh", ("tanh(x)",), {}),
    ("gelu", (lambda x: x * 0.5 * erfc(-x / np.sqrt(2)),), {"name": "gelu_c"}),
    ("gelu", ("x*Phi(x)",), {}),
    (
        "elu",
        (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),),
        {"name": "elu_c", "kinks": [0.0]},
    ),
    ("elu", ("Piecewise((x, x > 0), (exp(x) - 1, True))",), {}),
    ("softplus", (lambda x: np.logaddexp(0, x),), {"name": "sp_c"}),
    ("softplus", ("log(1 + exp(x))",), {}),
    ("hard_tanh", (lambda x: np.clip(x, -1, 1),), {"name": "ht_c", "kinks": [-1.0, 1.0]}),
    ("hard_tanh", ("Max(-1, Min(x, 1))",), {}),
]
for b, args, kw in cases:
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        a, t = build(*args, **kw)
    cmp(a, b, f"{b} {a.name[:10]} {t:.2f}s {a.source[:6]} {len(w)}w")

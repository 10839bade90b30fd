#!/usr/bin/env python
"""30-digit references for the closed-form bivariate expectations of the
piecewise linear / exponential activations (piecewise_closed_forms.hpp).

Usage:  python scripts/make_reference_piecewise.py [--procs N]

Writes tests/data/reference_2d_piecewise.json: E[phi(u) phi(v)] and
E[phi'(u) phi'(v)] for hard_tanh, shifted_relu, soft_threshold, linear_floor,
elu and selu at a handful of (q1, q2, c), c next to +-1 (1 -+ c = 1e-6, 1e-12),
q = 1e-4 and 1e4, q1 != q2, q ~ 10 next to c = 1, and one variance of 1e3-1e4
next to |c| = 1 (the other also small).  The values come from
scripts/make_reference.py's compute_2d (mpmath at 30 digits, outer tanh-sinh
quadrature over Z1 of the closed-form inner Gaussian expectation; independent of
sigprop), at the exact binary64 c the engine is given.
"""

import json
import sys
import time
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import make_reference as mr

ENTRIES = [
    ("hard_tanh", {"a": 1.0}),
    ("shifted_relu", {"tau": 1.0}),
    ("soft_threshold", {"tau": 1.0}),
    ("linear_floor", {"a": 1.0}),
    ("elu", {"alpha": 1.0}),
    ("selu", {}),
]
POINTS = [
    ("1", "1", "0.5"),
    ("1", "1", "0.999999"),
    ("1", "1", "0.999999999999"),
    ("1", "1", "-0.999999"),
    ("1e-4", "1e-4", "0.6"),
    ("1e4", "1e4", "0.999999"),
    ("1e4", "1e4", "-0.3"),
    ("0.3", "20", "0.9"),
    ("1e-4", "1e4", "0.7"),
    ("2", "5", "-0.999999999999"),
    # hard_tanh's sign form next to c = 1 at moderate q (a deep ordered-phase kernel),
    # where a feature at the end of its range was once left out of the mesh
    ("9.832", "9.832", "0.99999999"),
    ("10", "10.00001", "0.99999999"),
    ("4", "4", "0.9999999999"),
    # one variance of 1e3-1e4 next to |c| = 1 with the other anything: elu's and selu's
    # exponential tilted many standard deviations out (their one-sided pairs)
    ("91", "9640", "-0.985234"),
    ("0.362", "9610", "0.987963"),
    ("206", "8070", "0.986952"),
    ("1170", "3620", "-0.997437"),
    # one variance small, the other large, next to |c| = 1 (elu's and selu's Taylor
    # series on the small side alone)
    ("0.03", "3080", "0.968306"),
    ("1e-5", "1040", "-0.9869"),
]


def task(args):
    ei, qty, q1s, q2s, cs = args
    name, params = ENTRIES[ei]
    t0 = time.time()
    mr.mp.dps = mr.BASE_DPS
    v, info = mr.compute_2d(name, params, qty, q1s, q2s, mr.exact_c(cs))
    return {
        "activation": name,
        "params": params,
        "quantity": qty,
        "q1": q1s,
        "q2": q2s,
        "c": mr.exact_c(cs),
        "c_nominal": cs,
        "value": mr.fmt(v),
        "method": info.get("method"),
        "seconds": round(time.time() - t0, 1),
    }


def main():
    procs = int(sys.argv[sys.argv.index("--procs") + 1]) if "--procs" in sys.argv else 1
    tasks = [
        (ei, qty, q1, q2, c)
        for ei in range(len(ENTRIES))
        for (q1, q2, c) in POINTS
        for qty in ("phiphi", "dphidphi")
    ]
    t0 = time.time()
    with Pool(procs) as pool:
        cases = []
        for r in pool.imap(task, tasks):
            cases.append(r)
            print(
                r["activation"],
                r["quantity"],
                r["q1"],
                r["q2"],
                r["c_nominal"],
                r["value"],
                r["seconds"],
                flush=True,
            )
    out = {
        "meta": {
            "dps": mr.BASE_DPS,
            "generated_by": "scripts/make_reference_piecewise.py",
            "mpmath": mr.mpmath.__version__,
            "value_format": "mpmath.nstr(value, 25)",
            "c_format": "c is the binary64 number nearest to c_nominal, written out exactly",
            "generation_time_s": round(time.time() - t0),
        },
        "cases": cases,
    }
    path = Path(__file__).parent.parent / "tests" / "data" / "reference_2d_piecewise.json"
    path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()

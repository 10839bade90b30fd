"""Cells per second of a dropout scan over (keep_prob, sigma_b, sigma_w) against the
plain scan, per activation, one thread.

    python benchmarks/dropout_scan.py [--activations tanh,relu] [--grid 40]
"""

from __future__ import annotations

import argparse

import numpy as np
from two_point_report import rate  # (benchmarks/ is on the path of a script run from it)

import sigprop


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--activations", default=",".join(sigprop.ACTIVATIONS))
    p.add_argument("--grid", type=int, default=40)
    p.add_argument("--keep-prob", default="0.8,0.9,0.95,0.99")
    args = p.parse_args(argv)
    sb, sw = (
        a.ravel()
        for a in np.meshgrid(
            np.linspace(0, 2, args.grid), np.linspace(0.1, 4, args.grid), indexing="ij"
        )
    )
    rhos = [float(r) for r in args.keep_prob.split(",")]
    print(f"{'activation':<19}{'plain cells/s':>14}{'dropout cells/s':>16}{'ratio':>7}")
    for name in args.activations.split(","):
        # build the tables (their segments at every q the scans reach) before timing
        for r in [1.0, *rhos]:
            sigprop.fixed_point(name, sw, sb, keep_prob=r, n_threads=1)
        plain = rate(lambda name=name: sigprop.fixed_point(name, sw, sb, n_threads=1), sw.size)

        def drop(name=name):
            for r in rhos:
                sigprop.fixed_point(name, sw, sb, keep_prob=r, n_threads=1)

        dropped = rate(drop, sw.size * len(rhos))
        print(f"{name:<19}{plain:>14.3g}{dropped:>16.3g}{plain / dropped:>7.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

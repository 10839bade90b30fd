"""What a fresh process pays for its first scan: the lazily built tables.

Run from the repository root:

    python benchmarks/first_use.py                      # every built-in
    python benchmarks/first_use.py --activations tanh,softsign

Each activation runs in a new Python process (so that no table is built yet): the
fixed points with c*, chi_c on the 40 x 40 benchmark grid (sigma_b in [0, 2],
sigma_w in [0.1, 4], one thread) twice; the first call builds what the grid needs
(moment, Hermite and near-diagonal table segments), the second is warm.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import sigprop

_CHILD = """
import sys, time
import numpy as np
import sigprop as sp
sb, sw = (a.ravel() for a in np.meshgrid(np.linspace(0, 2, 40), np.linspace(0.1, 4, 40)))
t0 = time.perf_counter()
sp.fixed_point(sys.argv[1], sw, sb, n_threads=1)
t1 = time.perf_counter()
sp.fixed_point(sys.argv[1], sw, sb, n_threads=1)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--activations", default=",".join(sigprop.ACTIVATIONS))
    args = p.parse_args(argv)
    print(f"{'activation':<19}{'first scan s':>13}{'warm ms':>9}{'ratio':>8}")
    for name in args.activations.split(","):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, name], capture_output=True, text=True, check=True
        ).stdout.split()
        first, warm = float(out[0]), float(out[1])
        print(f"{name:<19}{first:>13.2f}{1e3 * warm:>9.1f}{first / warm:>8.0f}", flush=True)


if __name__ == "__main__":
    main()

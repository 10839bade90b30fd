"""OpenMP scaling of the fixed-point scan kernel, with a bitwise-equality check.

Runs ``_core.fixed_points`` (q*, chi1, V'(q*), xi_q, xi_c at c* = 1 where
ordered) on one (sigma_b, sigma_w) grid at several thread counts and prints,
per count, the best wall time, cells per second, speed-up and parallel
efficiency against one thread, and whether every output array is bitwise
identical to the one-thread result.

    python benchmarks/openmp_scaling.py --activation tanh --n 1000 --threads 1,2,4,8,16

Use it on a machine with as many idle cores as the largest thread count.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import sigprop as sp
from sigprop import _core


def run(name: str, n: int, threads: list[int], repeat: int, with_correlation: bool) -> dict:
    act = sp.activation(name)
    kind, (p0, p1) = act.kind, act.core_params
    sb = np.linspace(0.0, 2.0, n)
    sw = np.linspace(0.1, 4.0, n)
    SB, SW = np.meshgrid(sb, sw, indexing="ij")
    sbf, swf = SB.ravel().copy(), SW.ravel().copy()
    # Warm up: builds the activation's moment tables once (not part of the timing).
    _core.fixed_points(kind, p0, p1, swf[:4096], sbf[:4096], None, with_correlation, 1)
    ref = None
    rows = []
    t1 = None
    for nt in threads:
        best = np.inf
        for _ in range(repeat):
            t0 = time.perf_counter()
            out = _core.fixed_points(kind, p0, p1, swf, sbf, None, with_correlation, nt)
            best = min(best, time.perf_counter() - t0)
        if ref is None:
            ref = out
            t1 = best
        same = all(
            np.array_equal(np.asarray(out[k]), np.asarray(ref[k]), equal_nan=True) for k in ref
        )
        row = {
            "threads": nt,
            "seconds": best,
            "cells_per_s": sbf.size / best,
            "speedup": t1 / best,
            "efficiency": t1 / best / nt,
            "bitwise_equal": bool(same),
        }
        rows.append(row)
        print(
            f"{name:8s} threads {nt:3d}: {best:8.3f} s  {row['cells_per_s']:12.0f} cells/s  "
            f"speed-up {row['speedup']:6.2f}  efficiency {100 * row['efficiency']:5.1f}%  "
            f"bitwise equal: {same}",
            flush=True,
        )
    return {"activation": name, "cells": int(sbf.size), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--activation", default="tanh", help="comma-separated activations")
    ap.add_argument("--n", type=int, default=1000, help="grid is n x n cells")
    ap.add_argument("--threads", default="1,2,4,8,16")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--with-correlation", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    res = [
        run(a, args.n, threads, args.repeat, args.with_correlation)
        for a in args.activation.split(",")
    ]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()

"""NNGP kernels of raw, unnormalised inputs: large variances with pairs next to c = 1.

Run from the repository root:

    python benchmarks/raw_inputs_kernel.py [--n 100] [--depth 3] [--activations tanh,relu]

Inputs like unscaled pixels (64 features: a common base uniform in [0, 255] plus
N(0, 40^2) noise, seed 0) put the first layer's variances at q ~ 2e4 and the cosines
of its pairs at 0.87-0.97, next to c = 1, where the Mehler series cannot reach. The
first call (lazily built tables included) and the best of three warm calls of
``nngp_kernel(act, X, 1.0, 0.1, depth)``, all threads.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import sigprop as sp


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument(
        "--activations", default="relu,tanh,sigmoid,softplus,silu,softsign,elu,linear_region_tanh"
    )
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 255, size=(1, 64)) + 40 * rng.normal(size=(args.n, 64))
    q = (X * X).sum(axis=1) / X.shape[1]
    cos = (X @ X.T) / np.sqrt(np.outer((X * X).sum(1), (X * X).sum(1)))
    iu = np.triu_indices(args.n, 1)
    print(
        f"{args.n} inputs, depth {args.depth}: input q {q.min():.3g}..{q.max():.3g}, "
        f"cosines {cos[iu].min():.3f}..{cos[iu].max():.3f}"
    )
    print(f"{'activation':<18}{'first s':>9}{'warm s':>9}")
    for name in args.activations.split(","):
        t0 = time.perf_counter()
        sp.nngp_kernel(name, X, 1.0, 0.1, depth=args.depth)
        first = time.perf_counter() - t0
        warm = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            sp.nngp_kernel(name, X, 1.0, 0.1, depth=args.depth)
            warm = min(warm, time.perf_counter() - t0)
        print(f"{name:<18}{first:>9.3f}{warm:>9.3f}")


if __name__ == "__main__":
    main()

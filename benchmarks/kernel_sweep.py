"""Wall time of ``nngp_kernel`` over a (sigma_w, sigma_b) sweep, to find its slow regimes.

For each sigma_w in --sigma-w and sigma_b in --sigma-b, the kernel of --n inputs of
unequal norms (d = 10, norms spread by exp(0.5 N(0, 1)), as two_point_report.py's
ordered-phase inputs), depth --depth, all threads, each activation timed once in one
process (tables built by earlier configurations stay warm); prints the slowest
--top activations of each configuration, or every one with --top 0.

    python benchmarks/kernel_sweep.py                      # 300 inputs, the full sweep
    python benchmarks/kernel_sweep.py --sigma-w 2.5 --sigma-b 8 --activations elu,selu
    python benchmarks/kernel_sweep.py --n 100 --depth 30 --threads 1 --repeat 3 --top 0 \
        --sigma-w 1,1.3,2 --sigma-b 0.2,0.5                # deep kernels, against relu

With --repeat R, each kernel is called once more first (its tables built) and timed
best of R; relu's time on the same inputs is shown first on each line, and each
activation's as a ratio to it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import sigprop

DEFAULT_ACTIVATIONS = (
    "tanh,sigmoid,softsign,linear_region_tanh,silu,softplus,shifted_softplus,elu,selu,"
    "hard_tanh,soft_threshold,shifted_relu,linear_floor,gelu,erf,sin"
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=300, help="number of inputs")
    p.add_argument("--depth", type=int, default=10)
    p.add_argument("--sigma-w", default="0.5,1,1.5,2.5", help="comma-separated")
    p.add_argument("--sigma-b", default="0,0.5,1,3,8,20", help="comma-separated")
    p.add_argument("--activations", default=DEFAULT_ACTIVATIONS)
    p.add_argument("--top", type=int, default=4, help="slowest shown per configuration")
    p.add_argument("--threads", type=int, default=None, help="n_threads (default: all)")
    p.add_argument("--repeat", type=int, default=1, help="best of this many, after a warm-up")
    args = p.parse_args(argv)

    def timed(name, sw, sb):
        def call():
            return sigprop.nngp_kernel(name, X, sw, sb, depth=args.depth, n_threads=args.threads)

        if args.repeat > 1:
            call()
        best = float("inf")
        for _ in range(max(args.repeat, 1)):
            t0 = time.perf_counter()
            K = call()
            best = min(best, time.perf_counter() - t0)
        return best, K

    rng = np.random.default_rng(1)
    X = rng.normal(size=(args.n, 10)) * np.exp(0.5 * rng.normal(size=(args.n, 1)))
    names = args.activations.split(",")
    for sw in (float(v) for v in args.sigma_w.split(",")):
        for sb in (float(v) for v in args.sigma_b.split(",")):
            t_relu, _ = timed("relu", sw, sb)
            row = []
            for name in names:
                t, K = timed(name, sw, sb)
                row.append((t, name, bool(np.isfinite(K).all())))
            row.sort(reverse=True)
            shown = row if args.top <= 0 else row[: args.top]
            text = f"relu:{t_relu:.4f} " + " ".join(
                f"{name}:{t:.4f} ({t / t_relu:.1f}x)" for t, name, _ in shown
            )
            bad = [name for _, name, finite in row if not finite]
            print(
                f"sigma_w {sw:g} sigma_b {sb:g}: {text}" + (f"  NOT FINITE: {bad}" if bad else ""),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

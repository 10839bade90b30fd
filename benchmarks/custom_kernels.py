"""Wall time of ``nngp_kernel`` for user-defined activations against the built-ins.

tanh, SiLU and ELU given as NumPy callables (``sigprop.activation``) beside the
built-in ``tanh``, ``silu`` and ``elu``: the kernel of --n inputs of unequal norms
(d = 10, norms spread by exp(0.5 N(0, 1))), depth --depth, all threads, at each
(sigma_w, sigma_b) of --configs, each timed once (the first configuration pays the
one-off tables of both), the two in the same minutes, with the largest difference of
the two kernels relative to their diagonal. Deep in the
ordered phase (sigma_b >= 3) the custom kind's pairs next to c = 1 take the trapezoid
rule for tanh and SiLU (no kinks), the nested quadratures for the kinked ELU, where it
falls behind (docs/theory/numerics.rst, user-defined activations).

    python benchmarks/custom_kernels.py                          # ~5 min on 2 cores
    python benchmarks/custom_kernels.py --configs 1.5:3 --activations tanh
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import sigprop

CALLABLES = {
    "tanh": dict(fn=np.tanh, derivative=lambda x: 1.0 / np.cosh(x) ** 2),
    "silu": dict(fn=lambda x: x / (1.0 + np.exp(-x))),
    "elu": dict(fn=lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))), kinks=[0.0]),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100, help="number of inputs")
    p.add_argument("--depth", type=int, default=10)
    p.add_argument(
        "--configs", default="1.3:0.2,1:3,1.5:3,1:6,0.5:12", help="sigma_w:sigma_b, comma-separated"
    )
    p.add_argument("--activations", default="tanh,silu,elu")
    args = p.parse_args(argv)
    X = np.random.default_rng(0).normal(size=(args.n, 10))
    X *= np.exp(0.5 * np.random.default_rng(1).normal(size=(args.n, 1)))
    print(
        f"{'activation':<12}{'sigma_w':>8}{'sigma_b':>8}{'built-in s':>12}{'custom s':>11}"
        f"{'ratio':>8}{'max diff':>11}"
    )
    for name in args.activations.split(","):
        spec = dict(CALLABLES[name])
        custom = sigprop.activation(spec.pop("fn"), name=f"custom_{name}", **spec)
        for config in args.configs.split(","):
            sw, sb = (float(v) for v in config.split(":"))
            times, kernels = [], []
            for act in (name, custom):
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", sigprop.AccuracyWarning)
                    kernels.append(sigprop.nngp_kernel(act, X, sw, sb, depth=args.depth))
                times.append(time.perf_counter() - t0)
            d = np.sqrt(np.diag(kernels[0]))
            diff = np.nanmax(np.abs(kernels[1] - kernels[0]) / np.outer(d, d))
            print(
                f"{name:<12}{sw:>8g}{sb:>8g}{times[0]:>12.3f}{times[1]:>11.3f}"
                f"{times[1] / times[0]:>8.0f}{diff:>11.1e}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The ``sigprop`` command line."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence

import numpy as np

from .activations import activation
from .eoc import eoc
from .init import kumar_gain
from .meanfield import fixed_point

_DEMO_ACTIVATIONS = ("tanh", "erf", "elu", "selu", "silu", "gelu", "sigmoid", "softplus", "relu")
_DEMO_SIGMA_B = (0.0, 0.05, 0.2, 0.5, 1.0)


def _common_inits(name: str) -> list[tuple[str, float]]:
    """(label, sigma_w) of the initialisations people use for an activation."""
    act = activation(name)
    inits = [("Glorot/LeCun (1)", 1.0), ("He (sqrt 2)", math.sqrt(2.0))]
    torch_gain = {"tanh": 5.0 / 3.0, "sigmoid": 1.0, "relu": math.sqrt(2.0), "selu": 0.75}
    if name in torch_gain:
        inits.append(("torch calculate_gain", torch_gain[name]))
    try:
        inits.append(("Kumar", kumar_gain(act)))
    except ValueError:
        pass
    return inits


def demo(out=None) -> int:
    """Print EOC points and where common initialisations sit (q*, chi1, phase)."""
    out = sys.stdout if out is None else out
    t0 = time.perf_counter()
    w = out.write
    w("sigprop demo: mean-field theory of deep random networks\n")
    w("Conventions: weights N(0, sigma_w^2/fan_in), biases N(0, sigma_b^2).\n\n")
    w("Edge of Chaos: critical sigma_w at sigma_b (q* in brackets; * = unstable q*)\n")
    w(f"{'activation':<10}" + "".join(f"{'sb=' + format(s, 'g'):>21}" for s in _DEMO_SIGMA_B))
    w("\n")
    for name in _DEMO_ACTIVATIONS:
        r = eoc(name, np.array(_DEMO_SIGMA_B))
        cells = []
        for i in range(len(_DEMO_SIGMA_B)):
            if r.n_branches[i] == 0:
                cells.append("none")
                continue
            sw, q, sl = r.sigma_w[i, 0], r.q_star[i, 0], r.slope[i, 0]
            qs = "q any" if np.isnan(q) else f"{q:.4g}"
            star = "*" if sl > 1 else ""
            cells.append(f"{sw:.6f} ({qs}){star}")
        w(f"{name:<10}" + "".join(f"{c:>21}" for c in cells) + "\n")
    w("\nCommon initialisations at sigma_b = 0 and 0.05: limiting q*, chi1, phase\n")
    w(
        f"{'activation':<10} {'initialisation':<22} {'sigma_w':>8}  "
        f"{'q*':>10} {'chi1':>8} {'phase':<9}  {'q*':>10} {'chi1':>8} {'phase':<9}\n"
    )
    for name in ("tanh", "sigmoid", "relu", "elu", "selu", "silu"):
        for label, sw in _common_inits(name):
            row = f"{name:<10} {label:<22} {sw:>8.4f}"
            for sb in (0.0, 0.05):
                fp = fixed_point(name, sw, sb, correlation=False)
                q = float(fp.q_star)
                qtxt = "inf" if math.isinf(q) else ("nan" if math.isnan(q) else f"{q:.4g}")
                row += f"  {qtxt:>10} {float(fp.chi1):>8.4f} {fp.phase!s:<9}"
            w(row + "\n")
    w(f"\n(computed in {time.perf_counter() - t0:.2f} s)\n")
    return 0


def gains(sigma_b: Sequence[float] = (0.0,), out=None) -> int:
    """Print where torch.nn.init.calculate_gain's gains sit and the EOC sigma_w instead."""
    from .init import gain_table

    w = (sys.stdout if out is None else out).write
    w("torch.nn.init.calculate_gain as sigma_w (weights N(0, gain^2/fan_in)), biases N(0, sb^2)\n")
    w(
        f"{'activation':<32} {'gain':>7} {'sb':>5} {'q*':>9} {'chi1':>7} {'phase':<9} "
        f"{'xi_c':>8}  recommendation\n"
    )
    for sb in sigma_b:
        for r in gain_table(sb):
            w(
                f"{r.activation:<32} {r.gain:>7.4f} {r.sigma_b:>5.3g} {r.q_star:>9.4g} "
                f"{r.chi1:>7.4f} {r.phase:<9} {r.xi_c:>8.4g}  {r.recommendation}\n"
            )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sigprop`` command."""
    parser = argparse.ArgumentParser(
        prog="sigprop", description="Mean-field signal propagation in deep random networks."
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("demo", help="print EOC points and where common initialisations sit")
    p_gains = sub.add_parser("gains", help="where the common init gains sit (q*, chi1, phase)")
    p_gains.add_argument("--sigma-b", type=float, nargs="+", default=[0.0], help="bias std(s)")
    args = parser.parse_args(argv)
    if args.command in (None, "demo"):
        return demo()
    if args.command == "gains":
        return gains(args.sigma_b)
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

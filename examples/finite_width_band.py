"""Finite-width band: the spread of q^l across random networks beside its 1/n theory.

Draws (a) relu at He initialisation and (b) tanh on its critical point, width
64: the empirical ``q^l = |h^l|^2 / n`` of single networks (grey), their mean and
spread over 300 networks (dense weight matrices, via sigprop.simulate) against
the theory mean K^l + G1^l / n and its band
(sigprop.architectures.finite_width.finite_width_band: +- std for tanh, the
log-normal 16-84% interval for relu, whose q^l is close to log-normal); and (c) the variance of
ln q^L for relu across networks: exact (binomial chi-square product), the
asymptotic (5 (L - 1) + 2) / n (Hanin & Nica's 5 L / n) and a simulation.
Theory: docs/theory/finite_width.rst.

Run: python examples/finite_width_band.py  (needs matplotlib and xarray)

The figure goes to ./sigprop-figures (--out-dir DIR or $SIGPROP_FIGURES_DIR to
choose); --update-figures rewrites the README's copy in examples/figures.
"""

import math

import numpy as np
from _output import figure_path, parse_output_arguments

import sigprop as sp
from sigprop.architectures.finite_width import (
    finite_width_band,
    relu_log_variance,
    simulate_single_input,
)

WIDTH, DEPTH, SEEDS = 64, 20, 300


def main() -> None:
    args = parse_output_arguments(__doc__.splitlines()[0])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    x = np.ones((1, WIDTH))  # q^1 = sigma_b^2 + sigma_w^2
    layers = np.arange(1, DEPTH + 1)
    for ax, (act, sw, sb, title) in zip(
        axes[:2],
        [("relu", math.sqrt(2), 0.0, "relu, He (σ_w² = 2)"), ("tanh", 1.0, 0.0, "tanh, σ_w = 1")],
        strict=True,
    ):
        ds = sp.simulate(act, sw, sb, x, width=WIDTH, depth=DEPTH, n_seeds=SEEDS,
                         gradients=False, theory=False, rng=1)  # fmt: skip
        q = ds.q.values[:, :, 0]
        b = finite_width_band(act, sw, sb, sb**2 + sw**2, DEPTH, WIDTH)
        ax.plot(layers, q[:12].T, color="0.75", lw=0.6)
        if act == "relu":  # close to log-normal: its 16-84% interval, on a log scale
            lo, hi = b.interval()
            ax.fill_between(layers, lo, hi, color="C0", alpha=0.25, label="theory 16–84%")
            qs = np.quantile(q, [0.16, 0.84], axis=0)
            ax.plot(layers, qs[0], "_", color="C3", ms=8, label="simulated 16%, 84%")
            ax.plot(layers, qs[1], "_", color="C3", ms=8)
            ax.set_yscale("log")
        else:
            ax.fill_between(layers, b.lower, b.upper, color="C0", alpha=0.25, label="theory ± std")
        ax.plot(layers, b.mean, color="C0", label="K + G1/n")
        ax.plot(layers, b.K, color="C0", ls="--", lw=1, label="K (infinite width)")
        sd = q.std(0, ddof=1)
        if act == "relu":
            ax.plot(layers, q.mean(0), "o", ms=3, color="C3", label=f"{SEEDS} networks: mean")
        else:
            ax.errorbar(layers, q.mean(0), yerr=sd, fmt="o", ms=3, color="C3", capsize=2,
                        label=f"{SEEDS} networks: mean ± std")  # fmt: skip
        ax.set_xlabel("layer l")
        ax.set_ylabel("q^l = |h^l|² / n")
        ax.set_title(f"{title}, n = {WIDTH}")
        ax.legend(fontsize=7)
        print(f"{act}: layer, sim mean, theory mean, K, sim std, band std, std ratio")
        for layer in (5, 10, 20):
            i = layer - 1
            print(f"  {layer:3d} {q[:, i].mean():9.5f} {b.mean[i]:9.5f} {b.K[i]:9.5f} "
                  f"{sd[i]:8.5f} {b.std[i]:8.5f} {sd[i] / b.std[i]:6.3f}")  # fmt: skip

    ax = axes[2]
    depths = np.arange(1, 41)
    r = relu_log_variance(depths, 100)
    q = simulate_single_input("relu", math.sqrt(2), 0.0, 1.0, 40, 100, 4000, rng=2)
    lv = np.log(q).var(axis=0, ddof=1)
    ax.plot(depths, r.var, color="C0", label="exact")
    ax.plot(depths, r.var_asymptotic, color="C1", ls="--", label="(5 (L−1) + 2) / n")
    ax.plot(depths, 5 * depths / 100, color="C2", ls=":", label="5 L / n (Hanin & Nica)")
    ax.plot(depths, lv, "o", ms=3, color="C3", label="4000 networks")
    ax.set_xlabel("depth L")
    ax.set_ylabel("Var ln q^L")
    ax.set_title("relu, He, n = 100: log-normal spread")
    ax.legend(fontsize=7)
    print("relu n = 100: L, exact Var ln q^L, (5(L-1)+2)/n, 5L/n, simulated")
    for L in (10, 20, 40):
        print(f"  {L:3d} {r.var[L - 1]:.4f} {r.var_asymptotic[L - 1]:.4f} {5 * L / 100:.4f} "
              f"{lv[L - 1]:.4f}")  # fmt: skip
    fig.tight_layout()
    path = figure_path(args, "finite_width_band.png")
    fig.savefig(path, dpi=120)
    print(f"saved {path}")


if __name__ == "__main__":
    main()

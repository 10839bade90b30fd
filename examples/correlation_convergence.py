"""1 - c^l through depth on the Edge of Chaos (Hayou, Doucet & Rousseau 2019).

relu converges like 9 pi^2 / (2 l^2); smooth activations like beta_q / l,
slower and therefore better for deep networks (the rates and the constants:
docs/theory/convergence.rst). Saves the figure correlation_convergence.png and
prints the fitted rates.

Run: python examples/correlation_convergence.py  (needs matplotlib)

The figure goes to ./sigprop-figures (--out-dir DIR or $SIGPROP_FIGURES_DIR to
choose); --update-figures rewrites the README's copy in examples/figures.
"""

import numpy as np
from _output import figure_path, parse_output_arguments

import sigprop as sp

DEPTH = 10_000
CASES = [("relu", 0.0), ("elu", 0.2), ("tanh", 0.2)]


def main() -> None:
    args = parse_output_arguments(__doc__.splitlines()[0])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4))
    head = ("activation", "sigma_b", "sigma_w", "predicted", "fit (last decade)")
    print("{:>10} {:>7} {:>9} {:>22} {:>26}".format(*head))
    for (name, sb), color in zip(CASES, ["C0", "C1", "C2"], strict=True):
        r = sp.papers.hayou.correlation_convergence(name, DEPTH, sigma_b=sb, c0=0.0)
        ell = r.layer[1:]
        ax.loglog(ell, r.gap[1:], color=color, label=f"{name} (σ_b={sb:g}, σ_w={r.sigma_w:.4f})")
        ax.loglog(ell, r.predicted[1:], color=color, ls="--", lw=1)
        fit = sp.papers.hayou.fit_power_law(r.layer, r.gap)
        pred = f"{r.constant:.4g} / l^{r.exponent}"
        got = f"{fit.constant:.4g} / l^{fit.exponent:.3f}"
        print(f"{name:>10} {sb:7.2g} {r.sigma_w:9.6f} {pred:>22} {got:>26}")
    ax.set_xlabel("depth l")
    ax.set_ylabel("1 − c^l")
    ax.set_title("correlation gap on the EOC (c^0 = 0); dashed: asymptotes")
    ax.legend(fontsize=8)

    sb = np.geomspace(0.005, 3, 120)
    for name, color in [("tanh", "C2"), ("elu", "C1"), ("erf", "C3")]:
        bx.loglog(sb, sp.papers.hayou.eoc_beta_q(name, sb).beta_q, color=color, label=name)
    for L in (50, 200):
        m = sp.papers.hayou.sigma_b_for_depth("tanh", L)
        bx.axhline(L, color="gray", lw=0.5)
        bx.plot(m.sigma_b, L, "o", color="C2")
        print(f"tanh: beta_q = {L} at sigma_b = {m.sigma_b:.5f} (sigma_w = {m.sigma_w:.6f})")
    bx.set_xlabel("σ_b on the EOC")
    bx.set_ylabel("β_q")
    bx.set_title("β_q = 2 E[φ'²] / (q* E[φ''²]) along the EOC")
    bx.legend(fontsize=8)
    fig.tight_layout()
    out = figure_path(args, "correlation_convergence.png")
    fig.savefig(out, dpi=110)
    print(f"saved {out}")


if __name__ == "__main__":
    main()

"""Layer normalisation: the normalised correlation map, its phases, and simulation.

With every pre-activation layer-normalised before phi (Ba, Kiros & Hinton
2016), the variance map is trivial and the correlation map
f(c) = (sigma_b^2 + sigma_w^2 E[phi(u) phi(v)]) / (sigma_b^2 + sigma_w^2 E[phi^2])
(unit variances) depends on sigma_b^2 / sigma_w^2 only. Draws (a) f for tanh
and relu at several ratios, (b) chi1 = f'(1) and the fixed point c* against
the ratio for tanh, erf, gelu and relu (ordered where chi1 < 1), and (c) c^l
of finite layer-normalised networks (width 256, 50 seeds) against the theory.
Theory: docs/theory/layer_norm.rst.

Run: python examples/layer_norm_cmap.py  (needs matplotlib)

The figure goes to ./sigprop-figures (--out-dir DIR or $SIGPROP_FIGURES_DIR to
choose); --update-figures rewrites the README's copy in examples/figures.
"""

import numpy as np
from _output import figure_path, parse_output_arguments

from sigprop.architectures.layer_norm import (
    layer_norm_fixed_point,
    layer_norm_maps,
    simulate_layer_norm,
)


def main() -> None:
    args = parse_output_arguments(__doc__.splitlines()[0])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(14, 4))
    c = np.linspace(-1, 1, 201)
    for act, ls in (("tanh", "-"), ("relu", "--")):
        for r, color in ((0.0, "C0"), (0.1, "C1"), (1.0, "C2")):
            f = layer_norm_maps(act, c, 1.0, np.sqrt(r)).c
            ax.plot(c, f, ls=ls, color=color, label=f"{act}, σ_b²/σ_w² = {r:g}")
    ax.plot(c, c, color="k", lw=0.5)
    ax.set_xlabel("c^l")
    ax.set_ylabel("c^{l+1}")
    ax.set_title("normalised correlation map")
    ax.legend(fontsize=7)

    ratio = np.geomspace(1e-3, 10, 60)
    print("activation: sigma_b^2/sigma_w^2, chi1, c*, chi_c, xi_c, phase")
    for i, act in enumerate(("tanh", "erf", "gelu", "relu")):
        fp = layer_norm_fixed_point(act, 1.0, np.sqrt(ratio))
        bx.semilogx(ratio, fp.chi1, color=f"C{i}", label=f"{act}: χ1 = f′(1)")
        bx.semilogx(ratio, fp.c_star, color=f"C{i}", ls=":", label=f"{act}: c*")
        for r in (0.0, 0.01, 0.1, 1.0):
            p = layer_norm_fixed_point(act, 1.0, np.sqrt(r))
            print(f"  {act:5s} {r:5g} {p.chi1:.6f} {p.c_star:.6f} {p.chi_c:.6f} "
                  f"{p.xi_c:9.4g} {p.phase}")  # fmt: skip
    bx.axhline(1.0, color="k", lw=0.5)
    bx.set_xlabel("σ_b² / σ_w²")
    bx.set_title("phase: ordered where χ1 < 1 (then c* = 1)")
    bx.legend(fontsize=6, ncol=2)

    for act, sw, sb, color in (("tanh", 1.0, 0.1, "C0"), ("tanh", 1.0, 1.0, "C1"),
                               ("relu", 1.0, 0.0, "C2")):  # fmt: skip
        s = simulate_layer_norm(act, sw, sb, width=256, depth=20, c0=0.2, n_seeds=50, rng=1)
        layers = np.arange(21)
        cx.plot(layers, s.c_theory, color=color, label=f"{act}, σ_b/σ_w = {sb / sw:g}: theory")
        cx.errorbar(layers, s.c_mean, yerr=2 * s.c_se, fmt="o", ms=3, color=color, capsize=2)
    cx.set_xlabel("layer l")
    cx.set_ylabel("c^l")
    cx.set_title("width 256, 50 networks (mean ± 2 s.e.)")
    cx.legend(fontsize=7)
    fig.tight_layout()
    path = figure_path(args, "layer_norm_cmap.png")
    fig.savefig(path, dpi=120)
    print(f"saved {path}")


if __name__ == "__main__":
    main()

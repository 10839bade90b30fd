"""Activations with a linear region around 0 (Murray, Abrol & Tanner 2022).

Shows that (i) what matters is the half-width a of the linear region relative
to sigma_b (hard tanh: exactly, by scale covariance), (ii) a large sigma_b
becomes usable once a / sigma_b is large, where tanh on its EOC collapses every
correlation, and (iii) the shape of phi outside [-a, a] matters little. Saves
the figure linear_region.png and prints the tables (the hard-tanh table is the
one of docs/reference_values.rst; theory: docs/theory/linear_region.rst).

Run: python examples/linear_region.py  (needs matplotlib)

The figure goes to ./sigprop-figures (--out-dir DIR or $SIGPROP_FIGURES_DIR to
choose); --update-figures rewrites the README's copy in examples/figures.
"""

import numpy as np
from _output import figure_path, parse_output_arguments

import sigprop as sp
from sigprop.papers import murray

TAILS = [("clip", "C0", "hard tanh clip(x, ±a)"), ("tanh", "C1", "±(a + tanh(|x| − a))"),
         ("floor", "C2", "max(x, −a)")]  # fmt: skip


def main() -> None:
    args = parse_output_arguments(__doc__.splitlines()[0])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    print("hard tanh: a/sigma_b, EOC sigma_w, q*/a^2, P(|h|<a), chi1 at sigma_w = 1")
    for row in zip(*murray.linear_region_table([1, 2, 5, 10, 20, 40, 100]), strict=True):
        print("{:6g} {:10.6f} {:10.6g} {:10.6f} {:10.5f}".format(*row[:1], *row[2:6]))

    print("\nsmallest a / sigma_b with |chi1 - 1| <= 0.01 at sigma_w = 1")
    sbs = [0.05, 0.5, 2.0, 5.0]
    print("tail   " + " ".join(f"sb={s:<6g}" for s in sbs))
    for tail, _, _ in TAILS:
        h = murray.min_half_width(sbs, 0.01, tail=tail, rtol=1e-4)
        print(f"{tail:6} " + " ".join(f"{r:9.3f}" for r in h.ratio))
    print("\nsmallest a / sigma_b with |c^50 - c^0| <= 0.05 (c^0 = 0.5, sigma_w = 1)")
    for tail in ("clip", "floor"):
        h = murray.min_half_width(sbs, 0.05, criterion="correlation", tail=tail, rtol=1e-4)
        print(f"{tail:6} " + " ".join(f"{r:9.3f}" for r in h.ratio))

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4))
    ratio = np.geomspace(1, 300, 40)
    for tail, color, label in TAILS:
        t = murray.linear_region_table(ratio, tail=tail)
        ax.loglog(ratio, 1 - t.chi1_unit, color=color, label=f"{label}: σ_w = 1")
        ax.loglog(ratio, t.eoc_sigma_w - 1, color=color, ls="--", lw=1, label="EOC σ_w − 1")
    ax.set_xlabel("a / σ_b")
    ax.set_ylabel("distance from the identity")
    ax.set_title("1 − χ1 at σ_w = 1 (solid), EOC σ_w − 1 (dashed)")
    ax.legend(fontsize=7)

    sb, depth, c0 = 5.0, 100, 0.5
    e = sp.eoc("tanh", sb)
    p = sp.propagate("tanh", e.sigma_w, sb, depth, e.q_star, c0)
    bx.plot(p.c, color="k", label=f"tanh on its EOC (σ_w = {e.sigma_w:.3f})")
    for r, ls in [(3, ":"), (10, "--"), (100, "-")]:
        for tail, color, _ in TAILS[:2]:
            act = sp.theory.linear_region(r * sb, tail)
            e = sp.eoc(act, sb)
            p = sp.propagate(act, e.sigma_w, sb, depth, e.q_star, c0)
            bx.plot(p.c, color=color, ls=ls, label=f"{tail}, a/σ_b = {r} (EOC)")
    bx.set_xlabel("depth l")
    bx.set_ylabel("c^l")
    bx.set_title(f"σ_b = {sb:g}: correlation of two inputs, c^0 = {c0}")
    bx.legend(fontsize=7, ncol=2, loc="lower right", bbox_to_anchor=(1.0, 0.1))
    fig.tight_layout()
    out = figure_path(args, "linear_region.png")
    fig.savefig(out, dpi=110)
    print(f"saved {out}")


if __name__ == "__main__":
    main()

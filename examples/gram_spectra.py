"""Smallest eigenvalue of the two-layer Gram matrix (Panigrahi, Shetty & Goyal 2020).

Non-smooth activations (relu, elu) keep lambda_min(G^inf) polynomially large;
smooth ones (tanh, swish) make it tiny when the data span few dimensions.
Saves the figure gram_spectra.png and compares with finite widths.
Theory: docs/theory/gram.rst; the half-circle values: docs/reference_values.rst.

Run: python examples/gram_spectra.py  (needs matplotlib)

The figure goes to ./sigprop-figures (--out-dir DIR or $SIGPROP_FIGURES_DIR to
choose); --update-figures rewrites the README's copy in examples/figures.
"""

import numpy as np
from _output import figure_path, parse_output_arguments

from sigprop.papers.panigrahi import gram_finite, gram_infinite, half_circle, min_eigenvalue

ACTS = [("relu", "C0"), ("elu", "C1"), ("tanh", "C2"), ("swish", "C3")]
FLOOR = 1e-16  # below this lambda_min is rounding noise


def random_unit(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    X = rng.standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def main() -> None:
    args = parse_output_arguments(__doc__.splitlines()[0])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4))
    ns = np.array([4, 6, 8, 10, 14, 20, 28, 40, 56, 80])
    for name, color in ACTS:
        lam = [min_eigenvalue(gram_infinite(name, half_circle(n))) for n in ns]
        ax.loglog(ns, np.maximum(lam, FLOOR), "o-", color=color, label=name, ms=3)
    ax.axhline(1e-12, color="gray", lw=0.5, ls=":")
    ax.text(ns[0], 2e-16, "below here: rounding noise (plotted at 1e-16)", fontsize=7, color="gray")
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("number of points n (half circle, d = 2)")
    ax.set_ylabel("λ_min(G^∞)")
    ax.set_title("data spanning 2 dimensions")
    ax.legend(fontsize=8)

    ds = np.array([2, 3, 4, 6, 8, 10, 15, 20, 30, 40])
    for name, color in ACTS:
        lam = [
            min_eigenvalue(gram_infinite(name, random_unit(40, d, np.random.default_rng(d))))
            for d in ds
        ]
        bx.semilogy(ds, np.maximum(lam, FLOOR), "o-", color=color, label=name, ms=3)
    bx.set_xlabel("data dimension d (n = 40 random unit vectors)")
    bx.set_ylabel("λ_min(G^∞)")
    bx.set_title("λ_min against the dimension of the data")
    bx.legend(fontsize=8)
    fig.tight_layout()
    out = figure_path(args, "gram_spectra.png")
    fig.savefig(out, dpi=110)
    print(f"saved {out}")

    X = random_unit(20, 10, np.random.default_rng(0))
    print("n = 20 random unit vectors in d = 10: lambda_min, infinite vs finite width m")
    print(
        f"{'activation':>10} {'G^inf':>10} "
        + " ".join(f"{'m=' + str(m):>10}" for m in (100, 1000, 10000, 100000))
    )
    for name, _ in ACTS:
        row = [min_eigenvalue(gram_finite(name, X, m, rng=1)) for m in (100, 1000, 10000, 100000)]
        inf = min_eigenvalue(gram_infinite(name, X))
        print(f"{name:>10} {inf:10.4g} " + " ".join(f"{v:10.4g}" for v in row))


if __name__ == "__main__":
    main()

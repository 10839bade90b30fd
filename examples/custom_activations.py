"""Edge-of-Chaos curves of user-defined activations beside tanh.

mish and swish with a temperature as SymPy expressions, and a kinked rational
activation as a plain NumPy callable (its kinks declared): each is sampled once
into piecewise Chebyshev interpolants, then the core finds its EOC like a
built-in's. Saves the figure custom_activations.png.

Run: python examples/custom_activations.py  (needs matplotlib and sympy)

The figure goes to ./sigprop-figures (--out-dir DIR or $SIGPROP_FIGURES_DIR to
choose); --update-figures rewrites the README's copy in examples/figures.
"""

import numpy as np
from _output import figure_path, parse_output_arguments

import sigprop as sp


def rational_relu(x):
    """A kinked rational activation: x / (1 + x / 4) for x > 0, x / (1 - x) for x < 0."""
    return np.where(x > 0, x / (1 + np.abs(x) / 4), x / (1 + np.abs(x)))


def main() -> None:
    args = parse_output_arguments(__doc__.splitlines()[0])
    import matplotlib

    matplotlib.use("Agg")
    from sigprop.plotting import eoc_curves

    acts = [
        "tanh",
        sp.activation("x * tanh(softplus(x))", name="mish"),
        sp.activation("x * sigmoid(beta * x)", beta=1.5, name="swish"),
        sp.activation(rational_relu, kinks=[0.0], name="rational"),
    ]
    e = sp.eoc_curve(acts, np.linspace(0.0, 1.5, 151))
    for name in e.activation.values:
        sw = e.sigma_w.sel(activation=name, branch=0).sel(sigma_b=0.5, method="nearest")
        print(f"{name:>16}: EOC sigma_w at sigma_b = 0.5: {float(sw):.6f}")
    fig = eoc_curves(e, title="Edge of Chaos: user-defined activations beside tanh")
    out = figure_path(args, "custom_activations.png")
    fig.savefig(out, dpi=120, bbox_inches="tight")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

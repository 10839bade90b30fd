"""Residual networks: polynomial instead of exponential dynamics (Yang & Schoenholz 2017).

Three panels against depth l, log-log, plain (feedforward) against residual
networks x^{l+1} = x^l + alpha (W phi(x^l) + b): the variance q^l, the
correlation's distance to its limit ``|c^l - c^inf|``, and the gradient growth
log(E|dE/dx^0|^2 / E|dE/dx^l|^2). Dashed: the large-depth asymptotes of
docs/theory/residual.rst. A plain tanh network off the edge of chaos reaches its
limits exponentially fast; the residual tanh network grows q^l ~ l, approaches
c* polynomially and its gradients grow like exp(a sqrt l); the residual relu
network grows geometrically unless the branches are scaled by 1/sqrt(L)
(Hayou et al. 2021), which keeps q^L, the gradients and c^L bounded away from
their degenerate limits. Prints the fitted exponents beside the predicted ones.

Run: python examples/residual_dynamics.py  (needs matplotlib)

The figure goes to ./sigprop-figures (--out-dir DIR or $SIGPROP_FIGURES_DIR to
choose); --update-figures rewrites the README's copy in examples/figures.
"""

import numpy as np
from _output import figure_path, parse_output_arguments

import sigprop as sp
from sigprop.architectures.residual import (
    residual_asymptotics,
    residual_exponents,
    residual_propagate,
)

DEPTH = 3000
SW, SB = 1.0, 0.0  # residual tanh / relu
PLAIN_SW, PLAIN_SB = 1.5, 0.3  # plain tanh network (chaotic phase)
C0 = 0.5


def main() -> None:
    args = parse_output_arguments(__doc__.splitlines()[0])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ell = np.arange(DEPTH + 1)
    tail = ell >= 1

    plain = sp.propagate("tanh", PLAIN_SW, PLAIN_SB, DEPTH, 1.0, C0)
    fp = sp.fixed_point("tanh", PLAIN_SW, PLAIN_SB)
    res_tanh = residual_propagate("tanh", SW, SB, DEPTH, 1.0, C0)
    # relu's c-map does not depend on q (sigma_b = 0): start tiny to delay the overflow
    res_relu = residual_propagate("relu", SW, SB, DEPTH, 1e-300, C0)
    # Stable ResNet: one network per depth L, alpha = 1/sqrt(L); its last layer
    stable_L = np.unique(np.geomspace(1, DEPTH, 40).astype(int))
    stable = [
        residual_propagate("relu", SW, SB, L, 1.0, C0, alpha="1/sqrt(depth)") for L in stable_L
    ]
    a_tanh = residual_asymptotics("tanh", SW, SB)
    a_relu = residual_asymptotics("relu", SW, SB)

    fig, (ax, bx, gx) = plt.subplots(1, 3, figsize=(15, 4.3))
    ax.loglog(
        ell[tail], plain.q[tail], color="C0", label=f"plain tanh (σ_w={PLAIN_SW}, σ_b={PLAIN_SB})"
    )
    ax.loglog(ell[tail], res_tanh.q[tail], color="C2", label="residual tanh")
    ax.loglog(ell[tail], a_tanh.q_slope * ell[tail], color="C2", ls="--", lw=1, label="q_slope · l")
    ok = tail & (ell <= 200)
    ax.loglog(
        ell[ok],
        residual_propagate("relu", SW, SB, 200, 1.0).q[ell[ok]],
        color="C3",
        label="residual relu (α=1)",
    )
    ax.loglog(stable_L, [r.q[-1] for r in stable], "o", ms=3, color="C1", label="relu, α=1/√L: q^L")
    ax.axhline(np.exp(SW**2 / 2), color="C1", ls="--", lw=1)
    ax.set(xlabel="depth l", ylabel="q^l", title="variance", ylim=(0.1, 1e8))
    ax.legend(fontsize=7)

    gap_plain = np.abs(plain.c[tail] - fp.c_star)
    gap_plain[gap_plain < 1e-13] = np.nan  # below rounding
    bx.loglog(ell[tail], gap_plain, color="C0", label="plain tanh: |c^l − c*|")
    bx.loglog(
        ell[tail],
        np.abs(res_tanh.c[tail] - a_tanh.c_star),
        color="C2",
        label="residual tanh: |c^l − c*|, c* = 0",
    )
    k = np.abs(res_tanh.c[100]) * 100**a_tanh.c_exponent
    bx.loglog(
        ell[tail],
        k * ell[tail] ** -a_tanh.c_exponent,
        color="C2",
        ls="--",
        lw=1,
        label=f"∝ l^-{a_tanh.c_exponent:.3f}",
    )
    bx.loglog(ell[tail], 1 - res_relu.c[tail], color="C3", label="residual relu: 1 − c^l")
    bx.loglog(
        ell[tail],
        a_relu.c_constant / ell[tail] ** 2,
        color="C3",
        ls="--",
        lw=1,
        label=f"{a_relu.c_constant:.0f} / l²",
    )
    bx.loglog(
        stable_L,
        [1 - r.c[-1] for r in stable],
        "o",
        ms=3,
        color="C1",
        label="relu, α=1/√L: 1 − c^L",
    )
    bx.set(
        xlabel="depth l",
        ylabel="distance to the limit",
        title="correlation (c^0 = 0.5)",
        ylim=(1e-13, 2),
    )
    bx.legend(fontsize=7)

    chi = np.asarray(sp.chi1("tanh", fp.q_star, PLAIN_SW))
    gx.loglog(
        ell[tail],
        ell[tail] * np.log(chi),
        color="C0",
        label=f"plain tanh at q*: l log χ1 (χ1={chi:.3f})",
    )
    gx.loglog(ell[tail], np.log(res_tanh.grad_growth[tail]), color="C2", label="residual tanh")
    gx.loglog(
        ell[tail],
        a_tanh.grad_constant * np.sqrt(ell[tail]),
        color="C2",
        ls="--",
        lw=1,
        label=f"{a_tanh.grad_constant:.3f} √l",
    )
    gx.loglog(
        ell[tail],
        a_relu.grad_constant * ell[tail],
        color="C3",
        label="residual relu: l log(1 + σ_w²/2)",
    )
    gx.loglog(
        stable_L,
        [np.log(r.grad_sq[0]) for r in stable],
        "o",
        ms=3,
        color="C1",
        label="relu, α=1/√L",
    )
    gx.set(xlabel="depth l", ylabel="log E|dE/dx^0|² / E|dE/dx^l|²", title="gradient growth")
    gx.legend(fontsize=7)
    fig.suptitle(f"residual x^(l+1) = x^l + α(W φ(x^l) + b), σ_w = {SW}, σ_b = {SB}", fontsize=10)
    fig.tight_layout()

    head = ("case", "quantity", "predicted", f"fit (l in [{DEPTH // 10}, {DEPTH}])")
    print("{:>14} {:>16} {:>12} {:>22}".format(*head))
    e = residual_exponents("tanh", SW, SB, DEPTH, c0=C0)
    rows = [
        ("tanh", "q exponent", 1.0, e.q_exponent),
        ("tanh", "c exponent", a_tanh.c_exponent, e.c_exponent),
        ("tanh", "grad exponent", 0.5, e.grad_exponent),
        ("tanh", "grad constant", a_tanh.grad_constant, e.grad_constant),
    ]
    er = residual_exponents("relu", SW, SB, 1000, q0=1e-300, c0=C0)
    rows += [
        ("relu (L=1000)", "q rate", a_relu.q_rate, er.q_rate),
        ("relu (L=1000)", "c exponent", 2.0, er.c_exponent),
        ("relu (L=1000)", "grad rate", a_relu.grad_constant, er.grad_rate),
        ("relu (L=1000)", "l^2 (1 - c^l)", a_relu.c_constant, 1000**2 * (1 - res_relu.c[1000])),
        ("relu α=1/√L", f"q^L, L={DEPTH}", np.exp(SW**2 / 2), stable[-1].q[-1]),
    ]
    for case, what, pred, got in rows:
        print(f"{case:>14} {what:>16} {pred:12.5g} {float(got):22.5g}")
    out = figure_path(args, "residual_dynamics.png")
    fig.savefig(out, dpi=110)
    print(f"saved {out}")


if __name__ == "__main__":
    main()

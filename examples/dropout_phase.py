"""Dropout destroys the Edge of Chaos (Schoenholz et al. 2017, section 5).

Left: the correlation depth scale xi_c of tanh networks against sigma_w at
sigma_b = 0.3 for keep probabilities rho = 1, 0.99, 0.95, 0.9, 0.8. Without dropout
xi_c diverges at the EOC; with rho < 1 it peaks at a finite height that falls as
rho falls. Right: the trainable depth 6 xi_c over (sigma_w, sigma_b) at rho = 0.95
(log colour scale), with the EOC of the network without dropout dashed.
Prints the peak of xi_c per rho.

Run: python examples/dropout_phase.py  (needs matplotlib and xarray)

The figure goes to ./sigprop-figures (--out-dir DIR or $SIGPROP_FIGURES_DIR to
choose); --update-figures rewrites the README's copy in examples/figures.
"""

import numpy as np
from _output import figure_path, parse_output_arguments

import sigprop as sp

RHOS = [1.0, 0.99, 0.95, 0.9, 0.8]
SB = 0.3


def main() -> None:
    args = parse_output_arguments(__doc__.splitlines()[0])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    sw = np.linspace(0.5, 3.0, 501)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5))
    print(f"{'keep_prob':>10} {'max xi_c':>10} {'at sigma_w':>11}")
    for rho in RHOS:
        r = sp.fixed_point("tanh", sw, SB, keep_prob=rho)
        ax.semilogy(sw, r.xi_c, label=f"ρ = {rho}")
        i = int(np.nanargmax(np.where(np.isfinite(r.xi_c), r.xi_c, -1)))
        peak = np.max(r.xi_c)
        print(f"{rho:>10} {peak:>10.4g} {sw[i]:>11.4f}")
    ax.set(xlabel="σ_w", ylabel="ξ_c", title=f"tanh, σ_b = {SB}: correlation depth scale")
    ax.legend()

    ds = sp.scan(
        "tanh",
        sigma_w=np.linspace(0.5, 3.0, 126),
        sigma_b=np.linspace(0.0, 1.5, 76),
        keep_prob=[0.95],
        progress=False,
    )
    depth = 6 * ds.xi_c.sel(activation="tanh", keep_prob=0.95)
    m = bx.pcolormesh(
        ds.sigma_w, ds.sigma_b, depth, norm=LogNorm(vmin=1, vmax=float(depth.max())), shading="auto"
    )
    fig.colorbar(m, ax=bx, label="6 ξ_c")
    sb_eoc = np.linspace(0.0, 1.5, 76)
    bx.plot(sp.eoc("tanh", sb_eoc).sigma_w, sb_eoc, "w--", lw=1, label="EOC (ρ = 1)")
    bx.set(xlabel="σ_w", ylabel="σ_b", title="trainable depth 6 ξ_c at ρ = 0.95")
    bx.legend(loc="upper left")
    fig.tight_layout()
    out = figure_path(args, "dropout_phase.png")
    fig.savefig(out, dpi=110)
    print(f"saved {out}")


if __name__ == "__main__":
    main()

"""Depth scales of the spatial Fourier modes of random CNNs (Xiao et al. 2018).

Left: xi_c of the modes j of a uniform filter of width k on n = 32 positions, for
tanh at a chaotic point (sigma_w, sigma_b) = (1.5, 0.05) and an ordered one
(1.1, 0.3). Mode 0 keeps the fully connected depth scale whatever k; every
other mode is shorter-lived, the more so the wider the filter (a delta profile,
the delta-orthogonal kernel, gives every mode the fully connected scale).
Right: the amplitude of a cosine perturbation of the correlations (modes 0, 1, 2)
over depth in simulated CNNs (256 channels, 24 seeds) against cnn_propagate and
against the linear prediction lambda_j^l. Prints the numbers.

Run: python examples/cnn_depth_scales.py  (needs matplotlib)

The figure goes to ./sigprop-figures (--out-dir DIR or $SIGPROP_FIGURES_DIR to
choose); --update-figures rewrites the README's copy in examples/figures.
"""

import numpy as np
from _output import figure_path, parse_output_arguments

from sigprop.architectures.convolutional import cnn_modes, simulate_cnn

N_POS = 32
POINTS = [("chaotic", 1.5, 0.05, "C3"), ("ordered", 1.1, 0.3, "C0")]
MODES = [0, 1, 2, 4, 16]
WIDTHS = np.arange(1, 16, 2)


def mode_decay(sw, sb, n=8, k=3, depth=10, channels=256, seeds=24):
    """Correlation perturbation of modes 0, 1, 2 at offset 1: simulation, theory, lambda^l."""
    m = cnn_modes("tanh", sw, sb, k, n)
    q, c = m.q_star, m.c_star
    a = np.arange(n)
    rng = np.random.default_rng(0)
    out = {}
    for j in (0, 1, 2):
        wave = np.cos(2 * np.pi * j * a / n)
        # inputs whose first-layer covariance is about Sigma* plus 0.25 q* wave at offset 1
        target = q * ((1 - c) * np.eye(n) + c)
        target[a, (a + 1) % n] += 0.25 * q * wave
        target[(a + 1) % n, a] += 0.25 * q * wave
        chol = np.linalg.cholesky(target - sb**2 + 1e-12 * np.eye(n))
        x = rng.standard_normal((4096, n)) @ chol.T / sw
        r = simulate_cnn(
            "tanh", sw, sb, x, channels=channels, filter_size=k, depth=depth, n_seeds=seeds, rng=j
        )

        def amp(K, wave=wave):
            return (K[..., a, (a + 1) % n] - q * c) @ wave / (wave @ wave)

        se = np.sqrt((r.kernel_se[:, a, (a + 1) % n] ** 2) @ wave**2) / (wave @ wave)
        theory = amp(r.theory)
        linear = theory[0] * np.abs(m.lambda_c[j]) ** np.arange(depth)
        out[j] = (amp(r.kernel), se, theory, linear, float(m.xi_c[j]))
    return out


def main() -> None:
    args = parse_output_arguments(__doc__.splitlines()[0])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
    print(f"xi_c of mode j, uniform filter of width k, n = {N_POS} positions (tanh)")
    print("{:>8} {:>3} ".format("point", "k") + " ".join(f"{'j=' + str(j):>8}" for j in MODES))
    styles = ["-", "--", "-.", ":", (0, (1, 4))]
    for name, sw, sb, color in POINTS:
        table = np.array([cnn_modes("tanh", sw, sb, int(k), N_POS).xi_c[MODES] for k in WIDTHS])
        for k, row in zip(WIDTHS, table, strict=True):
            print(f"{name:>8} {k:3d} " + " ".join(f"{x:8.3f}" for x in row))
        for i, ls in enumerate(styles):
            label = f"{name} (σ_w={sw}, σ_b={sb})" if i == 0 else None
            ax.semilogy(WIDTHS, table[:, i], color=color, ls=ls, marker=".", label=label)
    for j, ls in zip(MODES, styles, strict=True):
        ax.plot([], [], color="gray", ls=ls, label=f"mode j = {j}")
    ax.set_xlabel("filter width k")
    ax.set_ylabel("ξ_c,j = −1 / ln |χ_c v̂(j)|")
    ax.set_title(f"depth scales of spatial modes (n = {N_POS}, uniform filter)")
    ax.legend(fontsize=7, ncol=2, loc="lower left")

    print("\ncorrelation-mode amplitude over depth, tanh (1.5, 0.05), n = 8, k = 3")
    for j, (sim, se, theory, linear, xi) in mode_decay(1.5, 0.05).items():
        ell = np.arange(1, len(sim) + 1)
        color = f"C{j}"
        bx.errorbar(ell, sim, yerr=2 * se, fmt="o", ms=3, color=color, label=f"j = {j} simulated")
        bx.plot(ell, theory, color=color, label=f"cnn_propagate (ξ = {xi:.2f})")
        bx.plot(ell, linear, color=color, ls="--", lw=1)
        z = (sim - theory) / se
        print(
            f"j = {j}: xi_c = {xi:.3f}; layer 1..4 simulated "
            + ", ".join(f"{s:.4f}" for s in sim[:4])
            + " | theory "
            + ", ".join(f"{t:.4f}" for t in theory[:4])
            + f" | max |z| = {np.max(np.abs(z)):.2f}"
        )
    bx.axhline(0, color="gray", lw=0.5)
    bx.set_xlabel("layer l")
    bx.set_ylabel("amplitude of the correlation mode")
    bx.set_title("mode decay: simulation (±2 se), theory, λ^l (dashed)")
    bx.legend(fontsize=7)
    fig.tight_layout()
    out = figure_path(args, "cnn_depth_scales.png")
    fig.savefig(out, dpi=120)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

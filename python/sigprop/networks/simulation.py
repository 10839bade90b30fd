"""Simulation of finite random networks over seeds, with the mean-field theory beside it.

``simulate`` runs many random networks (see :mod:`sigprop.networks.random_networks`
for the conventions) on one batch of inputs and gathers the empirical q^l, c^l,
gradient norms and chi1 estimates with their standard errors, next to the theory
(``sigprop.propagate`` from the exact layer-1 moments).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .._validation import as_float_array, check_finite, generator, positive_int, scalar_sigma
from ..theory.activations import Activation, resolve
from ..theory.kernels import propagate
from ..theory.maps import chi1
from .random_networks import RandomNetwork

__all__ = ["plot_simulation", "simulate"]


def _se(a: np.ndarray) -> np.ndarray:
    n = a.shape[0]
    if n < 2:
        return np.full(a.shape[1:], np.nan)
    return np.std(a, axis=0, ddof=1) / math.sqrt(n)


def _theory(act, sw, sb, X, depth):
    """Mean-field q^l (depth, B) and c^l (depth, P) for the batch, deduplicating pairs."""
    B, d = X.shape
    k1 = sb * sb + sw * sw * (X @ X.T) / d
    q1 = np.diag(k1).copy()
    ia, ib = np.triu_indices(B, 1)
    den = np.sqrt(q1[ia] * q1[ib])
    with np.errstate(invalid="ignore", divide="ignore"):
        c1 = np.clip(np.where(den > 0, k1[ia, ib] / den, 1.0), -1.0, 1.0)
    # Rows (q_a, q_b, c): single inputs as (q, q, 1), then the pairs.
    rows = np.concatenate([np.stack([q1, q1, np.ones(B)], 1), np.stack([q1[ia], q1[ib], c1], 1)])
    key = np.round(rows, 12)
    uniq, inverse = np.unique(key, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    prop = propagate(act, sw, sb, depth - 1, uniq[:, 0], uniq[:, 2], uniq[:, 1])
    q = prop.q[:, inverse[:B]]
    c = prop.c[:, inverse[B:]]
    return q, c, ia, ib


def _finite_width(act, sw, sb, q1, depth, width):
    """Finite-width mean and spread of q^l (depth, B), over the distinct q^1 only."""
    from ..architectures.finite_width import finite_width_band

    uniq, inverse = np.unique(np.round(q1, 12), return_inverse=True)
    mean = np.full((depth, uniq.size), np.nan)  # q^1 = 0: no band (all layers constant)
    std = np.full((depth, uniq.size), np.nan)
    pos = uniq > 0
    if pos.any():
        b = finite_width_band(act, sw, sb, uniq[pos], depth, width)
        mean[:, pos] = np.asarray(b.mean).reshape(depth, -1)
        std[:, pos] = np.asarray(b.std).reshape(depth, -1)
    return mean[:, inverse.ravel()], std[:, inverse.ravel()]


def simulate(
    activation: str | Activation,
    sigma_w: float,
    sigma_b: float,
    inputs,
    *,
    widths: Sequence[int] | None = None,
    width: int | None = None,
    depth: int | None = None,
    n_seeds: int = 10,
    weights: str = "gaussian",
    rng=None,
    dtype=np.float64,
    gradients: bool = True,
    loss_grad: Callable[[np.ndarray], np.ndarray] | None = None,
    jacobian: int = 0,
    theory: bool = True,
):
    """Simulate finite random networks over many seeds beside the mean-field theory.

    Each seed draws a fresh network (and readout); statistics are averaged
    over seeds with standard errors std / sqrt(n_seeds).

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    sigma_w, sigma_b : float
        Standard deviations: W ~ N(0, sigma_w^2 / fan_in), b ~ N(0, sigma_b^2).
    inputs : array_like, shape (batch, d)
        The batch; see :func:`correlated_inputs` for inputs with given q^1, c^1.
    widths : sequence of int, optional
        Widths (N_1, ..., N_L) of the layers; or give ``width`` and ``depth``.
    width, depth : int, optional
    n_seeds : int
        Number of independent networks.
    weights : {"gaussian", "orthogonal"}
    rng : numpy.random.Generator, int or None
    dtype : float64 (default) or float32
        Precision of the simulation (statistics are accumulated in float64).
    gradients : bool
        Run the backward pass: gradient norms and empirical chi1.
    loss_grad : callable, optional
        Gradient of the loss w.r.t. the network output phi(h^L) (see
        :meth:`RandomNetwork.run`); default: a random readout per seed.
    jacobian : int
        Number of inputs (the first ones) whose input-output Jacobian
        d phi(h^L)/dx is computed; costly (O(L N^2 d) each).
    theory : bool
        Add the mean-field predictions.

    Returns
    -------
    xarray.Dataset
        Dimensions ``seed``, ``layer`` (1..L), ``input``, ``input_b``, ``pair``
        (coordinates ``pair_a``, ``pair_b``: the two inputs, a < b), and
        ``singular_value`` with a Jacobian. Variables: ``q`` (seed, layer,
        input), ``c`` (seed, layer, pair), ``kernel_mean`` / ``kernel_se``
        (layer, input, input_b), ``q_mean``, ``q_se``, ``c_mean``, ``c_se``; with
        gradients ``grad_sq``, ``weight_grad_sq``, ``chi1`` (empirical, seed,
        layer, input; NaN at the last layer) and their ``_mean``/``_se``; with a
        Jacobian ``jacobian_sv``, ``jacobian_msv``; with theory ``q_theory``,
        ``c_theory``, ``kernel_theory``, ``chi1_theory`` (chi1 at the theoretical
        q^l of each input) and ``jacobian_msv_theory`` (the product of chi1 over
        layers, times max(1, N_L / d)); with theory and one width N for every
        layer, the finite-width band of
        :func:`sigprop.architectures.finite_width_band`: ``q_theory_finite`` (the
        mean of q^l to order 1/N) and ``q_theory_std`` (the spread of one network's
        q^l across seeds, from the four-point vertex; the simulated spread is
        ``q.std("seed")``). ``attrs`` state the conventions.
    """
    try:
        import xarray as xr
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError('simulate() needs xarray: pip install ".[scan]"') from None
    act = resolve(activation)
    sw, sb = scalar_sigma(sigma_w, "sigma_w"), scalar_sigma(sigma_b, "sigma_b")
    X = as_float_array(inputs, "inputs")
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"inputs must be a non-empty 2-d array (batch, d), got shape {X.shape}")
    check_finite(X, "inputs")
    with np.errstate(over="ignore"):
        q1 = sb * sb + sw * sw * np.einsum("ij,ij->i", X, X) / X.shape[1]
    if not np.all(np.isfinite(q1)):
        raise ValueError(
            f"sigma_w = {sw!r}, sigma_b = {sb!r} and the inputs give an infinite layer-1 "
            "variance q^1 = sigma_b^2 + sigma_w^2 |x|^2 / d; scale them down"
        )
    if widths is None:
        if width is None or depth is None:
            raise ValueError("give widths=(N_1, ..., N_L), or width and depth")
        hidden = [positive_int(width, "width")] * positive_int(depth, "depth")
    else:
        if isinstance(widths, np.ndarray):
            widths = widths.tolist()
        if width is not None or depth is not None:
            raise ValueError("give either widths or width and depth, not both")
        if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or not widths:
            raise ValueError(f"widths must be a non-empty sequence of ints, got {widths!r}")
        hidden = [positive_int(w, "widths[i]") for w in widths]
    n_seeds = positive_int(n_seeds, "n_seeds")
    gen = generator(rng)
    B, L = X.shape[0], len(hidden)
    all_widths = [X.shape[1], *hidden]
    ia, ib = np.triu_indices(B, 1)

    runs = []
    for _ in range(n_seeds):
        net = RandomNetwork(all_widths, act, sw, sb, weights=weights, rng=gen, dtype=dtype)
        r = net.run(X, gradients=gradients, loss_grad=loss_grad, jacobian=jacobian, rng=gen)
        runs.append(r)

    kernels = np.stack([r.kernel for r in runs])
    qs = np.stack([r.q for r in runs])
    cs = np.stack([r.c[:, ia, ib] for r in runs])
    seed_dims = ("seed", "layer")
    data = {
        "q": ((*seed_dims, "input"), qs),
        "q_mean": (("layer", "input"), qs.mean(0)),
        "q_se": (("layer", "input"), _se(qs)),
        "c": ((*seed_dims, "pair"), cs),
        "c_mean": (("layer", "pair"), cs.mean(0)),
        "c_se": (("layer", "pair"), _se(cs)),
        "kernel_mean": (("layer", "input", "input_b"), kernels.mean(0)),
        "kernel_se": (("layer", "input", "input_b"), _se(kernels)),
    }
    if gradients:
        for name in ("grad_sq", "chi1"):
            arr = np.stack([getattr(r, name) for r in runs])
            data[name] = ((*seed_dims, "input"), arr)
            data[f"{name}_mean"] = (("layer", "input"), arr.mean(0))
            data[f"{name}_se"] = (("layer", "input"), _se(arr))
        wg = np.stack([r.weight_grad_sq for r in runs])
        data["weight_grad_sq"] = (seed_dims, wg)
    if jacobian:
        sv = np.stack([r.jacobian_sv for r in runs])
        data["jacobian_sv"] = (("seed", "jacobian_input", "singular_value"), sv)
        data["jacobian_msv"] = (("seed", "jacobian_input"), np.mean(sv**2, axis=-1))
    if theory:
        q_th, c_th, _, _ = _theory(act, sw, sb, X, L)
        k_th = np.empty((L, B, B))
        k_th[:, ia, ib] = c_th * np.sqrt(q_th[:, ia] * q_th[:, ib])
        k_th[:, ib, ia] = k_th[:, ia, ib]
        k_th[:, np.arange(B), np.arange(B)] = q_th
        data["q_theory"] = (("layer", "input"), q_th)
        data["c_theory"] = (("layer", "pair"), c_th)
        if len(set(hidden)) == 1:
            mean_n, std_n = _finite_width(act, sw, sb, q1, L, hidden[0])
            data["q_theory_finite"] = (("layer", "input"), mean_n)
            data["q_theory_std"] = (("layer", "input"), std_n)
        data["kernel_theory"] = (("layer", "input", "input_b"), k_th)
        if gradients or jacobian:
            chi_th = np.asarray(chi1(act, q_th, sw), dtype=float).reshape(q_th.shape)
            if gradients:
                data["chi1_theory"] = (("layer", "input"), chi_th)
            if jacobian:
                factor = max(1.0, all_widths[-1] / all_widths[0])
                msv = np.prod(chi_th[:, :jacobian], axis=0) * factor
                data["jacobian_msv_theory"] = (("jacobian_input",), msv)
    coords = {
        "seed": np.arange(n_seeds),
        "layer": np.arange(1, L + 1),
        "input": np.arange(B),
        "input_b": np.arange(B),
        "pair": np.arange(ia.size),
        "pair_a": ("pair", ia),
        "pair_b": ("pair", ib),
        "width": ("layer", np.asarray(hidden)),
    }
    attrs = {
        "activation": str(act),
        "sigma_w": sw,
        "sigma_b": sb,
        "weights": weights,
        "dtype": np.dtype(dtype).name,
        "n_seeds": n_seeds,
        "input_dim": X.shape[1],
        "conventions": (
            "W^l ~ N(0, sigma_w^2/fan_in) (or orthogonal, same forward variance), "
            "b^l ~ N(0, sigma_b^2); sigma_w, sigma_b are standard deviations; layer 1 is "
            "h^1 = W^1 x + b^1; q^l = mean_i (h^l_i)^2; kernel K^l_ab = h^l_a.h^l_b / N_l; "
            "c^l = K_ab / sqrt(K_aa K_bb); chi1 (empirical) = |dL/dh^l|^2 / |dL/dh^{l+1}|^2; "
            "*_se = std over seeds (ddof=1) / sqrt(n_seeds); theory = sigprop.propagate "
            "from the exact layer-1 moments, chi1_theory = sigma_w^2 E[phi'(sqrt(q^l) Z)^2]"
        ),
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


def plot_simulation(ds, *, inputs=None, pairs=None, axes=None):
    """Draw theory (lines) against simulation (mean +- 2 standard errors) per layer.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`simulate` (with ``theory=True``).
    inputs, pairs : sequence of int, optional
        Which inputs (q^l panel) and pairs (c^l panel) to draw; default the
        first 3 of each.
    axes : sequence of matplotlib Axes, optional
        Two axes (q, c), or three when ``ds`` has gradients (q, c, chi1).

    Returns
    -------
    matplotlib.figure.Figure
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError('plot_simulation() needs matplotlib: pip install ".[plot]"') from None
    has_grad = "chi1_mean" in ds and "chi1_theory" in ds
    n = 3 if has_grad else 2
    if axes is None:
        fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), constrained_layout=True)
    else:
        if len(axes) != n:
            raise ValueError(f"axes must hold {n} Axes for this dataset, got {len(axes)}")
        fig = axes[0].figure
    layer = ds["layer"].values
    inputs = list(range(min(3, ds.sizes["input"]))) if inputs is None else list(inputs)
    npair = ds.sizes["pair"]
    pairs = list(range(min(3, npair))) if pairs is None else list(pairs)

    def band(ax, mean, se, theory, label, color, spread=None):
        ax.plot(layer, theory, color=color, lw=1.5, label=f"theory {label}")
        if spread is not None:
            lo, hi = spread
            ax.fill_between(layer, lo, hi, color=color, alpha=0.15, lw=0)
        ax.errorbar(
            layer,
            mean,
            yerr=2 * se,
            fmt="o",
            ms=2.5,
            color=color,
            alpha=0.7,
            elinewidth=0.8,
            label=f"simulation {label}",
        )

    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, a in enumerate(inputs):
        band(
            axes[0],
            ds["q_mean"][:, a],
            ds["q_se"][:, a],
            ds["q_theory"][:, a],
            f"input {a}",
            colors[k % len(colors)],
            (
                (
                    ds["q_theory_finite"][:, a] - ds["q_theory_std"][:, a],
                    ds["q_theory_finite"][:, a] + ds["q_theory_std"][:, a],
                )
                if "q_theory_std" in ds
                else None
            ),
        )
    axes[0].set(
        xlabel="layer l",
        ylabel="$q^l$",
        title="variance" + (" (band: one network's spread)" if "q_theory_std" in ds else ""),
    )
    for k, p in enumerate(pairs):
        a, b = int(ds["pair_a"][p]), int(ds["pair_b"][p])
        band(
            axes[1],
            ds["c_mean"][:, p],
            ds["c_se"][:, p],
            ds["c_theory"][:, p],
            f"({a},{b})",
            colors[k % len(colors)],
        )
    axes[1].set(xlabel="layer l", ylabel="$c^l$", title="correlation")
    if has_grad:
        m = ds["chi1"].mean("input")
        se = (
            m.std("seed", ddof=1) / math.sqrt(ds.sizes["seed"])
            if ds.sizes["seed"] > 1
            else 0 * m[0]
        )
        band(
            axes[2],
            m.mean("seed"),
            se,
            ds["chi1_theory"].mean("input"),
            "(batch mean)",
            colors[0],
        )
        axes[2].set(
            xlabel="layer l", ylabel=r"$|\delta^l|^2 / |\delta^{l+1}|^2$", title=r"$\chi_1$"
        )
    for ax in axes:
        ax.legend(fontsize=7)
    fig.suptitle(
        f"{ds.attrs['activation']}, sigma_w = {ds.attrs['sigma_w']:.6g}, "
        f"sigma_b = {ds.attrs['sigma_b']:.6g}, width {int(ds['width'][0])}, "
        f"{ds.attrs['n_seeds']} seeds (simulation: mean +- 2 SE)",
        fontsize=9,
    )
    return fig

"""Training small ReLU networks in NumPy: the peak reparameterisation.

Milkert, Hyde & Laine 2023; docs/theory/exponential_regions.rst.

Everything here is batched over independent runs: ``weights[l]`` has shape
(R, fan_out, fan_in) and ``biases[l]`` (R, fan_out) for R networks trained at
once (Adam acts element-wise, so the runs do not interact). Steps are full
batch, so an "epoch" is one Adam step on all the data points. The loss is the
mean squared error; backpropagation is written out by hand.

Two procedures are compared (as reported for Milkert et al. 2023 by published
summaries):

* :func:`fit_kaiming`: the same architecture from Kaiming (He) initialisation,
  weights N(0, 2 / fan_in) (sigma_w = sqrt(2); He et al. 2015: v^2 = 2/N for ReLU)
  and biases N(0, sigma_b^2) with sigma_b = 0 by default, as He et al. (2015)
  and :func:`sigprop.initialize` with ``scheme="he"``; then Adam on all
  parameters.
* :func:`fit_reparameterised`: the triangle network of
  :mod:`sigprop.papers.milkert.sawtooth` built from peaks drawn at random in
  (0, 1) (training step 1 of the published summaries), pre-trained in the peaks
  (gradients flow through the weight formulas; with ``tie_scales`` the scales
  follow the differentiability condition, "Theorem 3.1" of the ICML version,
  according to the summaries), then released: Adam restarted on all weights and
  biases (step 3 of the summaries).

What the published summaries of the paper fix, and what they leave open (our
choices marked "ours"): Adam with lr 1e-3 and about 1000 pre-training epochs;
500 points on [0, 1]; width 4 and depth 5 ("4x5", read as width 4 and depth 5;
the paper's text was not checked on this); 30 runs; MSE. The length of the
free training and of the Kaiming baseline, the batch size and the bias
initialisation of the baseline are not given (ours: full batch, the same
number of Adam steps for every method, zero biases).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..._validation import generator
from .sawtooth import network_from_ratios

__all__ = [
    "Adam",
    "FitResult",
    "fit_kaiming",
    "fit_reparameterised",
    "mse_and_gradients",
    "ratio_gradients",
]


class Adam:
    """Adam (Kingma & Ba) with bias correction, updating arrays in place.

    Parameters
    ----------
    lr : float
        Step size.
    beta1, beta2 : float
        Decay rates of the first and second moment estimates.
    eps : float
        Added to the square root of the second moment.
    """

    def __init__(
        self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        if not (lr > 0 and 0 <= beta1 < 1 and 0 <= beta2 < 1 and eps >= 0):
            raise ValueError(
                f"Adam needs lr > 0, 0 <= beta1, beta2 < 1, eps >= 0; got lr={lr!r}, "
                f"beta1={beta1!r}, beta2={beta2!r}, eps={eps!r}"
            )
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.t = 0
        self._m: list[np.ndarray] | None = None
        self._v: list[np.ndarray] | None = None

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """One update p <- p - lr m_hat / (sqrt(v_hat) + eps) of every array in place."""
        if self._m is None:
            self._m = [np.zeros_like(p) for p in params]
            self._v = [np.zeros_like(p) for p in params]
        assert self._v is not None
        self.t += 1
        c1 = 1.0 - self.beta1**self.t
        c2 = 1.0 - self.beta2**self.t
        for p, g, m, v in zip(params, grads, self._m, self._v, strict=True):
            m *= self.beta1
            m += (1.0 - self.beta1) * g
            v *= self.beta2
            v += (1.0 - self.beta2) * g * g
            p -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)


def mse_and_gradients(
    weights: list[np.ndarray], biases: list[np.ndarray], x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Mean squared error of ReLU networks on (x, y) and its exact gradient.

    The network is z_l = W_l h_{l-1} + b_l, h_l = relu(z_l), with no ReLU after
    the last layer; relu'(0) is taken as 0.

    Parameters
    ----------
    weights, biases : list of ndarray
        ``weights[l]`` of shape (..., fan_out, fan_in), ``biases[l]`` of shape
        (..., fan_out); leading axes are independent networks (runs). Input and
        output width 1.
    x, y : ndarray, shape (N,)
        Inputs and targets.

    Returns
    -------
    loss : ndarray, shape (...)
        mean_n (f(x_n) - y_n)^2 of each network.
    grad_weights, grad_biases : list of ndarray
        Gradients of ``loss`` (each network's own) with the shapes of the inputs.
    """
    h = [np.asarray(x, dtype=np.float64)[None, :]]
    zs = []
    n_layers = len(weights)
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        z = w @ h[-1] + b[..., None]
        zs.append(z)
        h.append(np.maximum(z, 0.0) if layer < n_layers - 1 else z)
    resid = h[-1][..., 0, :] - y
    n = resid.shape[-1]
    loss = np.mean(resid * resid, axis=-1)
    delta = (2.0 / n) * resid[..., None, :]
    gw: list[np.ndarray] = [np.empty(0)] * n_layers
    gb: list[np.ndarray] = [np.empty(0)] * n_layers
    for layer in range(n_layers - 1, -1, -1):
        prev = h[layer]
        gw[layer] = delta @ np.swapaxes(prev, -1, -2)
        gb[layer] = delta.sum(axis=-1)
        if layer > 0:
            delta = (np.swapaxes(weights[layer], -1, -2) @ delta) * (zs[layer - 1] > 0.0)
    return loss, gw, gb


def ratio_gradients(
    a: np.ndarray,
    ratios: np.ndarray,
    grad_weights: list[np.ndarray],
    grad_biases: list[np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Chain rule from weight gradients to the peaks and scale ratios.

    Backpropagates through :func:`sigprop.papers.milkert.sawtooth.network_from_ratios` with
    ``output="sum"``: given dL/dW and dL/db of the network built from peaks
    a_1..a_L and ratios S_k = s_k / s_{k-1}, returns dL/da and dL/dS.

    Parameters
    ----------
    a, ratios : ndarray, shape (..., L)
    grad_weights, grad_biases : list of ndarray
        As returned by :func:`mse_and_gradients` for that network.

    Returns
    -------
    grad_a, grad_ratios : ndarray, shape (..., L)
    """
    n_layers = a.shape[-1]
    ga = np.zeros_like(a)
    gs = np.zeros_like(ratios)
    ga[..., 0] -= grad_biases[0][..., 2]

    def through_pq(k: int, gp: np.ndarray, gq: np.ndarray) -> None:
        ak, sk = a[..., k], ratios[..., k]
        one_minus = 1.0 - ak
        gs[..., k] += gp / ak + gq / (ak * one_minus)
        ga[..., k] += -gp * sk / ak**2 - gq * sk * (1.0 - 2.0 * ak) / (ak * one_minus) ** 2

    for k in range(n_layers - 1):
        g = grad_weights[k + 1]
        gp = -g[..., 0, 1] + g[..., 1, 1] + g[..., 2, 1]
        gq = g[..., 0, 2] - g[..., 1, 2] - g[..., 2, 2]
        through_pq(k, gp, gq)
        gs[..., k] += g[..., 0, 3] + g[..., 3, 3] - a[..., k + 1] * g[..., 2, 3]
        ga[..., k + 1] -= ratios[..., k] * g[..., 2, 3]
    g = grad_weights[-1]
    through_pq(n_layers - 1, -g[..., 0, 1], g[..., 0, 2])
    # output bias -sum_{j < L} s_j with s_j = prod_{i <= j} S_i
    s = np.cumprod(ratios, axis=-1)
    gb_out = grad_biases[-1][..., 0]
    tail = np.cumsum(s[..., : n_layers - 1][..., ::-1], axis=-1)[..., ::-1]  # sum_{j>=i, j<L}
    gs[..., : n_layers - 1] -= gb_out[..., None] * tail / ratios[..., : n_layers - 1]
    return ga, gs


def _rng_or_seed(rng, seed):
    """The Generator of ``rng``, or of the deprecated ``seed`` argument."""
    if seed is not None:
        warnings.warn(
            "seed=... is renamed rng=... in sigprop 0.2 (an int seed or a numpy Generator)",
            DeprecationWarning,
            stacklevel=3,
        )
        rng = seed
    return generator(rng)


@dataclass(frozen=True)
class FitResult:
    """Outcome of a batch of training runs.

    Attributes
    ----------
    mse : ndarray, shape (n_runs,)
        Training MSE of each run after the last step.
    history : ndarray, shape (n_runs, n_steps)
        MSE before each step (pre-training steps first, if any).
    weights, biases : list of ndarray
        Final parameters, shapes (n_runs, fan_out, fan_in) and (n_runs, fan_out).
    pretrain_steps : int
        How many of the history entries belong to the pre-training.
    peaks : ndarray or None
        Peaks after pre-training (reparameterised runs only).
    """

    mse: np.ndarray
    history: np.ndarray
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    pretrain_steps: int = 0
    peaks: np.ndarray | None = field(default=None)


def _check_data(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.ndim != 1 or xa.shape != ya.shape or xa.size == 0:
        raise ValueError(f"x and y must be 1-D of equal length, got shapes {xa.shape}, {ya.shape}")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise ValueError("x and y must be finite")
    return xa, ya


def _check_count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _tied_ratios(peaks: np.ndarray, log_scale: np.ndarray) -> np.ndarray:
    """S_1 = lam (1 - a_1) a_2 and S_k = (1 - a_k) a_{k+1}: the tied scales, lam = e^rho."""
    r = (1.0 - peaks[..., :-1]) * peaks[..., 1:]
    r[..., 0] *= np.exp(log_scale)
    return r


def _tied_loss_and_gradients(
    peaks: np.ndarray, log_scale: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MSE of the tied triangle network and its gradient in (peaks, log_scale)."""
    ratios = _tied_ratios(peaks, log_scale)
    w, b = network_from_ratios(peaks[..., :-1], ratios)
    loss, gw, gb = mse_and_gradients(w, b, x, y)
    ga, gs = ratio_gradients(peaks[..., :-1], ratios, gw, gb)
    g_rho = gs[..., 0] * ratios[..., 0]
    gs = gs.copy()
    gs[..., 0] *= np.exp(log_scale)
    g_peaks = np.zeros_like(peaks)
    g_peaks[..., :-1] += ga - gs * peaks[..., 1:]
    g_peaks[..., 1:] += gs * (1.0 - peaks[..., :-1])
    return loss, g_peaks, g_rho


def _forward(weights: list[np.ndarray], biases: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    h = x[None, :]
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        h = w @ h + b[..., None]
        if layer < len(weights) - 1:
            h = np.maximum(h, 0.0)
    return h[..., 0, :]


def _train_free(
    weights: list[np.ndarray],
    biases: list[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    lr: float,
) -> np.ndarray:
    opt = Adam(lr)
    params = weights + biases
    history = np.empty((weights[0].shape[0], epochs))
    for step in range(epochs):
        loss, gw, gb = mse_and_gradients(weights, biases, x, y)
        history[:, step] = loss
        opt.step(params, gw + gb)
    return history


def fit_kaiming(
    x: Any,
    y: Any,
    *,
    depth: int = 5,
    width: int = 4,
    n_runs: int = 30,
    epochs: int = 3000,
    lr: float = 1e-3,
    sigma_b: float = 0.0,
    rng: np.random.Generator | int | None = 0,
    seed: int | None = None,
) -> FitResult:
    """Fit y(x) with ReLU networks from Kaiming initialisation (full-batch Adam).

    Each run is initialised by :func:`sigprop.initialize` with ``scheme="he"``:
    weights N(0, sigma_w^2 / fan_in) with sigma_w = sqrt(2) (He et al. 2015;
    He et al. 2015: v^2 = 2/N for ReLU) and biases N(0, sigma_b^2), zero by
    default as in He et al. (the summaries name the baseline "Kaiming init" and
    say no more). Note that PyTorch's ``nn.Linear`` default is a
    different scheme (weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    i.e. sigma_w = 1/sqrt(3)).

    Parameters
    ----------
    x, y : array_like, shape (N,)
        Training inputs and targets.
    depth, width : int
        Hidden layers and their width (input and output width 1).
    n_runs : int
        Independent runs (different initialisations).
    epochs : int
        Adam steps on the full batch.
    lr : float
        Adam step size.
    sigma_b : float
        Standard deviation of the initial biases (0: all biases zero).
    rng : numpy.random.Generator, int or None
        Random generator, or the seed of one (default 0: reproducible).
    seed : int, optional
        Deprecated name of ``rng`` (an int seed).

    Returns
    -------
    FitResult
        Runs r = 0, 1, ... are drawn one after the other from one generator.
    """
    from ..._validation import scalar_sigma
    from ...networks.initializers import initialize

    xa, ya = _check_data(x, y)
    depth = _check_count(depth, "depth", 1)
    width = _check_count(width, "width", 1)
    n_runs = _check_count(n_runs, "n_runs", 1)
    epochs = _check_count(epochs, "epochs", 0)
    sigma_b = scalar_sigma(sigma_b, "sigma_b")
    rng = _rng_or_seed(rng, seed)
    sizes = [1] + [width] * depth + [1]
    runs = [initialize(sizes, "relu", "he", sigma_b=sigma_b, rng=rng) for _ in range(n_runs)]
    weights = [np.stack([w[layer] for w, _ in runs]) for layer in range(depth + 1)]
    biases = [np.stack([b[layer] for _, b in runs]) for layer in range(depth + 1)]
    history = _train_free(weights, biases, xa, ya, epochs, lr)
    mse = mse_and_gradients(weights, biases, xa, ya)[0]
    return FitResult(mse=mse, history=history, weights=weights, biases=biases)


def fit_reparameterised(
    x: Any,
    y: Any,
    *,
    depth: int = 5,
    n_runs: int = 30,
    pretrain_epochs: int = 1000,
    epochs: int = 2000,
    lr: float = 1e-3,
    tie_scales: bool = True,
    peak_range: tuple[float, float] = (0.0, 1.0),
    min_peak: float = 0.01,
    init_scale: bool = True,
    rng: np.random.Generator | int | None = 0,
    seed: int | None = None,
) -> FitResult:
    """Fit y(x) with the triangle network: pre-train the peaks, then all weights.

    The network (width 4, ``depth`` hidden layers, output F = x - sum s_k g_k;
    see :mod:`sigprop.papers.milkert.sawtooth`) is built from peaks drawn uniformly from
    ``peak_range`` (by default (0, 1), training step 1 of the summaries:
    "initialise the peaks
    a_i at random in (0, 1)") and projected onto [min_peak, 1 - min_peak], so
    it starts with 2^depth linear regions. Pre-training runs
    Adam on the peaks (and, without ``tie_scales``, on the scale ratios
    S_k = s_k / s_{k-1}), with gradients through the weight formulas; peaks
    are kept in [min_peak, 1 - min_peak] and ratios above 1e-12. With tied
    scales an overall scale of the s_k is trained too (see ``init_scale``).
    Then Adam is restarted on all weights and biases (free training).

    Parameters
    ----------
    x, y : array_like, shape (N,)
        Training data; the construction assumes x in [0, 1].
    depth : int
        Hidden layers (each of width 4).
    n_runs : int
        Independent runs (different random peaks).
    pretrain_epochs, epochs : int
        Full-batch Adam steps of pre-training and of free training; 0 skips a
        phase (``pretrain_epochs=0`` is "reparameterised, skip pre-training").
    lr : float
        Adam step size of both phases.
    tie_scales : bool
        Tie the scales to the peaks by the differentiability condition
        ("Theorem 3.1" of Milkert et al.'s ICML version, per the summaries;
        depth + 1 peaks) or train them freely.
    peak_range : (float, float)
        Interval [lo, hi) of the initial peaks, 0 <= lo < hi <= 1.
    min_peak : float
        Peaks are projected onto [min_peak, 1 - min_peak] at the start and after
        each pre-training step (ours: keeps the weight formulas, which divide by
        a (1 - a), finite; the summaries do not say how the paper keeps a in
        (0, 1)).
    init_scale : bool
        With ``tie_scales``, the overall scale lam of s_k (s_1 = lam (1 - a_1) a_2;
        the differentiability condition fixes only the ratios s_{k+1} / s_k) is
        trained as log(lam). True starts it at the least-squares value for the
        initial peaks, False at lam = 1. The scale is needed: at lam = 1 the
        slope of F at 1 tends to 2 for any peaks, so x^3 (slope 3) is out of reach.
        (Ours: the summaries give the recurrence, not how the paper sets this
        scale.)
    rng : numpy.random.Generator, int or None
        Random generator, or the seed of one (default 0: reproducible).
    seed : int, optional
        Deprecated name of ``rng`` (an int seed).

    Returns
    -------
    FitResult
        Not random weights, so no sigma_w convention applies.
    """
    xa, ya = _check_data(x, y)
    depth = _check_count(depth, "depth", 1)
    n_runs = _check_count(n_runs, "n_runs", 1)
    pretrain_epochs = _check_count(pretrain_epochs, "pretrain_epochs", 0)
    epochs = _check_count(epochs, "epochs", 0)
    lo, hi = peak_range
    if not (0.0 <= lo < hi <= 1.0):
        raise ValueError(f"peak_range must satisfy 0 <= lo < hi <= 1, got {peak_range!r}")
    if not (0.0 < min_peak < 0.5):
        raise ValueError(f"min_peak must lie in (0, 0.5), got {min_peak!r}")
    rng = _rng_or_seed(rng, seed)
    peaks = np.clip(rng.uniform(lo, hi, (n_runs, depth + 1)), min_peak, 1.0 - min_peak)
    log_scale = np.zeros(n_runs)
    if tie_scales:
        if init_scale:
            # least-squares overall scale: y ~ x - lam * sum_k s_k g_k, fitted at lam = 1
            w, b = network_from_ratios(peaks[:, :-1], _tied_ratios(peaks, log_scale))
            phi = xa - _forward(w, b, xa)
            lam = np.sum(phi * (xa - ya), axis=-1) / np.sum(phi * phi, axis=-1)
            log_scale = np.log(np.clip(lam, 1e-3, 1e3))
        params = [peaks, log_scale]
    else:
        params = [peaks[:, :-1].copy(), _tied_ratios(peaks, log_scale)]
    opt = Adam(lr)
    pre_hist = np.empty((n_runs, pretrain_epochs))
    for step in range(pretrain_epochs):
        if tie_scales:
            loss, g_peaks, g_rho = _tied_loss_and_gradients(peaks, log_scale, xa, ya)
            opt.step(params, [g_peaks, g_rho])
        else:
            a, ratios = params
            w, b = network_from_ratios(a, ratios)
            loss, gw, gb = mse_and_gradients(w, b, xa, ya)
            opt.step(params, list(ratio_gradients(a, ratios, gw, gb)))
            np.maximum(params[1], 1e-12, out=params[1])
        pre_hist[:, step] = loss
        np.clip(params[0], min_peak, 1.0 - min_peak, out=params[0])
    if tie_scales:
        a, ratios = peaks[:, :-1], _tied_ratios(peaks, log_scale)
        final_peaks = peaks.copy()
    else:
        a, ratios = params
        final_peaks = a.copy()
    weights, biases = network_from_ratios(a, ratios)
    history = _train_free(weights, biases, xa, ya, epochs, lr)
    mse = mse_and_gradients(weights, biases, xa, ya)[0]
    return FitResult(
        mse=mse,
        history=np.concatenate((pre_hist, history), axis=1),
        weights=weights,
        biases=biases,
        pretrain_steps=pretrain_epochs,
        peaks=final_peaks,
    )

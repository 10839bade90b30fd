"""Finite-width corrections to the signal propagation of fully connected networks.

This module holds the leading 1/width theory of a single input's pre-activation
variance in a network of constant hidden width n, with the conventions of
:mod:`sigprop.networks` (layer 1 is h^1 = W^1 x + b^1; W ~ N(0, sigma_w^2 /
fan_in), b ~ N(0, sigma_b^2); ``q^1 = sigma_b^2 + sigma_w^2 |x|^2 / d``):

* :func:`relu_log_variance`: the exact law of ln q^L for relu without bias
  (a product of independent (sigma_w^2 / n) chi^2_B factors, B ~ Binomial(n, 1/2)),
  beside the log-normal asymptotics Var ln q^L ~ 5 L / n of Hanin & Nica 2020,
  "Products of many large random matrices and gradients in deep neural
  networks" (Commun. Math. Phys. 376; their main result, for the input-output
  Jacobian, whose products have the same structure);
* :func:`finite_width_kernel`: the single-input recursions of Roberts, Yaida &
  Hanin 2022, "The Principles of Deep Learning Theory" (Cambridge), chapter 4
  (sections 4.3-4.4: the four-point vertex V^l and the 1/n correction G^{1,l} of
  the metric) and chapter 5 (criticality; V^l / (n K^2) ~ 5 l / n for relu);
* :func:`finite_width_band`: the theory mean of the empirical ``q^l = |h^l|^2 / n``
  with its 1/n correction, and the standard deviation of q^l across networks;
* :func:`simulate_single_input`: an exact sampler of q^l over many networks;
* :func:`gaussian_expectation`: E[phi(sqrt(q) Z)^p Z^k] by quadrature split at
  the kinks of phi (the moments beyond those of :func:`sigprop.gaussian_moments`).

The derivation is in docs/theory/finite_width.rst.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._tables import tabular
from .._validation import (
    _show,
    as_float_array,
    broadcast_flat,
    check_finite,
    generator,
    positive_int,
    scalar_or_array,
    scalar_sigma,
    sigma,
    variance,
)
from ..theory.activations import Activation, resolve
from ..theory.expectations import gaussian_moments

__all__ = [
    "FiniteWidthBand",
    "FiniteWidthKernel",
    "ReluLogMoments",
    "finite_width_band",
    "finite_width_kernel",
    "gaussian_expectation",
    "relu_log_variance",
    "simulate_single_input",
]

#: Truncation of the Gaussian integrals: the mass beyond, even weighted by |z|^16 or by
#: phi^8 of a linearly growing phi, is below 1e-19.
_Z_CUT = 12.0
_SQRT_2PI = math.sqrt(2 * math.pi)
_SQRT_2 = math.sqrt(2.0)


# ----------------------------------------------------------------- quadrature
# 20-point Gauss-Legendre nodes and weights on [-1, 1].
_GL_X, _GL_W = np.polynomial.legendre.leggauss(20)


def _panel_edges(kinks_z: list[float], s: float) -> np.ndarray:
    """Panel edges on [-Z_CUT, Z_CUT]: a grid of step 1/2, and around 0 and every kink
    a geometric grading from 1/(4 s) up, so features of phi(s z) on the scale 1/s
    (tanh at large q) and kinks fall on panel edges."""
    pts = set(np.arange(-_Z_CUT, _Z_CUT + 0.25, 0.5).tolist())
    centres = [0.0, *kinks_z]
    for c in centres:
        pts.add(c)
        h = 0.25 / max(s, 1e-300)
        while h < 2.0:
            pts.update((c - h, c + h))
            h *= 2.0
    edges = np.array(sorted(p for p in pts if -_Z_CUT <= p <= _Z_CUT))
    return edges[np.concatenate([[True], np.diff(edges) > 1e-13])]


def _expectation_one(act: Activation, q: float, power: int, z_power: int, hermite4: bool) -> float:
    """E[phi(sqrt(q) Z)^power * w(Z)], w = Z^z_power or He_4(Z): Gauss-Legendre (20
    points) on panels split at every kink of phi and graded around them and 0."""
    from .. import _core

    s = math.sqrt(q)
    p0, p1 = act.core_params
    kz = [k / s for k, _ in act.kinks if s > 0 and abs(k / s) < _Z_CUT]
    e = _panel_edges(kz, s)
    mid, half = 0.5 * (e[1:] + e[:-1]), 0.5 * (e[1:] - e[:-1])
    z = (mid[:, None] + half[:, None] * _GL_X[None, :]).ravel()
    wq = (half[:, None] * _GL_W[None, :]).ravel()
    v = np.asarray(_core.evaluate(act.kind, p0, p1, 0, np.ascontiguousarray(s * z)))
    w = z**4 - 6 * z * z + 3 if hermite4 else z**z_power
    return float(np.sum(wq * v**power * w * np.exp(-0.5 * z * z)) / _SQRT_2PI)


def gaussian_expectation(
    activation: str | Activation, q, power: int = 2, *, z_power: int = 0, hermite4: bool = False
):
    """E[phi(sqrt(q) Z)^power Z^z_power] (or with He_4(Z) = Z^4 - 6 Z^2 + 3), Z ~ N(0, 1).

    Gauss-Legendre quadrature (20 points a panel) on ``|Z| <= 12``, in panels of
    width 1/2 split at every kink of phi (x_k / sqrt(q)) and graded geometrically
    from 1/(4 sqrt(q)) around the kinks and 0, so each panel is smooth and
    resolves phi(sqrt(q) Z) at large q. Checked against 30-digit mpmath in
    tests/test_finite_width.py (relative error below 1e-12 for the built-ins at q
    in [1e-2, 1e2]).

    Parameters
    ----------
    activation : str, Activation or callable
        See :func:`sigprop.activation`.
    q : array_like
        Variance(s) >= 0.
    power : int
        Power of phi, 0..8.
    z_power : int
        Power of Z, 0..8 (ignored with ``hermite4``).
    hermite4 : bool
        Weight by He_4(Z) instead; then d^2/dq^2 E[phi(sqrt(q) Z)^2] = E[phi^2 He_4] / (4 q^2).

    Returns
    -------
    numpy.float64 or numpy.ndarray

    Examples
    --------
    >>> from sigprop.architectures.finite_width import gaussian_expectation
    >>> print(round(float(gaussian_expectation("relu", 2.0, 4)), 12))  # 3 q^2 / 2
    6.0
    """
    act = resolve(activation)
    qa = variance(q, "q")
    for name, v in (("power", power), ("z_power", z_power)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v <= 8:
            raise ValueError(f"{name} must be an int in 0..8, got {v!r}")
    flat = qa.ravel()
    out = np.array(
        [_expectation_one(act, float(x), int(power), int(z_power), hermite4) for x in flat]
    )
    return scalar_or_array(out.reshape(qa.shape), qa.ndim == 0)


# ------------------------------------------------------------ relu, exactly
@tabular(coords=("depth", "width"))
@dataclass(frozen=True)
class ReluLogMoments:
    """Law of ln(q^L / q^1) for a relu network without bias (exact, and asymptotic).

    Attributes
    ----------
    mean, var : exact mean and variance of ln(q^L / q^1), ``q^L = |h^L|^2 / n``, given no
        layer is dead (all relu units off, probability ``p_dead``)
    var_neuron : exact variance of ln(G^L / q^1), ``G^L = sigma_w^2 |relu(h^{L-1})|^2 / n``
        the variance of one unit of layer L given the layer below (var minus the last layer's
        psi'(n/2))
    var_asymptotic : (5 (L - 1) + 2) / n, the leading order in 1/n (Hanin & Nica 2020: 5 L / n)
    mean_asymptotic : (L - 1) ln(sigma_w^2 / 2) - (5 (L - 1) + 2) / (2 n)
    p_dead : 1 - (1 - 2^-n)^(L - 1)
    depth, width : the arguments, broadcast
    """

    mean: np.ndarray
    var: np.ndarray
    var_neuron: np.ndarray
    var_asymptotic: np.ndarray
    mean_asymptotic: np.ndarray
    p_dead: np.ndarray
    depth: np.ndarray
    width: np.ndarray


def _digamma(x: np.ndarray) -> np.ndarray:
    """psi(x) for x > 0: recurrence up to x >= 20, then the asymptotic series (~1e-16)."""
    x = np.asarray(x, dtype=float).copy()
    acc = np.zeros_like(x)
    while np.any(small := x < 20):
        acc[small] -= 1.0 / x[small]
        x[small] += 1.0
    r = 1.0 / (x * x)
    tail = r * (1 / 12 - r * (1 / 120 - r * (1 / 252 - r * (1 / 240 - r * (1 / 132)))))
    return acc + np.log(x) - 0.5 / x - tail


def _trigamma(x: np.ndarray) -> np.ndarray:
    """psi'(x) for x > 0: recurrence up to x >= 20, then the asymptotic series (~1e-16)."""
    x = np.asarray(x, dtype=float).copy()
    acc = np.zeros_like(x)
    while np.any(small := x < 20):
        acc[small] += 1.0 / (x[small] * x[small])
        x[small] += 1.0
    r = 1.0 / (x * x)
    tail = (1 / 6 - r * (1 / 30 - r * (1 / 42 - r * (1 / 30 - r * (5 / 66))))) / (x * x * x)
    return acc + 1.0 / x + 0.5 * r + tail


def _relu_layer_log_moments(n: int) -> tuple[float, float]:
    """Mean and variance of ln chi^2_B, B ~ Binomial(n, 1/2) conditioned on B >= 1."""
    # B outside n/2 +- 20 sqrt(n)/2 has probability below 1e-80: leave it out.
    half = 10.0 * math.sqrt(n)
    b = np.arange(max(1, int(n / 2 - half)), min(n, int(n / 2 + half) + 1) + 1)
    lg = math.lgamma(n + 1) - n * math.log(2.0)
    logw = np.array([lg - math.lgamma(k + 1) - math.lgamma(n - k + 1) for k in b.tolist()])
    w = np.exp(logw - logw.max())
    w = w / w.sum()
    m = _digamma(b / 2) + math.log(2)
    mean = float(np.sum(w * m))
    var = float(np.sum(w * _trigamma(b / 2)) + np.sum(w * (m - mean) ** 2))
    return mean, var


def relu_log_variance(depth, width, sigma_w=_SQRT_2) -> ReluLogMoments:
    """Exact mean and variance of ln q^L across relu networks (sigma_b = 0), and 5 L / n.

    With sigma_b = 0, given layer l the units of layer l + 1 are independent
    N(0, G^{l+1}) with ``G^{l+1} = (sigma_w^2 / n) |relu(h^l)|^2``, and
    ``|relu(h^l)|^2 = G^l chi^2_B``: B ~ Binomial(n, 1/2) units are on, each the
    square of a half-normal. So G^{l+1} / G^l = (sigma_w^2 / n) chi^2_{B_l},
    independent over layers, and q^L = G^L chi^2_n / n. Hence (layers 2..L)

        ln(q^L / q^1) = sum_{l=1}^{L-1} ln((sigma_w^2 / n) chi^2_{B_l}) + ln(chi^2_n / n),

    whose mean and variance follow from E ln chi^2_k = psi(k/2) + ln 2 and
    Var ln chi^2_k = psi'(k/2), averaged over B (law of total variance). Each
    factor has variance 5/n + O(1/n^2) (E chi^2_B = n/2, Var chi^2_B = 5n/4),
    hence Var ln q^L ~ (5 (L - 1) + 2) / n: the 5 sum_l 1/n_l of Hanin & Nica 2020
    (their main result). Moments are conditional on no dead layer (B_l >= 1), whose
    complement has probability ``p_dead``.

    Parameters
    ----------
    depth : array_like of int
        L >= 1 (q^1 is the first layer's).
    width : array_like of int
        Hidden width n >= 1.
    sigma_w : float
        Weight standard deviation (only shifts the mean); default sqrt(2) (He).

    Returns
    -------
    ReluLogMoments

    Examples
    --------
    >>> from sigprop.architectures.finite_width import relu_log_variance
    >>> r = relu_log_variance(20, 100)
    >>> print(round(float(r.var), 4), round(float(r.var_asymptotic), 4))
    1.0071 0.97
    """
    sw = scalar_sigma(sigma_w, "sigma_w")
    if sw <= 0:
        raise ValueError(f"sigma_w must be > 0, got {sigma_w!r}")
    da, wa = as_float_array(depth, "depth"), as_float_array(width, "width")
    for name, a in (("depth", da), ("width", wa)):
        check_finite(a, name)
        if np.any(a < 1) or np.any(a != np.round(a)) or np.any(a > 10**7):
            raise ValueError(f"{name} must hold ints in 1..1e7, got {a.ravel()[0]!r}")
    shape, (d, w) = broadcast_flat(da, wa)
    cache: dict[int, tuple[float, float]] = {}
    out = np.empty((6, d.size))
    for i, (L, n) in enumerate(zip(d.astype(int), w.astype(int), strict=True)):
        if n not in cache:
            cache[n] = _relu_layer_log_moments(n)
        m1, v1 = cache[n]
        last_m = float(_digamma(np.array([n / 2]))[0]) + math.log(2 / n)
        last_v = float(_trigamma(np.array([n / 2]))[0])
        step_m = m1 + math.log(sw * sw / n)
        var_neuron = (L - 1) * v1
        out[:, i] = (
            (L - 1) * step_m + last_m,
            var_neuron + last_v,
            var_neuron,
            (5 * (L - 1) + 2) / n,
            (L - 1) * math.log(sw * sw / 2) - (5 * (L - 1) + 2) / (2 * n),
            -math.expm1((L - 1) * math.log1p(-(0.5**n))),
        )
    scalar = len(shape) == 0
    vals = [scalar_or_array(o.reshape(shape), scalar) for o in out]
    vals += [scalar_or_array(d.reshape(shape), scalar), scalar_or_array(w.reshape(shape), scalar)]
    return ReluLogMoments(*vals)


# ------------------------------------------------- vertex and 1/n correction
@tabular(leading="layer")
@dataclass(frozen=True)
class FiniteWidthKernel:
    """Single-input finite-width quantities per layer l = 1..depth (index l - 1).

    Attributes
    ----------
    K : infinite-width kernel K^l (K^1 = q^1, K^{l+1} = sigma_b^2 + sigma_w^2 <phi^2>_{K^l})
    V : four-point vertex V^l: Var(G^l) = V^l / n, with G^l the variance of a unit of
        layer l given layer l - 1; V^1 = 0
    G1 : 1/n correction of the metric: E[h_i^l 2] = K^l + G1^l / n + O(1/n^2); G1^1 = 0
    chi_parallel : dK^{l+1} / dK^l = sigma_w^2 d<phi^2>_K / dK at K^l
    """

    K: np.ndarray
    V: np.ndarray
    G1: np.ndarray
    chi_parallel: np.ndarray

    def metric(self, width: int) -> np.ndarray:
        """E[h_i^l 2] to O(1/n): K^l + G1^l / n."""
        return self.K + self.G1 / positive_int(width, "width")

    def cumulant(self, width: int) -> np.ndarray:
        """The normalised four-point cumulant V^l / (n (K^l)^2) (Var(G^l) / (K^l)^2)."""
        return self.V / (positive_int(width, "width") * self.K**2)


def finite_width_kernel(
    activation: str | Activation, sigma_w, sigma_b, q0, depth: int
) -> FiniteWidthKernel:
    """Four-point vertex V^l and the 1/n metric correction G1^l for one input.

    Given layer l, the units of layer l + 1 are independent N(0, G^{l+1}) with
    G^{l+1} = sigma_b^2 + sigma_w^2 (1/n) sum_j phi(h_j^l)^2. To leading order
    in 1/n (Roberts, Yaida & Hanin 2022, sections 4.3-4.4, single-input case):

        K^{l+1}   = sigma_b^2 + sigma_w^2 <phi^2>_K
        V^{l+1}   = sigma_w^4 (<phi^4>_K - <phi^2>_K^2) + chi_par^2 V^l
        G1^{l+1}  = chi_par G1^l + (sigma_w^2 / 2) (d^2 <phi^2>_K / dK^2) V^l

    with <.>_K the Gaussian average at variance K^l, chi_par = sigma_w^2
    d<phi^2>_K/dK, and K^1 = q^1, V^1 = G1^1 = 0 (layer 1 is Gaussian). The
    first follows from Var(G^{l+1}) = sigma_w^4 [Var(phi^2) / n + Cov(phi(h_1)^2,
    phi(h_2)^2)] with the covariance Var_G(<phi^2>_G) = chi_par^2 V^l / (n sigma_w^4);
    the last from E[<phi^2>_G] = <phi^2>_{E G} + (1/2) d^2<phi^2>/dK^2 Var(G).
    <phi^2> and its first derivative are sigprop's exact moments; <phi^4> and
    d^2<phi^2>/dK^2 = <phi^2 He_4(Z)> / (4 K^2) come from
    :func:`gaussian_expectation`.

    Parameters
    ----------
    activation : str, Activation or callable
    sigma_w, sigma_b : array_like
        Standard deviations.
    q0 : array_like
        q^1 > 0, the first layer's variance ``sigma_b^2 + sigma_w^2 |x|^2 / d``; broadcast
        with sigma_w, sigma_b.
    depth : int
        Number of layers L >= 1.

    Returns
    -------
    FiniteWidthKernel
        Arrays of shape ``(depth, *broadcast_shape)``; NaN where K^l is 0 or not finite.

    Examples
    --------
    >>> from sigprop.architectures.finite_width import finite_width_kernel
    >>> k = finite_width_kernel("relu", 2 ** 0.5, 0.0, 1.0, 4)   # V^l = 5 (l - 1) K^2
    >>> [round(float(v), 9) for v in k.V]
    [0.0, 5.0, 10.0, 15.0]
    """
    act = resolve(activation)
    depth = positive_int(depth, "depth", maximum=100_000)
    q0a = variance(q0, "q0")
    if np.any(q0a <= 0):
        raise ValueError(f"q0 must be > 0, got {_show(q0a, q0a <= 0)}")
    shape, (sw, sb, q) = broadcast_flat(sigma(sigma_w, "sigma_w"), sigma(sigma_b, "sigma_b"), q0a)
    sw2, sb2 = sw * sw, sb * sb
    K, V, G1, chi = (np.full((depth, q.size), np.nan) for _ in range(4))
    K[0], V[0], G1[0] = q, 0.0, 0.0
    for layer in range(depth):
        k = K[layer]
        good = np.isfinite(k) & (k > 0)
        m = gaussian_moments(act, np.where(good, k, 1.0))
        chi[layer] = np.where(good, sw2 * m.dV, np.nan)
        if layer + 1 == depth:
            break
        phi4 = np.full(q.size, np.nan)
        d2 = np.full(q.size, np.nan)
        for i in np.flatnonzero(good):
            phi4[i] = _expectation_one(act, k[i], 4, 0, False)
            d2[i] = _expectation_one(act, k[i], 2, 0, True) / (4 * k[i] ** 2)
        K[layer + 1] = np.where(good, sb2 + sw2 * m.phi_sq, np.nan)
        V[layer + 1] = sw2 * sw2 * (phi4 - m.phi_sq**2) + chi[layer] ** 2 * V[layer]
        G1[layer + 1] = chi[layer] * G1[layer] + 0.5 * sw2 * d2 * V[layer]
    return FiniteWidthKernel(*(a.reshape(depth, *shape) for a in (K, V, G1, chi)))


# ------------------------------------------------------------------- the band
@tabular(leading="layer")
@dataclass(frozen=True)
class FiniteWidthBand:
    """Theory of the empirical ``q^l = |h^l|^2 / n`` of one network, layers 1..depth.

    Attributes
    ----------
    mean : K^l + G1^l / n, the mean of q^l over networks to O(1/n)
    std : standard deviation of q^l over networks: K^l sqrt(exp(delta^l) - 1) with
        delta^l = (2 (K^l)^2 + V^l) / (n (K^l)^2) (log-normal closure)
    std_leading : sqrt((2 (K^l)^2 + V^l) / n), the leading order (equal to ``std`` to O(1/n))
    log_std : sqrt(ln(1 + std^2 / mean^2)), the standard deviation of ln q^l of the
        log-normal with this mean and std (sqrt(delta^l) to O(1/n))
    K, V, G1 : as in :class:`FiniteWidthKernel`
    width : n
    """

    mean: np.ndarray
    std: np.ndarray
    std_leading: np.ndarray
    log_std: np.ndarray
    K: np.ndarray
    V: np.ndarray
    G1: np.ndarray
    width: int

    @property
    def lower(self) -> np.ndarray:
        """mean - std."""
        return self.mean - self.std

    @property
    def upper(self) -> np.ndarray:
        """mean + std."""
        return self.mean + self.std

    def interval(self, z: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """The log-normal interval median * exp(-+ z log_std) (z = 1: 16% and 84%).

        Positive, unlike mean -+ std; better for relu-like chains, whose q^l is
        close to log-normal (:func:`relu_log_variance`).
        """
        median = self.mean * np.exp(-0.5 * self.log_std**2)
        return median * np.exp(-z * self.log_std), median * np.exp(z * self.log_std)


def finite_width_band(
    activation: str | Activation, sigma_w, sigma_b, q0, depth: int, width: int
) -> FiniteWidthBand:
    """Mean of q^l with its 1/n correction, and its spread across networks of width n.

    Given layer l - 1, the n units of layer l are independent N(0, G^l), so the
    empirical q^l = (1/n) sum_i (h_i^l)^2 is G^l chi^2_n / n and, by the law of
    total variance,

        Var q^l = Var G^l + 2 E[(G^l)^2] / n = (V^l + 2 (K^l)^2) / n + O(1/n^2),

    with E q^l = E G^l = K^l + G1^l / n (:func:`finite_width_kernel`). The
    fluctuations compound multiplicatively over layers (exactly so for relu,
    :func:`relu_log_variance`), so ``std`` closes the series with a log-normal,
    Var q^l = (K^l)^2 (exp(delta^l) - 1), delta^l = (2 (K^l)^2 + V^l) / (n (K^l)^2);
    this agrees with the leading order to O(1/n) and stays within a few per cent
    of the exact relu value (K^2 ((1 + 5/n)^(l-1) (1 + 2/n) - 1) at sigma_w^2 = 2)
    where the leading order falls 16% short (n = 64, l = 10).

    Parameters
    ----------
    activation : str, Activation or callable
    sigma_w, sigma_b : array_like
        Standard deviations.
    q0 : array_like
        q^1 > 0 (as in :func:`sigprop.simulate`: ``sigma_b^2 + sigma_w^2 |x|^2 / d``).
    depth, width : int
        Number of layers L and hidden width n.

    Returns
    -------
    FiniteWidthBand
        Arrays of shape ``(depth, *broadcast_shape)``, index l - 1 for layer l.

    Examples
    --------
    >>> from sigprop.architectures.finite_width import finite_width_band
    >>> b = finite_width_band("relu", 2 ** 0.5, 0.0, 1.0, 10, 100)
    >>> print(round(float(b.mean[-1]), 6), round(float(b.std_leading[-1]), 4))
    1.0 0.6856
    """
    n = positive_int(width, "width")
    k = finite_width_kernel(activation, sigma_w, sigma_b, q0, depth)
    delta = (2 * k.K**2 + k.V) / (n * k.K**2)
    std = k.K * np.sqrt(np.expm1(delta))
    lead = np.sqrt((2 * k.K**2 + k.V) / n)
    mean = k.K + k.G1 / n
    log_std = np.sqrt(np.log1p((std / mean) ** 2))
    return FiniteWidthBand(mean, std, lead, log_std, k.K, k.V, k.G1, n)


# ----------------------------------------------------------------- sampling
def simulate_single_input(
    activation: str | Activation,
    sigma_w: float,
    sigma_b: float,
    q0: float,
    depth: int,
    width: int,
    n_seeds: int = 1000,
    *,
    rng=None,
) -> np.ndarray:
    """Empirical ``q^l = |h^l|^2 / n`` of one input in ``n_seeds`` independent random networks.

    Exact in law and O(depth n) per network: for a fixed vector a = phi(h^l),
    fresh W ~ N(0, sigma_w^2 / n) and b ~ N(0, sigma_b^2) make W a + b a vector of
    independent ``N(0, sigma_b^2 + sigma_w^2 |a|^2 / n)`` entries, so each layer is
    drawn as ``sqrt(sigma_b^2 + sigma_w^2 |a|^2 / n) g`` with g ~ N(0, I_n); layer 1 is
    sqrt(q0) g. (Only for a single input: several inputs need the matrices, as in
    :func:`sigprop.simulate`.)

    Parameters
    ----------
    activation : str, Activation or callable
    sigma_w, sigma_b : float
    q0 : float
        q^1 > 0.
    depth, width : int
    n_seeds : int
    rng : numpy.random.Generator, int or None

    Returns
    -------
    numpy.ndarray, shape (n_seeds, depth)
        q^l for layers 1..depth.

    Examples
    --------
    >>> from sigprop.architectures.finite_width import simulate_single_input
    >>> q = simulate_single_input("relu", 2 ** 0.5, 0.0, 1.0, 5, 64, 2000, rng=0)
    >>> q.shape, bool(abs(q[:, -1].mean() - 1) < 0.05)
    ((2000, 5), True)
    """
    act = resolve(activation)
    sw, sb = scalar_sigma(sigma_w, "sigma_w"), scalar_sigma(sigma_b, "sigma_b")
    q1 = float(variance(q0, "q0"))
    if not q1 > 0:
        raise ValueError(f"q0 must be > 0, got {q0!r}")
    depth = positive_int(depth, "depth", maximum=100_000)
    n = positive_int(width, "width", maximum=10_000_000)
    n_seeds = positive_int(n_seeds, "n_seeds")
    gen = generator(rng)
    out = np.empty((n_seeds, depth))
    block = max(1, 2**22 // n)
    for start in range(0, n_seeds, block):
        s = min(block, n_seeds - start)
        g = np.full(s, q1)
        for layer in range(depth):
            h = np.sqrt(g)[:, None] * gen.standard_normal((s, n))
            out[start : start + s, layer] = np.mean(h * h, axis=1)
            a = act(h)
            g = sb * sb + sw * sw * np.mean(a * a, axis=1)
    return out

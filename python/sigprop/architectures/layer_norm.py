"""Layer normalisation in the fully connected chain: the mean-field correlation map.

This module holds the infinite-width theory of a fully connected network whose
pre-activations are layer-normalised before the activation (Ba, Kiros & Hinton
2016, "Layer normalization", eq. 4; gain 1 and bias 0 as at initialisation,
epsilon = 0):

    x^l = LN(h^l) = (h^l - mean_i h^l_i) / std_i(h^l),    h^{l+1} = W^{l+1} phi(x^l) + b^{l+1},

with W ~ N(0, sigma_w^2 / N) and b ~ N(0, sigma_b^2) (sigma_w, sigma_b standard
deviations), and a NumPy simulation of such networks. Layer normalisation fixes
the variance of every normalised pre-activation to 1, so the variance map is
trivial and only the correlation map is left:

    f(c) = (sigma_b^2 + sigma_w^2 E[phi(u) phi(v)]) / (sigma_b^2 + sigma_w^2 E[phi(u)^2]),

(u, v) standard Gaussians with correlation c. It depends on (sigma_w, sigma_b)
only through r = sigma_b^2 / sigma_w^2. Contents: :func:`layer_norm_maps`,
:func:`layer_norm_fixed_point`, :func:`layer_norm_propagate`,
:func:`simulate_layer_norm`; derivation in docs/theory/layer_norm.rst. For the
contrast with batch normalisation, where the batch couples the inputs, see Yang
et al. 2019, "A mean field theory of batch normalization" (ICLR).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._tables import tabular
from .._validation import (
    as_float_array,
    broadcast_flat,
    check_correlation,
    generator,
    positive_int,
    scalar_or_array,
    scalar_sigma,
    sigma,
)
from ..outcomes import EDGE_TOL, Phase, Status, names
from ..theory.activations import Activation, resolve
from ..theory.expectations import bivariate_expectation, gaussian_moments

__all__ = [
    "LayerNormFixedPoint",
    "LayerNormMaps",
    "LayerNormPropagation",
    "LayerNormSimulation",
    "layer_norm_fixed_point",
    "layer_norm_maps",
    "layer_norm_propagate",
    "simulate_layer_norm",
]

#: Bisection steps for the chaotic fixed point c* in [0, 1) (2^-60 < 1e-18).
_BISECTION_STEPS = 60
#: Memory bound of the simulation: weights of this many float64 per block of seeds.
_SIM_BLOCK = 2**23


@tabular(coords=("c_in", "sigma_w", "sigma_b"))
@dataclass(frozen=True)
class LayerNormMaps:
    """One step of the layer-normalised chain at correlation ``c_in``.

    Attributes
    ----------
    q : variance of h^{l+1} before normalisation, sigma_b^2 + sigma_w^2 E[phi(Z)^2]
        (the same for every input)
    c : the normalised correlation map f(c_in)
    slope : f'(c_in) = sigma_w^2 E[phi'(u) phi'(v)] / q (Price's theorem)
    c_in, sigma_w, sigma_b : the arguments, broadcast
    """

    q: np.ndarray
    c: np.ndarray
    slope: np.ndarray
    c_in: np.ndarray
    sigma_w: np.ndarray
    sigma_b: np.ndarray


@tabular(coords=("sigma_w", "sigma_b"))
@dataclass(frozen=True)
class LayerNormFixedPoint:
    """Fixed point of the layer-normalised correlation map and what follows from it.

    Attributes
    ----------
    c_star : limit of c^l from any c^0 in [0, 1): 1 in the ordered phase and on the edge
    chi_c : f'(c*), the slope of the normalised c-map at c*
    chi1 : f'(1) = sigma_w^2 E[phi'(Z)^2] / (sigma_b^2 + sigma_w^2 E[phi(Z)^2]); also the
        mean squared singular value of one layer's Jacobian dh^{l+1}/dh^l at infinite width
    xi_c : -1 / ln chi_c (inf on the edge)
    q : sigma_b^2 + sigma_w^2 E[phi(Z)^2], the variance of every h^l, l >= 1
    status : :class:`sigprop.Status` code (converged, or not_converged where undefined)
    sigma_w, sigma_b : the arguments, broadcast

    ``phase`` gives the :class:`sigprop.Phase` names: ordered (chi1 < 1), chaotic
    (chi1 > 1), edge (``|chi1 - 1| <= 1e-12``), failed (undefined, e.g. sigma_w =
    sigma_b = 0).
    """

    c_star: np.ndarray
    chi_c: np.ndarray
    chi1: np.ndarray
    xi_c: np.ndarray
    q: np.ndarray
    status: np.ndarray
    sigma_w: np.ndarray
    sigma_b: np.ndarray

    def _table_extra(self) -> dict:
        return {"phase": self.phase}

    @property
    def phase_code(self):
        """Phase codes (:class:`sigprop.Phase`)."""
        chi = np.asarray(self.chi1, dtype=float)
        out = np.full(chi.shape, Phase.failed, dtype=np.int8)
        with np.errstate(invalid="ignore"):
            out[chi < 1 - EDGE_TOL] = Phase.ordered
            out[chi > 1 + EDGE_TOL] = Phase.chaotic
            out[np.abs(chi - 1) <= EDGE_TOL] = Phase.edge
        out[np.asarray(self.status) != Status.converged] = Phase.failed
        return scalar_or_array(out, out.ndim == 0)

    @property
    def phase(self):
        """Phase names of :class:`sigprop.Phase`."""
        return names(Phase, self.phase_code)


@tabular(leading="layer")
@dataclass(frozen=True)
class LayerNormPropagation:
    """Layer-by-layer correlation of two inputs in the layer-normalised chain.

    Attributes
    ----------
    c : ndarray, shape (depth + 1, ...)
        c^l, the correlation of the two (normalised) pre-activations; c^0 is the given one.
    q : ndarray, shape (depth + 1, ...)
        Variance of h^l before normalisation: NaN at l = 0 (any), then
        sigma_b^2 + sigma_w^2 E[phi(Z)^2].
    """

    c: np.ndarray
    q: np.ndarray


@tabular(leading="layer")
@dataclass(frozen=True)
class LayerNormSimulation:
    """Finite layer-normalised networks over seeds, beside the infinite-width theory.

    Attributes
    ----------
    c : ndarray (n_seeds, depth + 1)
        Empirical correlation of the two normalised pre-activations,
        x_a^l . x_b^l / N (the Pearson correlation of h_a^l and h_b^l over units).
    q : ndarray (n_seeds, depth + 1)
        Empirical variance ``|h^l|^2 / N`` before normalisation (NaN at l = 0).
    c_mean, c_se : ndarray (depth + 1,)
        Mean over seeds and its standard error std / sqrt(n_seeds).
    c_theory : ndarray (depth + 1,)
        :func:`layer_norm_propagate`.
    width, n_seeds : int
    """

    c: np.ndarray
    q: np.ndarray
    c_mean: np.ndarray
    c_se: np.ndarray
    c_theory: np.ndarray
    width: int
    n_seeds: int


def _moments_at_one(act: Activation) -> tuple[float, float]:
    m = gaussian_moments(act, 1.0)
    return float(m.phi_sq), float(m.dphi_sq)


def _cmap(act, c, sw, sb, m2):
    """Normalised c-map, its slope and the variance q (arrays broadcast already)."""
    e = np.asarray(bivariate_expectation(act, 1.0, 1.0, c), dtype=float)
    de = np.asarray(bivariate_expectation(act, 1.0, 1.0, c, derivative=1), dtype=float)
    sw2, sb2 = sw * sw, sb * sb
    q = sb2 + sw2 * m2
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(q > 0, (sb2 + sw2 * e) / q, np.nan)
        slope = np.where(q > 0, sw2 * de / q, np.nan)
    return q, np.clip(f, -1.0, 1.0), slope


def layer_norm_maps(activation: str | Activation, c, sigma_w, sigma_b) -> LayerNormMaps:
    """One layer of the layer-normalised chain: the normalised correlation map and its slope.

    With every normalised pre-activation of variance 1 (infinite width; the
    subtracted mean over units is O(N^-1/2)), the next layer's pre-activations
    of two inputs have variance q = sigma_b^2 + sigma_w^2 E[phi(Z)^2] and
    covariance sigma_b^2 + sigma_w^2 E[phi(u) phi(v)], (u, v) standard with
    correlation c; the next correlation is their ratio, which normalisation
    keeps. Its slope follows from Price's theorem, d E[phi(u) phi(v)] / dc =
    E[phi'(u) phi'(v)].

    Parameters
    ----------
    activation : str, Activation or callable
        See :func:`sigprop.activation`.
    c : array_like
        Correlation(s) in [-1, 1].
    sigma_w, sigma_b : array_like
        Standard deviations (W ~ N(0, sigma_w^2 / N), b ~ N(0, sigma_b^2)); broadcast with c.

    Returns
    -------
    LayerNormMaps
        q, c (= f(c_in)) and slope; NaN where sigma_w = sigma_b = 0.

    Examples
    --------
    >>> from sigprop.architectures.layer_norm import layer_norm_maps
    >>> m = layer_norm_maps("relu", 0.0, 1.0, 0.0)
    >>> print(round(float(m.c), 6), round(1 / 3.141592653589793, 6))
    0.31831 0.31831
    """
    act = resolve(activation)
    ca = as_float_array(c, "c")
    check_correlation(ca, "c")
    shape, (cf, sw, sb) = broadcast_flat(ca, sigma(sigma_w, "sigma_w"), sigma(sigma_b, "sigma_b"))
    m2, _ = _moments_at_one(act)
    q, f, slope = _cmap(act, cf, sw, sb, m2)
    scalar = len(shape) == 0
    out = [scalar_or_array(a.reshape(shape), scalar) for a in (q, f, slope, cf, sw, sb)]
    return LayerNormMaps(*out)


def layer_norm_fixed_point(activation: str | Activation, sigma_w, sigma_b) -> LayerNormFixedPoint:
    """Fixed point c*, its slope chi_c, depth scale xi_c and phase of the LN chain.

    The normalised map f is convex on [0, 1] with f(1) = 1 and f(0) >= 0 (its
    Mehler series has non-negative coefficients), so on [0, 1] there are two
    cases. If chi1 = f'(1) <= 1, f(c) >= c and c^l -> 1 (ordered; on the edge,
    chi1 = 1, only polynomially fast). If chi1 > 1, f(c) - c has exactly one root
    c* in [0, 1), attracting (chaotic); it is found by bisection. chi1 depends
    on (sigma_w, sigma_b) only through sigma_b^2 / sigma_w^2, like everything
    here.

    Parameters
    ----------
    activation : str, Activation or callable
    sigma_w, sigma_b : array_like
        Standard deviations, broadcast against each other.

    Returns
    -------
    LayerNormFixedPoint
        NaN and status not_converged where undefined (sigma_w = sigma_b = 0).

    Examples
    --------
    >>> from sigprop.architectures.layer_norm import layer_norm_fixed_point
    >>> r = layer_norm_fixed_point("tanh", 1.0, [0.0, 1.0])
    >>> [str(p) for p in r.phase], [round(float(c), 4) for c in r.c_star]
    (['chaotic', 'ordered'], [0.0, 1.0])
    """
    act = resolve(activation)
    shape, (sw, sb) = broadcast_flat(sigma(sigma_w, "sigma_w"), sigma(sigma_b, "sigma_b"))
    m2, dm2 = _moments_at_one(act)
    sw2, sb2 = sw * sw, sb * sb
    q = sb2 + sw2 * m2
    ok = q > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        chi1 = np.where(ok, sw2 * dm2 / q, np.nan)
    c_star = np.where(ok, 1.0, np.nan)
    chi_c = chi1.copy()
    chaotic = ok & (chi1 > 1 + EDGE_TOL)
    edge = ok & (np.abs(chi1 - 1) <= EDGE_TOL)
    if np.any(chaotic):
        w, b = sw[chaotic], sb[chaotic]
        lo, hi = np.zeros(w.size), np.ones(w.size)
        for _ in range(_BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            _, f, _ = _cmap(act, mid, w, b, m2)
            up = f >= mid
            lo = np.where(up, mid, lo)
            hi = np.where(up, hi, mid)
        cs = 0.5 * (lo + hi)
        _, _, slope = _cmap(act, cs, w, b, m2)
        c_star[chaotic] = cs
        chi_c[chaotic] = slope
    chi_c[edge] = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        xi_c = np.where(chi_c >= 1.0, np.inf, -1.0 / np.log(chi_c))
    xi_c[~ok] = np.nan
    status = np.where(ok, int(Status.converged), int(Status.not_converged)).astype(np.int32)
    scalar = len(shape) == 0
    vals = [c_star, chi_c, chi1, xi_c, np.where(ok, q, np.nan), status, sw, sb]
    return LayerNormFixedPoint(*(scalar_or_array(v.reshape(shape), scalar) for v in vals))


def layer_norm_propagate(
    activation: str | Activation, sigma_w, sigma_b, depth: int, c0
) -> LayerNormPropagation:
    """Iterate the normalised correlation map ``depth`` times from c^0.

    Parameters
    ----------
    activation : str, Activation or callable
    sigma_w, sigma_b : array_like
        Standard deviations.
    depth : int
        Number of layers (map applications), >= 1.
    c0 : array_like
        Correlation of the two inputs' pre-activations h^0, in [-1, 1]; broadcast
        with sigma_w, sigma_b.

    Returns
    -------
    LayerNormPropagation
        c and q of shape ``(depth + 1, *broadcast_shape)``.

    Examples
    --------
    >>> from sigprop.architectures.layer_norm import layer_norm_propagate
    >>> p = layer_norm_propagate("relu", 1.0, 0.0, 3, 0.0)
    >>> [round(float(v), 4) for v in p.c]
    [0.0, 0.3183, 0.4937, 0.6048]
    """
    act = resolve(activation)
    depth = positive_int(depth, "depth", maximum=10_000_000)
    ca = as_float_array(c0, "c0")
    check_correlation(ca, "c0")
    shape, (c, sw, sb) = broadcast_flat(ca, sigma(sigma_w, "sigma_w"), sigma(sigma_b, "sigma_b"))
    m2, _ = _moments_at_one(act)
    cs = np.empty((depth + 1, c.size))
    qs = np.empty((depth + 1, c.size))
    cs[0], qs[0] = c, np.nan
    for layer in range(1, depth + 1):
        qs[layer], cs[layer], _ = _cmap(act, cs[layer - 1], sw, sb, m2)
    return LayerNormPropagation(cs.reshape(depth + 1, *shape), qs.reshape(depth + 1, *shape))


def _layer_norm(h: np.ndarray) -> np.ndarray:
    h = h - h.mean(axis=-1, keepdims=True)
    return h / np.sqrt(np.mean(h * h, axis=-1, keepdims=True))


def simulate_layer_norm(
    activation: str | Activation,
    sigma_w: float,
    sigma_b: float,
    *,
    width: int,
    depth: int,
    c0: float = 0.5,
    n_seeds: int = 100,
    rng=None,
) -> LayerNormSimulation:
    """Run finite layer-normalised networks on two inputs, over seeds.

    Each seed draws h^0_a, h^0_b of width N whose normalised versions have
    correlation exactly c0, then fresh W^l ~ N(0, sigma_w^2 / N), b^l ~ N(0,
    sigma_b^2) per layer, and records the empirical correlation after each
    normalisation. The finite-width mean differs from the theory by O(1/N) and
    single networks scatter by O(N^-1/2) about it.

    Parameters
    ----------
    activation : str, Activation or callable
    sigma_w, sigma_b : float
    width, depth : int
        N and the number of layers L.
    c0 : float
        Correlation of the normalised inputs, in (-1, 1).
    n_seeds : int
        Number of independent networks (>= 2 for standard errors).
    rng : numpy.random.Generator, int or None

    Returns
    -------
    LayerNormSimulation

    Examples
    --------
    >>> from sigprop.architectures.layer_norm import simulate_layer_norm
    >>> s = simulate_layer_norm("tanh", 1.0, 0.5, width=200, depth=3, n_seeds=20, rng=0)
    >>> bool(abs(s.c_mean[-1] - s.c_theory[-1]) < 5 * s.c_se[-1] + 0.01)
    True
    """
    act = resolve(activation)
    sw, sb = scalar_sigma(sigma_w, "sigma_w"), scalar_sigma(sigma_b, "sigma_b")
    n = positive_int(width, "width", maximum=100_000)
    if n < 3:
        raise ValueError(f"width must be >= 3, got {width!r}")
    depth = positive_int(depth, "depth", maximum=100_000)
    n_seeds = positive_int(n_seeds, "n_seeds")
    c0 = float(as_float_array(c0, "c0"))
    if not -1 < c0 < 1:
        raise ValueError(f"c0 must lie in (-1, 1), got {c0!r}")
    gen = generator(rng)
    cs = np.empty((n_seeds, depth + 1))
    qs = np.full((n_seeds, depth + 1), np.nan)
    block = max(1, _SIM_BLOCK // (n * n))
    for start in range(0, n_seeds, block):
        s = min(block, n_seeds - start)
        z = _layer_norm(gen.standard_normal((s, 2, n)))
        e1 = z[:, 0]
        e2 = z[:, 1] - np.mean(z[:, 1] * e1, axis=-1, keepdims=True) * e1
        e2 = _layer_norm(e2)
        x = np.stack([e1, c0 * e1 + math.sqrt(1 - c0 * c0) * e2], axis=1)
        cs[start : start + s, 0] = np.mean(x[:, 0] * x[:, 1], axis=-1)
        for layer in range(1, depth + 1):
            w = gen.standard_normal((s, n, n)) * (sw / math.sqrt(n))
            b = sb * gen.standard_normal((s, 1, n))
            h = np.matmul(act(x), w.transpose(0, 2, 1)) + b
            qs[start : start + s, layer] = np.mean(h * h, axis=(1, 2))
            x = _layer_norm(h)
            cs[start : start + s, layer] = np.mean(x[:, 0] * x[:, 1], axis=-1)
    se = np.std(cs, axis=0, ddof=1) / math.sqrt(n_seeds) if n_seeds > 1 else np.nan * cs[0]
    theory = layer_norm_propagate(act, sw, sb, depth, c0).c
    return LayerNormSimulation(cs, qs, cs.mean(0), se, np.asarray(theory), n, n_seeds)

"""Mean-field theory of residual networks: variance, correlation and gradient recursions.

This module holds the infinite-width recursions of residual networks
x^{l+1} = x^l + alpha F(x^l) (:func:`residual_propagate`), power-law fits of
their depth dynamics (:func:`residual_exponents`), the large-depth asymptotics
they are compared with (:func:`residual_asymptotics`), and a NumPy simulation of
finite residual networks, forward and backward (:func:`simulate_residual`).

Two residual branches F are covered (docs/theory/residual.rst):

- ``block="reduced"``: F(x) = W phi(x) + b, Yang & Schoenholz's (2017) *reduced*
  residual network, also the block of Hayou et al. (2021), *Stable ResNet*;
- ``block="full"``: F(x) = W2 phi(W1 x + b1) + b2, Yang & Schoenholz's (2017)
  *full* residual network (their V, b, W, a are ``sigma_w_inner``,
  ``sigma_b_inner``, ``sigma_w``, ``sigma_b`` here).

Conventions: ``sigma_w`` and ``sigma_b`` are standard deviations; weights are
N(0, sigma_w^2 / fan_in), biases N(0, sigma_b^2). The skip connection and the
branch are uncorrelated (W has mean zero and is independent of x^l), so
variances and covariances add:

    q^{l+1} = q^l + alpha^2 (sigma_b^2 + sigma_w^2 E[phi(u)^2])
    k^{l+1} = k^l + alpha^2 (sigma_b^2 + sigma_w^2 E[phi(u) phi(v)])

with (u, v) the Gaussian pair of the branch's pre-activations: of covariances
(q_a, q_b, k) for the reduced block, (s1^2 q_a + t1^2, s1^2 q_b + t1^2,
s1^2 k + t1^2) for the full block (s1, t1 = ``sigma_w_inner``,
``sigma_b_inner``). Backwards (under the usual gradient-independence
assumption), E|dE/dx^l|^2 = E|dE/dx^{l+1}|^2 (1 + alpha^2 sigma_w^2 s^2 E[phi'(u)^2]),
with s = 1 (reduced) or ``sigma_w_inner`` (full).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import _core
from .._optional import need
from .._tables import tabular
from .._validation import (
    as_float_array,
    broadcast_flat,
    check_finite,
    correlation,
    generator,
    nonnegative_int,
    positive_int,
    resolve_n_threads,
    scalar_or_array,
    scalar_sigma,
    short,
    variance,
)
from ..theory.activations import Activation, resolve

__all__ = [
    "ALPHA_DEPTH",
    "BLOCKS",
    "ResidualAsymptotics",
    "ResidualExponents",
    "ResidualPropagation",
    "residual_asymptotics",
    "residual_exponents",
    "residual_propagate",
    "simulate_residual",
]

#: The residual branches: one layer (``reduced``) or two (``full``).
BLOCKS = ("reduced", "full")
#: ``alpha=ALPHA_DEPTH`` scales the branches by 1 / sqrt(depth) (Hayou et al. 2021).
ALPHA_DEPTH = "1/sqrt(depth)"
#: Memory bound: residual_propagate's (depth + 1) x n outputs hold at most this many values each.
MAX_RESIDUAL_CELLS = 50_000_000


def _block(block) -> str:
    if not isinstance(block, str) or block not in BLOCKS:
        raise ValueError(f"block must be 'reduced' or 'full', got {block!r}")
    return block


def _alpha(alpha, depth: int) -> float:
    """The branch scale: a finite float >= 0, or 1 / sqrt(depth) for ``ALPHA_DEPTH``."""
    if isinstance(alpha, str):
        if alpha.replace(" ", "") != ALPHA_DEPTH:
            raise ValueError(f"alpha must be a number >= 0 or {ALPHA_DEPTH!r}, got {alpha!r}")
        return 1.0 / math.sqrt(max(depth, 1))
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(
        alpha, (int, float, np.integer, np.floating)
    ):
        raise ValueError(f"alpha must be a number >= 0 or {ALPHA_DEPTH!r}, got {alpha!r}")
    a = float(alpha)
    if not math.isfinite(a) or a < 0:
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    return a


def _sigmas(sigma_w, sigma_b, sigma_w_inner, sigma_b_inner, block):
    sw = scalar_sigma(sigma_w, "sigma_w")
    sb = scalar_sigma(sigma_b, "sigma_b")
    if block == "reduced":
        if sigma_w_inner is not None or sigma_b_inner is not None:
            raise ValueError(
                "sigma_w_inner and sigma_b_inner belong to block='full', got them with "
                "block='reduced'"
            )
        return sw, sb, 1.0, 0.0
    s1 = sw if sigma_w_inner is None else scalar_sigma(sigma_w_inner, "sigma_w_inner")
    t1 = sb if sigma_b_inner is None else scalar_sigma(sigma_b_inner, "sigma_b_inner")
    return sw, sb, s1, t1


@tabular(leading="layer")
@dataclass(frozen=True)
class ResidualPropagation:
    """Layer-by-layer variances, covariance, correlation and gradients of a residual network.

    Index l = 0 holds the input to the first block (x^0); index l holds x^l,
    the stream after l residual blocks.

    Attributes
    ----------
    q, q_b : ndarray, shape (depth + 1, ...)
        Variances E[(x^l_i)^2] of the first and second input (``inf`` once they
        overflow; the other fields are NaN there).
    k : ndarray, shape (depth + 1, ...)
        Covariance E[x^l_i(a) x^l_i(b)] of the two inputs.
    c : ndarray, shape (depth + 1, ...)
        Correlation k / sqrt(q q_b) (1 where both variances are 0).
    grad_factor : ndarray, shape (depth + 1, ...)
        E|dE/dx^l|^2 / E|dE/dx^{l+1}|^2 = 1 + alpha^2 sigma_w^2 s^2 E[phi'(u^l)^2]
        for the first input (NaN at l = depth).
    grad_sq : ndarray, shape (depth + 1, ...)
        E|dE/dx^l|^2 / E|dE/dx^depth|^2: the gradient at x^l relative to the
        output (1 at l = depth).
    grad_growth : ndarray, shape (depth + 1, ...)
        prod_{j < l} grad_factor[j]: the gradient growth input/output of the
        first l blocks alone (1 at l = 0); with a fixed ``alpha`` that of a
        network of depth l.
    alpha : float
        The branch scale used.
    block : str
        ``"reduced"`` or ``"full"``.

    ``to_dataset()`` / ``to_dataframe()`` give the arrays over (layer, cell).
    """

    q: np.ndarray
    q_b: np.ndarray
    k: np.ndarray
    c: np.ndarray
    grad_factor: np.ndarray
    grad_sq: np.ndarray
    grad_growth: np.ndarray
    alpha: float
    block: str


def residual_propagate(
    activation: str | Activation,
    sigma_w,
    sigma_b,
    depth: int,
    q0,
    c0=1.0,
    q0_b=None,
    *,
    block: str = "reduced",
    alpha: float | str = 1.0,
    sigma_w_inner=None,
    sigma_b_inner=None,
    n_threads: int | None = None,
) -> ResidualPropagation:
    """Propagate two inputs through ``depth`` residual blocks x^{l+1} = x^l + alpha F(x^l).

    With u = branch pre-activation of x^l (x^l itself for the reduced block,
    W1 x^l + b1 for the full one):

        q^{l+1} = q^l + alpha^2 (sigma_b^2 + sigma_w^2 E[phi(u_a)^2])
        k^{l+1} = k^l + alpha^2 (sigma_b^2 + sigma_w^2 E[phi(u_a) phi(u_b)])

    (Yang & Schoenholz 2017, the forward recursions of their reduced and full
    residual networks), evaluated with sigprop's exact variance and covariance
    maps. The gradient factor per block is 1 + alpha^2 sigma_w^2 s^2 E[phi'(u_a)^2].

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    sigma_w, sigma_b : float
        Standard deviations of the (last) weight and bias of the branch.
    depth : int
        Number of residual blocks (>= 0).
    q0 : array_like
        Variance of the first input x^0, >= 0.
    c0 : array_like
        Correlation of the two inputs at l = 0, in [-1, 1].
    q0_b : array_like, optional
        Variance of the second input (default: ``q0``).
    block : {"reduced", "full"}
        F(x) = W phi(x) + b, or F(x) = W phi(W1 x + b1) + b.
    alpha : float or "1/sqrt(depth)"
        Scale of the branch, >= 0; ``"1/sqrt(depth)"`` is the scaling of
        Hayou et al. (2021).
    sigma_w_inner, sigma_b_inner : float, optional
        Standard deviations of W1 and b1 of the full block (default: ``sigma_w``,
        ``sigma_b``).
    n_threads : int or None

    Returns
    -------
    ResidualPropagation

    Examples
    --------
    ReLU with alpha = 1 grows geometrically, q^l = q^0 (1 + sigma_w^2 / 2)^l:

    >>> from sigprop.architectures.residual import residual_propagate
    >>> r = residual_propagate("relu", 1.0, 0.0, 4, 1.0)
    >>> [round(float(v), 4) for v in r.q]
    [1.0, 1.5, 2.25, 3.375, 5.0625]

    With alpha = 1 / sqrt(L) the variance stays bounded: q^L -> q^0 e^{sigma_w^2 / 2}.

    >>> r = residual_propagate("relu", 1.0, 0.0, 1000, 1.0, alpha="1/sqrt(depth)")
    >>> round(float(r.q[-1]), 4), round(float(r.grad_sq[0]), 4)
    (1.6485, 1.6485)
    """
    depth = nonnegative_int(depth, "depth")
    block = _block(block)
    a = _alpha(alpha, depth)
    sw, sb, s1, t1 = _sigmas(sigma_w, sigma_b, sigma_w_inner, sigma_b_inner, block)
    act = resolve(activation)
    qa = variance(q0, "q0")
    qb = qa if q0_b is None else variance(q0_b, "q0_b")
    shape, (qa, qb, cc) = broadcast_flat(qa, qb, correlation(c0, "c0"))
    n = qa.size
    if (depth + 1) * n > MAX_RESIDUAL_CELLS:
        raise ValueError(
            f"depth must keep (depth + 1) x {n} inputs <= {MAX_RESIDUAL_CELLS} "
            f"(memory bound), got depth = {short(depth)}"
        )
    nt = resolve_n_threads(n_threads)
    p0, p1 = act.core_params
    a2 = a * a
    Q = np.full((depth + 1, n), np.inf)
    QB = np.full((depth + 1, n), np.inf)
    K = np.full((depth + 1, n), np.nan)
    G = np.full((depth + 1, n), np.nan)
    Q[0], QB[0] = qa, qb
    K[0] = cc * np.sqrt(qa * qb)
    same = (qa == qb) & (cc == 1.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for layer in range(depth):
            ok = np.isfinite(Q[layer]) & np.isfinite(QB[layer]) & np.isfinite(K[layer])
            if not ok.any():
                break
            qa_l, qb_l, k_l = Q[layer, ok], QB[layer, ok], K[layer, ok]
            # the branch's pre-activations (u_a, u_b): variances, covariance, correlation
            ua, ub = s1 * s1 * qa_l + t1 * t1, s1 * s1 * qb_l + t1 * t1
            kuv = s1 * s1 * k_l + t1 * t1
            den = np.sqrt(ua) * np.sqrt(ub)
            cuv = np.clip(np.where(den > 0, kuv / den, 1.0), -1.0, 1.0)
            m = int(ok.sum())
            swv, sbv = np.full(m, sw), np.full(m, sb)
            va, _, chi_a = _core.qmap(act.kind, p0, p1, ua, swv, sbv, nt)
            vb = va if q0_b is None else _core.qmap(act.kind, p0, p1, ub, swv, sbv, nt)[0]
            # equal inputs (c = 1, equal variances) stay equal, with covariance V(q):
            # skip the 2-d map (slow next to c = 1)
            cov = va.copy()
            pair = ~same[ok]
            if pair.any():
                cov[pair] = _core.covmap(
                    act.kind, p0, p1, ua[pair], ub[pair], cuv[pair], swv[pair], sbv[pair], False, nt
                )[0]
            Q[layer + 1, ok] = qa_l + a2 * va
            QB[layer + 1, ok] = qb_l + a2 * vb
            K[layer + 1, ok] = k_l + a2 * cov
            G[layer, ok] = 1.0 + a2 * s1 * s1 * chi_a
        fin = np.isfinite(Q) & np.isfinite(QB)
        Q = np.where(np.isnan(Q), np.inf, Q)
        QB = np.where(np.isnan(QB), np.inf, QB)
        K = np.where(fin, K, np.nan)
        den = np.sqrt(Q) * np.sqrt(QB)
        C = np.where(den > 0, K / den, 1.0)
        C = np.where(fin, np.clip(np.where(same, 1.0, C), -1.0, 1.0), np.nan)
        growth = np.ones((depth + 1, n))
        if depth:
            growth[1:] = np.cumprod(G[:-1], axis=0)
        grad_sq = growth[-1] / growth
    full = (depth + 1, *shape)
    return ResidualPropagation(
        Q.reshape(full),
        QB.reshape(full),
        K.reshape(full),
        C.reshape(full),
        G.reshape(full),
        grad_sq.reshape(full),
        growth.reshape(full),
        a,
        block,
    )


def _slope(x: np.ndarray, y: np.ndarray, correction: np.ndarray | None = None) -> np.ndarray:
    """Least-squares slope of y (rows: points, columns: cells) against x, NaN if not finite.

    With ``correction``, y is fitted by a + slope x + b correction (a finite-depth term).
    """
    cols = [np.ones_like(x), x] + ([] if correction is None else [correction])
    A = np.stack(cols, axis=1)
    good = np.all(np.isfinite(y), axis=0)
    out = np.full(y.shape[1], np.nan)
    if good.any():
        coef = np.linalg.lstsq(A, y[:, good], rcond=None)[0]
        out[good] = coef[1]
    return out


@tabular()
@dataclass(frozen=True)
class ResidualExponents:
    """Power-law (and exponential) rates of a residual network's depth dynamics.

    Fitted by least squares over the last decade of layers, l in [depth / 10, depth];
    the power laws with a finite-depth correction term: log y = a + p log l + b / sqrt(l)
    (the order of the leading correction for saturating activations, where
    E[phi(sqrt(q) Z)^2] = 1 - O(q^{-1/2})).

    Attributes
    ----------
    q_exponent : ndarray
        p in q^l ~ l^p (slope of log q against log l): 1 for tanh-like activations;
        it grows with depth where q grows exponentially (relu).
    q_rate : ndarray
        d log q^l / dl: log(1 + sigma_w^2 / 2) for relu, -> 0 for polynomial growth.
    c_limit : ndarray
        c^depth, the last correlation.
    c_exponent : ndarray
        delta in ``|c^l - c^inf| ~ l^{-delta}``, from ``|c^{l+1} - c^l| ~ l^{-(delta + 1)}``.
    grad_exponent : ndarray
        beta in log grad_growth^l ~ l^beta: 1/2 for tanh-like (gradient growth
        exp(Theta(sqrt l))), 1 for exponential growth.
    grad_rate : ndarray
        d log grad_growth^l / dl: log(1 + sigma_w^2 / 2) for relu.
    grad_constant : ndarray
        a in log grad_growth^l = a sqrt(l) + b log l + const (fitted; meaningful
        where beta = 1/2, e.g. tanh).
    """

    q_exponent: np.ndarray
    q_rate: np.ndarray
    c_limit: np.ndarray
    c_exponent: np.ndarray
    grad_exponent: np.ndarray
    grad_rate: np.ndarray
    grad_constant: np.ndarray


def residual_exponents(
    activation: str | Activation,
    sigma_w,
    sigma_b,
    depth: int,
    q0=1.0,
    c0=0.0,
    *,
    block: str = "reduced",
    alpha: float = 1.0,
    sigma_w_inner=None,
    sigma_b_inner=None,
    n_threads: int | None = None,
) -> ResidualExponents:
    """Fit the depth exponents of :func:`residual_propagate` over its last decade of layers.

    Parameters as in :func:`residual_propagate` (``depth`` >= 20); ``alpha``
    must be a number here (fits over depth need a fixed branch scale).

    Returns
    -------
    ResidualExponents
        Arrays of the broadcast shape of ``q0`` and ``c0`` (NumPy scalars for
        scalars); NaN where q overflowed inside the fitted range.

    Examples
    --------
    tanh: q^l ~ l, c^l -> c* = 0 like l^{-(1 - 2/pi)} = l^{-0.363}, gradients grow
    like exp(Theta(sqrt l)); at depth 500 the fits are still a little off these asymptotes:

    >>> from sigprop.architectures.residual import residual_exponents
    >>> e = residual_exponents("tanh", 1.0, 0.0, 500, c0=0.5)
    >>> [round(float(v), 2) for v in (e.q_exponent, e.c_exponent, e.grad_exponent)]
    [1.01, 0.41, 0.52]
    """
    depth = nonnegative_int(depth, "depth")
    if depth < 20:
        raise ValueError(f"depth must be >= 20 for a fit over its last decade, got {depth}")
    if isinstance(alpha, str):
        raise ValueError(f"alpha must be a number >= 0 for residual_exponents, got {alpha!r}")
    r = residual_propagate(
        activation,
        sigma_w,
        sigma_b,
        depth,
        q0,
        c0,
        block=block,
        alpha=alpha,
        sigma_w_inner=sigma_w_inner,
        sigma_b_inner=sigma_b_inner,
        n_threads=n_threads,
    )
    shape = np.shape(r.q)[1:]
    L = depth
    lo = max(1, L // 10)
    layers = np.arange(lo, L + 1, dtype=float)
    q = r.q.reshape(L + 1, -1)[lo:]
    c = r.c.reshape(L + 1, -1)
    g = r.grad_growth.reshape(L + 1, -1)[lo:]
    with np.errstate(divide="ignore", invalid="ignore"):
        logq = np.log(q)
        q_exp = _slope(np.log(layers), logq, layers**-0.5)
        q_rate = _slope(layers, logq)
        dc = np.abs(np.diff(c, axis=0))[lo:]  # |c^{l+1} - c^l| for l in [lo, L)
        dlog = np.log(np.where(dc > 0, dc, np.nan))
        mid = layers[:-1] + 0.5
        c_exp = -_slope(np.log(mid), dlog, mid**-0.5) - 1.0
        logg = np.log(g)
        loglogg = np.log(np.where(logg > 0, logg, np.nan))
        g_exp = _slope(np.log(layers), loglogg)
        g_rate = _slope(layers, logg)
        g_const = _slope(np.sqrt(layers), logg, np.log(layers))
    out = [q_exp, q_rate, c[-1], c_exp, g_exp, g_rate, g_const]
    scalar = len(shape) == 0
    return ResidualExponents(*(scalar_or_array(np.asarray(v).reshape(shape), scalar) for v in out))


@tabular()
@dataclass(frozen=True)
class ResidualAsymptotics:
    """Large-depth asymptotics of a residual network with alpha = 1 (derivations: docs).

    Attributes
    ----------
    kind : str
        ``"saturating"`` (odd, phi(x) -> +-1 as x -> +-inf fast enough that
        int (1 - phi^2) dx is finite: tanh, erf ...) or ``"relu"``.
    q_slope : float
        q^l / l -> q_slope (saturating), NaN for relu.
    q_rate : float
        log q^{l+1} / q^l -> q_rate: 0 (saturating), log(1 + sigma_w^2 s^2 / 2) (relu).
    c_star : float
        lim c^l: the stable fixed point of g(c) = (sigma_w^2 (2/pi) arcsin c + sigma_b^2)
        / (sigma_w^2 + sigma_b^2) (saturating); 1 (relu).
    c_delta : float
        1 - g'(c*), the exponent of the linearised sign-kernel recursion
        c^{l+1} - c^l = (g(c^l) - c^l) / l (saturating); 2 (relu).
    c_exponent : float
        Asymptotic delta in ``|c^l - c*| ~ l^{-delta}``: ``c_delta`` where c* = 0 (sigma_b = 0),
        min(c_delta, 1/2) otherwise (the variance's O(l^{-1/2}) correction moves the
        fixed point by O(l^{-1/2})); 2 (relu).
    c_constant : float
        A in 1 - c^l ~ A / l^2 (relu): 9 pi^2 / (2 r^2), r = sigma_w^2 / (2 + sigma_w^2);
        NaN for saturating activations.
    grad_exponent : float
        beta in log grad_growth^l ~ l^beta: 1/2 (saturating), 1 (relu).
    grad_constant : float
        log grad_growth^l ~ grad_constant sqrt(l) (saturating):
        2 sigma_w^2 s^2 I / sqrt(2 pi s^2 q_slope), I = int phi'(x)^2 dx,
        s = 1 (reduced) or ``sigma_w_inner`` (full); for relu, the rate
        log(1 + sigma_w^2 s^2 / 2).
    """

    kind: str
    q_slope: float
    q_rate: float
    c_star: float
    c_delta: float
    c_exponent: float
    c_constant: float
    grad_exponent: float
    grad_constant: float


def residual_asymptotics(
    activation: str | Activation,
    sigma_w,
    sigma_b,
    *,
    block: str = "reduced",
    sigma_w_inner=None,
    sigma_b_inner=None,
) -> ResidualAsymptotics:
    """Predicted large-depth rates of q^l, c^l and the gradients for alpha = 1.

    Two classes of activations (others raise ValueError): odd ones saturating at
    +-1 (tanh, erf, ...; checked numerically), for which q^l grows
    linearly, c^l converges polynomially to a fixed point c* < 1 of the
    sign-kernel map and gradients grow like exp(Theta(sqrt l)), in line with
    Yang & Schoenholz (2017) for tanh; and relu, for which q^l and the
    gradients grow geometrically and 1 - c^l ~ A / l^2. The derivations (leading
    order in 1 / q for large q) are in docs/theory/residual.rst. The inner
    bias of the full block does not enter at leading order.

    Parameters
    ----------
    activation : str, Activation or callable
    sigma_w, sigma_b : float
    block : {"reduced", "full"}
    sigma_w_inner, sigma_b_inner : float, optional
        As in :func:`residual_propagate`.

    Returns
    -------
    ResidualAsymptotics

    Examples
    --------
    >>> from sigprop.architectures.residual import residual_asymptotics
    >>> a = residual_asymptotics("tanh", 1.0, 0.0)
    >>> round(a.c_star, 6), round(a.c_exponent, 4), round(a.grad_constant, 4)
    (0.0, 0.3634, 1.0638)
    """
    block = _block(block)
    sw, sb, s1, _ = _sigmas(sigma_w, sigma_b, sigma_w_inner, sigma_b_inner, block)
    act = resolve(activation)
    if act.name in ("relu",) and not act.params:
        rho = 1.0 + sw * sw * s1 * s1 / 2.0
        r = (sw * sw * s1 * s1 / 2.0) / rho
        A = 9.0 * math.pi**2 / (2.0 * r * r) if r > 0 else math.inf
        rate = math.log(rho)
        return ResidualAsymptotics("relu", math.nan, rate, 1.0, 2.0, 2.0, A, 1.0, rate)
    xs = np.array([-60.0, -40.0, 40.0, 60.0])
    ys = np.asarray(act(xs), dtype=float)
    odd = np.array([0.3, 1.0, 2.5])
    if not np.allclose(ys, [-1, -1, 1, 1], atol=1e-6) or not np.allclose(
        np.asarray(act(odd)) + np.asarray(act(-odd)), 0.0, atol=1e-12
    ):
        raise ValueError(
            f"activation must be relu or odd and saturating at +-1 (tanh, erf ...), got {act}"
        )
    s = sw * sw + sb * sb
    if s == 0:
        raise ValueError("sigma_w and sigma_b must not both be 0")

    def g(c):
        return (sw * sw * (2.0 / math.pi) * math.asin(c) + sb * sb) / s

    # g(c) - c > 0 at c = 0 (or = 0 for sigma_b = 0), < 0 just below 1: one stable root in [0, 1)
    if sb == 0:
        c_star = 0.0
    else:
        c_star = _bisect(lambda c: g(c) - c, 0.0, _below_one(g))
    gp = sw * sw / s * 2.0 / (math.pi * math.sqrt(1.0 - c_star * c_star))
    integral = _integral_dphi_sq(act)
    gc = 2.0 * sw * sw * s1 * s1 * integral / math.sqrt(2.0 * math.pi * s1 * s1 * s)
    delta = 1.0 - gp
    c_exp = delta if c_star == 0.0 else min(delta, 0.5)
    return ResidualAsymptotics("saturating", s, 0.0, c_star, delta, c_exp, math.nan, 0.5, gc)


def _bisect(h, lo: float, hi: float) -> float:
    """The root of h on [lo, hi] (h(lo) >= 0 > h(hi)) by bisection, to the last bit."""
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if not lo < mid < hi:
            break
        if h(mid) >= 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _integral_dphi_sq(act: Activation) -> float:
    """int phi'(x)^2 dx over the real line for a saturating phi (phi' decays at least
    exponentially: tanh, erf): Gauss-Legendre, 20 points on panels of width 1/4 on
    [-60, 60], split at the kinks of phi."""
    edges = set(np.arange(-60.0, 60.0 + 0.125, 0.25).tolist())
    edges.update(k for k, _ in act.kinks if abs(k) < 60)
    e = np.array(sorted(edges))
    x, w = np.polynomial.legendre.leggauss(20)
    mid, half = 0.5 * (e[1:] + e[:-1]), 0.5 * (e[1:] - e[:-1])
    z = (mid[:, None] + half[:, None] * x[None, :]).ravel()
    wq = (half[:, None] * w[None, :]).ravel()
    return float(np.sum(wq * np.asarray(act(z, 1), dtype=float) ** 2))


def _below_one(g) -> float:
    """A point c < 1 with g(c) < c (exists since g'(1) = inf)."""
    eps = 1e-3
    while g(1.0 - eps) >= 1.0 - eps:
        eps *= 0.1
    return 1.0 - eps


def simulate_residual(
    activation: str | Activation,
    sigma_w: float,
    sigma_b: float,
    inputs,
    *,
    width: int,
    depth: int,
    block: str = "reduced",
    alpha: float | str = 1.0,
    sigma_w_inner=None,
    sigma_b_inner=None,
    n_seeds: int = 10,
    rng=None,
    theory: bool = True,
):
    """Simulate finite residual networks, forward and backward, beside the mean-field theory.

    Each seed draws a network: an input layer x^0 = W0 x + b0 (W0 ~
    N(0, sigma_w^2 / d), b0 ~ N(0, sigma_b^2)) into ``width`` units, then
    ``depth`` residual blocks x^{l+1} = x^l + alpha F(x^l) of that width, and a
    readout v ~ N(0, 1 / width) whose output v.x^L is backpropagated.

    Parameters
    ----------
    activation : str, Activation or callable
    sigma_w, sigma_b : float
        Standard deviations (weights N(0, sigma_w^2 / fan_in), biases N(0, sigma_b^2)).
    inputs : array_like, shape (batch, d)
    width, depth : int
    block : {"reduced", "full"}
    alpha : float or "1/sqrt(depth)"
    sigma_w_inner, sigma_b_inner : float, optional
        W1, b1 of the full block (default ``sigma_w``, ``sigma_b``).
    n_seeds : int
        Number of independent networks.
    rng : numpy.random.Generator, int or None
    theory : bool
        Add :func:`residual_propagate` from the exact q^0, c^0 of the input layer.

    Returns
    -------
    xarray.Dataset
        Dimensions ``seed``, ``layer`` (0..depth), ``input``, ``pair`` (with
        coordinates ``pair_a`` < ``pair_b``). Variables ``q`` (``|x^l|^2 / width``),
        ``c`` (``x^l_a.x^l_b / |x^l_a| |x^l_b|``) and ``grad_sq``
        (``|dE/dx^l|^2 / |dE/dx^depth|^2``, per input) over seeds, with ``_mean`` and ``_se``
        (std over seeds, ddof=1, / sqrt(n_seeds)); with theory ``q_theory``,
        ``c_theory``, ``grad_sq_theory``.

    Examples
    --------
    >>> import numpy as np
    >>> from sigprop.architectures.residual import simulate_residual
    >>> X = np.array([[1.0, 0.0], [0.6, 0.8]]) * np.sqrt(2)
    >>> ds = simulate_residual("tanh", 1.0, 0.1, X, width=128, depth=5, n_seeds=4, rng=0)
    >>> bool(abs(ds.q_mean[-1, 0] - ds.q_theory[-1, 0]) < 5 * ds.q_se[-1, 0] + 1e-2)
    True
    """
    xr = need("xarray", "simulate_residual()")
    block = _block(block)
    depth = positive_int(depth, "depth")
    width = positive_int(width, "width")
    n_seeds = positive_int(n_seeds, "n_seeds")
    a = _alpha(alpha, depth)
    sw, sb, s1, t1 = _sigmas(sigma_w, sigma_b, sigma_w_inner, sigma_b_inner, block)
    act = resolve(activation)
    X = as_float_array(inputs, "inputs")
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"inputs must be a non-empty 2-d array (batch, d), got shape {X.shape}")
    check_finite(X, "inputs")
    gen = generator(rng)
    B, d = X.shape
    N = width
    ia, ib = np.triu_indices(B, 1)
    qs = np.empty((n_seeds, depth + 1, B))
    cs = np.empty((n_seeds, depth + 1, ia.size))
    gs = np.empty((n_seeds, depth + 1, B))
    sN = 1.0 / math.sqrt(N)
    for s in range(n_seeds):
        h = (sw / math.sqrt(d)) * gen.standard_normal((N, d)) @ X.T + sb * gen.standard_normal(
            (N, 1)
        )
        xs = [h]
        cache = []
        for _ in range(depth):
            W = sw * sN * gen.standard_normal((N, N))
            b = sb * gen.standard_normal((N, 1))
            if block == "reduced":
                u, W1 = h, None
            else:
                W1 = s1 * sN * gen.standard_normal((N, N))
                u = W1 @ h + t1 * gen.standard_normal((N, 1))
            h = h + a * (W @ act(u) + b)
            cache.append((W, W1, u))
            xs.append(h)
        v = sN * gen.standard_normal((N, 1))
        delta = np.repeat(v, B, axis=1)
        gsq = [np.sum(delta * delta, axis=0)]
        for W, W1, u in reversed(cache):
            back = act(u, 1) * (W.T @ delta)
            if W1 is not None:
                back = W1.T @ back
            delta = delta + a * back
            gsq.append(np.sum(delta * delta, axis=0))
        gsq = np.array(gsq[::-1])
        gs[s] = gsq / gsq[-1]
        for layer, x in enumerate(xs):
            Kx = x.T @ x / N
            dq = np.diag(Kx)
            qs[s, layer] = dq
            cs[s, layer] = Kx[ia, ib] / np.sqrt(dq[ia] * dq[ib])

    def se(arr):
        return (
            arr.std(0, ddof=1) / math.sqrt(n_seeds)
            if n_seeds > 1
            else np.full(arr.shape[1:], np.nan)
        )

    data = {}
    for name, arr, dim in (("q", qs, "input"), ("c", cs, "pair"), ("grad_sq", gs, "input")):
        data[name] = (("seed", "layer", dim), arr)
        data[f"{name}_mean"] = (("layer", dim), arr.mean(0))
        data[f"{name}_se"] = (("layer", dim), se(arr))
    if theory:
        k1 = sb * sb + sw * sw * (X @ X.T) / d
        q1 = np.diag(k1).copy()
        th_in = residual_propagate(
            act, sw, sb, depth, q1, block=block, alpha=a,
            sigma_w_inner=sigma_w_inner, sigma_b_inner=sigma_b_inner,
        )  # fmt: skip
        data["q_theory"] = (("layer", "input"), th_in.q)
        data["grad_sq_theory"] = (("layer", "input"), th_in.grad_sq)
        if ia.size:
            c1 = np.clip(k1[ia, ib] / np.sqrt(q1[ia] * q1[ib]), -1.0, 1.0)
            th = residual_propagate(
                act, sw, sb, depth, q1[ia], c1, q1[ib], block=block, alpha=a,
                sigma_w_inner=sigma_w_inner, sigma_b_inner=sigma_b_inner,
            )  # fmt: skip
            data["c_theory"] = (("layer", "pair"), th.c)
        else:
            data["c_theory"] = (("layer", "pair"), np.empty((depth + 1, 0)))
    coords = {
        "seed": np.arange(n_seeds),
        "layer": np.arange(depth + 1),
        "input": np.arange(B),
        "pair": np.arange(ia.size),
        "pair_a": ("pair", ia),
        "pair_b": ("pair", ib),
    }
    attrs = {
        "activation": str(act),
        "sigma_w": sw,
        "sigma_b": sb,
        "sigma_w_inner": s1 if block == "full" else "",
        "sigma_b_inner": t1 if block == "full" else "",
        "block": block,
        "alpha": a,
        "width": N,
        "n_seeds": n_seeds,
        "conventions": (
            "x^0 = W0 x + b0; x^{l+1} = x^l + alpha F(x^l), F = W phi(x) + b (reduced) or "
            "W phi(W1 x + b1) + b (full); W ~ N(0, sigma^2/fan_in), b ~ N(0, sigma_b^2); "
            "q^l = |x^l|^2/width; grad_sq^l = |dE/dx^l|^2 / |dE/dx^L|^2 for E = v.x^L, "
            "v ~ N(0, 1/width); *_se = std over seeds (ddof=1) / sqrt(n_seeds)"
        ),
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)

"""Gaussian expectations of activations, computed by the compiled core.

Accuracy (tested against 30-digit mpmath references, see tests/): relative
error below 1e-12 for the one-dimensional moments of every built-in for q in
[1e-6, 1e4] (for odd activations, whose mean is 0, relative to ``E[|phi|]``); for
the bivariate expectations, error below 1e-10 relative to the Cauchy–Schwarz
scale sqrt(E[f(u)^2] E[f(v)^2]) for c in [-1, 1] and q in [1e-3, 1e2].
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from .. import _core
from .._tables import tabular
from .._validation import (
    correlation,
    correlation_scalar,
    int_choice,
    nonnegative_scalar,
    real_scalars,
    resolve_n_threads,
    scalar_or_array,
    variance,
)
from .activations import Activation, resolve

__all__ = ["AccuracyWarning", "Moments", "bivariate_expectation", "gaussian_moments"]


class AccuracyWarning(RuntimeWarning):
    """A computed value may miss its stated accuracy (a quadrature or series check failed)."""


@tabular()
class Moments(NamedTuple):
    """Gaussian moments of an activation at variance q (Z ~ N(0, 1)).

    Attributes
    ----------
    mean : E[phi(sqrt(q) Z)]
    phi_sq : E[phi(sqrt(q) Z)^2]
    dphi_sq : E[phi'(sqrt(q) Z)^2]
    d2phi_sq : E[phi''(sqrt(q) Z)^2]; ``inf`` when phi' jumps (phi'' has a Dirac mass)
    dV : d/dq E[phi(sqrt(q) Z)^2], including the contributions of the kinks of phi

    ``to_dataset()`` / ``to_dataframe()`` give them as a table, one row per q (in the order given).
    """

    mean: np.ndarray
    phi_sq: np.ndarray
    dphi_sq: np.ndarray
    d2phi_sq: np.ndarray
    dV: np.ndarray


def gaussian_moments(activation: str | Activation, q, *, n_threads: int | None = None) -> Moments:
    """One-dimensional Gaussian moments of ``activation`` at variance ``q``.

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
        A built-in activation (see :data:`sigprop.ACTIVATIONS`).
    q : array_like
        Pre-activation variance(s), finite and >= 0.
    n_threads : int or None
        OpenMP threads (None: all; negative: all but ``-n - 1``).

    Returns
    -------
    Moments
        Arrays of the shape of ``q`` (NumPy scalars for scalar ``q``).
    """
    act = resolve(activation)
    point = real_scalars(q)
    if point is not None:  # (one point: Python floats in and out)
        nonnegative_scalar(point[0], "q")
        if n_threads is not None:
            resolve_n_threads(n_threads)  # (checked as for arrays; one point, one thread)
        p0, p1 = act.core_params
        return Moments(*map(np.float64, _core.moments_point(act.kind, p0, p1, point[0])))
    qa = variance(q, "q")
    p0, p1 = act.core_params
    out = _core.moments(act.kind, p0, p1, qa.ravel(), resolve_n_threads(n_threads))
    scalar = qa.ndim == 0
    return Moments(*(scalar_or_array(o.reshape(qa.shape), scalar) for o in out))


def bivariate_expectation(
    activation: str | Activation,
    q1,
    q2,
    c,
    *,
    derivative: int = 0,
    n_threads: int | None = None,
):
    """E[f(u) f(v)] for a centred Gaussian pair, f = phi (derivative=0) or phi' (1).

    (u, v) has variances q1, q2 and correlation c: u = sqrt(q1) Z1,
    v = sqrt(q2) (c Z1 + sqrt(1 - c^2) Z2) with Z1, Z2 independent N(0, 1).
    Arguments broadcast against each other.

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    q1, q2 : array_like
        Variances, >= 0.
    c : array_like
        Correlation in [-1, 1].
    derivative : {0, 1}
        Expectation of phi(u) phi(v) (0) or of phi'(u) phi'(v) (1).
    n_threads : int or None

    Returns
    -------
    numpy.ndarray or numpy.float64

    Warns
    -----
    AccuracyWarning
        Where a quadrature (the fallback next to ``|c| = 1``) ended short of its
        tolerance.

    Notes
    -----
    Closed forms for linear, relu, leaky_relu, erf and sin; for hard_tanh,
    shifted_relu, soft_threshold, linear_floor, elu and selu closed forms through
    the bivariate normal distribution (Genz's algorithm; truncated moments,
    exponential tilting) wherever their own rounding-error estimate is below
    1e-13 of the scale below (1-3 microseconds; they defer in the far tails,
    e.g. shifted_relu at small q, and for elu/selu phi at small or large q).
    Thresholds (shifted_relu, soft_threshold) two standard deviations out by
    Price's theorem over the orthant density (Gauss-Laguerre, else adaptive
    quadrature; relative accuracy), and next to ``c = 1`` from ``c = 1`` (the
    one-point moments less the density's share on ``[c, 1]``, in closed form).
    hard_tanh, linear_floor (and, where the series fails, linear_region_tanh)
    where the smaller variance keeps its input in the
    region where phi(x) = x: Stein's lemma. For odd activations, sigmoid, silu,
    softplus and shifted_softplus, ``c < 0`` follows from ``|c|`` by an exact
    identity (the results are symmetric bit for bit). Otherwise the Mehler
    series sum_n a_n(q1) a_n(q2) c^n of the Hermite coefficients a_n of phi,
    tabulated in log q, truncated where the Cauchy-Schwarz / Parseval bound on the
    remainder is below 1e-13 of sqrt(E f(u)^2 E f(v)^2) (O'Donnell 2014, ch. 11;
    Daniely et al. 2016); for tanh, sigmoid, softplus, shifted_softplus and silu
    with one variance small (q <= 0.05 r^2), the series truncated by an a priori
    bound on that variance's Hermite tail (Parseval for the k-th derivative and
    Cauchy's estimate on the strip ``|Im z| <= r`` where phi is analytic), that
    variance's coefficients by Gauss-Hermite quadrature; for elu and selu at
    variances up to ~3, the exponential's Taylor series against the orthant
    moments of the bivariate normal (Stein's recursion); for softsign with the
    smaller variance below ~3e-3, conditioned on the other input, its power
    series' pieces ``x |x|^k`` smoothed in closed form (truncated normal moments).
    For tanh, sigmoid, softplus, shifted_softplus and silu next to ``c = 1`` with
    variances within 10 % in scale (from q = 1 for tanh, 4 for sigmoid, 10 for the
    others), first the Taylor series in the covariance from ``c = 1``: by Price's
    theorem (Price 1958) its k-th coefficient is E[f^(k)(u) f^(k)(v)] at ``c = 1``, a
    one-dimensional integral, and its remainder is bounded by Cauchy-Schwarz
    through the integrals of f^(k)^2 (served where 1 - c is below ~0.05 / q).
    Next to ``|c| = 1``, where the series does not certify, for tanh, sigmoid,
    softplus, shifted_softplus, silu and linear_region_tanh the activation split
    into sign or relu and a remainder that decays exponentially, the skeleton's
    Gaussian smoothing in closed form and the remainder's on Gauss-Laguerre rules
    (or, where the conditional spread sqrt(q2 (1 - c^2)) is narrow, the whole
    activation's on Gauss-Hermite rules, split at linear_region_tanh's kinks);
    for softsign the same conditioning in logarithmic coordinates, ``log(1 + |y|)``,
    on Gauss-Legendre panels (25-700 microseconds); else the nested Gaussian
    quadrature split at every kink (3-15 milliseconds). Accuracy: within 1e-10
    of that scale over
    q1, q2 in [1e-6, 1e4] and c in [-1, 1] (tested against 30-digit mpmath).
    For activations without a closed-form Gaussian smoothing (tanh, sigmoid,
    softplus, silu, softsign, linear_region_tanh, user-defined ones) a point
    that needs the quadrature at q1 or q2 above 1e14 is NaN with an
    AccuracyWarning instead of tens of seconds of quadrature.
    Throughput (one thread): ~1e7 per second at fixed (q1, q2); ~1e6 per second
    when every point has new variances (each needs its coefficients
    interpolated), less where points next to ``|c| = 1`` at large q take the
    forms above or the quadrature (over q1, q2 log-uniform in [1e-6, 1e4] and
    c uniform: 1.0-1.4e6 per second for tanh, sigmoid, softplus,
    shifted_softplus, silu and linear_region_tanh, 0.7-1.2e6 for elu, selu and
    softsign; next to the diagonal, 6-9e5 for tanh, sigmoid, softplus,
    shifted_softplus and silu, 0.9-5e5 for the other activations without a
    closed form: ``benchmarks/two_point_report.py``'s pairs). A call with
    Python numbers goes to the core's one-point function: ~4 microseconds,
    against ~25 with one-element arrays (``benchmarks/scalar_calls.py``).
    """
    act = resolve(activation)
    derivative = int_choice(derivative, "derivative", (0, 1))
    point = real_scalars(q1, q2, c)
    if point is not None:  # (one point: Python floats in and out)
        x1, x2, xc = point
        nonnegative_scalar(x1, "q1")
        nonnegative_scalar(x2, "q2")
        correlation_scalar(xc)
        if n_threads is not None:
            resolve_n_threads(n_threads)  # (checked as for arrays; one point, one thread)
        p0, p1 = act.core_params
        value, short = _core.bivariate_point(act.kind, p0, p1, derivative, x1, x2, xc)
        if short:
            _warn_short(act, 1, 1)
        return np.float64(value)
    a1, a2, ac = np.broadcast_arrays(variance(q1, "q1"), variance(q2, "q2"), correlation(c))
    p0, p1 = act.core_params
    out, flags = _core.bivariate(
        act.kind,
        p0,
        p1,
        int(derivative),
        np.ascontiguousarray(a1).ravel(),
        np.ascontiguousarray(a2).ravel(),
        np.ascontiguousarray(ac).ravel(),
        resolve_n_threads(n_threads),
    )
    n_short = int(np.count_nonzero(flags))
    if n_short:
        _warn_short(act, n_short, flags.size)
    return scalar_or_array(out.reshape(a1.shape), a1.ndim == 0)


def _warn_short(act: Activation, n_short: int, size: int) -> None:
    # (stacklevel 3: the caller of bivariate_expectation)
    warnings.warn(
        f"bivariate_expectation({act}): the quadrature ended short of its tolerance "
        f"at {n_short} of {size} points (values there are its best estimates, "
        "NaN where far from converged)",
        AccuracyWarning,
        stacklevel=3,
    )

"""The mean-field maps of one layer: variance map, its slope, chi1, covariance and correlation maps.

Conventions: ``sigma_w`` and ``sigma_b`` are standard deviations. A layer is
y = W phi(x) + b with W_ij ~ N(0, sigma_w^2 / fan_in) and b_i ~ N(0, sigma_b^2);
names ending in ``_sq`` are variances. ``q`` is the variance of a
pre-activation, ``c`` the correlation of two pre-activations.

    V(q)   = sigma_b^2 + sigma_w^2 E[phi(sqrt(q) Z)^2]           (variance map)
    chi1   = sigma_w^2 E[phi'(sqrt(q) Z)^2]
    f(c)   = (sigma_b^2 + sigma_w^2 E[phi(u) phi(v)]) / q         (correlation map)
    chi_c  = f'(c) = sigma_w^2 E[phi'(u) phi'(v)]
"""

from __future__ import annotations

import numpy as np

from .. import _core
from .._validation import (
    broadcast_flat,
    correlation,
    correlation_scalar,
    nonnegative_scalar,
    real_scalars,
    resolve_n_threads,
    scalar_or_array,
    sigma,
    variance,
)
from .activations import Activation, resolve

__all__ = ["chi1", "cmap", "covmap", "qmap", "qmap_slope"]


def _qmap_all(activation, q, sigma_w, sigma_b, n_threads):
    act = resolve(activation)
    point = real_scalars(q, sigma_w, sigma_b)
    if point is not None:  # (one point: Python floats in and out)
        nonnegative_scalar(point[0], "q")
        nonnegative_scalar(point[1], "sigma_w")
        nonnegative_scalar(point[2], "sigma_b")
        if n_threads is not None:
            resolve_n_threads(n_threads)  # (checked as for arrays; one point, one thread)
        p0, p1 = act.core_params
        return [np.float64(v) for v in _core.qmap_point(act.kind, p0, p1, *point)]
    shape, (qa, sw, sb) = broadcast_flat(
        variance(q, "q"), sigma(sigma_w, "sigma_w"), sigma(sigma_b, "sigma_b")
    )
    p0, p1 = act.core_params
    out = _core.qmap(act.kind, p0, p1, qa, sw, sb, resolve_n_threads(n_threads))
    scalar = len(shape) == 0
    return [scalar_or_array(o.reshape(shape), scalar) for o in out]


def qmap(activation: str | Activation, q, sigma_w, sigma_b, *, n_threads: int | None = None):
    """The variance map V(q) = sigma_b^2 + sigma_w^2 E[phi(sqrt(q) Z)^2].

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    q : array_like
        Pre-activation variance, >= 0.
    sigma_w, sigma_b : array_like
        Standard deviations of the weights (W ~ N(0, sigma_w^2 / fan_in)) and
        biases (b ~ N(0, sigma_b^2)), >= 0.
    n_threads : int or None

    Returns
    -------
    numpy.ndarray
        V(q), broadcast over the arguments.
    """
    return _qmap_all(activation, q, sigma_w, sigma_b, n_threads)[0]


def qmap_slope(activation: str | Activation, q, sigma_w, *, n_threads: int | None = None):
    """V'(q) = sigma_w^2 d/dq E[phi(sqrt(q) Z)^2], exact at kinks of phi.

    Parameters as in :func:`qmap` (sigma_b does not enter).
    """
    return _qmap_all(activation, q, sigma_w, 0.0, n_threads)[1]


def chi1(activation: str | Activation, q, sigma_w, *, n_threads: int | None = None):
    """chi1 = sigma_w^2 E[phi'(sqrt(q) Z)^2] (sigma_w a standard deviation).

    At q = q*, chi1 < 1 is the ordered phase, chi1 > 1 the chaotic phase.
    """
    return _qmap_all(activation, q, sigma_w, 0.0, n_threads)[2]


def covmap(
    activation: str | Activation,
    q1,
    q2,
    c,
    sigma_w,
    sigma_b,
    *,
    n_threads: int | None = None,
):
    """Next-layer covariance of two inputs: sigma_b^2 + sigma_w^2 E[phi(u) phi(v)].

    (u, v) are centred Gaussian with variances q1, q2 and correlation c. The
    next-layer correlation is ``covmap(...) / sqrt(qmap(q1) * qmap(q2))``.
    """
    act = resolve(activation)
    point = real_scalars(q1, q2, c, sigma_w, sigma_b)
    if point is not None:  # (one point: Python floats in and out)
        x1, x2, xc, xw, xb = point
        nonnegative_scalar(x1, "q1")
        nonnegative_scalar(x2, "q2")
        correlation_scalar(xc)
        nonnegative_scalar(xw, "sigma_w")
        nonnegative_scalar(xb, "sigma_b")
        if n_threads is not None:
            resolve_n_threads(n_threads)  # (checked as for arrays; one point, one thread)
        p0, p1 = act.core_params
        return np.float64(_core.covmap_point(act.kind, p0, p1, *point))
    shape, (a1, a2, ac, sw, sb) = broadcast_flat(
        variance(q1, "q1"),
        variance(q2, "q2"),
        correlation(c),
        sigma(sigma_w, "sigma_w"),
        sigma(sigma_b, "sigma_b"),
    )
    p0, p1 = act.core_params
    qab, _ = _core.covmap(act.kind, p0, p1, a1, a2, ac, sw, sb, False, resolve_n_threads(n_threads))
    return scalar_or_array(qab.reshape(shape), len(shape) == 0)


def cmap(activation: str | Activation, q, c, sigma_w, sigma_b, *, n_threads: int | None = None):
    """The correlation map at common variance q > 0 (Poole et al. 2016; docs/theory/maps.rst).

    f(c) = (sigma_b^2 + sigma_w^2 E[phi(u) phi(v)]) / q with u, v of variance q
    and correlation c. With q = q*, f(1) = 1.
    """
    point = real_scalars(q)
    if point is not None:  # (a Python float: covmap's scalar path where c, sigma_w, sigma_b are)
        qa = point[0]
        nonnegative_scalar(qa, "q")
        zero = qa == 0
    else:
        qa = variance(q, "q")
        zero = np.any(qa == 0)
    if zero:
        raise ValueError("q must be > 0 for the correlation map, got 0.0")
    return covmap(activation, qa, qa, c, sigma_w, sigma_b, n_threads=n_threads) / qa

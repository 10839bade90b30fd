"""Gram matrices of two-layer networks and their spectra.

Panigrahi, Shetty & Goyal 2020; docs/theory/gram.rst.

The model is F(x) = (1/sqrt(m)) sum_k a_k phi(w_k . x) with w_k ~ N(0, I_d)
(standard deviation 1 per weight, no 1/d scaling, the model of docs/theory/gram.rst)
and fixed a_k = +-1; only W is trained. Its (first-layer NTK) Gram matrix is

    G_ij     = (1/m) sum_k phi'(w_k . x_i) phi'(w_k . x_j) <x_i, x_j>     (finite width m)
    G^inf_ij = <x_i, x_j> E_{w ~ N(0, I)}[phi'(w . x_i) phi'(w . x_j)]    (infinite width)

(w . x_i, w . x_j) is a centred Gaussian pair with variances ``|x_i|^2``,
``|x_j|^2`` and correlation ``rho_ij = <x_i, x_j> / (|x_i| |x_j|)``. For inputs of equal norm
r, G^inf = r^2 sum_k b_k^2 rho^{o k} o rho (Hadamard powers), with b_k the
Hermite coefficients of phi'(r x): a sum of positive semi-definite matrices.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import as_float_array, check_finite, data_matrix, positive_int
from ..theory.activations import Activation, resolve
from ..theory.expectations import bivariate_expectation, gaussian_moments
from ..theory.hermite import hermite_coefficients

__all__ = ["GRAM_METHODS", "gram_finite", "gram_infinite", "half_circle", "min_eigenvalue"]

#: Ways :func:`gram_infinite` can evaluate E[phi'(u) phi'(v)].
GRAM_METHODS: tuple[str, ...] = ("auto", "closed", "hermite", "quadrature")

_HERMITE_ORDERS = (256, 512, 1024, 2048, 4096)
_HERMITE_TOL = 1e-15
_HERMITE_Q_MAX = 100.0
#: Largest number of rows gram_infinite accepts (memory bound).
MAX_GRAM_ROWS = 10_000


def _check_X(X) -> np.ndarray:
    Xa = data_matrix(X, "X")
    norms = np.linalg.norm(Xa, axis=1)
    if np.any(norms == 0):
        raise ValueError(f"X must have no zero rows, got a zero row at index {np.argmin(norms)}")
    return Xa


def _correlations(Xa: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    norms = np.linalg.norm(Xa, axis=1)
    inner = Xa @ Xa.T
    rho = np.clip(inner / np.outer(norms, norms), -1.0, 1.0)
    np.fill_diagonal(rho, 1.0)
    return inner, rho, norms


def _hermite_derivative_kernel(act: Activation, q: float) -> tuple[np.ndarray, float]:
    """Coefficients b_k of phi'(sqrt(q) x) with the Parseval tail E[phi'^2] - sum b_k^2."""
    total = float(gaussian_moments(act, q).dphi_sq)
    for n in _HERMITE_ORDERS:
        b = hermite_coefficients(act, n, q=q, derivative=1)
        tail = total - float(b @ b)
        if tail <= _HERMITE_TOL * total:
            break
    return b, tail


def gram_infinite(
    activation: str | Activation,
    X,
    *,
    method: str = "auto",
    n_threads: int | None = None,
) -> np.ndarray:
    """The infinite-width Gram matrix G^inf of a two-layer network.

    Panigrahi et al. 2020; docs/theory/gram.rst.

    G^inf_ij = <x_i, x_j> E_{w ~ N(0, I_d)}[phi'(w . x_i) phi'(w . x_j)]; the
    weights are standard normal (sigma_w = 1 per entry, no fan-in scaling).

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    X : array_like, shape (n, d)
        Inputs, one per row, none zero (the model of docs/theory/gram.rst has unit norm).
    method : {"auto", "closed", "hermite", "quadrature"}
        ``"closed"``: arc-cosine form of relu / leaky_relu,
        E[1{u>0} 1{v>0}] = (pi - arccos rho) / (2 pi). ``"hermite"``: the
        series sum_k b_k^2 rho^k (needs rows of equal norm; up to 4097 terms,
        raises if the Parseval tail stays above 1e-15 E[phi'^2]). ``"quadrature"``:
        the compiled core's bivariate expectation (slow for tanh-like
        activations). ``"auto"``: closed for relu-like; hermite for smooth
        activations (no kinks) when the series converges; else quadrature.
    n_threads : int or None
        Threads for the quadrature method.

    Returns
    -------
    numpy.ndarray, shape (n, n)
        Symmetric positive semi-definite (up to rounding).

    Notes
    -----
    Bounds: at most 10,000 rows (about 6 live n x n float64 arrays: 5 GB at
    the bound); ``"auto"`` uses the Hermite series only for ``|x|^2 <= 100``;
    ``method="hermite"`` beyond the bounds of :func:`hermite_coefficients`
    raises ValueError.

    Examples
    --------
    >>> import numpy as np
    >>> from sigprop.papers import panigrahi as pan
    >>> th = np.pi * np.arange(10) / 10
    >>> X = np.stack([np.cos(th), np.sin(th)], axis=1)
    >>> float(np.round(pan.min_eigenvalue(pan.gram_infinite("relu", X)), 5))
    0.02633
    """
    act = resolve(activation)
    if method not in GRAM_METHODS:
        raise ValueError(f"method must be one of {', '.join(GRAM_METHODS)}, got {method!r}")
    Xa = _check_X(X)
    if Xa.shape[0] > MAX_GRAM_ROWS:
        raise ValueError(
            f"X has {Xa.shape[0]} rows; gram_infinite builds several n x n float64 arrays "
            f"(8 n^2 bytes each) and accepts at most {MAX_GRAM_ROWS} rows"
        )
    inner, rho, norms = _correlations(Xa)
    relu_like = act.arccos_family
    if method == "closed" and not relu_like:
        raise ValueError(f"method 'closed' exists for relu and leaky_relu only, not {act}")
    equal_norms = bool(np.allclose(norms, norms[0], rtol=1e-12, atol=0))
    if method == "hermite" and not equal_norms:
        raise ValueError("method 'hermite' needs rows of X of equal norm")
    if relu_like and method in ("auto", "closed"):
        beta = act.params.get("negative_slope", 0.0)
        step = (np.pi - np.arccos(rho)) / (2 * np.pi)  # E[s(u) s(v)], s = 1{x > 0}
        # phi' = (1 - beta) s + beta, E[s] = 1/2
        k = (1 - beta) ** 2 * step + beta * (1 - beta) + beta**2
        G = inner * k
    else:
        G = None
        smooth = not act.kinks
        # "auto" takes the series only where it converges fast (q <= 100, as in
        # correlation_convergence); at large q it needs too many terms and nodes.
        q0 = float(norms[0] ** 2)
        auto_series = method == "auto" and smooth and q0 <= _HERMITE_Q_MAX
        if (method == "hermite" or auto_series) and equal_norms:
            b, tail = _hermite_derivative_kernel(act, q0)
            if tail <= _HERMITE_TOL * float(b @ b) or method == "hermite":
                if tail > _HERMITE_TOL * float(b @ b):
                    raise ValueError(
                        f"Hermite series of {act}' did not converge: tail {tail:.3g} after "
                        f"{b.size} terms; use method='quadrature'"
                    )
                k = np.zeros_like(rho)
                for coef in (b * b)[::-1]:
                    k = k * rho + coef
                G = inner * k
        if G is None:
            q = norms**2
            e = bivariate_expectation(
                act, q[:, None], q[None, :], rho, derivative=1, n_threads=n_threads
            )
            if np.any(np.isnan(e)):
                raise RuntimeError(f"the bivariate expectation of {act}' returned NaN")
            G = inner * e
    return 0.5 * (G + G.T)


def gram_finite(
    activation: str | Activation,
    X,
    width: int,
    *,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """The finite-width Gram matrix of a random two-layer network.

    G_ij = (1/m) sum_k phi'(w_k . x_i) phi'(w_k . x_j) <x_i, x_j> with m =
    ``width`` rows w_k ~ N(0, I_d) (standard normal weights, sigma_w = 1).
    Its expectation is :func:`gram_infinite`; entries fluctuate by
    O(1/sqrt(m)).

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    X : array_like, shape (n, d)
    width : int
        Number of hidden units m, >= 1.
    rng : numpy.random.Generator, int or None
        Random generator or seed.

    Returns
    -------
    numpy.ndarray, shape (n, n)
    """
    act = resolve(activation)
    positive_int(width, "width")
    Xa = data_matrix(X, "X")
    gen = np.random.default_rng(rng)
    W = gen.standard_normal((int(width), Xa.shape[1]))
    A = np.asarray(act(Xa @ W.T, 1), dtype=float)  # (n, m)
    G = (A @ A.T / width) * (Xa @ Xa.T)
    return 0.5 * (G + G.T)


def min_eigenvalue(G) -> float:
    """Smallest eigenvalue of a symmetric matrix (numpy.linalg.eigvalsh).

    Values below about 1e-16 times the largest eigenvalue are rounding noise
    (they may even be slightly negative); report them as "below resolution".
    """
    Ga = as_float_array(G, "G")
    if Ga.ndim != 2 or Ga.shape[0] != Ga.shape[1] or Ga.shape[0] == 0:
        raise ValueError(f"G must be a non-empty square matrix, got shape {Ga.shape}")
    check_finite(Ga, "G")
    return float(np.linalg.eigvalsh(0.5 * (Ga + Ga.T))[0])


def half_circle(n: int) -> np.ndarray:
    """n unit vectors (cos theta_j, sin theta_j), theta_j = pi j / n.

    The data of the half-circle table in docs/reference_values.rst.
    """
    th = math.pi * np.arange(n) / n
    return np.stack([np.cos(th), np.sin(th)], axis=1)

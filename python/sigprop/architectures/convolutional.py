"""Convolutional networks: the mean-field theory of Xiao et al. (2018) and a NumPy simulation.

Xiao, Bahri, Sohl-Dickstein, Schoenholz & Pennington 2018, "Dynamical isometry and
a mean field theory of CNNs: how to train 10,000-layer vanilla convolutional neural
networks" (ICML; arXiv:1806.05393), section 2. A convolutional layer on ``n``
spatial positions (periodic boundary), ``c`` channels and a filter of width ``k``
computes

    h^{l+1}_{j,a} = sum_i sum_beta W^{l+1}_{j,i,beta} phi(h^l_{i,a+beta}) + b^{l+1}_j,

with W_{j,i,beta} ~ N(0, sigma_w^2 v_beta / c), b_j ~ N(0, sigma_b^2) and a spatial
variance profile v >= 0 with sum_beta v_beta = 1 (uniform, v_beta = 1/k, is
"weights N(0, sigma_w^2 / fan_in)" with fan_in = c k). As c -> infinity the
covariance of the pre-activations between spatial positions follows

    Sigma^{l+1}_{a,a'} = sigma_b^2 + sigma_w^2 sum_beta v_beta E[phi(u_{a+beta}) phi(u_{a'+beta})],
    u ~ N(0, Sigma^l)

(Xiao et al., section 2: the fully connected covariance map, then the average
``A *`` over the filter). Each diagonal entry follows the fully connected variance
map, so q*, chi1, c* and chi_c are those of :func:`sigprop.fixed_point`. Near the
fixed point the perturbations are spatial Fourier modes j with eigenvalues

    lambda_{q,j} = V'(q*) hat v(j),    lambda_{c,j} = chi_c hat v(j),
    hat v(j) = sum_beta v_beta exp(2 pi i j beta / n),

and depth scales ``xi_j = -1 / ln |lambda_j|`` (Xiao et al., section 2). Since
``|hat v(j)| <= hat v(0) = 1`` the mode j = 0 has the fully connected depth scale and every
other mode a shorter one, unless the profile is a delta (the delta-orthogonal
kernel, Algorithm 2 there), for which every mode has it.

Filter offsets: index t of a filter of width k is the offset beta = t - (k - 1) // 2
(PyTorch's "same" padding; the centre of an odd filter is offset 0). 2-D (or any
dimension) filters and position grids work the same way with tuples.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import _core
from .._tables import tabular
from .._validation import (
    as_float_array,
    check_finite,
    generator,
    nonnegative_int,
    positive_int,
    resolve_n_threads,
    scalar_sigma,
    short,
)
from ..networks.initializers import _kernel_size, delta_orthogonal
from ..networks.random_networks import _evaluate
from ..theory.activations import Activation, resolve
from ..theory.expectations import AccuracyWarning
from ..theory.fixed_points import fixed_point

__all__ = [
    "CNNModes",
    "CNNSimulation",
    "cnn_modes",
    "cnn_propagate",
    "delta_orthogonal",
    "filter_profile",
    "simulate_cnn",
]

#: Largest number of spatial positions (prod of n_positions) the covariance functions take.
MAX_POSITIONS = 4096


# --------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------


def filter_profile(filter_size: int | Sequence[int], profile=None) -> np.ndarray:
    """The spatial variance profile v of a filter: uniform, or a given one checked.

    Parameters
    ----------
    filter_size : int or sequence of int
        Filter width k (or one width per spatial dimension), >= 1.
    profile : array_like, optional
        v_beta >= 0 over the filter, shape ``filter_size``, summing to 1 (to 1e-9).
        Default: uniform, 1 / prod(filter_size).

    Returns
    -------
    numpy.ndarray, shape ``filter_size``

    Examples
    --------
    >>> from sigprop.architectures.convolutional import filter_profile
    >>> filter_profile(4).tolist()
    [0.25, 0.25, 0.25, 0.25]
    """
    ks = _kernel_size(filter_size, "filter_size")
    if profile is None:
        return np.full(ks, 1.0 / math.prod(ks))
    v = as_float_array(profile, "profile")
    if v.shape != ks:
        raise ValueError(f"profile must have the shape of filter_size {ks}, got shape {v.shape}")
    check_finite(v, "profile")
    if np.any(v < 0):
        raise ValueError(f"profile must be >= 0, got {v[v < 0].flat[0]!r}")
    total = float(v.sum())
    if abs(total - 1.0) > 1e-9:
        raise ValueError(f"profile must sum to 1 (divide it by its sum), got a sum of {total!r}")
    return v


def _offsets(ks: tuple[int, ...]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(filter index, spatial offset beta) for every tap of a filter of shape ks."""
    return [
        (idx, tuple(t - (k - 1) // 2 for t, k in zip(idx, ks, strict=True)))
        for idx in np.ndindex(*ks)
    ]


def _positions(n_positions, ks: tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(n_positions, (int, np.integer)) and not isinstance(n_positions, bool):
        n_positions = (n_positions,)
    if isinstance(n_positions, (str, bytes)) or not isinstance(n_positions, Sequence):
        raise ValueError(
            f"n_positions must be an int >= 1 or a sequence of them, got {short(n_positions)}"
        )
    ns = tuple(positive_int(n, "n_positions") for n in n_positions)
    if len(ns) != len(ks):
        raise ValueError(
            f"n_positions must have one entry per filter dimension ({len(ks)}), got {ns}"
        )
    for n, k in zip(ns, ks, strict=True):
        if n < k:
            raise ValueError(
                f"n_positions must be >= filter_size along each axis, got n_positions = {ns} "
                f"and filter_size = {ks}"
            )
    if math.prod(ns) > MAX_POSITIONS:
        raise ValueError(f"n_positions must hold at most {MAX_POSITIONS} positions, got {ns}")
    return ns


def _filter_hat(v: np.ndarray, ns: tuple[int, ...]) -> np.ndarray:
    """hat v(j) = sum_beta v_beta exp(2 pi i j . beta / n), shape ns (j in FFT order)."""
    grid = np.zeros(ns)
    for idx, beta in _offsets(v.shape):
        grid[tuple(b % n for b, n in zip(beta, ns, strict=True))] += v[idx]
    return np.fft.ifftn(grid) * math.prod(ns)


def _average(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The filter average A * M: sum_beta v_beta M[a + beta, a' + beta], M of shape (*n, *n)."""
    d = v.ndim
    axes = tuple(range(2 * d))
    out = np.zeros_like(M)
    for idx, beta in _offsets(v.shape):
        if v[idx] != 0.0:
            shift = tuple(-b for b in beta) * 2
            out += v[idx] * np.roll(M, shift, axis=axes)
    return out


def _depth_scale(modulus: np.ndarray) -> np.ndarray:
    """-1 / ln|lambda| where |lambda| < 1; inf at 1; NaN where a mode grows (or is NaN).

    |lambda| within 1e-12 of 1 counts as 1 (the tolerance of the "edge" phase).
    """
    edge = np.abs(modulus - 1.0) <= 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = -1.0 / np.log(modulus)
    xi = np.where(edge, np.inf, xi)
    return np.where(((modulus > 1.0) & ~edge) | np.isnan(modulus), np.nan, xi)


# --------------------------------------------------------------------------
# Linearisation around the fixed point: spatial Fourier modes
# --------------------------------------------------------------------------


@tabular(index="mode")
@dataclass(frozen=True)
class CNNModes:
    """Spatial Fourier modes of the linearised CNN covariance map (Xiao et al. 2018, section 2).

    Per-mode arrays have one entry per mode j (flattened in C order over the position
    grid, FFT order along each axis: j = 0, 1, ..., then the negative frequencies).

    Attributes
    ----------
    frequency : ndarray
        Frequency of the mode along the first spatial axis, j / n wrapped into
        [-1/2, 1/2) (cycles per position).
    frequency_1 : ndarray or None
        Along the second spatial axis (2-D filters; None for 1-D).
    filter_hat : ndarray, complex
        hat v(j) = sum_beta v_beta exp(2 pi i j beta / n) (real for a symmetric profile).
    lambda_q, lambda_c : ndarray, complex
        Eigenvalues V'(q*) hat v(j) of the variance (diagonal) perturbations and
        chi_c hat v(j) of the correlation (off-diagonal) perturbations.
    xi_q, xi_c : ndarray
        Depth scales ``-1 / ln |lambda|`` (inf where ``|lambda| = 1``, NaN where the mode grows).
    q_star, c_star, chi1, chi_q, chi_c : float
        The fully connected fixed point: q*, c*, chi1, V'(q*) and chi_c
        (:func:`sigprop.fixed_point`).
    status, phase : str
        Its :class:`sigprop.Status` and :class:`sigprop.Phase` names.
    n_positions, filter_size : tuple of int

    ``to_dataset()`` / ``to_dataframe()`` give one row per mode.
    """

    frequency: np.ndarray
    frequency_1: np.ndarray | None
    filter_hat: np.ndarray
    lambda_q: np.ndarray
    lambda_c: np.ndarray
    xi_q: np.ndarray
    xi_c: np.ndarray
    q_star: float
    c_star: float
    chi1: float
    chi_q: float
    chi_c: float
    status: str
    phase: str
    n_positions: tuple[int, ...]
    filter_size: tuple[int, ...]

    def linearisation_eigenvalues(self) -> np.ndarray:
        """Every eigenvalue of the linearised map on symmetric covariance matrices.

        The N = prod(n_positions) diagonal entries give lambda_q (one per mode); the
        N (N - 1) / 2 off-diagonal entries, grouped by the spatial offset d between
        the two positions (d and -d are one group), give lambda_c for every mode in
        each group, and for a group with d = -d (an offset of half the grid) only for
        the modes with exp(2 pi i j . d / n) = 1. The map is block triangular (the
        variances feed the covariances, not back), so these are all its eigenvalues.

        Returns
        -------
        numpy.ndarray, complex, shape (N (N + 1) / 2,)
        """
        ns = self.n_positions
        N = math.prod(ns)
        js = np.stack(np.unravel_index(np.arange(N), ns), axis=-1)  # mode index per axis
        nvec = np.asarray(ns)
        out = [np.asarray(self.lambda_q).ravel()]
        lc = np.asarray(self.lambda_c).ravel()
        for flat in range(1, N):
            d = np.asarray(np.unravel_index(flat, ns))
            neg = int(np.ravel_multi_index(tuple((-d) % nvec), ns))
            if flat < neg:
                out.append(lc)
            elif flat == neg:
                phase = js @ (d / nvec)
                out.append(lc[np.abs(phase - np.round(phase)) < 1e-9])
        return np.concatenate(out)


def cnn_modes(
    activation: str | Activation,
    sigma_w,
    sigma_b,
    filter_size: int | Sequence[int],
    n_positions: int | Sequence[int],
    *,
    profile=None,
) -> CNNModes:
    """Eigenvalues and depth scales of the spatial Fourier modes of a random CNN.

    Linearising Sigma^{l+1} = sigma_b^2 + sigma_w^2 A * E[phi phi](Sigma^l) around its
    fixed point (q* on the diagonal, q* c* off it) gives, for the spatial Fourier
    mode j of the perturbation, lambda_{q,j} = V'(q*) hat v(j) (variances) and
    lambda_{c,j} = chi_c hat v(j) (correlations), where hat v is the discrete Fourier
    transform of the filter's variance profile; depth scales ``xi = -1 / ln |lambda|``
    (Xiao et al. 2018, section 2).

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    sigma_w, sigma_b : float
        Standard deviations (W ~ N(0, sigma_w^2 v_beta / channels), b ~ N(0, sigma_b^2)).
    filter_size : int or sequence of int
        Filter width k >= 1 (a tuple for 2-D filters).
    n_positions : int or sequence of int
        Spatial positions (periodic boundary), >= filter_size along each axis.
    profile : array_like, optional
        Spatial variance profile v_beta (shape filter_size, >= 0, summing to 1);
        default uniform. A delta at the centre is the delta-orthogonal kernel.

    Returns
    -------
    CNNModes

    Examples
    --------
    >>> from sigprop.architectures.convolutional import cnn_modes
    >>> m = cnn_modes("tanh", 1.5, 0.05, 3, 8)
    >>> m.frequency[:3].tolist(), m.filter_hat.real.round(4)[:3].tolist()
    ([0.0, 0.125, 0.25], [1.0, 0.8047, 0.3333])
    >>> round(float(m.xi_c[0]), 3), round(float(m.xi_c[1]), 3), round(float(m.xi_c[2]), 3)
    (16.201, 3.585, 0.862)
    """
    act = resolve(activation)
    sw = scalar_sigma(sigma_w, "sigma_w")
    sb = scalar_sigma(sigma_b, "sigma_b")
    v = filter_profile(filter_size, profile)
    ns = _positions(n_positions, v.shape)
    fp = fixed_point(act, sw, sb)
    hat = _filter_hat(v, ns).ravel()
    chi_q, chi_c = float(fp.slope), float(fp.chi_c)
    lam_q, lam_c = chi_q * hat, chi_c * hat
    freqs = np.meshgrid(*(np.fft.fftfreq(n) for n in ns), indexing="ij")
    return CNNModes(
        frequency=freqs[0].ravel(),
        frequency_1=freqs[1].ravel() if len(ns) > 1 else None,
        filter_hat=hat,
        lambda_q=lam_q,
        lambda_c=lam_c,
        xi_q=_depth_scale(np.abs(lam_q)),
        xi_c=_depth_scale(np.abs(lam_c)),
        q_star=float(fp.q_star),
        c_star=float(fp.c_star),
        chi1=float(fp.chi1),
        chi_q=chi_q,
        chi_c=chi_c,
        status=str(fp.status_name),
        phase=str(fp.phase),
        n_positions=ns,
        filter_size=v.shape,
    )


# --------------------------------------------------------------------------
# The covariance map over depth
# --------------------------------------------------------------------------


def _covariance(K0, ks: tuple[int, ...], name: str = "K0") -> tuple[np.ndarray, tuple[int, ...]]:
    """K0 as a symmetric (N, N) float array and the position grid ns."""
    K = as_float_array(K0, name)
    d = len(ks)
    if d == 1 and K.ndim == 2 and K.shape[0] == K.shape[1]:
        ns = (K.shape[0],)
    elif K.ndim == 2 * d and K.shape[:d] == K.shape[d:]:
        ns = K.shape[:d]
    else:
        raise ValueError(
            f"{name} must be a covariance over the positions, shape (n, n) for a 1-D filter or "
            f"(*n, *n) for a {d}-D one, got shape {K.shape}"
        )
    ns = _positions(ns, ks)
    N = math.prod(ns)
    K = K.reshape(N, N)
    check_finite(K, name)
    scale = max(float(np.max(np.abs(K))), 1e-300)
    if np.max(np.abs(K - K.T)) > 1e-10 * scale:
        raise ValueError(f"{name} must be symmetric")
    if np.any(np.diag(K) < 0):
        raise ValueError(f"{name} must have a non-negative diagonal (variances)")
    return 0.5 * (K + K.T), ns


def _cnn_layer(act: Activation, sw: float, sb: float, K: np.ndarray, v, ns, nt: int):
    """One layer: A * (sigma_b^2 + sigma_w^2 E[phi phi](K)), K of shape (N, N)."""
    p0, p1 = act.core_params
    C, n_short = _core.kernel_layer(act.kind, p0, p1, np.ascontiguousarray(K), sw, sb, nt, None)
    if n_short:
        warnings.warn(
            f"{act.name}: the quadrature of {n_short} pairs ended short of its tolerance; "
            "those entries are its best estimates, NaN where far from converged",
            AccuracyWarning,
            stacklevel=3,
        )
    N = K.shape[0]
    out = _average(np.asarray(C).reshape(ns + ns), v).reshape(N, N)
    return 0.5 * (out + out.T)


def cnn_propagate(
    activation: str | Activation,
    sigma_w,
    sigma_b,
    K0,
    depth: int,
    filter_size: int | Sequence[int],
    *,
    profile=None,
    n_threads: int | None = None,
) -> np.ndarray:
    """Propagate the spatial covariance of the pre-activations through ``depth`` CNN layers.

    K^{l+1}_{a,a'} = sigma_b^2 + sigma_w^2 sum_beta v_beta E[phi(u_{a+beta})
    phi(u_{a'+beta})] with u ~ N(0, K^l) (Xiao et al. 2018, section 2; periodic
    boundary). The Gaussian expectations of every pair of positions are those of
    :func:`sigprop.nngp_kernel` (exact to ~1e-10: closed forms, or Mehler series
    with a rigorous bound and quadrature next to ``|c| = 1``), in one call per layer.

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    sigma_w, sigma_b : float
        Standard deviations (W ~ N(0, sigma_w^2 v_beta / channels), b ~ N(0, sigma_b^2)).
    K0 : array_like, shape (n, n), or ``(*n, *n)`` for a multi-dimensional filter
        Covariance of the pre-activations at the n positions at l = 0 (symmetric,
        variances >= 0).
    depth : int
        Number of layers, >= 0.
    filter_size : int or sequence of int
        Filter width k (a tuple for 2-D filters), <= n along each axis.
    profile : array_like, optional
        Spatial variance profile (see :func:`filter_profile`); default uniform.
    n_threads : int or None
        OpenMP threads; None: all, but about one per 2048 entries of K0 (a few
        positions are faster on one thread).

    Returns
    -------
    numpy.ndarray, shape ``(depth + 1, *K0.shape)``
        K^0 = K0, ..., K^depth.

    Examples
    --------
    >>> import numpy as np
    >>> from sigprop.architectures.convolutional import cnn_propagate
    >>> K0 = np.eye(6) + 0.5 * np.roll(np.eye(6), 1, axis=1)
    >>> K0 = 0.5 * (K0 + K0.T)
    >>> K = cnn_propagate("tanh", 1.5, 0.05, K0, 30, 3)
    >>> K.shape, round(float(K[-1, 0, 0]), 6), round(float(K[-1, 0, 3]), 6)
    ((31, 6, 6), 0.798387, 0.034987)
    """
    depth = nonnegative_int(depth, "depth")
    act = resolve(activation)
    sw = scalar_sigma(sigma_w, "sigma_w")
    sb = scalar_sigma(sigma_b, "sigma_b")
    v = filter_profile(filter_size, profile)
    K, ns = _covariance(K0, v.shape)
    N = K.shape[0]
    nt = resolve_n_threads(n_threads)
    if n_threads is None:  # small grids: thread start-up would cost more than the work
        nt = max(1, min(nt, N * N // 2048))
    out = np.empty((depth + 1, N, N))
    out[0] = K
    for layer in range(depth):
        out[layer + 1] = _cnn_layer(act, sw, sb, out[layer], v, ns, nt)
    return out.reshape((depth + 1, *np.shape(K0)))


# --------------------------------------------------------------------------
# Finite random CNNs (1-D, periodic padding)
# --------------------------------------------------------------------------


@tabular(leading="layer")
@dataclass(frozen=True)
class CNNSimulation:
    """Empirical spatial covariances of random 1-D CNNs against the mean-field theory.

    Layer index 0 is layer l = 1 (the first convolution of the inputs).

    Attributes
    ----------
    kernel : ndarray, shape (depth, n, n)
        Mean over seeds of K^l_{a,a'} = sum_i h^l_{i,a} h^l_{i,a'} / channels.
    kernel_se : ndarray, shape (depth, n, n)
        Its standard error over the seeds.
    theory : ndarray, shape (depth, n, n)
        :func:`cnn_propagate` from the exact first-layer covariance
        K^1 = sigma_b^2 + sigma_w^2 A * (X^T X / c_in) of the inputs.
    channels, n_seeds, filter_size : int
    weights : str
    """

    kernel: np.ndarray
    kernel_se: np.ndarray
    theory: np.ndarray
    channels: int
    n_seeds: int
    filter_size: int
    weights: str

    @property
    def z(self) -> np.ndarray:
        """(kernel - theory) / kernel_se (NaN where the standard error is 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(
                self.kernel_se > 0, (self.kernel - self.theory) / self.kernel_se, np.nan
            )


def _conv_periodic(W: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Periodic 1-D convolution: W (S, c_out, c_in, k), x (S, c_in, n) -> (S, c_out, n)."""
    k = W.shape[-1]
    out = np.zeros((W.shape[0], W.shape[1], x.shape[-1]))
    for t in range(k):
        beta = t - (k - 1) // 2
        out += W[..., t] @ np.roll(x, -beta, axis=-1)  # x[a + beta]
    return out


def simulate_cnn(
    activation: str | Activation,
    sigma_w,
    sigma_b,
    inputs,
    *,
    channels: int,
    filter_size: int,
    depth: int,
    n_seeds: int = 20,
    rng=None,
    weights: str = "gaussian",
    profile=None,
) -> CNNSimulation:
    """Forward passes of random 1-D CNNs (periodic padding): spatial covariance vs theory.

    Layer 1 convolves the inputs, h^1 = W^1 * x + b^1, and layer l + 1 the activations,
    h^{l+1} = W^{l+1} * phi(h^l) + b^{l+1}, every layer with ``channels`` output
    channels. Gaussian weights are N(0, sigma_w^2 v_beta / c_in) (v the profile;
    uniform: N(0, sigma_w^2 / (c_in k))); delta-orthogonal ones are zero but at the
    filter centre, an orthogonal matrix times sigma_w sqrt(c_out / c_in) (Xiao et al.
    2018, Algorithm 2; its mean-field theory is that of the delta profile).

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    sigma_w, sigma_b : float
        Standard deviations.
    inputs : array_like, shape (c_in, n)
        One input signal: c_in channels at n positions.
    channels : int
        Channels of every layer (>= c_in for delta-orthogonal weights).
    filter_size : int
        Filter width k, 1 <= k <= n.
    depth : int
        Number of layers, >= 1.
    n_seeds : int
        Independent networks, >= 2.
    rng : numpy.random.Generator, int or None
    weights : {"gaussian", "delta_orthogonal"}
    profile : array_like, optional
        Spatial variance profile of Gaussian weights (default uniform).

    Returns
    -------
    CNNSimulation

    Examples
    --------
    >>> import numpy as np
    >>> from sigprop.architectures.convolutional import simulate_cnn
    >>> x = np.random.default_rng(0).standard_normal((4, 8))
    >>> r = simulate_cnn("tanh", 1.5, 0.05, x, channels=64, filter_size=3, depth=4,
    ...                  n_seeds=4, rng=1)
    >>> r.kernel.shape, bool(np.all(np.abs(r.z) < 8))
    ((4, 8, 8), True)
    """
    act = resolve(activation)
    sw = scalar_sigma(sigma_w, "sigma_w")
    sb = scalar_sigma(sigma_b, "sigma_b")
    X = as_float_array(inputs, "inputs")
    if X.ndim != 2 or X.size == 0:
        raise ValueError(f"inputs must be a (c_in, n) array, got shape {X.shape}")
    check_finite(X, "inputs")
    c_in, n = X.shape
    C = positive_int(channels, "channels", 2**16)
    k = positive_int(filter_size, "filter_size")
    if n < k:
        raise ValueError(f"inputs must have n >= filter_size positions, got n = {n} < {k}")
    L = positive_int(depth, "depth", 100_000)
    S = positive_int(n_seeds, "n_seeds", 100_000)
    if S < 2:
        raise ValueError(f"n_seeds must be >= 2 (standard errors), got {S}")
    if weights not in ("gaussian", "delta_orthogonal"):
        raise ValueError(f"weights must be 'gaussian' or 'delta_orthogonal', got {weights!r}")
    if weights == "delta_orthogonal":
        if profile is not None:
            raise ValueError("profile applies to Gaussian weights only (delta_orthogonal: None)")
        if C < c_in:
            raise ValueError(
                "delta_orthogonal weights need channels >= the input channels, got "
                f"channels = {C} < c_in = {c_in}"
            )
        v = np.zeros(k)
        v[(k - 1) // 2] = 1.0
    else:
        v = filter_profile(k, profile)
    gen = generator(rng)

    def draw(c_prev: int) -> np.ndarray:
        if weights == "gaussian":
            W = gen.standard_normal((S, C, c_prev, k))
            return W * (sw * np.sqrt(v) / math.sqrt(c_prev))
        return np.stack([delta_orthogonal(C, c_prev, k, sigma_w=sw, rng=gen) for _ in range(S)])

    kern = np.empty((L, S, n, n))
    x = np.broadcast_to(X, (S, c_in, n))
    for layer in range(L):
        h = _conv_periodic(draw(x.shape[1]), x)
        if sb > 0:
            h += sb * gen.standard_normal((S, C, 1))
        kern[layer] = np.einsum("sia,sib->sab", h, h) / C
        x = _evaluate(act, h, 0)
    K1 = sb * sb + sw * sw * _average(X.T @ X / c_in, v)
    theory = cnn_propagate(act, sw, sb, K1, L - 1, k, profile=v)
    return CNNSimulation(
        kernel=kern.mean(axis=1),
        kernel_se=kern.std(axis=1, ddof=1) / math.sqrt(S),
        theory=theory,
        channels=C,
        n_seeds=S,
        filter_size=k,
        weights=weights,
    )

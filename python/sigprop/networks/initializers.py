"""Initialisation rules that follow from the theory.

Kumar 2017, He et al. 2015, Glorot & Bengio 2010, the Edge of Chaos;
docs/theory/initialisation.rst. Convolution kernels (``kernel_size``) and the
delta-orthogonal kernel of Xiao et al. 2018 (Algorithm 2); docs/theory/convolutional.rst.

Conventions: a "gain" g gives weights W ~ N(0, g^2 / fan_in), i.e. it is the
sigma_w of the mean-field theory (a standard deviation times sqrt(fan_in)).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._validation import positive_int
from ..theory.activations import Activation, resolve
from ..theory.activations import activation as _make_activation

__all__ = [
    "SCHEMES",
    "TORCH_GAINS",
    "GainRow",
    "UnstableEOCWarning",
    "delta_orthogonal",
    "eoc_sigma_w",
    "gain_table",
    "he_gain",
    "init_sigma_w",
    "initialize",
    "kumar_gain",
]


def kumar_gain(activation: str | Activation) -> float:
    """Kumar's gain for an activation differentiable at 0 (arXiv 1704.08863).

    Linearising g(s) ~ g(0) + g'(0) s and keeping unit output variance gives
    v^2 = 1 / (N g'(0)^2 (1 + g(0)^2)) for N(0, v^2) weights and fan-in N, so
    the gain sqrt(N) v is ``1 / (|g'(0)| sqrt(1 + g(0)^2))``; e.g. 4/sqrt(1.25) =
    3.5777 for sigmoid (Kumar's "approximately 3.6"). Note that the author's
    script passes 3.6 to Keras as a *variance* scale (std 1.897/sqrt(N)); this
    function follows the paper's formula.

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
        Must be differentiable at 0 with g'(0) != 0.

    Returns
    -------
    float
        The gain sigma_w: weights N(0, sigma_w^2 / fan_in).

    Raises
    ------
    ValueError
        If the activation has a kink at 0 (relu: use He's sqrt(2)) or g'(0) = 0.
    """
    act = resolve(activation)
    for x, jump in act.kinks:
        if x == 0.0 and jump != 0.0:
            raise ValueError(
                f"{act} is not differentiable at 0 (phi' jumps by {jump:g}); Kumar's rule "
                "needs an activation differentiable at 0 (for relu use He's gain sqrt(2))"
            )
    g0 = float(act(0.0))
    d0 = float(act(0.0, 1))
    if d0 == 0.0:
        raise ValueError(f"{act} has phi'(0) = 0; Kumar's rule is undefined")
    return 1.0 / (abs(d0) * math.sqrt(1.0 + g0 * g0))


# --------------------------------------------------------------------------
# Initialisation schemes and the NumPy initialiser
# --------------------------------------------------------------------------

#: Names of the initialisation schemes known to :func:`initialize`.
SCHEMES: tuple[str, ...] = ("eoc", "kumar", "he", "glorot", "lecun")


class UnstableEOCWarning(RuntimeWarning):
    """The only Edge-of-Chaos point at this sigma_b has an unstable q* (V'(q*) > 1)."""


def eoc_sigma_w(activation: str | Activation, sigma_b: float = 0.0) -> float:
    """The Edge-of-Chaos sigma_w at a given sigma_b (chi1(q*) = 1).

    Where several EOC branches exist the first one whose fixed point q* attracts
    (V'(q*) < 1, or the marginal relu-like point / sigma_b = 0 limit) is used.
    Where only unstable branches exist (e.g. silu at sigma_b = 0.2: q^l then
    leaves q* unless the inputs start there) the first one is returned with an
    :class:`UnstableEOCWarning`.

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    sigma_b : float
        Bias standard deviation (b ~ N(0, sigma_b^2)), >= 0.

    Returns
    -------
    float
        sigma_w (weights N(0, sigma_w^2 / fan_in)).

    Raises
    ------
    ValueError
        If no EOC exists at this sigma_b (e.g. relu or linear with sigma_b > 0).

    Examples
    --------
    >>> import sigprop
    >>> round(sigprop.networks.eoc_sigma_w("tanh", 0.2), 8)
    1.30414584
    """
    from ..theory.edge_of_chaos import eoc

    sb = scalar_sigma(sigma_b, "sigma_b")
    act = resolve(activation)
    r = eoc(act, sb)
    n = int(r.n_branches)
    if n == 0:
        raise ValueError(f"{act} has no Edge-of-Chaos point at sigma_b = {sb:g}")
    br = r.branches
    sw, slope, kind = br.sigma_w[:n], br.slope[:n], br.kind[:n]
    ok = (slope < 1.0) | ((kind > 0) & (slope <= 1.0))
    if np.any(ok):
        return float(sw[np.argmax(ok)])
    warnings.warn(
        f"the Edge-of-Chaos fixed point of {act} at sigma_b = {sb:g} is unstable "
        f"(V'(q*) = {float(slope[0]):.4g} > 1): the EOC holds only for inputs with q^1 = q* "
        f"= {float(r.q_star):.4g}",
        UnstableEOCWarning,
        stacklevel=2,
    )
    return float(sw[0])


def he_gain(activation: str | Activation) -> float:
    """He et al.'s gain: sqrt(2 / (1 + a^2)), a the negative slope (leaky_relu), else sqrt(2).

    The rule is derived for rectifiers; for other activations it is the plain
    "weights N(0, 2 / fan_in)" people apply regardless (compare with :func:`gain_table`).
    """
    act = resolve(activation)
    a = act.params.get("negative_slope", 0.0) if act.arccos_family else 0.0
    return math.sqrt(2.0 / (1.0 + a * a))


def scalar_sigma(value, name: str) -> float:
    from .._validation import sigma

    arr = sigma(value, name)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got an array of shape {arr.shape}")
    return float(arr)


def init_sigma_w(
    activation: str | Activation,
    scheme: str | float = "eoc",
    *,
    sigma_b: float = 0.0,
    fan_in: int | None = None,
    fan_out: int | None = None,
) -> float:
    """The sigma_w a scheme gives (weights N(0, sigma_w^2 / fan_in)).

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    scheme : {"eoc", "kumar", "he", "glorot", "lecun"} or float
        ``"eoc"``: :func:`eoc_sigma_w` at ``sigma_b``; ``"kumar"``:
        :func:`kumar_gain`; ``"he"``: :func:`he_gain`; ``"glorot"``: weight
        variance 2 / (fan_in + fan_out), i.e. sigma_w = sqrt(2 fan_in / (fan_in +
        fan_out)) (needs ``fan_in`` and ``fan_out``); ``"lecun"``: 1; a number: that
        sigma_w.
    sigma_b : float
        Bias standard deviation (only ``"eoc"`` depends on it).
    fan_in, fan_out : int, optional
        Layer fan-in and fan-out, ints >= 1 (validated whenever given).

    Returns
    -------
    float
    """
    # Every argument is validated whatever the scheme uses.
    resolve(activation)
    sigma_b = scalar_sigma(sigma_b, "sigma_b")
    fans = {}
    for fname, fan in (("fan_in", fan_in), ("fan_out", fan_out)):
        if fan is not None:
            fans[fname] = positive_int(fan, fname, 2**53)
    if isinstance(scheme, (int, float, np.floating, np.integer)) and not isinstance(scheme, bool):
        return scalar_sigma(scheme, "scheme")
    if not isinstance(scheme, str) or scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES} or a number (sigma_w), got {scheme!r}")
    if scheme == "eoc":
        return eoc_sigma_w(activation, sigma_b)
    if scheme == "kumar":
        return kumar_gain(activation)
    if scheme == "he":
        return he_gain(activation)
    if scheme == "lecun":
        return 1.0
    if len(fans) < 2:
        raise ValueError("the glorot scheme needs fan_in and fan_out")
    return math.sqrt(2.0 * fans["fan_in"] / (fans["fan_in"] + fans["fan_out"]))


def initialize(
    widths: Sequence[int],
    activation: str | Activation,
    scheme: str | float = "eoc",
    *,
    sigma_b: float = 0.0,
    weights: str = "gaussian",
    rng=None,
    dtype=np.float64,
    distribution: str | None = None,
    kernel_size: int | Sequence[int] | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights and biases of a fully connected (or convolutional) network under a scheme.

    Layer l gets W^l of shape (fan_out, fan_in) = (widths[l], widths[l-1]) with
    entries N(0, sigma_w^2 / fan_in), sigma_w from :func:`init_sigma_w`, and
    biases N(0, sigma_b^2) (zeros when sigma_b = 0). The arrays are plain
    NumPy; JAX and Flax take them as they are::

        import jax.numpy as jnp
        Ws, bs = sigprop.initialize([784, 512, 512, 10], "tanh", sigma_b=0.05, rng=0)
        params = [(jnp.asarray(W.T), jnp.asarray(b)) for W, b in zip(Ws, bs)]

    (transpose for Flax ``nn.Dense``, whose kernel is (fan_in, fan_out)). For
    PyTorch modules use :func:`sigprop.networks.torch_init.init_`.

    Parameters
    ----------
    widths : sequence of int
        (d, N_1, ..., N_L): input dimension, then each layer's width.
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    scheme : {"eoc", "kumar", "he", "glorot", "lecun"} or float
        See :func:`init_sigma_w`; a number is used as sigma_w.
    sigma_b : float
        Bias standard deviation, >= 0 (for ``"eoc"`` it also picks the EOC point).
    weights : {"gaussian", "orthogonal", "delta_orthogonal"}
        Gaussian weights, or sigma_w times a Haar (semi-)orthogonal matrix,
        scaled by sqrt(max(1, fan_out / fan_in)) so that the forward variance
        is as for Gaussian weights. ``"delta_orthogonal"`` is the orthogonal
        initialisation of a convolution (Xiao et al. 2018, Algorithm 2; see
        :func:`delta_orthogonal`): with ``kernel_size`` every kernel is zero but
        at its spatial centre, where it is sigma_w sqrt(widths[l] / widths[l-1])
        times a matrix with orthonormal columns (it needs widths[l] >=
        widths[l-1]); without ``kernel_size`` it is ``"orthogonal"``.
    rng : numpy.random.Generator, int or None
    dtype : numpy float dtype
    distribution : str, optional
        Deprecated name of ``weights`` (``"normal"`` meant ``"gaussian"``).
    kernel_size : int or sequence of int, optional
        Convolution kernels instead of matrices: ``widths`` are then channel
        counts and W^l has shape ``(widths[l], widths[l-1], *kernel_size)`` (PyTorch's
        layout), Gaussian entries N(0, sigma_w^2 / fan_in) with fan_in =
        widths[l-1] prod(kernel_size), or delta-orthogonal. ``"orthogonal"`` is
        not defined for kernels (use ``"delta_orthogonal"``).

    Returns
    -------
    weights : list of ndarray
        Shapes (widths[l], widths[l-1]), or ``(widths[l], widths[l-1], *kernel_size)``.
    biases : list of ndarray, shapes (widths[l],)

    Raises
    ------
    ValueError
        For bad widths or kernel_size, an unknown scheme or weight distribution, no EOC
        at sigma_b, or a delta-orthogonal layer with fewer output than input channels.

    Examples
    --------
    >>> import sigprop
    >>> Ws, bs = sigprop.networks.initialize(
    ...     [3, 16, 16], "tanh", 1.2, kernel_size=3, weights="delta_orthogonal", rng=0)
    >>> Ws[1].shape, float(abs(Ws[1][:, :, [0, 2]]).max())
    ((16, 16, 3), 0.0)
    >>> bool(np.allclose(Ws[1][:, :, 1] @ Ws[1][:, :, 1].T, 1.44 * np.eye(16)))
    True
    """
    from .._validation import generator
    from .random_networks import orthogonal_matrix

    if isinstance(widths, np.ndarray):
        widths = widths.tolist()
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or len(widths) < 2:
        raise ValueError(
            f"widths must be a sequence (d, N_1, ..., N_L) of >= 2 ints, got {widths!r}"
        )
    ws = [positive_int(w, "widths[i]") for w in widths]
    sb = scalar_sigma(sigma_b, "sigma_b")
    if distribution is not None:
        warnings.warn(
            "initialize(distribution=...) is renamed weights=... in sigprop 0.2 "
            "('normal' is now 'gaussian', as in random_network and simulate)",
            DeprecationWarning,
            stacklevel=2,
        )
        weights = {"normal": "gaussian"}.get(distribution, distribution)
    if weights not in ("gaussian", "orthogonal", "delta_orthogonal"):
        raise ValueError(
            f"weights must be 'gaussian', 'orthogonal' or 'delta_orthogonal', got {weights!r}"
        )
    ks = None if kernel_size is None else _kernel_size(kernel_size)
    if ks is not None and weights == "orthogonal":
        raise ValueError(
            "weights='orthogonal' is not defined for convolution kernels (kernel_size given): "
            "use weights='delta_orthogonal' (Xiao et al. 2018)"
        )
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise ValueError(f"dtype must be a floating dtype, got {dtype!r}")
    act = resolve(activation)
    gen = generator(rng)
    ws_out, biases = [], []
    if ks is not None and weights == "delta_orthogonal":
        for i, (c_in, c_out) in enumerate(itertools.pairwise(ws)):
            if c_out < c_in:
                raise ValueError(
                    "weights='delta_orthogonal' needs widths[l] >= widths[l-1] (output channels "
                    f">= input channels), got widths[{i + 1}] = {c_out} < widths[{i}] = {c_in}"
                )
    receptive = 1 if ks is None else math.prod(ks)
    for c_in, c_out in itertools.pairwise(ws):
        fan_in, fan_out = c_in * receptive, c_out * receptive
        sw = init_sigma_w(act, scheme, sigma_b=sb, fan_in=fan_in, fan_out=fan_out)
        if weights == "gaussian":
            w = gen.standard_normal((c_out, c_in, *(ks or ()))) * (sw / math.sqrt(fan_in))
        elif ks is not None:
            w = delta_orthogonal(c_out, c_in, ks, sigma_w=sw, rng=gen)
        else:
            w = orthogonal_matrix(gen, fan_out, fan_in, np.float64)
            w *= sw * math.sqrt(max(1.0, fan_out / fan_in))
        b = sb * gen.standard_normal(c_out) if sb > 0 else np.zeros(c_out)
        ws_out.append(w.astype(dt, copy=False))
        biases.append(b.astype(dt, copy=False))
    return ws_out, biases


def _kernel_size(kernel_size, name: str = "kernel_size") -> tuple[int, ...]:
    """kernel_size as a non-empty tuple of ints >= 1 (an int k is (k,))."""
    if isinstance(kernel_size, (int, np.integer)) and not isinstance(kernel_size, bool):
        kernel_size = (kernel_size,)
    if isinstance(kernel_size, np.ndarray):
        kernel_size = kernel_size.tolist()
    if (
        isinstance(kernel_size, (str, bytes))
        or not isinstance(kernel_size, Sequence)
        or len(kernel_size) == 0
    ):
        raise ValueError(
            f"{name} must be an int >= 1 or a non-empty sequence of them, got {kernel_size!r}"
        )
    return tuple(positive_int(k, name) for k in kernel_size)


def delta_orthogonal(
    out_channels: int,
    in_channels: int,
    kernel_size: int | Sequence[int],
    *,
    sigma_w: float = 1.0,
    rng=None,
    dtype=np.float64,
) -> np.ndarray:
    """A delta-orthogonal convolution kernel (Xiao et al. 2018, Algorithm 2).

    Zero everywhere but at the spatial centre (index ``(k - 1) // 2`` along each
    spatial axis, i.e. offset 0 of a "same"-padded convolution), where it is
    ``sigma_w * sqrt(out_channels / in_channels) * Q`` with Q a Haar-distributed
    (out_channels, in_channels) matrix with orthonormal columns. The gain follows
    :func:`initialize`'s orthogonal weights: each output channel has the variance
    sigma_w^2 E[x^2] that Gaussian weights N(0, sigma_w^2 / fan_in) give, and the
    convolution multiplies the norm of its input by exactly sigma_w sqrt(out_channels
    / in_channels), whatever the padding.

    Parameters
    ----------
    out_channels, in_channels : int
        Channel counts, ``out_channels >= in_channels`` (as Xiao et al. require).
    kernel_size : int or sequence of int
        Spatial size of the kernel (one int per spatial dimension).
    sigma_w : float
        The gain, >= 0.
    rng : numpy.random.Generator, int or None
    dtype : numpy float dtype

    Returns
    -------
    numpy.ndarray, shape ``(out_channels, in_channels, *kernel_size)``
        PyTorch's layout (transpose for TensorFlow / Flax, whose kernels are
        ``(*kernel_size, in, out)``).

    Raises
    ------
    ValueError
        If out_channels < in_channels, or for a bad kernel_size or sigma_w.

    Examples
    --------
    >>> from sigprop.networks.initializers import delta_orthogonal
    >>> W = delta_orthogonal(4, 4, 3, rng=0)
    >>> W.shape, bool(np.allclose(W[:, :, 1].T @ W[:, :, 1], np.eye(4)))
    ((4, 4, 3), True)
    >>> float(np.abs(W[:, :, 0]).max()), float(np.abs(W[:, :, 2]).max())
    (0.0, 0.0)
    """
    from .._validation import generator
    from .random_networks import orthogonal_matrix

    c_out = positive_int(out_channels, "out_channels")
    c_in = positive_int(in_channels, "in_channels")
    ks = _kernel_size(kernel_size)
    sw = scalar_sigma(sigma_w, "sigma_w")
    if c_out < c_in:
        raise ValueError(
            "a delta-orthogonal kernel needs out_channels >= in_channels, got "
            f"out_channels = {c_out} < in_channels = {c_in}"
        )
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise ValueError(f"dtype must be a floating dtype, got {dtype!r}")
    gen = generator(rng)
    w = np.zeros((c_out, c_in, *ks))
    centre = (slice(None), slice(None), *((k - 1) // 2 for k in ks))
    w[centre] = orthogonal_matrix(gen, c_out, c_in, np.float64) * (sw * math.sqrt(c_out / c_in))
    return w.astype(dt, copy=False)


# --------------------------------------------------------------------------
# Where the common gains sit
# --------------------------------------------------------------------------

#: torch.nn.init.calculate_gain's values: (activation name, params, gain).
TORCH_GAINS: tuple[tuple[str, dict, float], ...] = (
    ("linear", {}, 1.0),
    ("sigmoid", {}, 1.0),
    ("tanh", {}, 5.0 / 3.0),
    ("relu", {}, math.sqrt(2.0)),
    ("leaky_relu", {"negative_slope": 0.01}, math.sqrt(2.0 / (1.0 + 0.01**2))),
    ("selu", {}, 0.75),
)


@dataclass(frozen=True)
class GainRow:
    """Where an initialisation sigma_w = gain sits in the mean-field theory.

    Attributes
    ----------
    activation : str
    gain : float
        sigma_w (weights N(0, gain^2 / fan_in)).
    sigma_b : float
    q_star : float
        Limiting variance (inf: diverges; NaN: marginal, every q is fixed).
    chi1 : float
    phase : str
        the :class:`sigprop.Phase` name: "ordered", "chaotic", "edge", "divergent",
        "marginal" or "failed".
    xi_c : float
        Correlation depth scale -1/ln chi_c (inf on the edge).
    eoc_sigma_w : float
        The EOC sigma_w at this sigma_b (NaN where none exists).
    eoc_stable : bool
        Whether that EOC fixed point attracts (False where none exists).
    recommendation : str
    """

    activation: str
    gain: float
    sigma_b: float
    q_star: float
    chi1: float
    phase: str
    xi_c: float
    eoc_sigma_w: float
    eoc_stable: bool
    recommendation: str


def gain_table(sigma_b: float = 0.0) -> list[GainRow]:
    """Where torch.nn.init.calculate_gain's gains sit, and the EOC sigma_w instead.

    For each of linear (1), sigmoid (1), tanh (5/3), relu (sqrt 2), leaky_relu
    (sqrt(2 / (1 + 0.01^2))) and selu (3/4), with sigma_w = gain and the given
    sigma_b: q*, chi1, the phase, the correlation depth scale xi_c, and the EOC
    sigma_w at that sigma_b.

    Parameters
    ----------
    sigma_b : float
        Bias standard deviation, >= 0.

    Returns
    -------
    list of GainRow
    """
    from ..theory.edge_of_chaos import eoc
    from ..theory.fixed_points import fixed_point

    sb = scalar_sigma(sigma_b, "sigma_b")
    rows = []
    for name, params, g in TORCH_GAINS:
        act = _make_activation(name, **params)
        fp = fixed_point(act, g, sb)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UnstableEOCWarning)
                sw_eoc = eoc_sigma_w(act, sb)
            stable = not caught
            rec = f"EOC sigma_w = {sw_eoc:.6g}" + ("" if stable else " (unstable q*)")
            if sb == 0.0 and int(eoc(act, sb).kind) == 1:  # the sigma_b = 0 end of the curve
                rec += " (q* -> 0 there; a small sigma_b > 0 gives q* > 0)"
        except ValueError:
            sw_eoc, stable = math.nan, False
            rec = f"no EOC at sigma_b = {sb:g}: use sigma_b = 0"
        rows.append(
            GainRow(
                str(act),
                float(g),
                sb,
                float(fp.q_star),
                float(fp.chi1),
                str(fp.phase),
                float(fp.xi_c),
                sw_eoc,
                stable,
                rec,
            )
        )
    return rows

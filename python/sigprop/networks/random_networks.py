"""Finite random fully connected networks in NumPy, checked against the mean-field theory.

Conventions (docs/theory/maps.rst and docs/theory/finite_networks.rst; Hayou et al.'s,
arXiv:1905.13654 eq. 10): layer l = 1 is the first affine layer on the inputs,
h^1 = W^1 x + b^1 and h^l = W^l phi(h^{l-1}) + b^l, with weights
W^l ~ N(0, sigma_w^2 / fan_in) (shape (fan_out, fan_in)) and biases
b^l ~ N(0, sigma_b^2); sigma_w and sigma_b are standard deviations. The
empirical q^l of an input is the mean of its squared pre-activations over the
width, K^l_ab = h^l_a . h^l_b / N_l is the empirical kernel and
c^l_ab = K^l_ab / sqrt(K^l_aa K^l_bb). The theory is ``sigprop.propagate``
started from the exact layer-1 moments ``q^1 = sigma_b^2 + sigma_w^2 |x|^2 / d``.

Weights are regenerated layer by layer from per-layer seeds (forward and
backward), so a network of width 2000 and depth 200 never holds more than one
layer's weights; only phi'(h^l) of the batch is kept for the backward pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .. import _core
from .._validation import (
    as_float_array,
    check_finite,
    float_dtype,
    generator,
    positive_int,
    real_scalar,
    scalar_sigma,
)
from ..theory.activations import Activation, resolve

__all__ = ["NetworkRun", "RandomNetwork", "correlated_inputs", "random_network"]

_WEIGHT_KINDS = ("gaussian", "orthogonal")


def _evaluate(act: Activation, h: np.ndarray, derivative: int) -> np.ndarray:
    """phi (0) or phi' (1) of an array through the compiled core, in h's dtype."""
    p0, p1 = act.core_params
    flat = np.ascontiguousarray(h, dtype=np.float64).ravel()
    out = _core.evaluate(act.kind, p0, p1, int(derivative), flat)
    return np.asarray(out).reshape(h.shape).astype(h.dtype, copy=False)


def orthogonal_matrix(rng: np.random.Generator, fan_out: int, fan_in: int, dtype) -> np.ndarray:
    """A Haar-distributed (semi-)orthogonal (fan_out, fan_in) matrix (QR with sign fix)."""
    tall = fan_out >= fan_in
    a = rng.standard_normal((fan_out, fan_in) if tall else (fan_in, fan_out))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    q = q if tall else q.T
    return q.astype(dtype, copy=False)


@dataclass(frozen=True)
class NetworkRun:
    """What one forward (and backward) pass of a :class:`RandomNetwork` recorded.

    Layer index 0 of every array is layer l = 1.

    Attributes
    ----------
    kernel : ndarray, shape (depth, batch, batch)
        Empirical kernel K^l_ab = h^l_a . h^l_b / N_l (float64).
    q : ndarray, shape (depth, batch)
        Empirical q^l of each input (the diagonal of ``kernel``).
    grad_sq : ndarray, shape (depth, batch) or None
        ``|dL/dh^l_a|^2``, the squared norm of the loss gradient w.r.t. layer l's
        pre-activations for input a (None without gradients).
    weight_grad_sq : ndarray, shape (depth,) or None
        ``|dL/dW^l|_F^2`` of the loss summed over the batch.
    chi1 : ndarray, shape (depth, batch) or None
        Empirical chi1 at layer l: ``|dL/dh^l|^2 / |dL/dh^{l+1}|^2`` (NaN at l = depth).
    jacobian_sv : ndarray, shape (n_jacobian, min(d, N_L)) or None
        Singular values of the input-output Jacobian d phi(h^L) / dx of the first
        inputs, largest first.
    """

    kernel: np.ndarray
    q: np.ndarray
    grad_sq: np.ndarray | None
    weight_grad_sq: np.ndarray | None
    chi1: np.ndarray | None
    jacobian_sv: np.ndarray | None

    @property
    def c(self) -> np.ndarray:
        """Empirical correlations, shape (depth, batch, batch)."""
        d = np.sqrt(np.einsum("lii->li", self.kernel))
        with np.errstate(invalid="ignore", divide="ignore"):  # q = 0: NaN, no correlation
            return self.kernel / (d[:, :, None] * d[:, None, :])

    @property
    def jacobian_msv(self) -> np.ndarray | None:
        """Mean squared singular value of each Jacobian, ``|J|_F^2 / min(d, N_L)``."""
        if self.jacobian_sv is None:
            return None
        return np.mean(self.jacobian_sv**2, axis=-1)


class RandomNetwork:
    """A random fully connected network whose layers are regenerated on demand.

    Build one with :func:`random_network`. Layer l's weights (shape
    (N_l, N_{l-1})) and biases are drawn from a per-layer seed, so they are the
    same every time :meth:`layer` is called and are never all held in memory
    (unless the network is small enough for the cache).

    Attributes
    ----------
    widths : tuple of int
        (d, N_1, ..., N_L): input dimension, then the width of each layer.
    activation : Activation
    sigma_w, sigma_b : float
        Standard deviations: W ~ N(0, sigma_w^2 / fan_in), b ~ N(0, sigma_b^2).
    weights : {"gaussian", "orthogonal"}
    dtype : numpy.dtype
    """

    def __init__(
        self,
        widths: Sequence[int],
        activation: str | Activation,
        sigma_w: float,
        sigma_b: float,
        *,
        weights: str = "gaussian",
        rng=None,
        dtype=np.float64,
        cache_bytes: int = 2**28,
    ) -> None:
        if isinstance(widths, np.ndarray):
            widths = widths.tolist()
        if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
            raise TypeError(f"widths must be a sequence of ints (d, N_1, ..., N_L), got {widths!r}")
        if len(widths) < 2:
            raise ValueError(f"widths must hold the input dimension and >= 1 layer, got {widths!r}")
        self.widths = tuple(positive_int(w, "widths[i]") for w in widths)
        self.activation = resolve(activation)
        self.sigma_w = scalar_sigma(sigma_w, "sigma_w")
        self.sigma_b = scalar_sigma(sigma_b, "sigma_b")
        if weights not in _WEIGHT_KINDS:
            raise ValueError(f"weights must be one of {_WEIGHT_KINDS}, got {weights!r}")
        self.weights = weights
        self.dtype = float_dtype(dtype)
        gen = generator(rng)
        self._seeds = gen.integers(0, 2**63 - 1, size=self.depth, dtype=np.int64)
        size = sum(a * b + a for a, b in zip(self.widths[1:], self.widths[:-1], strict=True))
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = (
            {} if size * self.dtype.itemsize <= cache_bytes else None
        )

    @property
    def depth(self) -> int:
        """Number of layers L."""
        return len(self.widths) - 1

    def layer(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Weights (N_l, N_{l-1}) and biases (N_l,) of layer ``index`` (1-based).

        Gaussian: W = sigma_w / sqrt(fan_in) * Z. Orthogonal: W = sigma_w *
        sqrt(max(1, fan_out / fan_in)) * Q with Q Haar (semi-)orthogonal, so that
        ``|W x|^2 / fan_out = sigma_w^2 |x|^2 / fan_in`` on average, as for Gaussian W.
        """
        if not 1 <= index <= self.depth:
            raise ValueError(f"layer index must be in 1..{self.depth}, got {index!r}")
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        fan_in, fan_out = self.widths[index - 1], self.widths[index]
        rng = np.random.default_rng(int(self._seeds[index - 1]))
        if self.weights == "gaussian":
            w = rng.standard_normal((fan_out, fan_in), dtype=self.dtype)
            w *= self.dtype.type(self.sigma_w / math.sqrt(fan_in))
        else:
            w = orthogonal_matrix(rng, fan_out, fan_in, self.dtype)
            w *= self.dtype.type(self.sigma_w * math.sqrt(max(1.0, fan_out / fan_in)))
        b = (self.sigma_b * rng.standard_normal(fan_out)).astype(self.dtype)
        if self._cache is not None:
            self._cache[index] = (w, b)
        return w, b

    def run(
        self,
        inputs,
        *,
        gradients: bool = True,
        loss_grad: Callable[[np.ndarray], np.ndarray] | None = None,
        jacobian: int = 0,
        rng=None,
    ) -> NetworkRun:
        """Forward (and backward) pass of a batch, recording per-layer statistics.

        Parameters
        ----------
        inputs : array_like, shape (batch, d)
        gradients : bool
            Also run the backward pass (gradient norms, empirical chi1).
        loss_grad : callable, optional
            Maps the network output phi(h^L), shape (batch, N_L), to the gradient
            of the loss with respect to it (same shape). Default: the random
            readout L = sum_a u . phi(h^L_a) with u ~ N(0, I / N_L) drawn from ``rng``.
        jacobian : int
            Compute the full input-output Jacobian d phi(h^L)/dx (forward mode,
            O(L N^2 d) each) of the first ``jacobian`` inputs and its singular values.
        rng : numpy.random.Generator, int or None
            For the random readout.

        Returns
        -------
        NetworkRun
        """
        X = as_float_array(inputs, "inputs")
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] != self.widths[0]:
            raise ValueError(f"inputs must have shape (batch, {self.widths[0]}), got {X.shape}")
        check_finite(X, "inputs")
        if isinstance(jacobian, bool) or not isinstance(jacobian, (int, np.integer)):
            raise TypeError(f"jacobian must be an int, got {jacobian!r}")
        if not 0 <= jacobian <= X.shape[0]:
            raise ValueError(f"jacobian must be in 0..{X.shape[0]} (batch size), got {jacobian}")
        act, L, B = self.activation, self.depth, X.shape[0]
        x = X.astype(self.dtype)
        kernel = np.empty((L, B, B))
        gram_x = np.empty((L, B, B)) if gradients else None  # Gram of layer inputs
        dphi: list[np.ndarray] = []
        jac = [np.eye(self.widths[0], dtype=self.dtype) for _ in range(jacobian)]
        for index in range(1, L + 1):
            w, b = self.layer(index)
            if gradients:
                gram_x[index - 1] = x.astype(np.float64) @ x.astype(np.float64).T
            h = x @ w.T
            h += b
            h64 = h.astype(np.float64, copy=False)
            kernel[index - 1] = (h64 @ h64.T) / h.shape[1]
            if gradients or jacobian:
                d = _evaluate(act, h, 1)
                if gradients:
                    dphi.append(d)
                for j in range(jacobian):
                    jac[j] = d[j][:, None] * (w @ jac[j])
            x = _evaluate(act, h, 0)
            del h, h64
        kernel = 0.5 * (kernel + kernel.transpose(0, 2, 1))
        q = np.einsum("lii->li", kernel).copy()
        sv = None
        if jacobian:
            sv = np.stack([np.linalg.svd(m.astype(np.float64), compute_uv=False) for m in jac])
        if not gradients:
            return NetworkRun(kernel, q, None, None, None, sv)

        if loss_grad is None:
            u = generator(rng).standard_normal(self.widths[-1]) / math.sqrt(self.widths[-1])
            g = np.broadcast_to(u.astype(self.dtype), x.shape).copy()
        else:
            g = np.asarray(loss_grad(x), dtype=self.dtype)
            if g.shape != x.shape:
                raise ValueError(f"loss_grad must return shape {x.shape}, got {g.shape}")
        grad_sq = np.empty((L, B))
        wgrad_sq = np.empty(L)
        for index in range(L, 0, -1):
            delta = g * dphi.pop()
            d64 = delta.astype(np.float64, copy=False)
            gd = d64 @ d64.T
            grad_sq[index - 1] = np.diag(gd)
            # |sum_a delta_a x_a^T|_F^2 = sum_ab (delta_a . delta_b)(x_a . x_b)
            wgrad_sq[index - 1] = float(np.sum(gd * gram_x[index - 1]))
            if index > 1:
                w, _ = self.layer(index)
                g = delta @ w
        with np.errstate(divide="ignore", invalid="ignore"):
            chi = np.full((L, B), np.nan)
            chi[:-1] = grad_sq[:-1] / grad_sq[1:]
        return NetworkRun(kernel, q, grad_sq, wgrad_sq, chi, sv)


def random_network(
    widths: Sequence[int],
    activation: str | Activation,
    sigma_w: float,
    sigma_b: float,
    *,
    weights: str = "gaussian",
    rng=None,
    dtype=np.float64,
) -> RandomNetwork:
    """A random fully connected network (the convention of docs/theory/maps.rst).

    Parameters
    ----------
    widths : sequence of int
        (d, N_1, ..., N_L): the input dimension, then each layer's width.
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    sigma_w, sigma_b : float
        Standard deviations: W ~ N(0, sigma_w^2 / fan_in), b ~ N(0, sigma_b^2).
    weights : {"gaussian", "orthogonal"}
        Gaussian weights, or sigma_w times a Haar (semi-)orthogonal matrix scaled
        so that the forward variance convention is the same.
    rng : numpy.random.Generator, int or None
        Source of the per-layer seeds.
    dtype : float64 (default) or float32

    Returns
    -------
    RandomNetwork

    Examples
    --------
    >>> import numpy as np, sigprop
    >>> net = sigprop.random_network([10, 500, 500], "tanh", 1.3, 0.2, rng=0)
    >>> run = net.run(np.ones((2, 10)), gradients=False)
    >>> run.q.shape
    (2, 2)
    """
    return RandomNetwork(
        widths, activation, sigma_w, sigma_b, weights=weights, rng=rng, dtype=dtype
    )


def correlated_inputs(
    n: int,
    dim: int,
    q1: float,
    c1: float,
    sigma_w: float,
    sigma_b: float,
    *,
    rng=None,
) -> np.ndarray:
    """Inputs whose layer-1 variance is exactly q1 and pairwise correlation exactly c1.

    x_a = r (sqrt(rho) e_0 + sqrt(1 - rho) e_a) with orthonormal e_0..e_n, r^2 =
    d (q1 - sigma_b^2) / sigma_w^2 and rho = (c1 q1 - sigma_b^2) / (q1 - sigma_b^2),
    so that ``q^1 = sigma_b^2 + sigma_w^2 |x_a|^2 / d = q1`` and c^1 = c1
    (docs/theory/finite_networks.rst).

    Parameters
    ----------
    n, dim : int
        Number of inputs and input dimension (dim >= n + 1).
    q1 : float
        Target q^1 (> sigma_b^2).
    c1 : float
        Target correlation, with sigma_b^2 / q1 <= c1 <= 1.
    sigma_w, sigma_b : float
        Standard deviations of the first layer (W ~ N(0, sigma_w^2 / d)), sigma_w > 0.
    rng : numpy.random.Generator, int or None

    Returns
    -------
    numpy.ndarray, shape (n, dim)
    """
    n, dim = positive_int(n, "n"), positive_int(dim, "dim")
    if dim < n + 1:
        raise ValueError(f"dim must be >= n + 1 = {n + 1}, got {dim}")
    sw, sb = scalar_sigma(sigma_w, "sigma_w"), scalar_sigma(sigma_b, "sigma_b")
    if sw == 0:
        raise ValueError("sigma_w must be > 0, got 0.0")
    q1, c1 = real_scalar(q1, "q1"), real_scalar(c1, "c1")
    if not q1 > sb * sb:
        raise ValueError(f"q1 must exceed sigma_b^2 = {sb * sb:g}, got {q1!r}")
    rho = (c1 * q1 - sb * sb) / (q1 - sb * sb)
    if not (0.0 <= rho <= 1.0):
        raise ValueError(f"c1 must lie in [sigma_b^2 / q1, 1] = [{sb * sb / q1:g}, 1], got {c1!r}")
    e, _ = np.linalg.qr(generator(rng).standard_normal((dim, n + 1)))
    r = math.sqrt(dim * (q1 - sb * sb)) / sw
    return (r * (math.sqrt(rho) * e[:, :1] + math.sqrt(1.0 - rho) * e[:, 1:])).T.copy()

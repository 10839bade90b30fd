"""Width-4 ReLU networks that compose asymmetric triangles.

Milkert, Hyde & Laine 2023; docs/theory/exponential_regions.rst.

Conventions of this module (the papers' indices differ by one):

* peaks a_1, ..., a_L in (0, 1) (Python ``peaks[0] .. peaks[L-1]``);
* the triangle T_a(x) = x / a on [0, a] and (1 - x) / (1 - a) on [a, 1], written
  with two ReLUs as relu(x) / a - relu(x - a) / (a (1 - a)) on [0, 1];
* the compositions g_0(x) = x and g_k = T_{a_k} o g_{k-1}: g_k has exactly 2^k
  linear pieces on [0, 1];
* the network with L hidden layers of width 4 computes
  F_L(x) = x - sum_{k=1..L} s_k g_k(x) (``output="sum"``) or g_L
  (``output="composition"``).

Hidden layer k holds the neurons (sum, t1, t2, bias) =
(F_{k-1} + M_{k-1}, relu(s_{k-1} g_{k-1}), relu(s_{k-1} (g_{k-1} - a_k)), s_{k-1})
with s_0 = 1 and M_k = s_1 + ... + s_k. The bias neuron carries the scale, so
no bias is exponentially small; the sum neuron carries F + M, which is
x + sum_j s_j (1 - g_j) >= 0 on [0, 1], so its ReLU is the identity there (the
output layer subtracts M). With S_k = s_k / s_{k-1}, the weight matrix from
hidden layer k to k + 1 (rows and columns ordered sum, t1, t2, bias) is::

    [ 1   -S/a    S/(a - a^2)   S          ]
    [ 0    S/a   -S/(a - a^2)   0          ]      a = a_k, S = S_k,
    [ 0    S/a   -S/(a - a^2)  -S a_{k+1}  ]      all biases 0
    [ 0    0      0             S          ]

The published summaries' transcription of the paper's matrix has "+-" on the sum
row and no bias column there;
this module subtracts the new term and adds the constant S * bias = s_k to keep
the sum neuron non-negative.

The differentiability condition ("Theorem 3.1") ties the scales to the peaks:
s_{k+1} = s_k (1 - a_{k+1}) a_{k+2}, s_1 = (1 - a_1) a_2, i.e.
S_k = (1 - a_k) a_{k+1}; it needs one more peak a_{L+1} than the network has
layers. With every peak 1/2 it gives s_k = 4^-k and F_L is Yarotsky's
approximation of x^2 with maximum error 2^(-2L-2) (oracle T11 of
docs/reference_values.rst; Yarotsky 2017).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "smooth_scales",
    "triangle",
    "triangle_composition",
    "triangle_network",
]

_OUTPUTS = ("sum", "composition")


def _peaks(peaks: Any, name: str = "peaks", min_len: int = 1) -> np.ndarray:
    arr = np.asarray(peaks)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.ndim == 0 or arr.shape[-1] < min_len:
        raise ValueError(
            f"{name} must have at least {min_len} entries on its last axis, got shape {arr.shape}"
        )
    bad = ~((arr > 0.0) & (arr < 1.0))
    if np.any(bad):
        raise ValueError(f"{name} must lie in the open interval (0, 1), got {arr[bad].flat[0]!r}")
    return arr


def triangle(x: Any, a: float) -> np.ndarray:
    """The asymmetric triangle T_a on [0, 1]: x / a up to a, then (1 - x) / (1 - a).

    Parameters
    ----------
    x : array_like
        Points of [0, 1].
    a : float
        The peak, in (0, 1).

    Returns
    -------
    ndarray
        T_a(x), with T_a(0) = T_a(1) = 0 and T_a(a) = 1.
    """
    a = float(_peaks(np.atleast_1d(a), "a")[0]) if np.ndim(a) == 0 else float("nan")
    if not np.isfinite(a):
        raise ValueError(f"a must be a scalar peak in (0, 1), got {a!r}")
    x = np.asarray(x, dtype=np.float64)
    return np.where(x <= a, x / a, (1.0 - x) / (1.0 - a))


def triangle_composition(x: Any, peaks: Any) -> np.ndarray:
    """The composition g_L = T_{a_L} o ... o T_{a_1} evaluated directly.

    Parameters
    ----------
    x : array_like
        Points of [0, 1].
    peaks : array_like, shape (L,)
        a_1, ..., a_L in (0, 1).

    Returns
    -------
    ndarray
        g_L(x); it has exactly 2^L linear pieces on [0, 1].
    """
    g = np.asarray(x, dtype=np.float64)
    for a in _peaks(peaks).reshape(-1):
        g = triangle(g, a)
    return g


def smooth_scales(peaks: Any) -> np.ndarray:
    """Scales s_1..s_L from peaks a_1..a_{L+1} by the differentiability condition.

    s_k = prod_{i <= k} (1 - a_i) a_{i+1} (the differentiability condition,
    "Theorem 3.1" of Milkert et al.'s ICML version according to published
    summaries); all peaks 1/2 give s_k = 4^-k (Yarotsky).

    Parameters
    ----------
    peaks : array_like, shape (..., L + 1)
        Peaks in (0, 1); leading axes are batch axes.

    Returns
    -------
    ndarray, shape (..., L)
    """
    a = _peaks(peaks, min_len=2)
    return np.cumprod((1.0 - a[..., :-1]) * a[..., 1:], axis=-1)


def triangle_network(
    peaks: Any, scales: Any = None, *, output: str = "sum"
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights of the width-4 ReLU network that composes triangles.

    Milkert et al. 2023; docs/theory/exponential_regions.rst.

    Parameters
    ----------
    peaks : array_like, shape (..., L) or (..., L + 1)
        Peaks a_k in (0, 1). With ``scales=None`` the scales follow the
        differentiability condition (:func:`smooth_scales`) and ``peaks`` needs
        L + 1 entries (the last sets s_L only); otherwise L entries. Leading axes
        are batch axes (independent networks).
    scales : array_like, shape (..., L), optional
        s_1, ..., s_L > 0 of F_L = x - sum_k s_k g_k.
    output : {"sum", "composition"}
        The output neuron: F_L(x) (convex, 2^L linear pieces, F(0) = 0,
        F(1) = 1) or the composition g_L(x) (2^L pieces).

    Returns
    -------
    weights, biases : list of ndarray
        L + 1 layers: weights[l] of shape (..., fan_out, fan_in), biases[l] of
        shape (..., fan_out); input width 1, hidden width 4, output width 1.
        These are not random weights, so no sigma_w convention applies.
    """
    if output not in _OUTPUTS:
        raise ValueError(f"output must be one of {_OUTPUTS}, got {output!r}")
    if scales is None:
        a_all = _peaks(peaks, min_len=2)
        a = a_all[..., :-1]
        ratios = (1.0 - a_all[..., :-1]) * a_all[..., 1:]
    else:
        a = _peaks(peaks)
        s = np.asarray(scales, dtype=np.float64)
        if s.shape != a.shape:
            raise ValueError(f"scales must have shape {a.shape} (that of peaks), got {s.shape}")
        if not np.all((s > 0.0) & np.isfinite(s)):
            raise ValueError("scales must be finite and > 0")
        ratios = s / np.concatenate((np.ones_like(s[..., :1]), s[..., :-1]), axis=-1)
    return network_from_ratios(a, ratios, output=output)


def network_from_ratios(
    a: np.ndarray, ratios: np.ndarray, *, output: str = "sum"
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The triangle network from peaks a_1..a_L and ratios S_k = s_k / s_{k-1}.

    Internal building block of :func:`triangle_network` and of the
    reparameterised training (no validation).
    """
    batch = a.shape[:-1]
    n_layers = a.shape[-1]
    one = np.ones(batch)
    zero = np.zeros(batch)
    weights = [np.stack([one, one, one, zero], axis=-1)[..., None]]
    biases = [np.stack([zero, zero, -a[..., 0], one], axis=-1)]
    for k in range(n_layers - 1):
        ak, sk, anext = a[..., k], ratios[..., k], a[..., k + 1]
        p = sk / ak
        q = sk / (ak * (1.0 - ak))
        w = np.zeros((*batch, 4, 4))
        w[..., 0, :] = np.stack([one, -p, q, sk], axis=-1)
        w[..., 1, :] = np.stack([zero, p, -q, zero], axis=-1)
        w[..., 2, :] = np.stack([zero, p, -q, -anext * sk], axis=-1)
        w[..., 3, 3] = sk
        weights.append(w)
        biases.append(np.zeros((*batch, 4)))
    aL, sL = a[..., -1], ratios[..., -1]
    if output == "sum":
        s = np.cumprod(ratios, axis=-1)
        w_out = np.stack([one, -sL / aL, sL / (aL * (1.0 - aL)), zero], axis=-1)
        b_out = -np.sum(s[..., :-1], axis=-1)
    else:
        s_prev = np.prod(ratios[..., :-1], axis=-1)
        w_out = np.stack(
            [zero, 1.0 / (aL * s_prev), -1.0 / (aL * (1.0 - aL) * s_prev), zero], axis=-1
        )
        b_out = zero
    weights.append(w_out[..., None, :])
    biases.append(b_out[..., None])
    return weights, biases

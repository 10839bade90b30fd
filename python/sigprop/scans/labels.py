"""Labels of the activation axis of a scan: one string per activation and its parameters."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np

from .._validation import as_float_array, keep_probability, sigma
from ..theory.activations import Activation, activation, is_builtin_name

__all__ = ["activation_from_label", "activation_label"]

# ----------------------------------------------------------------------------- cells


@dataclass(frozen=True)
class Combo:
    """One activation with fixed parameters: a (activation, params...) index."""

    index: tuple[int, ...]
    act: Activation
    keep_prob: float = 1.0


def activation_list(activations) -> list[str | Activation]:
    if isinstance(activations, (str, Activation)):
        return [activations]
    try:
        acts = list(activations)
    except TypeError:
        raise TypeError(
            f"activations must be a name, an Activation or a sequence of them, got {activations!r}"
        ) from None
    if not acts:
        raise ValueError("activations must not be empty")
    return acts


def grid_axis(values, name: str) -> np.ndarray:
    arr = np.atleast_1d(sigma(values, name))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty scalar or 1-d array, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def activation_combos(
    activations, params, keep_prob=None
) -> tuple[list[str], dict[str, np.ndarray], list[Combo]]:
    """Labels, parameter coordinates and the activation for every combination.

    With ``keep_prob`` (dropout keep probabilities) a last ``keep_prob`` dimension
    follows the activation parameters."""
    acts = activation_list(activations)
    params = dict(params or {})
    pcoords: dict[str, np.ndarray] = {}
    for pname, vals in params.items():
        if not isinstance(pname, str) or pname in ("activation", "sigma_b", "sigma_w", "keep_prob"):
            raise ValueError(f"params keys must be parameter names, got {pname!r}")
        arr = np.atleast_1d(np.asarray(vals, dtype=np.float64))
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"params[{pname!r}] must be a non-empty 1-d sequence, got {vals!r}")
        pcoords[pname] = arr
    if keep_prob is not None:
        rho = np.atleast_1d(as_float_array(keep_prob, "keep_prob"))
        if rho.ndim != 1 or rho.size == 0:
            raise ValueError(
                f"keep_prob must be a non-empty scalar or 1-d array, got {keep_prob!r}"
            )
        for v in rho:
            keep_probability(float(v))
        pcoords["keep_prob"] = np.ascontiguousarray(rho, dtype=np.float64)
    labels: list[str] = []
    combos: list[Combo] = []
    for i, a in enumerate(acts):
        if params and isinstance(a, Activation):
            raise ValueError(
                f"params given with an Activation object {a}; pass the activation by name"
            )
        if params:
            if not isinstance(a, str):
                raise ValueError(
                    f"params given with {a!r}; pass the activation by name or as an expression"
                )
            labels.append(Activation(a).name if is_builtin_name(a) else a.strip())
            base = None
        else:
            base = activation(a)
            labels.append(activation_label(base) if is_builtin_name(base.name) else str(base))
        for idx in itertools.product(*(range(v.size) for v in pcoords.values())):
            kw = {p: float(pcoords[p][j]) for p, j in zip(pcoords, idx, strict=True)}
            rho = kw.pop("keep_prob", 1.0)
            combos.append(Combo((i, *idx), activation(a, **kw) if params else base, rho))
    if len(set(labels)) != len(labels):
        raise ValueError(f"activations must be distinct, got {labels}")
    return labels, pcoords, combos


def _format_param(value: float) -> str:
    """Shortest text that parses back to exactly ``value`` (``1.0`` -> ``"1"``)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def activation_label(act: str | Activation) -> str:
    """The Dataset label of an activation, e.g. ``"elu(alpha=0.5000001)"``.

    Parameters are written with the shortest decimal text that reads back as
    the same double, so ``activation_from_label(activation_label(a))`` has
    exactly the parameters of ``a``.

    Parameters
    ----------
    act : str or Activation

    Returns
    -------
    str
    """
    a = activation(act)
    if not a.params:
        return a.name
    inner = ", ".join(f"{k}={_format_param(v)}" for k, v in a.params.items())
    return f"{a.name}({inner})"


def activation_from_label(label: str) -> Activation:
    """The Activation of a Dataset label such as ``"leaky_relu(negative_slope=0.2)"``.

    Parameters
    ----------
    label : str
        An ``activation`` coordinate value of a :func:`scan` or :func:`eoc_curve` Dataset.

    Returns
    -------
    Activation
    """
    label = str(label).strip()
    if "(" not in label:
        return activation(label)
    head = label.split("(", 1)[0].strip()
    if not is_builtin_name(head):
        # an expression, possibly followed by its parameters: "x*sigmoid(b*x)(b=1.5)"
        m = re.fullmatch(r"(.*\))\(((?:\s*[A-Za-z_]\w*\s*=\s*[^,()=]+,?)+)\)", label)
        if m is None:
            return activation(label)
        kw = {}
        for part in filter(None, (p.strip() for p in m.group(2).split(","))):
            key, _, val = part.partition("=")
            kw[key.strip()] = float(val)
        return activation(m.group(1), **kw)
    if not label.endswith(")"):
        raise ValueError(f"cannot parse activation label {label!r}")
    name, inner = label[:-1].split("(", 1)
    kw = {}
    for part in filter(None, (p.strip() for p in inner.split(","))):
        key, _, val = part.partition("=")
        try:
            kw[key.strip()] = float(val)
        except ValueError:
            raise ValueError(f"cannot parse activation label {label!r}") from None
    return activation(name.strip(), **kw)

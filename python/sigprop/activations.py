"""Activation functions known to the compiled core.

Every public function that takes an ``activation`` accepts either a name
(``"tanh"``) or an :class:`Activation` returned by :func:`activation`, which
also carries parameters (``activation("leaky_relu", negative_slope=0.2)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ACTIVATIONS", "Activation", "activation", "linear_region"]


@dataclass(frozen=True)
class _Spec:
    kind: int
    formula: str
    params: tuple[tuple[str, float], ...] = ()
    # Each parameter must satisfy this predicate; the text says what it means.
    positive: tuple[str, ...] = ()
    nonnegative: tuple[str, ...] = ()


_SPECS: dict[str, _Spec] = {
    "linear": _Spec(0, "x"),
    "relu": _Spec(1, "max(x, 0)"),
    "leaky_relu": _Spec(2, "x if x > 0 else negative_slope * x", (("negative_slope", 0.01),)),
    "elu": _Spec(
        3, "x if x > 0 else alpha * (exp(x) - 1)", (("alpha", 1.0),), nonnegative=("alpha",)
    ),
    "selu": _Spec(4, "lambda * elu_alpha(x), alpha = 1.6732632..., lambda = 1.0507009..."),
    "gelu": _Spec(5, "x * Phi(x) (exact, erf form)"),
    "silu": _Spec(6, "x * sigmoid(x)"),
    "softplus": _Spec(7, "log(1 + exp(x))"),
    "shifted_softplus": _Spec(8, "log(1 + exp(x)) - log(2)"),
    "tanh": _Spec(9, "tanh(x)"),
    "erf": _Spec(10, "erf(x)"),
    "sigmoid": _Spec(11, "1 / (1 + exp(-x))"),
    "softsign": _Spec(12, "x / (1 + |x|)"),
    "sin": _Spec(13, "sin(x)"),
    "hard_tanh": _Spec(14, "clip(x, -a, a)", (("a", 1.0),), positive=("a",)),
    "shifted_relu": _Spec(15, "max(0, x - tau)", (("tau", 1.0),), nonnegative=("tau",)),
    "soft_threshold": _Spec(
        16, "sign(x) * max(|x| - tau, 0)", (("tau", 1.0),), nonnegative=("tau",)
    ),
    "linear_region_tanh": _Spec(
        17, "x on [-a, a], sign(x) * (a + tanh(|x| - a)) outside", (("a", 1.0),), positive=("a",)
    ),
    "linear_floor": _Spec(18, "max(x, -a)", (("a", 1.0),), positive=("a",)),
}

_ALIASES = {"swish": "silu", "hardtanh": "hard_tanh", "identity": "linear"}

#: Names of the built-in activations (aliases: swish = silu, hardtanh = hard_tanh,
#: identity = linear).
ACTIVATIONS: tuple[str, ...] = tuple(_SPECS)


@dataclass(frozen=True)
class Activation:
    """A built-in activation with its parameters.

    Build one with :func:`activation`; ``str(act)`` gives a readable name such as
    ``"leaky_relu(negative_slope=0.2)"``.

    Attributes
    ----------
    name : str
        Canonical name, one of :data:`ACTIVATIONS`.
    params : dict
        Parameter values (defaults filled in).
    formula : str
        The definition of phi(x).
    """

    name: str
    params: dict[str, float] = field(default_factory=dict, hash=False, compare=False)
    formula: str = field(default="", compare=False)
    _key: tuple[Any, ...] = field(default=(), repr=False)

    @property
    def kind(self) -> int:
        """Integer id of the activation in the compiled core."""
        return _SPECS[self.name].kind

    @property
    def core_params(self) -> tuple[float, float]:
        """The (p0, p1) parameter pair passed to the compiled core."""
        vals = [*self.params.values(), 0.0, 0.0]
        return float(vals[0]), float(vals[1])

    def __call__(self, x, derivative: int = 0):
        """Evaluate phi (derivative=0), phi' (1) or phi'' (2, almost everywhere) at x.

        At a kink the right derivative is returned.
        """
        from . import _core
        from ._validation import as_float_array, int_choice, scalar_or_array

        derivative = int_choice(derivative, "derivative", (0, 1, 2))
        xa = as_float_array(x, "x")
        p0, p1 = self.core_params
        out = _core.evaluate(self.kind, p0, p1, int(derivative), xa.ravel())
        return scalar_or_array(out.reshape(xa.shape), xa.ndim == 0)

    @property
    def kinks(self) -> list[tuple[float, float]]:
        """Points where phi, phi' or phi'' is not smooth, with the jump of phi' there."""
        from . import _core

        p0, p1 = self.core_params
        return [tuple(k) for k in _core.kinks(self.kind, p0, p1)]

    def __str__(self) -> str:
        if not self.params:
            return self.name
        inner = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{self.name}({inner})"


def activation(name: str | Activation, **params: float) -> Activation:
    """Return the built-in activation ``name`` with parameters ``params``.

    Parameters
    ----------
    name : str or Activation
        One of :data:`ACTIVATIONS` (or an alias: ``swish``, ``hardtanh``,
        ``identity``). An :class:`Activation` is returned unchanged (then no
        parameters may be given).
    **params : float
        Parameters of the activation: ``negative_slope`` (leaky_relu, default
        0.01), ``alpha`` (elu, default 1), ``a`` (hard_tanh, linear_region_tanh,
        linear_floor: half-width of the linear region, default 1), ``tau``
        (shifted_relu, soft_threshold: threshold, default 1).

    Returns
    -------
    Activation

    Raises
    ------
    ValueError
        For an unknown name or parameter, or a parameter out of range; the
        message lists what exists.
    TypeError
        If ``name`` is neither a string nor an Activation, or a parameter is
        not a real number.

    Examples
    --------
    >>> import sigprop
    >>> str(sigprop.activation("hard_tanh", a=2))
    'hard_tanh(a=2)'
    """
    if isinstance(name, Activation):
        if params:
            raise ValueError(f"parameters {sorted(params)} given for an Activation object {name}")
        return name
    if not isinstance(name, str):
        raise TypeError(f"activation must be a name (str) or an Activation, got {name!r}")
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in _SPECS:
        raise ValueError(
            f"unknown activation {name!r}; built-in activations are: {', '.join(ACTIVATIONS)}"
        )
    spec = _SPECS[key]
    allowed = dict(spec.params)
    unknown = set(params) - set(allowed)
    if unknown:
        what = ", ".join(allowed) if allowed else "none"
        raise ValueError(
            f"unknown parameter(s) {sorted(unknown)} for activation {key!r}; "
            f"its parameters are: {what}"
        )
    values: dict[str, float] = {}
    for pname, default in spec.params:
        v = params.get(pname, default)
        if isinstance(v, bool) or (not isinstance(v, (int, float)) and not hasattr(v, "__float__")):
            raise TypeError(f"parameter {pname} of {key} must be a real number, got {v!r}")
        try:
            v = float(v)
        except (TypeError, ValueError) as exc:  # e.g. a numpy array of size > 1
            raise TypeError(f"parameter {pname} of {key} must be a real number, got {v!r}") from exc
        if not math.isfinite(v):
            raise ValueError(f"parameter {pname} of {key} must be finite, got {v!r}")
        if pname in spec.positive and not v > 0:
            raise ValueError(f"parameter {pname} of {key} must be > 0, got {v!r}")
        if pname in spec.nonnegative and not v >= 0:
            raise ValueError(f"parameter {pname} of {key} must be >= 0, got {v!r}")
        values[pname] = v
    return Activation(key, values, spec.formula, (key, *values.values()))


def linear_region(a: float = 1.0, tail: str = "clip") -> Activation:
    """An activation equal to the identity on [-a, a] (Murray et al., SPEC 2).

    Parameters
    ----------
    a : float
        Half-width of the linear region, > 0.
    tail : {"clip", "tanh", "floor"}
        Behaviour outside: ``"clip"`` is hard tanh clip(x, -a, a); ``"tanh"``
        continues as sign(x)(a + tanh(|x| - a)) (twice differentiable);
        ``"floor"`` is max(x, -a), linear on [-a, infinity).

    Returns
    -------
    Activation
    """
    tails = {"clip": "hard_tanh", "tanh": "linear_region_tanh", "floor": "linear_floor"}
    if tail not in tails:
        raise ValueError(f"unknown tail {tail!r}; choose one of {', '.join(tails)}")
    return activation(tails[tail], a=a)


def resolve(act: str | Activation) -> Activation:
    """Accept a name or an Activation (internal)."""
    return activation(act)

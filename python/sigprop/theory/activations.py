"""Activation functions known to the compiled core.

Every public function that takes an ``activation`` accepts a name
(``"tanh"``), an expression in x (``"x * tanh(softplus(x))"``), a callable phi,
or an :class:`Activation` returned by :func:`activation`, which also carries
parameters (``activation("leaky_relu", negative_slope=0.2)``). The built-ins
are read from the one table of the compiled core.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import _core
from .._validation import real_param

__all__ = ["ACTIVATIONS", "Activation", "activation", "clear_cache", "linear_region"]


@dataclass(frozen=True)
class _Spec:
    kind: int
    formula: str
    params: tuple[tuple[str, float], ...] = ()
    # Each parameter must satisfy this predicate; the text says what it means.
    positive: tuple[str, ...] = ()
    nonnegative: tuple[str, ...] = ()
    odd: bool = False
    arccos_family: bool = False  # relu / leaky_relu: closed-form arc-cosine kernel


def _specs_from_core() -> tuple[dict[str, _Spec], dict[str, str]]:
    """The built-ins, from the one table in the compiled core (activation.hpp)."""
    specs: dict[str, _Spec] = {}
    aliases: dict[str, str] = {}
    for row in _core.builtins():
        ps = tuple((str(n), float(d)) for n, d, _ in row["params"])
        specs[row["name"]] = _Spec(
            int(row["kind"]),
            str(row["formula"]),
            ps,
            tuple(n for n, _, r in row["params"] if r == "positive"),
            tuple(n for n, _, r in row["params"] if r == "nonnegative"),
            bool(row["odd"]),
            bool(row["arccos_family"]),
        )
        for a in filter(None, str(row["aliases"]).split(",")):
            aliases[a.strip()] = row["name"]
    return specs, aliases


_SPECS, _ALIASES = _specs_from_core()

#: Names of the built-in activations (aliases: swish = silu, hardtanh = hard_tanh,
#: identity = linear).
ACTIVATIONS: tuple[str, ...] = tuple(_SPECS)


class Activation:
    """An activation: a built-in with its parameters, or a user-defined phi.

    Build one with :func:`activation`; ``str(act)`` gives a readable name such as
    ``"leaky_relu(negative_slope=0.2)"``. Two activations are equal exactly when
    they compute the same thing: same name and parameters (and, for user-defined
    ones, the same definition).

    Parameters
    ----------
    name : str
        A built-in name, one of :data:`ACTIVATIONS` (or an alias).
    params : dict, optional
        Parameter values; missing ones take their defaults.

    Attributes
    ----------
    name : str
        Canonical name.
    params : dict
        Parameter values (defaults filled in).
    formula : str
        The definition of phi(x).
    """

    is_custom = False

    def __init__(self, name: str, params: dict[str, float] | None = None) -> None:
        if not isinstance(name, str):
            raise TypeError(f"activation name must be a str, got {name!r}")
        key = _ALIASES.get(name.lower(), name.lower())
        if key not in _SPECS:
            raise ValueError(
                f"unknown activation {name!r}; built-in activations are: "
                f"{', '.join(ACTIVATIONS)} (for your own phi use sigprop.activation(fn) or "
                "sigprop.activation('expression in x'))"
            )
        spec = _SPECS[key]
        params = dict(params or {})
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
            v = real_param(key, pname, params.get(pname, default))
            if pname in spec.positive and not v > 0:
                raise ValueError(f"parameter {pname} of {key} must be > 0, got {v!r}")
            if pname in spec.nonnegative and not v >= 0:
                raise ValueError(f"parameter {pname} of {key} must be >= 0, got {v!r}")
            values[pname] = v
        self._name = key
        self._params = values
        self._formula = spec.formula

    @property
    def name(self) -> str:
        """Canonical name."""
        return self._name

    @property
    def params(self) -> dict[str, float]:
        """Parameter values (a copy)."""
        return dict(self._params)

    @property
    def formula(self) -> str:
        """The definition of phi(x)."""
        return self._formula

    @property
    def kind(self) -> int:
        """Integer id of the activation's kind in the compiled core."""
        return _SPECS[self._name].kind

    @property
    def arccos_family(self) -> bool:
        """True for relu and leaky_relu (closed-form arc-cosine kernels)."""
        return _SPECS[self._name].arccos_family

    @property
    def core_params(self) -> tuple[float, float]:
        """The (p0, p1) parameter pair passed to the compiled core."""
        vals = [*self._params.values(), 0.0, 0.0]
        return float(vals[0]), float(vals[1])

    def _identity(self) -> tuple[Any, ...]:
        return (self._name, tuple(self._params.items()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Activation):
            return NotImplemented
        return type(self) is type(other) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._identity()))

    def __reduce__(self):
        return (Activation, (self._name, dict(self._params)))

    def __call__(self, x, derivative: int = 0):
        """Evaluate phi (derivative=0), phi' (1) or phi'' (2, almost everywhere) at x.

        At a kink the right derivative is returned. User-defined activations are
        evaluated through the same interpolants the core integrates.
        """
        from .._validation import as_float_array, int_choice, scalar_or_array

        derivative = int_choice(derivative, "derivative", (0, 1, 2))
        xa = as_float_array(x, "x")
        p0, p1 = self.core_params
        out = _core.evaluate(self.kind, p0, p1, int(derivative), xa.ravel())
        return scalar_or_array(out.reshape(xa.shape), xa.ndim == 0)

    @property
    def kinks(self) -> list[tuple[float, float]]:
        """Points where phi, phi' or phi'' is not smooth, with the jump of phi' there."""
        p0, p1 = self.core_params
        return [tuple(k) for k in _core.kinks(self.kind, p0, p1)]

    def __str__(self) -> str:
        if not self._params:
            return self._name
        inner = ", ".join(f"{k}={v:g}" for k, v in self._params.items())
        return f"{self._name}({inner})"

    def __repr__(self) -> str:
        return f"Activation({self._name!r}, {self._params!r})"


# The built-ins with their default parameters by the name asked for ("tanh", "Swish"),
# built once: an Activation holds no state beyond its name and parameters, and
# building one (~2.5 us) was a tenth of a scalar call's time. (At most 256 spellings.)
_BUILTIN_BY_NAME: dict[str, Activation] = {}


def is_builtin_name(name: str) -> bool:
    """Whether ``name`` is a built-in activation name or alias."""
    return _ALIASES.get(name.lower(), name.lower()) in _SPECS


def activation(
    fn: str | Activation | Callable,
    derivative: Callable | None = None,
    second_derivative: Callable | None = None,
    *,
    kinks: Sequence[float] | None = None,
    name: str | None = None,
    **params: Any,
) -> Activation:
    """Return a built-in activation, or make one from your own phi.

    Three ways in:

    * a built-in by name, with parameters: ``activation("leaky_relu", negative_slope=0.2)``;
    * an expression in ``x`` (needs SymPy), with parameters:
      ``activation("x * sigmoid(beta * x)", beta=1.5)``; derivatives are exact and
      kinks are read from Abs, Max, Min, sign, Heaviside and Piecewise;
    * a NumPy-vectorised callable, optionally with its derivatives and kinks:
      ``activation(fn, dfn, d2fn, kinks=[...], name="mish")``; a torch or JAX
      elementwise function (``torch.nn.functional.mish``) is accepted when that
      framework is installed (derivatives by autodiff), and so is a compiled
      double(double) function (``numba.cfunc``, ``scipy.LowLevelCallable``,
      ctypes), sampled point by point once.

    A user-defined phi is sampled once and represented by piecewise Chebyshev
    interpolants of phi, phi' and phi'' between its kinks, accurate to a few
    units in the last place; from then on every kernel runs in C++ without
    calling Python (see :class:`CustomActivation`).

    Parameters
    ----------
    fn : str, Activation or callable
        A built-in name (one of :data:`ACTIVATIONS` or an alias: ``swish``,
        ``hardtanh``, ``identity``), an expression in ``x``, an
        :class:`Activation` (returned unchanged; no other argument may be
        given), or a callable phi.
    derivative, second_derivative : callable, optional
        phi' and phi'' (callables only). Missing ones are computed to near
        machine precision (complex step or the differentiated interpolant).
    kinks : sequence of float, optional
        Points where phi' or phi'' jumps (sorted, finite, at most 16). Kinks not
        declared are detected by sampling, with a warning.
    **params : float
        Parameters of a built-in (``negative_slope`` of leaky_relu, default 0.01;
        ``alpha`` of elu, default 1; ``a`` of hard_tanh, linear_region_tanh,
        linear_floor, default 1; ``tau`` of shifted_relu and soft_threshold,
        default 1), or the values of an expression's symbols.
    name : str, optional
        A name for a user-defined activation (default: the expression text, or
        the function's ``__name__``); it labels scans and plots.

    Returns
    -------
    Activation

    Raises
    ------
    ValueError
        For an unknown name or parameter, a parameter out of range, an
        expression with unknown symbols or missing values, bad kinks, or a
        callable that is not vectorised, returns NaN/inf, raises, or grows too
        fast; the message names the argument.
    TypeError
        If ``name`` is of an unsupported type, or a function is not real-valued.

    Examples
    --------
    >>> import sigprop
    >>> str(sigprop.activation("hard_tanh", a=2))
    'hard_tanh(a=2)'
    """
    if isinstance(fn, Activation):
        if (
            params
            or name is not None
            or derivative is not None
            or second_derivative is not None
            or kinks is not None
        ):
            given = sorted(params) + [
                k
                for k, v in (
                    ("name", name),
                    ("derivative", derivative),
                    ("second_derivative", second_derivative),
                    ("kinks", kinks),
                )
                if v is not None
            ]
            raise ValueError(f"parameters {given} given for an Activation object {fn}")
        return fn
    if isinstance(fn, str):
        if not params and derivative is None and second_derivative is None and kinks is None:
            cached = _BUILTIN_BY_NAME.get(fn) if name is None else None
            if cached is not None:
                return cached
        if is_builtin_name(fn):
            if derivative is not None or second_derivative is not None or kinks is not None:
                raise ValueError(
                    "derivative, second_derivative and kinks apply to user-defined "
                    f"activations, not to the built-in {fn!r}"
                )
            if name is not None:
                raise ValueError(f"name applies to user-defined activations, not to {fn!r}")
            act = Activation(fn, params)
            if not params and len(_BUILTIN_BY_NAME) < 256:
                _BUILTIN_BY_NAME[fn] = act
            return act
        from .custom import from_expression

        if derivative is not None or second_derivative is not None:
            raise ValueError(
                "an expression is differentiated exactly: derivative and second_derivative "
                "apply to callables only"
            )
        return from_expression(fn, kinks=kinks, name=name, **params)
    if callable(fn) or type(fn).__name__ == "LowLevelCallable":
        from .custom import from_callable

        return from_callable(fn, derivative, second_derivative, kinks=kinks, name=name, **params)
    raise TypeError(
        f"activation must be a name or expression (str), an Activation or a callable, got {fn!r}"
    )


def clear_cache() -> None:
    """Free the compiled core's cached tables (moment, Hermite, near-diagonal, smoothing, EOC).

    They are rebuilt on next use. The core also bounds the cache by itself (at
    most 1024 moment tables, 128 Hermite tables, 64 near-diagonal tables and 64
    tables of :func:`eoc`'s g(q), least recently used dropped first), and frees the
    tables of a user-defined activation (and its interpolants) when the last
    reference to it goes. Safe at any time: a table that a computation running
    in another thread is using stays alive until that computation has done
    with it (each thread holds a reference to the table it uses).
    """
    _core.clear_cache()


def linear_region(a: float = 1.0, tail: str = "clip") -> Activation:
    """An activation equal to the identity on [-a, a].

    Murray, Abrol & Tanner 2022; docs/theory/linear_region.rst.

    Parameters
    ----------
    a : float
        Half-width of the linear region, > 0.
    tail : {"clip", "tanh", "floor"}
        Behaviour outside: ``"clip"`` is hard tanh clip(x, -a, a); ``"tanh"``
        continues as ``sign(x)(a + tanh(|x| - a))`` (twice differentiable);
        ``"floor"`` is max(x, -a), linear on [-a, infinity).

    Returns
    -------
    Activation
    """
    tails = {"clip": "hard_tanh", "tanh": "linear_region_tanh", "floor": "linear_floor"}
    if tail not in tails:
        raise ValueError(f"unknown tail {tail!r}; choose one of {', '.join(tails)}")
    return activation(tails[tail], a=a)


def resolve(act: str | Activation | Callable) -> Activation:
    """Accept a name, an expression, a callable or an Activation (internal)."""
    return activation(act)

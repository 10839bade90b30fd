"""User-defined activations: the CustomActivation object (internal module).

A :class:`CustomActivation` is made by :func:`sigprop.activation` from an
expression or a callable. Its definition (the expression text and parameter
values, or the callables) is what it pickles, so it travels to Dask workers,
where it is rebuilt on first use; the compiled representation (an id in the
core's registry) is local to a process and freed when the last equal
activation object goes.
"""

from __future__ import annotations

import threading
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import _core
from .._validation import real_param
from ._custom_tables import BuildError, Sampler, check_kinks, register
from .activations import Activation

__all__ = ["CustomActivation", "from_callable", "from_expression"]


class _Built:
    """A registered core representation (the handle frees it when collected)."""

    __slots__ = ("__weakref__", "fit", "flags", "handle", "id")

    def __init__(self, handle, fit, flags) -> None:
        self.handle = handle
        self.id = int(handle.id)
        self.fit = fit
        self.flags = flags


# Equal definitions share one core representation while any of them lives.
_LIVE: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_LOCK = threading.Lock()


class CustomActivation(Activation):
    """A user-defined activation (see :func:`sigprop.activation`).

    Attributes
    ----------
    name : str
        The name given, else the expression text or the function's name.
    params : dict
        Values of the expression's parameters (empty for callables).
    formula : str
        The expression, or a description of the callable.
    source : str
        How phi' and phi'' were obtained: ``"exact"`` (expression),
        ``"given"``, ``"autodiff"``, ``"complex step"`` or
        ``"differentiated interpolant"``.
    """

    is_custom = True

    def __init__(self, definition: tuple, name: str, params: dict[str, float], formula: str):
        # no call to Activation.__init__: a custom activation is not a built-in
        self._definition = definition
        self._name = name
        self._params = dict(params)
        self._formula = formula
        self._built: _Built | None = None

    # -- identity -----------------------------------------------------------------
    def _identity(self) -> tuple[Any, ...]:
        return (self._name, tuple(self._params.items()), self._definition)

    def __hash__(self) -> int:
        try:
            return hash(("CustomActivation", self._identity()))
        except TypeError:  # unhashable callables
            return hash(("CustomActivation", self._name, tuple(self._params.items())))

    def __reduce__(self):
        return (_rebuild, (self._definition, self._name, self._params, self._formula))

    def __repr__(self) -> str:
        return f"CustomActivation({self._name!r}, {self._params!r})"

    # -- the core's view ----------------------------------------------------------
    def _ensure(self) -> _Built:
        if self._built is None:
            self._built = _build(self._definition, self._params, self._name)
        return self._built

    @property
    def kind(self) -> int:
        """The core's custom kind."""
        return int(_core.custom_kind)

    @property
    def arccos_family(self) -> bool:
        return False

    @property
    def core_params(self) -> tuple[float, float]:
        """(id in the core's registry, 0): valid in this process only."""
        return float(self._ensure().id), 0.0

    @property
    def source(self) -> str:
        """How phi' and phi'' were obtained."""
        if self._definition[0] == "expr":
            return "exact"
        if self._definition[0] in ("torch", "jax"):
            return "autodiff"
        return self._ensure().fit.derivative_source

    @property
    def flags(self) -> dict[str, bool]:
        """odd, phi_one_signed, dphi_one_signed, homogeneous (detected from samples)."""
        return dict(self._ensure().flags)

    @property
    def info(self) -> dict[str, Any]:
        """The compiled representation: pieces, range, affine tails, bytes."""
        return dict(_core.custom_info(self._ensure().id))

    def __str__(self) -> str:
        if not self._params:
            return self._name
        inner = ", ".join(f"{k}={v:g}" for k, v in self._params.items())
        return f"{self._name}({inner})"


def _rebuild(definition, name, params, formula) -> CustomActivation:
    return CustomActivation(definition, name, params, formula)


def _build(definition: tuple, params: dict[str, float], name: str) -> _Built:
    try:
        key = (definition, tuple(params.items()))
        hash(key)
    except TypeError:
        key = None
    with _LOCK:
        if key is not None:
            b = _LIVE.get(key)
            if b is not None:
                return b
        sampler, kinks, _what = _sampler(definition, params, name)
        try:
            handle, fit, flags = register(sampler, kinks)
        except BuildError as exc:
            raise ValueError(str(exc)) from None
        if fit.detected:
            warnings.warn(
                f"activation {name!r} has undeclared kink(s) at {fit.detected}: they were "
                f"detected by sampling; declare them (kinks={sorted(fit.detected)}) to "
                "silence this warning",
                UserWarning,
                stacklevel=4,
            )
        b = _Built(handle, fit, flags)
        if key is not None:
            _LIVE[key] = b
        return b


def _sampler(definition: tuple, params: dict[str, float], name: str):
    kind = definition[0]
    if kind == "expr":
        from . import _expr

        _, text, user_kinks = definition
        names = tuple(params)
        f0, f1, f2 = _expr.compile_expression(text, names)
        vals = tuple(params.values())
        kinks = list(user_kinks) if user_kinks else _expr.kinks(text, params)
        s = Sampler(
            lambda x: f0(x, *vals),
            lambda x: f1(x, *vals),
            lambda x: f2(x, *vals),
            what=f"the activation expression {text!r}",
        )
        return s, kinks, text
    if kind == "fn":
        _, fn, dfn, d2fn, user_kinks = definition
        s = Sampler(fn, dfn, d2fn, complex_phi=fn if dfn is None else None, what="fn")
        return s, list(user_kinks), name
    if kind == "torch":
        _, fn, user_kinks = definition
        return _torch_sampler(fn), list(user_kinks), name
    if kind == "jax":
        _, fn, user_kinks = definition
        return _jax_sampler(fn), list(user_kinks), name
    raise ValueError(f"unknown custom activation definition {kind!r}")  # pragma: no cover


def _torch_sampler(fn) -> Sampler:
    import torch

    def at(order):
        def g(x):
            t = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=order > 0)
            y = fn(t)
            if order == 0:
                return y.detach().numpy().copy()
            (d,) = torch.autograd.grad(y.sum(), t, create_graph=order > 1)
            if order == 1:
                return d.detach().numpy().copy()
            if not d.requires_grad:  # phi' piecewise constant
                return np.zeros(np.shape(x))
            (d2,) = torch.autograd.grad(d.sum(), t)
            return d2.detach().numpy().copy()

        return g

    # phi'' by autodiff overflows in the tails of some torch functions (mish's
    # backward at x ~ 700 is NaN): phi'' comes from the interpolant of phi' instead
    return Sampler(at(0), at(1), None, what="fn (torch)")


def _jax_sampler(fn) -> Sampler:  # pragma: no cover - JAX is optional and not in CI
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    d1 = jax.vmap(jax.grad(fn))
    d2 = jax.vmap(jax.grad(jax.grad(fn)))

    def wrap(f):
        return lambda x: np.asarray(f(jnp.asarray(x, dtype=jnp.float64)), dtype=np.float64)

    return Sampler(wrap(fn), wrap(d1), wrap(d2), what="fn (jax)")


class _CompiledScalar:
    """A compiled double(double) function (numba.cfunc, scipy.LowLevelCallable,
    ctypes) made NumPy-vectorised for the one-off sampling; the kernels never call it."""

    def __init__(self, fn) -> None:
        import ctypes

        proto = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double)
        if type(fn).__name__ == "LowLevelCallable":
            sig = str(getattr(fn, "signature", ""))
            if sig.replace(" ", "") != "double(double)":
                raise TypeError(
                    f"a LowLevelCallable must have signature double (double), got {sig}"
                )
            get = ctypes.pythonapi.PyCapsule_GetPointer
            get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
            get_name = ctypes.pythonapi.PyCapsule_GetName
            get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
            capsule = tuple.__getitem__(fn, 0)  # LowLevelCallable is (capsule, function, data)
            ptr = get(capsule, get_name(capsule))
            self._f = proto(ptr)
        elif hasattr(fn, "address") and hasattr(fn, "ctypes"):  # numba.cfunc
            self._f = proto(fn.address)
        else:  # a ctypes function pointer
            self._f = proto(ctypes.cast(fn, ctypes.c_void_p).value)
        self._keep = fn
        self.__name__ = getattr(fn, "__name__", None) or "compiled"

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float64)
        f = self._f
        return np.fromiter((f(float(v)) for v in x.ravel()), float, x.size).reshape(x.shape)


def _is_compiled_scalar(fn) -> bool:
    import ctypes

    if type(fn).__name__ == "LowLevelCallable":
        return True
    if hasattr(fn, "address") and hasattr(fn, "ctypes") and hasattr(fn, "native_name"):
        return True  # numba.cfunc
    return isinstance(fn, ctypes._CFuncPtr)


def _framework(fn) -> str | None:
    mod = getattr(fn, "__module__", None) or ""
    if not mod:  # builtins such as torch.tanh: the module they are bound to
        mod = getattr(getattr(fn, "__self__", None), "__name__", "") or ""
    if not mod or mod == "builtins":
        mod = getattr(type(fn), "__module__", "") or ""
    if mod.startswith("torch"):
        return "torch"
    if mod.startswith("jax"):
        return "jax"
    return None


def from_expression(
    text: str, *, kinks=None, name: str | None = None, **params
) -> CustomActivation:
    """An activation from an expression in x (see :func:`sigprop.activation`)."""
    from . import _expr

    text = text.strip()
    if not text:
        raise ValueError("the activation expression is empty")
    if text.isidentifier() and text != "x":
        from .activations import ACTIVATIONS

        raise ValueError(
            f"unknown activation {text!r}: neither a built-in ({', '.join(ACTIVATIONS)}) nor "
            "an expression in x; for your own phi pass a callable or an expression such as "
            "'x * tanh(softplus(x))'"
        )
    values = {k: real_param(text, k, v) for k, v in params.items()}
    expr, _x, _ps = _expr.parse(text, tuple(values))
    used = {str(s) for s in expr.free_symbols} - {"x"}
    unused = sorted(set(values) - used)
    if unused:
        raise ValueError(
            f"parameter(s) {unused} do not appear in the activation expression {text!r}"
        )
    if "x" not in {str(s) for s in expr.free_symbols}:
        raise ValueError(f"the activation expression {text!r} does not depend on x")
    user_kinks = tuple(check_kinks(kinks)) if kinks is not None else ()
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str, got {name!r}")
    act = CustomActivation(("expr", text, user_kinks), name or text, values, text)
    act._ensure()  # validate now
    return act


def from_callable(
    fn: Callable,
    derivative: Callable | None = None,
    second_derivative: Callable | None = None,
    *,
    kinks: Sequence[float] | None = None,
    name: str | None = None,
    **params: Any,
) -> CustomActivation:
    """An activation from a callable phi (see :func:`sigprop.activation`)."""
    if params:
        raise ValueError(
            f"unknown keyword argument(s) {sorted(params)} for a callable activation; bind "
            "parameters in the function (functools.partial) and give it a name="
        )
    for what, f in (("derivative", derivative), ("second_derivative", second_derivative)):
        if f is not None and not callable(f):
            raise TypeError(f"{what} must be callable, got {f!r}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str, got {name!r}")
    if second_derivative is not None and derivative is None:
        raise ValueError("second_derivative given without derivative")
    user_kinks = tuple(check_kinks(kinks))
    if _is_compiled_scalar(fn):
        fn = _CompiledScalar(fn)
    label = name or getattr(fn, "__name__", None) or type(fn).__name__
    fw = _framework(fn) if derivative is None else None
    if fw is not None:
        definition: tuple = (fw, fn, user_kinks)
    else:
        definition = ("fn", fn, derivative, second_derivative, user_kinks)
    act = CustomActivation(definition, label, {}, f"{label} (Python callable)")
    act._ensure()
    return act

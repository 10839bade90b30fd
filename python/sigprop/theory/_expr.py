"""Activations written as expressions in x, parsed with SymPy (internal).

``sigprop.activation("x * sigmoid(beta * x)", beta=1.5)``: the expression is
parsed with SymPy (the optional extra ``sympy``), differentiated exactly,
its kinks read from Abs, Max, Min, sign, Heaviside and Piecewise, and compiled
to NumPy with numerically stable forms (log(1 + exp(u)) becomes a softplus that
does not overflow, exp(u) - 1 becomes expm1, log(1 + u) becomes log1p).
Besides SymPy's functions, ``sigmoid``, ``softplus``, ``relu`` and ``Phi`` (the
standard normal distribution function) are known.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np


def _sympy():
    try:
        import sympy
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            'activation expressions need SymPy: pip install sympy (or pip install ".[sympy]")'
        ) from None
    return sympy


def _np_sigmoid(u):
    u = np.asarray(u, dtype=float)
    return np.exp(-np.logaddexp(0.0, -u))


def _np_softplus(u):
    return np.logaddexp(0.0, u)


def _np_phi(u):
    try:
        from scipy.special import ndtr

        return ndtr(u)
    except ImportError:  # pragma: no cover
        return 0.5 * np.vectorize(math.erfc)(-np.asarray(u) / math.sqrt(2.0))


def _np_erf(u):
    try:
        from scipy.special import erf

        return erf(u)
    except ImportError:  # pragma: no cover
        return np.vectorize(math.erf)(u)


def _np_erfc(u):
    try:
        from scipy.special import erfc

        return erfc(u)
    except ImportError:  # pragma: no cover
        return np.vectorize(math.erfc)(u)


@functools.lru_cache(maxsize=1)
def _functions():
    sp = _sympy()

    class sigmoid(sp.Function):
        """1 / (1 + exp(-u)), evaluated without overflow."""

        def fdiff(self, argindex=1):
            u = self.args[0]
            return sigmoid(u) * sigmoid(-u)

        def _eval_rewrite_as_exp(self, u, **kwargs):
            return 1 / (1 + sp.exp(-u))

    class softplus(sp.Function):
        """log(1 + exp(u)), evaluated without overflow."""

        def fdiff(self, argindex=1):
            return sigmoid(self.args[0])

    class Phi(sp.Function):
        """Standard normal distribution function."""

        def fdiff(self, argindex=1):
            u = self.args[0]
            return sp.exp(-(u**2) / 2) / sp.sqrt(2 * sp.pi)

    return sigmoid, softplus, Phi


@functools.lru_cache(maxsize=256)
def parse(text: str, param_names: tuple[str, ...]):
    """(expression, x symbol, parameter symbols) of an expression text."""
    sp = _sympy()
    sigmoid, softplus, Phi = _functions()
    x = sp.Symbol("x", real=True)
    local = {
        "x": x,
        "sigmoid": sigmoid,
        "softplus": softplus,
        "Phi": Phi,
        "relu": lambda u: sp.Max(u, 0),
        "max": sp.Max,
        "min": sp.Min,
        "abs": sp.Abs,
        "e": sp.E,
        "pi": sp.pi,
    }
    syms = {n: sp.Symbol(n, real=True) for n in param_names}
    local.update(syms)
    # names used as variables (not called) that are not known: symbols, so that a
    # missing value is reported as such (SymPy would read "beta" as the beta function)
    for n in re.findall(r"\b([A-Za-z_]\w*)\b(?!\s*\()", text):
        if n not in local and n not in ("E", "I", "oo", "nan", "zoo", "True", "False"):
            local[n] = sp.Symbol(n, real=True)
    try:
        expr = sp.sympify(text, locals=local)
    except (sp.SympifyError, SyntaxError, TypeError) as exc:
        raise ValueError(f"cannot parse the activation expression {text!r}: {exc}") from None
    if not isinstance(expr, sp.Expr):
        raise ValueError(f"the activation expression {text!r} is not an expression in x")
    undefined = sorted(str(f.func) for f in expr.atoms(sp.core.function.AppliedUndef))
    undefined = [u for u in undefined if u not in ("sigmoid", "softplus", "Phi")]
    if undefined:
        raise ValueError(
            f"unknown function(s) {undefined} in the activation expression {text!r}; known: "
            "SymPy's functions (exp, log, tanh, erf, ...) and sigmoid, softplus, relu, Phi"
        )
    free = {str(s) for s in expr.free_symbols} - {"x"}
    missing = sorted(free - set(param_names))
    if missing:
        raise ValueError(
            f"the activation expression {text!r} uses symbol(s) {missing} without a value; "
            f"pass them as parameters, e.g. activation({text!r}, {missing[0]}=1.0)"
        )
    # softplus in stable form
    u = sp.Wild("u")
    expr = expr.replace(sp.log(1 + sp.exp(u)), softplus(u))
    return expr, x, tuple(syms[n] for n in param_names)


def _strip_delta(sp, e):
    return e.replace(sp.DiracDelta, lambda *a: sp.S.Zero)


@functools.lru_cache(maxsize=256)
def compile_expression(text: str, param_names: tuple[str, ...]):
    """NumPy functions f(x, *params) for phi, phi', phi'' (cached per text)."""
    sp = _sympy()
    from sympy.codegen.rewriting import optimize, optims_c99

    expr, x, ps = parse(text, param_names)
    d1 = _strip_delta(sp, sp.diff(expr, x))
    d2 = _strip_delta(sp, sp.diff(d1, x))
    modules = [
        {
            "sigmoid": _np_sigmoid,
            "softplus": _np_softplus,
            "Phi": _np_phi,
            "erf": _np_erf,
            "erfc": _np_erfc,
            "expm1": np.expm1,
            "log1p": np.log1p,
        },
        "numpy",
    ]
    out = []
    for e in (expr, d1, d2):
        try:
            e = optimize(e, optims_c99)
        except Exception:  # pragma: no cover - the optimiser is best effort
            pass
        f = sp.lambdify((x, *ps), e, modules=modules)
        out.append(_broadcasting(f))
    return tuple(out)


def _broadcasting(f):
    # The parameters go in with x's shape: sympy writes the conditions of a nested
    # Max / Min derivative as logical_and.reduce((cond(a), cond(a, x))), which NumPy
    # cannot stack when one is a scalar and the other an array.
    def g(x, *p):
        shape = np.shape(x)
        y = f(x, *(np.broadcast_to(np.asarray(v, dtype=float), shape) for v in p))
        return np.broadcast_to(np.asarray(y, dtype=float), shape).copy()

    return g


def kinks(text: str, params: dict[str, float]) -> list[float]:
    """Real points where Abs, Max, Min, sign, Heaviside or a Piecewise condition switch."""
    sp = _sympy()
    names = tuple(params)
    expr, x, ps = parse(text, names)
    subs = {s: sp.Float(params[str(s)], 30) for s in ps}
    e = expr.subs(subs)
    args = []
    for node in sp.preorder_traversal(e):
        if isinstance(node, (sp.Abs, sp.sign, sp.Heaviside)):
            args.append(node.args[0])
        elif isinstance(node, (sp.Max, sp.Min)):
            a = node.args
            args.extend(a[i] - a[j] for i in range(len(a)) for j in range(i + 1, len(a)))
        elif isinstance(node, sp.Piecewise):
            for _, cond in node.args:
                for rel in cond.atoms(sp.core.relational.Relational):
                    args.append(rel.lhs - rel.rhs)
    pts: set[float] = set()
    for g in args:
        if not g.has(x):
            continue
        sol = sp.solveset(sp.nsimplify(g) if not g.has(sp.Float) else g, x, domain=sp.S.Reals)
        if isinstance(sol, sp.FiniteSet):
            for v in sol:
                fv = float(v)
                if math.isfinite(fv):
                    pts.add(fv)
        elif sol != sp.S.EmptySet:
            raise ValueError(
                f"cannot locate the kinks of {text!r} (where {g} = 0: {sol}); pass kinks=[...]"
            )
    return sorted(pts)

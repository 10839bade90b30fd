"""User-defined activations: table build time, and scan throughput of a custom tanh
against the built-in tanh (target: within 1.5x, with and without correlation), and a
kernel layer of each deep in the ordered phase.

The custom tanh is ``np.tanh`` passed as a callable; after its one-off build every
kernel evaluates its piecewise Chebyshev interpolants in C++.
"""

import numpy as np

import sigprop
from sigprop import _core

from ._common import best_rate

# 32 x 32 (sigma_b, sigma_w) cells over the usual phase-diagram window.
_sb, _sw = np.meshgrid(np.linspace(0.0, 2.0, 32), np.linspace(0.1, 4.0, 32), indexing="ij")
SB = np.ascontiguousarray(_sb).ravel()
SW = np.ascontiguousarray(_sw).ravel()


def _mish(x):
    return x * np.tanh(np.logaddexp(0.0, x))


class CustomScanRate:
    """Cells per second of fixed points (one thread), built-in vs custom tanh."""

    params = (["builtin", "custom"], [False, True])
    param_names = ("tanh", "correlation")
    unit = "cells/s"
    timeout = 300

    def setup(self, which, correlation):
        self.act = sigprop.activation("tanh" if which == "builtin" else np.tanh)
        self.kind = self.act.kind
        self.p0, self.p1 = self.act.core_params
        self._run(correlation)  # build the moment tables outside the timing

    def _run(self, correlation):
        _core.fixed_points(self.kind, self.p0, self.p1, SW, SB, None, correlation, 1)

    def track_scan_rate(self, which, correlation):
        return best_rate(lambda: self._run(correlation), SB.size, min_time=0.2)


class CustomBuild:
    """One-off cost of a user-defined activation: sampling, fitting, registering."""

    timeout = 120

    # fresh function objects: equal definitions would share one registration
    def time_build_callable_tanh(self):
        sigprop.activation(lambda x: np.tanh(x))

    def time_build_callable_mish(self):
        sigprop.activation(lambda x: _mish(x))

    def setup(self):
        self.rng = np.random.default_rng()
        try:
            sigprop.activation("tanh(x)")  # import SymPy once, outside the timing
        except ImportError:
            self.sympy = False
        else:
            self.sympy = True

    def time_build_expression_mish(self):
        if not self.sympy:
            raise NotImplementedError("needs sympy")
        # a new parameter value each call: no cached compilation of the values
        sigprop.activation("x * tanh(softplus(beta * x))", beta=1.0 + self.rng.random())

    def time_first_scan_custom_tanh(self):
        # build + the moment tables a 32 x 32 scan needs (without correlation)
        act = sigprop.activation(lambda x: np.tanh(x))
        p0, p1 = act.core_params
        _core.fixed_points(act.kind, p0, p1, SW, SB, None, False, 1)


class CustomKernelOrdered:
    """One kernel layer deep in the ordered phase, built-in vs custom tanh: 100 inputs of
    variance 150 (the settled layers at sigma_w = 1, sigma_b = 12), 1 - c log-uniform in
    [1e-4, 1e-2]. The custom kind's pairs there take the layer table, whose nodes take
    the trapezoid rule (0.2-3 ms each; one at a time the pairs took a nested quadrature of
    ~15 ms before it, ~75 s the layer)."""

    params = (["builtin", "custom"],)
    param_names = ("tanh",)
    timeout = 300

    def setup(self, which):
        # (held: a custom activation is released with its last reference)
        self.act = sigprop.activation("tanh" if which == "builtin" else np.tanh)
        self.kind = self.act.kind
        self.p0, self.p1 = self.act.core_params
        m = 100
        e = 10.0 ** np.random.default_rng(0).uniform(-4.0, -2.0, (m, m))
        self.K = np.ascontiguousarray(150.0 * (1.0 - np.triu(e, 1) - np.triu(e, 1).T))
        self.time_kernel_layer(which)  # the interpolants' one-off tables, outside the timing

    def time_kernel_layer(self, which):
        _core.kernel_layer(self.kind, self.p0, self.p1, self.K, 1.0, 12.0, 1)


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


class CustomPairNearOne:
    """One pair next to c = 1 where the Mehler series cannot certify it (q = 18.5 and
    18.6, c = 0.999; on the diagonal, q = 18.5 twice), the built-ins' forms against a
    user's phi: tanh from np.tanh (no kinks: the trapezoid rule) and an ELU callable with
    its kink declared (the nested quadratures, each panel's nodes evaluated at once:
    4-7 ms off the diagonal, 1-2 ms on it)."""

    params = (["tanh", "elu"], ["builtin", "custom"], [False, True])
    param_names = ("activation", "form", "diagonal")
    timeout = 120

    def setup(self, name, form, diagonal):
        if form == "builtin":
            self.act = sigprop.activation(name)
        elif name == "tanh":
            self.act = sigprop.activation(np.tanh)
        else:
            self.act = sigprop.activation(_elu, kinks=[0.0])
        self.kind = self.act.kind
        self.p0, self.p1 = self.act.core_params
        self.q2 = 18.5 if diagonal else 18.6
        self.time_pair(name, form, diagonal)  # the one-off tables, outside the timing

    def time_pair(self, name, form, diagonal):
        _core.bivariate_point(self.kind, self.p0, self.p1, 0, 18.5, self.q2, 0.999)

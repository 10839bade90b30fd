"""Throughput of the Gaussian expectations: 1-d moments, bivariate, q/chi1 maps."""

import sigprop

from ._common import (
    ALL_ACTIVATIONS,
    BIV_C,
    BIV_FULL_C,
    BIV_FULL_Q1,
    BIV_FULL_Q2,
    BIV_NEAR_C,
    BIV_NEAR_Q1,
    BIV_NEAR_Q2,
    BIV_Q,
    Q_GRID,
    best_rate,
)

# Closed form (relu, erf), piecewise linear (hard_tanh), quadrature (tanh, gelu, silu).
MOMENT_ACTIVATIONS = ["relu", "erf", "hard_tanh", "tanh", "gelu", "silu"]


def _points(domain):
    """(q1, q2, c): the c-map grid (q1 = q2), the whole domain (random q1, q2, c) or
    random pairs next to the diagonal (q2 ~ q1, |c| ~ 1)."""
    if domain == "c-map":
        return BIV_Q, BIV_Q, BIV_C
    if domain == "near":
        return BIV_NEAR_Q1, BIV_NEAR_Q2, BIV_NEAR_C
    return BIV_FULL_Q1, BIV_FULL_Q2, BIV_FULL_C


class BivariateExpectation:
    """bivariate_expectation, one thread: 256 c-map points (q1 = q2 in [1e-2, 10],
    |c| <= 0.95), 4096 points over the whole domain (q1, q2 in [1e-6, 1e4], c in
    [-1, 1]) or 1024 next to the diagonal (q2 = q1 (1 + delta), c = +-(1 - e), delta
    and e down to 1e-12). Tables are built in setup (their one-off cost is in
    bench_tables)."""

    params = (ALL_ACTIVATIONS, [0, 1], ["c-map", "full", "near"])
    param_names = ("activation", "derivative", "domain")
    timeout = 300

    def setup(self, activation, derivative, domain):
        self.p = _points(domain)
        sigprop.bivariate_expectation(activation, *self.p, derivative=derivative, n_threads=1)

    def time_bivariate_expectation(self, activation, derivative, domain):
        sigprop.bivariate_expectation(activation, *self.p, derivative=derivative, n_threads=1)


class BivariateExpectationRate:
    """Bivariate expectations per second, one thread (points as above)."""

    params = (ALL_ACTIVATIONS, [0, 1], ["c-map", "full", "near"])
    param_names = ("activation", "derivative", "domain")
    unit = "expectations/s"
    timeout = 300

    def setup(self, activation, derivative, domain):
        self.p = _points(domain)
        sigprop.bivariate_expectation(activation, *self.p, derivative=derivative, n_threads=1)

    def track_bivariate_expectation_rate(self, activation, derivative, domain):
        return best_rate(
            lambda: sigprop.bivariate_expectation(
                activation, *self.p, derivative=derivative, n_threads=1
            ),
            self.p[0].size,
        )


class Maps:
    """Variance map V(q) and chi1 on the 10^4-point q grid, one thread."""

    params = (["erf", "tanh"],)
    param_names = ("activation",)

    def time_qmap(self, activation):
        sigprop.qmap(activation, Q_GRID, 1.5, 0.3, n_threads=1)

    def time_chi1(self, activation):
        sigprop.chi1(activation, Q_GRID, 1.5, n_threads=1)


class ScalarCall:
    """One call with Python numbers, as in a user's loop or a SciPy root finder: the
    call's fixed cost (argument checks, the core's one-point function) beside its work
    (q = 1, c = 0.7: a cached series for tanh, a closed form for relu)."""

    params = (["relu", "tanh"],)
    param_names = ("activation",)

    def setup(self, activation):
        sigprop.bivariate_expectation(activation, 1.0, 1.0, 0.7)

    def time_bivariate_expectation(self, activation):
        sigprop.bivariate_expectation(activation, 1.0, 1.0, 0.7)

    def time_gaussian_moments(self, activation):
        sigprop.gaussian_moments(activation, 1.0)

    def time_qmap(self, activation):
        sigprop.qmap(activation, 1.0, 1.5, 0.1)

    def time_cmap(self, activation):
        sigprop.cmap(activation, 1.0, 0.7, 1.5, 0.1)

    def time_covmap(self, activation):
        sigprop.covmap(activation, 1.0, 1.2, 0.7, 1.5, 0.1)

    def time_fixed_point(self, activation):
        sigprop.fixed_point(activation, 1.5, 0.1)

    def time_propagate_depth10(self, activation):
        sigprop.propagate(activation, 1.5, 0.1, 10, 1.0, 0.5)

    def time_eoc(self, activation):
        sigprop.eoc(activation, 0.2)

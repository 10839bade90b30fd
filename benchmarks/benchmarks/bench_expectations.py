"""Throughput of the Gaussian expectations: 1-d moments, bivariate, q/chi1 maps."""

import sigprop

from ._common import BIV_C, BIV_Q, Q_GRID, best_rate, require_fast_and_finite

# Closed form (relu, erf), piecewise linear (hard_tanh), quadrature (tanh, gelu, silu).
MOMENT_ACTIVATIONS = ["relu", "erf", "hard_tanh", "tanh", "gelu", "silu"]
BIVARIATE_ACTIVATIONS = ["relu", "erf", "tanh", "elu"]


def _skip_slow_bivariate(activation, derivative):
    # E[phi'(u) phi'(v)] for tanh is currently seconds per point and NaN near |c| = 1.
    if activation == "tanh" and derivative == 1:
        require_fast_and_finite(
            lambda: sigprop.bivariate_expectation(
                "tanh", 1.0, 1.0, 0.99, derivative=1, n_threads=1
            ),
            "bivariate_expectation('tanh', derivative=1)",
        )


class GaussianMoments:
    """gaussian_moments on 10^4 q values log-spaced in [1e-3, 1e2]."""

    params = (MOMENT_ACTIVATIONS, [1, None])
    param_names = ("activation", "n_threads")

    def setup(self, activation, n_threads):
        self.q = Q_GRID

    def time_gaussian_moments(self, activation, n_threads):
        sigprop.gaussian_moments(activation, self.q, n_threads=n_threads)


class GaussianMomentsRate:
    """Expectations per second: q values per second, each giving all five moments."""

    params = (MOMENT_ACTIVATIONS, [1, None])
    param_names = ("activation", "n_threads")
    unit = "expectations/s"

    def track_gaussian_moments_rate(self, activation, n_threads):
        return best_rate(
            lambda: sigprop.gaussian_moments(activation, Q_GRID, n_threads=n_threads),
            Q_GRID.size,
        )


class BivariateExpectation:
    """bivariate_expectation on 256 (q, c) points, q in [1e-2, 10], |c| <= 0.95."""

    params = (BIVARIATE_ACTIVATIONS, [0, 1])
    param_names = ("activation", "derivative")

    def setup(self, activation, derivative):
        _skip_slow_bivariate(activation, derivative)

    def time_bivariate_expectation(self, activation, derivative):
        sigprop.bivariate_expectation(
            activation, BIV_Q, BIV_Q, BIV_C, derivative=derivative, n_threads=1
        )


class BivariateExpectationRate:
    """Bivariate expectations per second ((q, c) points per second), one thread."""

    params = (BIVARIATE_ACTIVATIONS, [0, 1])
    param_names = ("activation", "derivative")
    unit = "expectations/s"

    def setup(self, activation, derivative):
        _skip_slow_bivariate(activation, derivative)

    def track_bivariate_expectation_rate(self, activation, derivative):
        return best_rate(
            lambda: sigprop.bivariate_expectation(
                activation, BIV_Q, BIV_Q, BIV_C, derivative=derivative, n_threads=1
            ),
            BIV_Q.size,
        )


class Maps:
    """Variance map V(q) and chi1 on the 10^4-point q grid, one thread."""

    params = (["erf", "tanh"],)
    param_names = ("activation",)

    def time_qmap(self, activation):
        sigprop.qmap(activation, Q_GRID, 1.5, 0.3, n_threads=1)

    def time_chi1(self, activation):
        sigprop.chi1(activation, Q_GRID, 1.5, n_threads=1)

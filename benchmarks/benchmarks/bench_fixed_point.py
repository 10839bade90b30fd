"""Fixed points q* (and c*, chi_c, depths) on a 50 x 50 (sigma_b, sigma_w) grid, per activation."""

import sigprop

from ._common import ALL_ACTIVATIONS, FP_SIGMA_B, FP_SIGMA_W, best_rate


class FixedPointGrid:
    params = (ALL_ACTIVATIONS, [False, True])
    param_names = ("activation", "correlation")
    timeout = 300

    def setup(self, activation, correlation):
        # builds the activation's tables (their one-off cost is not what this times)
        sigprop.fixed_point(activation, FP_SIGMA_W, FP_SIGMA_B, correlation=correlation)

    def time_fixed_point(self, activation, correlation):
        sigprop.fixed_point(
            activation, FP_SIGMA_W, FP_SIGMA_B, correlation=correlation, n_threads=1
        )


class FixedPointGridRate:
    """Grid cells per second, one thread."""

    params = (ALL_ACTIVATIONS, [False, True])
    param_names = ("activation", "correlation")
    unit = "cells/s"
    timeout = 300

    def setup(self, activation, correlation):
        sigprop.fixed_point(activation, FP_SIGMA_W, FP_SIGMA_B, correlation=correlation)

    def track_fixed_point_rate(self, activation, correlation):
        return best_rate(
            lambda: sigprop.fixed_point(
                activation, FP_SIGMA_W, FP_SIGMA_B, correlation=correlation, n_threads=1
            ),
            FP_SIGMA_W.size,
        )


class DropoutGridRate:
    """Grid cells per second with dropout (keep_prob), one thread: every cell then
    needs c* < 1, in the ordered phase too."""

    params = (ALL_ACTIVATIONS, [0.8, 0.95, 0.99])
    param_names = ("activation", "keep_prob")
    unit = "cells/s"
    timeout = 300

    def setup(self, activation, keep_prob):
        sigprop.fixed_point(activation, FP_SIGMA_W, FP_SIGMA_B, keep_prob=keep_prob)

    def track_dropout_rate(self, activation, keep_prob):
        return best_rate(
            lambda: sigprop.fixed_point(
                activation, FP_SIGMA_W, FP_SIGMA_B, keep_prob=keep_prob, n_threads=1
            ),
            FP_SIGMA_W.size,
        )

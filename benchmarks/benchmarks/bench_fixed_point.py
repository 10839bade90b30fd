"""Fixed points q* (and c*, chi_c, depths) on a 50 x 50 (sigma_b, sigma_w) grid for tanh."""

import sigprop

from ._common import FP_SIGMA_B, FP_SIGMA_W, best_rate, require_fast_and_finite


def _skip_slow_correlation(correlation):
    # In the chaotic phase c* < 1 needs E[phi'(u) phi'(v)] at |c| < 1, which for tanh
    # currently costs ~0.1-3 s per cell and gives NaN in ~20 % of chaotic cells
    # (a 50 x 50 grid would take ~20 min on one thread).
    if correlation:
        require_fast_and_finite(
            lambda: sigprop.fixed_point("tanh", 3.0, 2.0, correlation=True, n_threads=1).c_star,
            "fixed_point('tanh', correlation=True)",
        )


class FixedPointGrid:
    params = ([False, True],)
    param_names = ("correlation",)

    def setup(self, correlation):
        _skip_slow_correlation(correlation)

    def time_fixed_point(self, correlation):
        sigprop.fixed_point("tanh", FP_SIGMA_W, FP_SIGMA_B, correlation=correlation, n_threads=1)


class FixedPointGridRate:
    """Grid cells per second, one thread."""

    params = ([False, True],)
    param_names = ("correlation",)
    unit = "cells/s"

    def setup(self, correlation):
        _skip_slow_correlation(correlation)

    def track_fixed_point_rate(self, correlation):
        return best_rate(
            lambda: sigprop.fixed_point(
                "tanh", FP_SIGMA_W, FP_SIGMA_B, correlation=correlation, n_threads=1
            ),
            FP_SIGMA_W.size,
        )

"""Edge-of-Chaos root finding: sigprop.eoc on 1000 sigma_b values in [0.01, 2]."""

import sigprop

from ._common import SIGMA_B_EOC, best_rate

EOC_ACTIVATIONS = ["tanh", "elu", "silu"]


class EOC:
    params = (EOC_ACTIVATIONS,)
    param_names = ("activation",)

    def time_eoc(self, activation):
        sigprop.eoc(activation, SIGMA_B_EOC, n_threads=1)


class EOCRate:
    """EOC points (sigma_b values solved, all branches) per second, one thread."""

    params = (EOC_ACTIVATIONS,)
    param_names = ("activation",)
    unit = "points/s"

    def track_eoc_rate(self, activation):
        return best_rate(
            lambda: sigprop.eoc(activation, SIGMA_B_EOC, n_threads=1), SIGMA_B_EOC.size
        )

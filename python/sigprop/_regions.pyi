"""Type stubs of ``sigprop._regions``, the compiled region walk (Cython, _regions.pyx).

Internal: the public function is ``sigprop.regions.count_linear_regions``.
"""

import numpy as np
from numpy.typing import NDArray

def walk(
    weights: list[NDArray[np.float64]],
    biases: list[NDArray[np.float64]],
    start: NDArray[np.float64],
    direction: NDArray[np.float64],
    split_tol: float,
    t_atol: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Activation pieces of the network along start + t * direction, t in [0, 1].

    Every array must be C-contiguous float64: ``weights[l]`` of shape (fan_out, fan_in),
    ``biases[l]`` (fan_out,), ``start`` and ``direction`` (fan_in of the first layer,).
    Returns the piece boundaries t (P + 1,) and the output's intercept and slope in t on
    each piece, each (P, n_out).
    """

"""The mean-field theory: activations, Gaussian expectations, the layer maps, fixed
points, the Edge of Chaos, propagation over depth, NNGP kernels and Hermite expansions.

Conventions: ``sigma_w`` and ``sigma_b`` are standard deviations; weights are
N(0, sigma_w^2 / fan_in), biases N(0, sigma_b^2); variances are named ``*_sq`` or ``q``.
"""

from .activations import ACTIVATIONS, Activation, activation, clear_cache, linear_region
from .custom import CustomActivation
from .edge_of_chaos import EOC_KINDS, EOCResult, eoc
from .expectations import AccuracyWarning, Moments, bivariate_expectation, gaussian_moments
from .fixed_points import FixedPointResult, fixed_point
from .hermite import dual_kernel, hermite_coefficients
from .kernels import Propagation, nngp_kernel, propagate
from .maps import chi1, cmap, covmap, qmap, qmap_slope

__all__ = [
    "ACTIVATIONS",
    "EOC_KINDS",
    "AccuracyWarning",
    "Activation",
    "CustomActivation",
    "EOCResult",
    "FixedPointResult",
    "Moments",
    "Propagation",
    "activation",
    "bivariate_expectation",
    "chi1",
    "clear_cache",
    "cmap",
    "covmap",
    "dual_kernel",
    "eoc",
    "fixed_point",
    "gaussian_moments",
    "hermite_coefficients",
    "linear_region",
    "nngp_kernel",
    "propagate",
    "qmap",
    "qmap_slope",
]

"""sigprop: exact, fast mean-field signal propagation in deep random networks.

Conventions: ``sigma_w`` and ``sigma_b`` are standard deviations; weights are
N(0, sigma_w^2 / fan_in) and biases N(0, sigma_b^2). Variances are named ``*_sq``
or ``q``.
"""

from . import _core
from .activations import ACTIVATIONS, Activation, activation, linear_region
from .eoc import EOC_KINDS, EOCResult, eoc
from .expectations import Moments, bivariate_expectation, gaussian_moments
from .meanfield import (
    STATUS,
    FixedPointResult,
    Propagation,
    chi1,
    cmap,
    covmap,
    fixed_point,
    nngp_kernel,
    propagate,
    qmap,
    qmap_slope,
)

# Linear regions of ReLU networks and the exponential-region reparameterisation (SPEC 5)
from .regions import LinearRegions, count_linear_regions
from .sawtooth import smooth_scales, triangle_network
from .training import FitResult, fit_kaiming, fit_reparameterised

__version__ = "0.1.0"

#: True when the compiled core was built with OpenMP.
has_openmp: bool = bool(_core.has_openmp)

__all__ = [
    "ACTIVATIONS",
    "EOC_KINDS",
    "STATUS",
    "Activation",
    "EOCResult",
    "FixedPointResult",
    "Moments",
    "Propagation",
    "__version__",
    "activation",
    "bivariate_expectation",
    "chi1",
    "cmap",
    "covmap",
    "eoc",
    "fixed_point",
    "gaussian_moments",
    "has_openmp",
    "linear_region",
    "nngp_kernel",
    "propagate",
    "qmap",
    "qmap_slope",
]

__all__ += [
    "FitResult",
    "LinearRegions",
    "count_linear_regions",
    "fit_kaiming",
    "fit_reparameterised",
    "smooth_scales",
    "triangle_network",
]

"""sigprop: exact, fast mean-field signal propagation in deep random networks.

Conventions: ``sigma_w`` and ``sigma_b`` are standard deviations; weights are
N(0, sigma_w^2 / fan_in) and biases N(0, sigma_b^2). Variances are named ``*_sq``
or ``q``.
"""

from . import _core
from ._custom_act import CustomActivation
from .activations import ACTIVATIONS, Activation, activation, clear_cache, linear_region
from .convergence import (
    ConvergenceResult,
    correlation_convergence,
    eoc_beta_q,
    fit_power_law,
    sigma_b_for_depth,
)
from .eoc import EOC_KINDS, EOCResult, eoc
from .expectations import AccuracyWarning, Moments, bivariate_expectation, gaussian_moments

# Papers' analyses: Hermite expansions and Gram spectra (Panigrahi et al.)
from .gram import GRAM_METHODS, gram_finite, gram_infinite, min_eigenvalue
from .hermite import dual_kernel, hermite_coefficients
from .init import (
    SCHEMES,
    TORCH_GAINS,
    GainRow,
    UnstableEOCWarning,
    eoc_sigma_w,
    gain_table,
    he_gain,
    init_sigma_w,
    initialize,
    kumar_gain,
)
from .linear_region_analysis import (
    HalfWidth,
    LinearRegionTable,
    linear_region_table,
    min_half_width,
)
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
from .network import (
    NetworkRun,
    RandomNetwork,
    correlated_inputs,
    plot_simulation,
    random_network,
    simulate,
)

# Linear regions of ReLU networks and the exponential-region reparameterisation (SPEC 5)
from .regions import LinearRegions, count_linear_regions
from .sawtooth import smooth_scales, triangle_network
from .scans import PHASES, eoc_curve, scan
from .training import FitResult, fit_kaiming, fit_reparameterised

__version__ = "0.1.0"

#: True when the compiled core was built with OpenMP.
has_openmp: bool = bool(_core.has_openmp)

__all__ = [
    "ACTIVATIONS",
    "EOC_KINDS",
    "GRAM_METHODS",
    "PHASES",
    "SCHEMES",
    "STATUS",
    "TORCH_GAINS",
    "AccuracyWarning",
    "Activation",
    "ConvergenceResult",
    "CustomActivation",
    "EOCResult",
    "FixedPointResult",
    "GainRow",
    "HalfWidth",
    "LinearRegionTable",
    "Moments",
    "NetworkRun",
    "Propagation",
    "RandomNetwork",
    "UnstableEOCWarning",
    "__version__",
    "activation",
    "bivariate_expectation",
    "chi1",
    "clear_cache",
    "cmap",
    "correlated_inputs",
    "correlation_convergence",
    "covmap",
    "dual_kernel",
    "eoc",
    "eoc_beta_q",
    "eoc_curve",
    "eoc_sigma_w",
    "fit_power_law",
    "fixed_point",
    "gain_table",
    "gaussian_moments",
    "gram_finite",
    "gram_infinite",
    "has_openmp",
    "he_gain",
    "hermite_coefficients",
    "init_sigma_w",
    "initialize",
    "kumar_gain",
    "linear_region",
    "linear_region_table",
    "min_eigenvalue",
    "min_half_width",
    "nngp_kernel",
    "plot_simulation",
    "propagate",
    "qmap",
    "qmap_slope",
    "random_network",
    "scan",
    "sigma_b_for_depth",
    "simulate",
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

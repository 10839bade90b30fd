"""sigprop: exact, fast mean-field signal propagation in deep random networks.

Conventions: ``sigma_w`` and ``sigma_b`` are standard deviations; weights are
N(0, sigma_w^2 / fan_in) and biases N(0, sigma_b^2). Variances are named ``*_sq``
or ``q``. Wherever both appear as positional arguments, ``sigma_w`` comes before
``sigma_b``.

The top level holds what most work calls. The layers underneath:

- :mod:`sigprop.theory`: activations, Gaussian expectations, the maps, fixed points,
  the Edge of Chaos, propagation, NNGP kernels, Hermite expansions;
- :mod:`sigprop.scans`: phase-diagram scans and EOC curves as xarray Datasets;
- :mod:`sigprop.networks`: finite random networks, their simulation, initialisers;
- :mod:`sigprop.architectures`: dropout, residual and convolutional networks;
- :mod:`sigprop.papers`: the analyses of the papers sigprop grows from;
- :mod:`sigprop.outcomes`: the one vocabulary of statuses and phases;
- :mod:`sigprop.plotting`, :mod:`sigprop.cli`.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from . import _core, architectures, networks, outcomes, papers, scans, theory
from ._version import __version__
from .networks import init_sigma_w, initialize, random_network, simulate
from .networks.initializers import UnstableEOCWarning
from .outcomes import Phase, Status
from .scans import eoc_curve, scan
from .theory import (
    ACTIVATIONS,
    AccuracyWarning,
    Activation,
    activation,
    bivariate_expectation,
    chi1,
    clear_cache,
    cmap,
    covmap,
    eoc,
    fixed_point,
    gaussian_moments,
    nngp_kernel,
    propagate,
    qmap,
)

#: True when the compiled core was built with OpenMP.
has_openmp: bool = bool(_core.has_openmp)

__all__ = [
    "ACTIVATIONS",
    "AccuracyWarning",
    "Activation",
    "Phase",
    "Status",
    "UnstableEOCWarning",
    "__version__",
    "activation",
    "architectures",
    "bivariate_expectation",
    "chi1",
    "clear_cache",
    "cmap",
    "covmap",
    "eoc",
    "eoc_curve",
    "fixed_point",
    "gaussian_moments",
    "has_openmp",
    "init_sigma_w",
    "initialize",
    "networks",
    "nngp_kernel",
    "outcomes",
    "papers",
    "propagate",
    "qmap",
    "random_network",
    "scan",
    "scans",
    "simulate",
    "theory",
]

# Names that sigprop 0.1 exported at the top level and that now live in a subpackage:
# they still resolve, with a DeprecationWarning naming the new place.
_MOVED: dict[str, str] = {
    "CustomActivation": "sigprop.theory",
    "EOC_KINDS": "sigprop.theory",
    "EOCResult": "sigprop.theory",
    "FixedPointResult": "sigprop.theory",
    "Moments": "sigprop.theory",
    "Propagation": "sigprop.theory",
    "dual_kernel": "sigprop.theory",
    "hermite_coefficients": "sigprop.theory",
    "linear_region": "sigprop.theory",
    "qmap_slope": "sigprop.theory",
    "SCHEMES": "sigprop.networks",
    "TORCH_GAINS": "sigprop.networks",
    "GainRow": "sigprop.networks",
    "NetworkRun": "sigprop.networks",
    "RandomNetwork": "sigprop.networks",
    "correlated_inputs": "sigprop.networks",
    "eoc_sigma_w": "sigprop.networks",
    "gain_table": "sigprop.networks",
    "he_gain": "sigprop.networks",
    "kumar_gain": "sigprop.networks",
    "plot_simulation": "sigprop.networks",
    "ConvergenceResult": "sigprop.papers.hayou",
    "correlation_convergence": "sigprop.papers.hayou",
    "eoc_beta_q": "sigprop.papers.hayou",
    "fit_power_law": "sigprop.papers.hayou",
    "sigma_b_for_depth": "sigprop.papers.hayou",
    "HalfWidth": "sigprop.papers.murray",
    "LinearRegionTable": "sigprop.papers.murray",
    "linear_region_table": "sigprop.papers.murray",
    "min_half_width": "sigprop.papers.murray",
    "GRAM_METHODS": "sigprop.papers.panigrahi",
    "gram_finite": "sigprop.papers.panigrahi",
    "gram_infinite": "sigprop.papers.panigrahi",
    "min_eigenvalue": "sigprop.papers.panigrahi",
    "FitResult": "sigprop.papers.milkert",
    "LinearRegions": "sigprop.papers.milkert",
    "count_linear_regions": "sigprop.papers.milkert",
    "fit_kaiming": "sigprop.papers.milkert",
    "fit_reparameterised": "sigprop.papers.milkert",
    "smooth_scales": "sigprop.papers.milkert",
    "triangle_network": "sigprop.papers.milkert",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        where = _MOVED[name]
        warnings.warn(
            f"sigprop.{name} moved to {where}.{name} in sigprop 0.2; "
            "the top-level name will be removed in 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(where), name)
    if name in ("STATUS", "PHASES"):
        warnings.warn(
            f"sigprop.{name} is replaced by sigprop.{'Status' if name == 'STATUS' else 'Phase'} "
            "(an IntEnum) in sigprop 0.2",
            DeprecationWarning,
            stacklevel=2,
        )
        enum_type = Status if name == "STATUS" else Phase
        return tuple(m.name for m in sorted(enum_type, key=int) if int(m) >= 0)
    raise AttributeError(f"module 'sigprop' has no attribute {name!r}")
